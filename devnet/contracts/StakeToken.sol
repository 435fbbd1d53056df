// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Pausable.sol";

interface IERC20Meta {
    function name() external view returns (string memory);
    function symbol() external view returns (string memory);
    function decimals() external view returns (uint8);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @notice Stake 1:1 into "Staked <name>" / "s<symbol>", unstake into a cooldown, withdraw after it.
/// Every unstake restarts the cooldown for the caller's whole pending amount, earlier unstakes included.
/// Lockers (a voting contract, on the real protocol) may lock part of a holder's staked balance: with an expiry
/// (`lock(user, amount, expiry)`) or until the same locker releases it (`lock(user, amount)` / `unlock`). Only the
/// available balance (`getAvailableBalance`: balance minus active and released-on-demand locks) may be unstaked
/// or transferred; beyond it the custom error `InsufficientAvailableBalance(user, available, required)`.
/// Revert strings and their order follow the protocol's StakeToken (withdraw checks the amount before the time).
contract StakeToken is ERC20, Pausable {
    struct CooldownInfo {
        uint256 cooldownAmount;
        uint256 cooldownEndTimestamp;
    }

    struct Lock {
        uint256 amount;
        uint256 expiry;
    }

    uint48 public constant MAX_COOLDOWN = 30 days;
    uint256 public constant MAX_ACTIVE_LOCKS = 200;

    address public immutable token; // address(0) = native coin
    uint48 public cooldown;
    mapping(address => CooldownInfo) public cooldownInfos;
    mapping(address => bool) public lockers;
    mapping(address => mapping(address => uint256)) public lockedBalances; // locker => user => amount
    mapping(address => uint256) public lockedTotals; // user => amount locked by every locker, no expiry
    mapping(address => Lock[]) private _expiringLocks;

    event Stake(address staker, uint256 amount);
    event UnStake(address unstaker, uint256 amount);
    event Withdraw(address withdrawer, uint256 amount);
    event SetCooldown(uint48 oldCooldown, uint48 cooldown);
    event LockerRoleGranted(address indexed user);
    event LockerRoleRevoked(address indexed user);
    event Locked(address indexed user, uint256 amount, uint256 expiry);
    event BalanceLocked(address indexed locker, address indexed user, uint256 amount);
    event BalanceUnlocked(address indexed locker, address indexed user, uint256 amount);

    error InsufficientAvailableBalance(address user, uint256 available, uint256 required);
    error TooManyActiveLocks(address user, uint256 count);

    constructor(address token_, uint48 cooldown_)
        ERC20(
            string.concat("Staked ", IERC20Meta(token_).name()),
            string.concat("s", IERC20Meta(token_).symbol()),
            IERC20Meta(token_).decimals()
        )
    {
        require(cooldown_ < MAX_COOLDOWN, "cooldown exceeds MAX_COOLDOWN");
        token = token_;
        cooldown = cooldown_;
    }

    modifier onlyLocker() {
        require(lockers[msg.sender], "not locker");
        _;
    }

    function stake(uint256 amount) external payable whenNotPaused {
        require(amount > 0, "amount is zero");
        if (token == address(0)) {
            require(msg.value == amount, "value must equal amount");
        } else {
            require(msg.value == 0, "value must be zero for ERC20");
            require(ERC20(token).allowance(msg.sender, address(this)) >= amount, "not enough allowance");
            require(IERC20Meta(token).transferFrom(msg.sender, address(this), amount), "transfer failed");
        }
        _mint(msg.sender, amount);
        emit Stake(msg.sender, amount);
    }

    function unstake(uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        require(amount <= balanceOf[msg.sender], "not enough to unstake");
        CooldownInfo storage info = cooldownInfos[msg.sender];
        info.cooldownAmount += amount;
        info.cooldownEndTimestamp = block.timestamp + cooldown;
        _burn(msg.sender, amount); // beyond the available balance: InsufficientAvailableBalance
        emit UnStake(msg.sender, amount);
    }

    function withdraw(uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        CooldownInfo storage info = cooldownInfos[msg.sender];
        require(info.cooldownAmount >= amount, "not enough cooldown amount");
        require(info.cooldownEndTimestamp <= block.timestamp, "cooldowning");
        info.cooldownAmount -= amount;
        if (token == address(0)) {
            (bool ok, ) = msg.sender.call{value: amount}("");
            require(ok, "Failed to send native token");
        } else {
            require(IERC20Meta(token).transfer(msg.sender, amount), "transfer failed");
        }
        emit Withdraw(msg.sender, amount);
    }

    function setCooldown(uint48 cooldown_) external onlyOwner {
        require(cooldown_ != cooldown, "cooldown not change");
        require(cooldown_ < MAX_COOLDOWN, "cooldown exceeds MAX_COOLDOWN");
        emit SetCooldown(cooldown, cooldown_);
        cooldown = cooldown_;
    }

    function grantLockerRole(address user) external onlyOwner {
        lockers[user] = true;
        emit LockerRoleGranted(user);
    }

    function revokeLockerRole(address user) external onlyOwner {
        lockers[user] = false;
        emit LockerRoleRevoked(user);
    }

    /// @notice A lock of `amount` of `user`'s balance until `expiry` (a timestamp).
    function lock(address user, uint256 amount, uint256 expiry) external onlyLocker {
        Lock[] storage locks = _expiringLocks[user];
        uint256 kept = 0;
        for (uint256 i = 0; i < locks.length; i++) {
            if (locks[i].expiry > block.timestamp) locks[kept++] = locks[i];
        }
        while (locks.length > kept) locks.pop();
        if (kept >= MAX_ACTIVE_LOCKS) revert TooManyActiveLocks(user, kept);
        locks.push(Lock(amount, expiry));
        emit Locked(user, amount, expiry);
    }

    /// @notice A lock of `amount` of `user`'s balance with no expiry, until this locker calls `unlock`.
    function lock(address user, uint256 amount) external onlyLocker whenNotPaused {
        require(amount > 0, "amount is zero");
        require(getAvailableBalance(user) >= amount, "insufficient available");
        lockedBalances[msg.sender][user] += amount;
        lockedTotals[user] += amount;
        emit BalanceLocked(msg.sender, user, amount);
    }

    function unlock(address user, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        require(lockedBalances[msg.sender][user] >= amount, "exceeds locked");
        lockedBalances[msg.sender][user] -= amount;
        lockedTotals[user] -= amount;
        emit BalanceUnlocked(msg.sender, user, amount);
    }

    function getAvailableBalance(address user) public view returns (uint256) {
        uint256 locked = lockedTotals[user];
        Lock[] storage locks = _expiringLocks[user];
        for (uint256 i = 0; i < locks.length; i++) {
            if (locks[i].expiry > block.timestamp) locked += locks[i].amount;
        }
        uint256 balance = balanceOf[user];
        return locked >= balance ? 0 : balance - locked;
    }

    function getActiveLocks(address user) external view returns (Lock[] memory active) {
        Lock[] storage locks = _expiringLocks[user];
        uint256 n = 0;
        for (uint256 i = 0; i < locks.length; i++) {
            if (locks[i].expiry > block.timestamp) n++;
        }
        active = new Lock[](n);
        n = 0;
        for (uint256 i = 0; i < locks.length; i++) {
            if (locks[i].expiry > block.timestamp) active[n++] = locks[i];
        }
    }

    function _beforeDebit(address from, uint256 amount) internal view override {
        uint256 available = getAvailableBalance(from);
        if (available < amount) revert InsufficientAvailableBalance(from, available, amount);
    }
}

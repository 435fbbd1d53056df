// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Pausable.sol";

/// @notice Lock ERC-20s (e.g. Uniswap LP tokens) for a points programme, unlock into a cooldown, withdraw
/// after it. A token is supported once the owner configured it (`updateLockConfig`); it can be locked only while
/// the epoch it is configured for is the active one (`getActiveTokens()` lists those); unlocking and withdrawing
/// are always open (unless paused). Every unlock restarts the cooldown for the caller's whole pending amount of
/// that token, earlier unlocks included, as StakeToken.unstake does. Lock and UnLock carry the locker's locked
/// amount and the token's total locked amount after the call. The five-field config, the three-argument SetEpoch,
/// the 90-day maximum cooldown and the revert strings and their order are the protocol's AssetLocking's.
contract AssetLocking is Pausable {
    struct LockConfig {
        uint8 epoch;
        uint256 lockLimit; // most that may be locked in total
        uint48 cooldown; // seconds between unlock and withdraw
        uint256 totalLock;
        uint256 totalCooldown;
    }

    struct LockData {
        uint256 amount;
        uint256 cooldownAmount;
        uint256 cooldownEndTimestamp;
    }

    uint48 public constant MAX_COOLDOWN = 90 days;

    address[] private _tokens;
    mapping(address => bool) private _supported;
    mapping(address => uint8) public activeEpochs;
    mapping(address => LockConfig) public lockConfigs;
    mapping(address => mapping(address => LockData)) public lockDatas;

    event SetEpoch(address token, uint8 oldEpoch, uint8 newEpoch);
    event UpdateLockConfig(address token, uint8 epoch, uint256 lockLimit, uint48 cooldown);
    event Lock(address locker, address token, uint256 amount, uint256 userLockAmount, uint256 totalLockAmount);
    event UnLock(address locker, address token, uint256 amount, uint256 userLockAmount, uint256 totalLockAmount);
    event Withdraw(address locker, address token, uint256 amount);

    function setEpoch(address token, uint8 newEpoch) external onlyOwner {
        uint8 oldEpoch = activeEpochs[token];
        require(newEpoch != oldEpoch, "epoch not change");
        activeEpochs[token] = newEpoch;
        emit SetEpoch(token, oldEpoch, newEpoch);
    }

    function updateLockConfig(address token, uint8 epoch, uint256 lockLimit, uint48 cooldown) external onlyOwner {
        if (!_supported[token]) {
            _supported[token] = true;
            _tokens.push(token);
        }
        require(cooldown <= MAX_COOLDOWN, "cooldown exceeds MAX_COOLDOWN");
        LockConfig storage config = lockConfigs[token];
        config.epoch = epoch;
        config.lockLimit = lockLimit;
        config.cooldown = cooldown;
        emit UpdateLockConfig(token, epoch, lockLimit, cooldown);
    }

    /// @notice The supported tokens whose configured epoch is the active one (lockable now).
    function getActiveTokens() external view returns (address[] memory active) {
        uint256 n = 0;
        for (uint256 i = 0; i < _tokens.length; i++) {
            if (lockConfigs[_tokens[i]].epoch == activeEpochs[_tokens[i]]) n++;
        }
        active = new address[](n);
        n = 0;
        for (uint256 i = 0; i < _tokens.length; i++) {
            if (lockConfigs[_tokens[i]].epoch == activeEpochs[_tokens[i]]) active[n++] = _tokens[i];
        }
    }

    function lock(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        require(_supported[token], "token not supported");
        LockConfig storage config = lockConfigs[token];
        require(config.epoch == activeEpochs[token], "token cannot stake now");
        require(config.totalLock + amount <= config.lockLimit, "total lock amount exceeds lock limit");
        require(ERC20(token).allowance(msg.sender, address(this)) >= amount, "not enough allowance");
        LockData storage data = lockDatas[token][msg.sender];
        data.amount += amount;
        config.totalLock += amount;
        require(ERC20(token).transferFrom(msg.sender, address(this), amount), "transfer failed");
        emit Lock(msg.sender, token, amount, data.amount, config.totalLock);
    }

    function unlock(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        LockData storage data = lockDatas[token][msg.sender];
        LockConfig storage config = lockConfigs[token];
        require(data.amount >= amount, "not enough balance to unlock");
        data.amount -= amount;
        data.cooldownAmount += amount;
        data.cooldownEndTimestamp = block.timestamp + config.cooldown;
        config.totalLock -= amount;
        config.totalCooldown += amount;
        emit UnLock(msg.sender, token, amount, data.amount, config.totalLock);
    }

    function withdraw(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        LockData storage data = lockDatas[token][msg.sender];
        require(data.cooldownAmount > 0, "nothing to withdraw");
        require(data.cooldownEndTimestamp <= block.timestamp, "coolingdown");
        require(amount <= data.cooldownAmount, "no enough balance to withdraw");
        data.cooldownAmount -= amount;
        lockConfigs[token].totalCooldown -= amount;
        require(ERC20(token).transfer(msg.sender, amount), "transfer failed");
        emit Withdraw(msg.sender, token, amount);
    }
}

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
contract StakeToken is ERC20, Pausable {
    struct CooldownInfo {
        uint256 cooldownAmount;
        uint256 cooldownEndTimestamp;
    }

    uint48 public constant MAX_COOLDOWN = 30 days;

    address public immutable token; // address(0) = native coin
    uint48 public cooldown;
    mapping(address => CooldownInfo) public cooldownInfos;

    event Stake(address staker, uint256 amount);
    event UnStake(address unstaker, uint256 amount);
    event Withdraw(address withdrawer, uint256 amount);
    event SetCooldown(uint48 cooldown);

    constructor(address token_, uint48 cooldown_)
        ERC20(
            string.concat("Staked ", IERC20Meta(token_).name()),
            string.concat("s", IERC20Meta(token_).symbol()),
            IERC20Meta(token_).decimals()
        )
    {
        require(cooldown_ < MAX_COOLDOWN, "cooldown too long");
        token = token_;
        cooldown = cooldown_;
    }

    function stake(uint256 amount) external payable whenNotPaused {
        require(amount > 0, "amount is zero");
        if (token == address(0)) {
            require(msg.value == amount, "wrong value");
        } else {
            require(msg.value == 0, "no value");
            require(IERC20Meta(token).transferFrom(msg.sender, address(this), amount), "transfer failed");
        }
        _mint(msg.sender, amount);
        emit Stake(msg.sender, amount);
    }

    function unstake(uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        require(balanceOf[msg.sender] >= amount, "not enough to unstake");
        _burn(msg.sender, amount);
        CooldownInfo storage info = cooldownInfos[msg.sender];
        info.cooldownAmount += amount;
        info.cooldownEndTimestamp = block.timestamp + cooldown;
        emit UnStake(msg.sender, amount);
    }

    function withdraw(uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        CooldownInfo storage info = cooldownInfos[msg.sender];
        require(info.cooldownEndTimestamp <= block.timestamp, "cooldowning");
        require(amount <= info.cooldownAmount, "not enough cooldown amount");
        info.cooldownAmount -= amount;
        if (token == address(0)) {
            (bool ok, ) = msg.sender.call{value: amount}("");
            require(ok, "transfer failed");
        } else {
            require(IERC20Meta(token).transfer(msg.sender, amount), "transfer failed");
        }
        emit Withdraw(msg.sender, amount);
    }

    function setCooldown(uint48 cooldown_) external onlyOwner {
        require(cooldown_ < MAX_COOLDOWN, "cooldown too long");
        cooldown = cooldown_;
        emit SetCooldown(cooldown_);
    }
}

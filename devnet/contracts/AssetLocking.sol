// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Pausable.sol";

/// @notice Lock ERC-20s (e.g. Uniswap LP tokens) for a points programme, unlock into a cooldown, withdraw
/// after it. A token can be locked only while the epoch it is configured for is the active one; unlocking
/// and withdrawing are always open (unless paused). Every unlock restarts the cooldown for the caller's
/// whole pending amount of that token, earlier unlocks included, as StakeToken.unstake does.
/// Lock and UnLock carry the locker's locked amount and the token's total locked amount after the call:
/// readers rebuild positions from these events alone.
contract AssetLocking is Pausable {
    struct LockConfig {
        uint8 epoch; // 0 = not configured
        uint256 lockLimit; // most that may be locked in total
        uint48 cooldown; // seconds between unlock and withdraw
        uint256 totalLock;
    }

    struct LockData {
        uint256 amount;
        uint256 cooldownAmount;
        uint256 cooldownEndTimestamp;
    }

    uint48 public constant MAX_COOLDOWN = 30 days;

    mapping(address => LockConfig) public lockConfigs;
    mapping(address => uint8) public activeEpochs;
    mapping(address => mapping(address => LockData)) public lockDatas;

    event Lock(address locker, address token, uint256 amount, uint256 userLockAmount, uint256 totalLockAmount);
    event UnLock(address locker, address token, uint256 amount, uint256 userLockAmount, uint256 totalLockAmount);
    event Withdraw(address locker, address token, uint256 amount);
    event UpdateLockConfig(address token, uint8 epoch, uint256 lockLimit, uint48 cooldown);
    event SetEpoch(address token, uint8 epoch);

    function lock(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        LockConfig storage config = lockConfigs[token];
        require(config.epoch != 0 && config.epoch == activeEpochs[token], "token cannot lock now");
        require(config.totalLock + amount <= config.lockLimit, "exceed lock limit");
        require(ERC20(token).transferFrom(msg.sender, address(this), amount), "transfer failed");
        LockData storage data = lockDatas[token][msg.sender];
        data.amount += amount;
        config.totalLock += amount;
        emit Lock(msg.sender, token, amount, data.amount, config.totalLock);
    }

    function unlock(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        LockData storage data = lockDatas[token][msg.sender];
        require(amount <= data.amount, "not enough to unlock");
        LockConfig storage config = lockConfigs[token];
        data.amount -= amount;
        config.totalLock -= amount;
        data.cooldownAmount += amount;
        data.cooldownEndTimestamp = block.timestamp + config.cooldown;
        emit UnLock(msg.sender, token, amount, data.amount, config.totalLock);
    }

    function withdraw(address token, uint256 amount) external whenNotPaused {
        require(amount > 0, "amount is zero");
        LockData storage data = lockDatas[token][msg.sender];
        require(data.cooldownEndTimestamp <= block.timestamp, "cooldowning");
        require(amount <= data.cooldownAmount, "not enough cooldown amount");
        data.cooldownAmount -= amount;
        require(ERC20(token).transfer(msg.sender, amount), "transfer failed");
        emit Withdraw(msg.sender, token, amount);
    }

    function updateLockConfig(address token, uint8 epoch, uint256 lockLimit, uint48 cooldown) external onlyOwner {
        require(token != address(0), "zero token");
        require(epoch > 0, "epoch is zero");
        require(cooldown < MAX_COOLDOWN, "cooldown too long");
        LockConfig storage config = lockConfigs[token];
        config.epoch = epoch;
        config.lockLimit = lockLimit;
        config.cooldown = cooldown;
        emit UpdateLockConfig(token, epoch, lockLimit, cooldown);
    }

    function setEpoch(address token, uint8 epoch) external onlyOwner {
        activeEpochs[token] = epoch;
        emit SetEpoch(token, epoch);
    }
}

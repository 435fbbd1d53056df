// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./Owned.sol";

/// @notice The registry of index staking tokens, keyed by the index's asset id, read the way the protocol's
/// StakeFactory is read: `getStakeTokens()` lists every (asset id, staking token) pair in registration order,
/// `stakeTokens(assetID)` names one (address(0) when none). The protocol's factory creates each staking token
/// itself; the devnet deploys them directly and registers them here, which is all a reader can tell apart.
contract StakeFactory is Owned {
    mapping(uint256 => address) public stakeTokens;
    uint256[] private assetIDs;

    event CreateStakeToken(address stakeToken, uint256 assetID, uint48 cooldown);

    function registerStakeToken(uint256 assetID, address stakeToken, uint48 cooldown) external onlyOwner {
        require(stakeToken != address(0), "zero stake token");
        require(stakeTokens[assetID] == address(0), "stake token exists");
        stakeTokens[assetID] = stakeToken;
        assetIDs.push(assetID);
        emit CreateStakeToken(stakeToken, assetID, cooldown);
    }

    function getStakeTokens() external view returns (uint256[] memory ids, address[] memory tokens) {
        ids = assetIDs;
        tokens = new address[](ids.length);
        for (uint256 i = 0; i < ids.length; i++) {
            tokens[i] = stakeTokens[ids[i]];
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./Owned.sol";

/// @notice The owner can pause and unpause; `whenNotPaused` functions revert meanwhile with the custom error the
/// protocol's OpenZeppelin 5 Pausable uses, `EnforcedPause()`.
abstract contract Pausable is Owned {
    bool public paused;

    error EnforcedPause();

    event Paused(address account);
    event Unpaused(address account);

    modifier whenNotPaused() {
        if (paused) revert EnforcedPause();
        _;
    }

    function pause() external onlyOwner {
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        paused = false;
        emit Unpaused(msg.sender);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Single-owner access control for the devnet contracts. A call from anyone else reverts with the custom
/// error the protocol's OpenZeppelin 5 Ownable uses, `OwnableUnauthorizedAccount(caller)`.
abstract contract Owned {
    address public owner;

    error OwnableUnauthorizedAccount(address account);

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "zero owner");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}

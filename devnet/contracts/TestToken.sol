// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Owned.sol";

/// @notice A plain ERC-20 (USDC with 6 decimals, SOSO with 18) that the owner can mint on the devnet.
contract TestToken is ERC20, Owned {
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}

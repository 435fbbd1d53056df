// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Owned.sol";

/// @notice An ERC-20 its owner mints and burns: the devnet's tokenized stocks and the stock index token,
/// both owned by the IndexFactory that "fills orders" at feed prices.
contract MintableToken is ERC20, Owned {
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function burn(address from, uint256 amount) external onlyOwner {
        _burn(from, amount);
    }
}

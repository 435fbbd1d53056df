// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Owned.sol";

/// @notice An SSI index token (8 decimals).
/// The tokenset is the underlying held per whole index token (1e8 units). The basket is the total underlying:
/// it is rescaled from the tokenset (tokenset x totalSupply / 1e8) on every mint and burn, and set explicitly
/// by the owner during a rebalance (startRebalance -> setTokenset -> setBasket -> endRebalance).
contract AssetToken is ERC20, Owned {
    struct Token {
        string chain;
        string symbol;
        string addr;
        uint8 decimals;
        uint256 amount;
    }

    uint256 public constant UNIT = 1e8;

    Token[] private _tokenset;
    Token[] private _basket;
    bool public rebalancing;
    bool public initialized;
    uint256 public fee; // daily fee rate, feeDecimals() decimals

    event SetTokenset(Token[] tokenset);
    event SetBasket(Token[] basket);
    event StartRebalance();
    event EndRebalance();
    event SetFee(uint256 fee);

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_, 8) {}

    function feeDecimals() external pure returns (uint8) {
        return 8;
    }

    function getTokenset() external view returns (Token[] memory) {
        return _tokenset;
    }

    function getBasket() external view returns (Token[] memory) {
        return _basket;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        require(!rebalancing, "rebalancing");
        _mint(to, amount);
        _rescaleBasket();
    }

    function burn(address from, uint256 amount) external onlyOwner {
        require(!rebalancing, "rebalancing");
        _burn(from, amount);
        _rescaleBasket();
    }

    function startRebalance() external onlyOwner {
        require(!rebalancing, "already rebalancing");
        rebalancing = true;
        emit StartRebalance();
    }

    /// @notice Allowed once before the first rebalance (initialisation) and then only while rebalancing.
    function setTokenset(Token[] calldata tokenset) external onlyOwner {
        require(rebalancing || !initialized, "not rebalancing");
        initialized = true;
        _copy(_tokenset, tokenset);
        emit SetTokenset(tokenset);
        if (!rebalancing) _rescaleBasket();
    }

    function setBasket(Token[] calldata basket) external onlyOwner {
        require(rebalancing, "not rebalancing");
        _copy(_basket, basket);
        emit SetBasket(basket);
    }

    function endRebalance() external onlyOwner {
        require(rebalancing, "not rebalancing");
        rebalancing = false;
        emit EndRebalance();
    }

    function setFee(uint256 fee_) external onlyOwner {
        require(fee_ < UNIT, "fee too high");
        fee = fee_;
        emit SetFee(fee_);
    }

    function _copy(Token[] storage dst, Token[] calldata src) private {
        while (dst.length > 0) dst.pop();
        for (uint256 i = 0; i < src.length; i++) {
            dst.push(Token(src[i].chain, src[i].symbol, src[i].addr, src[i].decimals, src[i].amount));
        }
    }

    function _rescaleBasket() private {
        while (_basket.length > 0) _basket.pop();
        for (uint256 i = 0; i < _tokenset.length; i++) {
            Token storage t = _tokenset[i];
            _basket.push(Token(t.chain, t.symbol, t.addr, t.decimals, (t.amount * totalSupply) / UNIT));
        }
        emit SetBasket(_basket);
    }
}

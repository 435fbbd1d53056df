// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./ERC20.sol";
import "./Owned.sol";

/// @notice An SSI index token (8 decimals).
/// The tokenset is the underlying held per whole index token (1e8 units). The basket is the total underlying:
/// it is rescaled from the tokenset (tokenset x totalSupply / 1e8) on every mint and burn, and set explicitly
/// by the owner during a rebalance (startRebalance -> setTokenset -> setBasket -> endRebalance).
/// The daily fee (`fee()`, a rate per day with `feeDecimals()` 8 decimals) is collected as the protocol's fee manager
/// does, about once a day: `collectFeeTokenset()` takes the fee for every whole day since `lastCollectTimestamp` out
/// of the basket, adds it to the fee tokenset and shrinks the tokenset to match, emitting SetBasket,
/// SetFeeTokenset and SetTokenset in one transaction, with no StartRebalance: it is not a rebalance.
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
    // As deployments before July 2026: start and end of a rebalance only flip rebalancing(), with no event.
    bool public quietRebalance;
    uint256 public fee; // daily fee rate, feeDecimals() decimals
    uint256 public constant feeDecimals = 8;
    uint256 public lastCollectTimestamp;
    Token[] private _feeTokenset;

    event SetTokenset(Token[] tokenset);
    event SetBasket(Token[] basket);
    event SetFeeTokenset(Token[] feeTokenset);
    event StartRebalance();
    event EndRebalance();
    event SetFee(uint256 fee);

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_, 8) {
        lastCollectTimestamp = block.timestamp;
    }

    function getFeeTokenset() external view returns (Token[] memory) {
        return _feeTokenset;
    }

    function feeCollected() external view returns (bool) {
        return block.timestamp - lastCollectTimestamp < 1 days;
    }

    /// @notice Take the daily fee for every whole day since the last collection (nothing when less than a day).
    function collectFeeTokenset() external onlyOwner {
        uint256 days_ = (block.timestamp - lastCollectTimestamp) / 1 days;
        if (days_ == 0) return;
        if (totalSupply > 0) {
            require(!rebalancing, "is rebalancing");
            for (uint256 i = 0; i < _basket.length; i++) {
                uint256 before = _basket[i].amount;
                uint256 amount = before;
                for (uint256 d = 0; d < days_; d++) amount -= (amount * fee) / 10 ** feeDecimals;
                _basket[i].amount = amount;
                _addFee(_basket[i], before - amount);
            }
            while (_tokenset.length > 0) _tokenset.pop();
            for (uint256 i = 0; i < _basket.length; i++) {
                Token storage b = _basket[i];
                _tokenset.push(Token(b.chain, b.symbol, b.addr, b.decimals, (b.amount * UNIT) / totalSupply));
            }
            emit SetBasket(_basket);
            emit SetFeeTokenset(_feeTokenset);
            emit SetTokenset(_tokenset);
        }
        lastCollectTimestamp += days_ * 1 days;
    }

    function _addFee(Token storage t, uint256 amount) private {
        bytes32 key = keccak256(abi.encode(t.chain, t.symbol, t.addr));
        for (uint256 i = 0; i < _feeTokenset.length; i++) {
            Token storage f = _feeTokenset[i];
            if (keccak256(abi.encode(f.chain, f.symbol, f.addr)) == key) {
                f.amount += amount;
                return;
            }
        }
        _feeTokenset.push(Token(t.chain, t.symbol, t.addr, t.decimals, amount));
    }

    function getTokenset() external view returns (Token[] memory) {
        return _tokenset;
    }

    function getBasket() external view returns (Token[] memory) {
        return _basket;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        require(!rebalancing, "is rebalancing");
        _mint(to, amount);
        _rescaleBasket();
    }

    function burn(address from, uint256 amount) external onlyOwner {
        require(!rebalancing, "is rebalancing");
        _burn(from, amount);
        _rescaleBasket();
    }

    function startRebalance() external onlyOwner {
        require(!rebalancing, "is rebalancing");
        rebalancing = true;
        if (!quietRebalance) emit StartRebalance();
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
        if (!quietRebalance) emit EndRebalance();
    }

    function setQuietRebalance(bool quiet) external onlyOwner {
        quietRebalance = quiet;
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

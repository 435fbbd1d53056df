// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./Owned.sol";

interface IERC20Like {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function balanceOf(address who) external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function decimals() external view returns (uint8);
}

interface IMintable {
    function mint(address to, uint256 amount) external;
    function burn(address from, uint256 amount) external;
}

interface IFeed {
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80);
    function decimals() external view returns (uint8);
}

/// @notice A Nexlabs-style index factory for the devnet: anyone requests issuance with USDC or redemption with
/// index tokens; an operator (the devnet's fulfilment process, only while the market is open) completes the
/// request later, buying or selling every constituent at its feed price (the factory mints and burns the stock
/// tokens: it is its own order processor and broker). Constituents and weights (market shares summing to
/// 100e18) are the current list; a reindex schedules the oracle list, applied once due.
contract IndexFactory is Owned {
    struct Request { address user; uint256 inputAmount; uint8 status; uint256 outputAmount; }

    uint8 constant NONE = 0;
    uint8 constant PENDING = 1;
    uint8 constant COMPLETED = 2;
    uint8 constant CANCELLED = 3;
    uint256 constant SHARE_TOTAL = 100e18;

    address public usdc;
    address public indexToken;
    uint256 public feeRate;
    uint256 public initialPrice = 100e18;
    address public operator;
    uint256 public issuanceNonce;
    uint256 public redemptionNonce;
    mapping(uint256 => Request) public issuanceRequest;
    mapping(uint256 => Request) public redemptionRequest;
    address[] public currentList;
    mapping(address => uint256) public tokenCurrentMarketShare;
    address[] public oracleList;
    mapping(address => uint256) public tokenOracleMarketShare;
    uint256 public reindexTime;
    mapping(address => address) public priceFeedByTokenAddress;

    event RequestIssuance(uint256 indexed nonce, address indexed user, address inputToken, uint256 inputAmount, uint256 outputAmount, uint256 time);
    event Issuanced(uint256 indexed nonce, address indexed user, address inputToken, uint256 inputAmount, uint256 outputAmount, uint256 price, uint256 time);
    event RequestRedemption(uint256 indexed nonce, address indexed user, address outputToken, uint256 inputAmount, uint256 outputAmount, uint256 time);
    event Redemption(uint256 indexed nonce, address indexed user, address outputToken, uint256 inputAmount, uint256 outputAmount, uint256 price, uint256 time);
    event IssuanceCancelled(uint256 indexed nonce, address indexed user, address inputToken, uint256 inputAmount, uint256 time);
    event RedemptionCancelled(uint256 indexed nonce, address indexed user, address outputToken, uint256 inputAmount, uint256 time);

    modifier onlyOperator() {
        require(msg.sender == operator || msg.sender == owner, "not operator");
        _;
    }

    constructor(address usdc_, address indexToken_, uint256 feeRate_) {
        usdc = usdc_;
        indexToken = indexToken_;
        feeRate = feeRate_;
    }

    // -- requests ---------------------------------------------------------------------------------------

    function issuanceIndexTokens(uint256 inputAmount) external returns (uint256 nonce) {
        require(inputAmount > 0, "amount is zero");
        require(IERC20Like(usdc).transferFrom(msg.sender, address(this), inputAmount), "transfer failed");
        nonce = ++issuanceNonce;
        issuanceRequest[nonce] = Request(msg.sender, inputAmount, PENDING, 0);
        emit RequestIssuance(nonce, msg.sender, usdc, inputAmount, 0, block.timestamp);
    }

    function cancelIssuance(uint256 issuanceNonce_) external {
        Request storage r = issuanceRequest[issuanceNonce_];
        require(r.status == PENDING, "not pending");
        require(r.user == msg.sender, "not requester");
        r.status = CANCELLED;
        require(IERC20Like(usdc).transfer(r.user, r.inputAmount), "transfer failed");
        emit IssuanceCancelled(issuanceNonce_, r.user, usdc, r.inputAmount, block.timestamp);
    }

    function redemption(uint256 inputAmount) external returns (uint256 nonce) {
        require(inputAmount > 0, "amount is zero");
        require(IERC20Like(indexToken).transferFrom(msg.sender, address(this), inputAmount), "transfer failed");
        nonce = ++redemptionNonce;
        redemptionRequest[nonce] = Request(msg.sender, inputAmount, PENDING, 0);
        emit RequestRedemption(nonce, msg.sender, usdc, inputAmount, 0, block.timestamp);
    }

    function cancelRedemption(uint256 redemptionNonce_) external {
        Request storage r = redemptionRequest[redemptionNonce_];
        require(r.status == PENDING, "not pending");
        require(r.user == msg.sender, "not requester");
        r.status = CANCELLED;
        require(IERC20Like(indexToken).transfer(r.user, r.inputAmount), "transfer failed");
        emit RedemptionCancelled(redemptionNonce_, r.user, usdc, r.inputAmount, block.timestamp);
    }

    // -- views ------------------------------------------------------------------------------------------

    function totalCurrentList() external view returns (uint256) { return currentList.length; }

    function totalOracleList() external view returns (uint256) { return oracleList.length; }

    /// USD (18 decimals) of `amount` base units of `token` at its feed price.
    function valueOf(address token, uint256 amount) public view returns (uint256) {
        IFeed feed = IFeed(priceFeedByTokenAddress[token]);
        (, int256 answer,,,) = feed.latestRoundData();
        require(answer > 0, "no price");
        return amount * uint256(answer) * 1e18 / (10 ** feed.decimals()) / (10 ** IERC20Like(token).decimals());
    }

    /// units of `token` that `usd` (18 decimals) buys at its feed price.
    function unitsFor(address token, uint256 usd) public view returns (uint256) {
        IFeed feed = IFeed(priceFeedByTokenAddress[token]);
        (, int256 answer,,,) = feed.latestRoundData();
        require(answer > 0, "no price");
        return usd * (10 ** feed.decimals()) * (10 ** IERC20Like(token).decimals()) / uint256(answer) / 1e18;
    }

    /// NAV per index token: USD with 18 decimals.
    function indexPrice() public view returns (uint256) {
        uint256 supply = IERC20Like(indexToken).totalSupply();  // escrowed redemptions still count until they fill
        if (supply == 0) return initialPrice;
        uint256 total;
        for (uint256 i = 0; i < currentList.length; i++) {
            address t = currentList[i];
            total += valueOf(t, IERC20Like(t).balanceOf(address(this)));
        }
        return total * 1e18 / supply;
    }

    // -- operator ---------------------------------------------------------------------------------------

    function setOperator(address operator_) external onlyOwner { operator = operator_; }

    function setPriceFeed(address token, address feed) external onlyOwner { priceFeedByTokenAddress[token] = feed; }

    function setInitialPrice(uint256 price) external onlyOwner {
        require(price > 0, "price is zero");
        initialPrice = price;
    }

    function setCurrentList(address[] calldata tokens, uint256[] calldata shares) external onlyOwner {
        _setList(tokens, shares, false);
    }

    function setOracleList(address[] calldata tokens, uint256[] calldata shares, uint256 at) external onlyOwner {
        _setList(tokens, shares, true);
        reindexTime = at;
    }

    function _setList(address[] calldata tokens, uint256[] calldata shares, bool oracle) internal {
        require(tokens.length == shares.length && tokens.length > 0, "bad list");
        uint256 sum;
        for (uint256 i = 0; i < shares.length; i++) sum += shares[i];
        require(sum == SHARE_TOTAL, "shares must sum to 100e18");
        if (oracle) {
            for (uint256 i = 0; i < oracleList.length; i++) tokenOracleMarketShare[oracleList[i]] = 0;
            delete oracleList;
            for (uint256 i = 0; i < tokens.length; i++) { oracleList.push(tokens[i]); tokenOracleMarketShare[tokens[i]] = shares[i]; }
        } else {
            for (uint256 i = 0; i < currentList.length; i++) tokenCurrentMarketShare[currentList[i]] = 0;
            delete currentList;
            for (uint256 i = 0; i < tokens.length; i++) { currentList.push(tokens[i]); tokenCurrentMarketShare[tokens[i]] = shares[i]; }
        }
    }

    function applyReindex() external onlyOperator {
        require(oracleList.length > 0 && reindexTime != 0 && block.timestamp >= reindexTime, "no reindex due");
        uint256 total;
        for (uint256 i = 0; i < currentList.length; i++) {
            address t = currentList[i];
            uint256 held = IERC20Like(t).balanceOf(address(this));
            total += valueOf(t, held);
            IMintable(t).burn(address(this), held);
            tokenCurrentMarketShare[t] = 0;
        }
        delete currentList;
        for (uint256 i = 0; i < oracleList.length; i++) {
            address t = oracleList[i];
            currentList.push(t);
            tokenCurrentMarketShare[t] = tokenOracleMarketShare[t];
            tokenOracleMarketShare[t] = 0;
            IMintable(t).mint(address(this), unitsFor(t, total * tokenCurrentMarketShare[t] / SHARE_TOTAL));
        }
        delete oracleList;
        reindexTime = 0;
    }

    function completeIssuance(uint256 nonce) external onlyOperator {
        Request storage r = issuanceRequest[nonce];
        require(r.status == PENDING, "not pending");
        uint256 price = indexPrice();
        uint256 fee = r.inputAmount * feeRate / 10000;
        uint256 netUsd = (r.inputAmount - fee) * 1e18 / (10 ** IERC20Like(usdc).decimals());
        for (uint256 i = 0; i < currentList.length; i++) {
            address t = currentList[i];
            IMintable(t).mint(address(this), unitsFor(t, netUsd * tokenCurrentMarketShare[t] / SHARE_TOTAL));
        }
        uint256 out = netUsd * 1e18 / price;
        r.status = COMPLETED;
        r.outputAmount = out;
        IMintable(indexToken).mint(r.user, out);
        emit Issuanced(nonce, r.user, usdc, r.inputAmount, out, price, block.timestamp);
    }

    function completeRedemption(uint256 nonce) external onlyOperator {
        Request storage r = redemptionRequest[nonce];
        require(r.status == PENDING, "not pending");
        uint256 price = indexPrice();
        uint256 supply = IERC20Like(indexToken).totalSupply();
        for (uint256 i = 0; i < currentList.length; i++) {
            address t = currentList[i];
            IMintable(t).burn(address(this), IERC20Like(t).balanceOf(address(this)) * r.inputAmount / supply);
        }
        IMintable(indexToken).burn(address(this), r.inputAmount);
        uint256 value = r.inputAmount * price / 1e18 * (10 ** IERC20Like(usdc).decimals()) / 1e18;
        uint256 out = value - value * feeRate / 10000;
        r.status = COMPLETED;
        r.outputAmount = out;
        require(IERC20Like(usdc).transfer(r.user, out), "transfer failed");
        emit Redemption(nonce, r.user, usdc, r.inputAmount, out, price, block.timestamp);
    }
}

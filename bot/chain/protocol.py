"""The contract functions the bot calls, exactly as shared/protocol-facts.md and Uniswap define them."""

from eth_utils.crypto import keccak

from bot.chain.client import Fn

TOKEN_STRUCT = "(string,string,string,uint8,uint256)"

# ERC-20
SYMBOL = Fn("symbol()", "string")
DECIMALS = Fn("decimals()", "uint8")
BALANCE_OF = Fn("balanceOf(address)", "uint256")

# SSI AssetToken and StakeToken
GET_TOKENSET = Fn("getTokenset()", f"{TOKEN_STRUCT}[]")
GET_BASKET = Fn("getBasket()", f"{TOKEN_STRUCT}[]")
REBALANCING = Fn("rebalancing()", "bool")
STAKED_TOKEN = Fn("token()", "address")
COOLDOWN = Fn("cooldown()", "uint48")
COOLDOWN_INFOS = Fn("cooldownInfos(address)", "uint256,uint256")  # (cooldownAmount, cooldownEndTimestamp)
PAUSED = Fn("paused()", "bool")
STAKE = Fn("stake(uint256)")
UNSTAKE = Fn("unstake(uint256)")
STAKE_WITHDRAW = Fn("withdraw(uint256)")  # StakeToken.withdraw: what /claim sends
# StakeToken locks (since 2026-05): the staked balance minus what lockers hold; a failed call = a token without locks
GET_AVAILABLE_BALANCE = Fn("getAvailableBalance(address)", "uint256")

# Chainlink-style feed
LATEST_ROUND = Fn("latestRoundData()", "uint80,int256,uint256,uint256,uint80")
DESCRIPTION = Fn("description()", "string")  # AggregatorV3: "BTC / USD"
OBSERVE = Fn("observe(uint32[])", "int56[],uint160[]")  # UniswapV3Pool: tick and liquidity cumulatives

# Multicall3 views
BLOCK_NUMBER = Fn("getBlockNumber()", "uint256")
BLOCK_TIMESTAMP = Fn("getCurrentBlockTimestamp()", "uint256")
BASEFEE = Fn("getBasefee()", "uint256")

# Uniswap V3
GET_POOL = Fn("getPool(address,address,uint24)", "address")
SLOT0 = Fn("slot0()", "uint160,int24,uint16,uint16,uint16,uint8,bool")
LIQUIDITY = Fn("liquidity()", "uint128")
QUOTE_EXACT_INPUT_SINGLE = Fn(
    "quoteExactInputSingle((address,address,uint256,uint24,uint160))", "uint256,uint160,uint32,uint256"
)

# ERC-20 writes and allowance
ALLOWANCE = Fn("allowance(address,address)", "uint256")
APPROVE = Fn("approve(address,uint256)", "bool")
TRANSFER = Fn("transfer(address,uint256)", "bool")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # Transfer(address,address,uint256)

# Multicall3: native balance inside the same batch as the ERC-20 reads
GET_ETH_BALANCE = Fn("getEthBalance(address)", "uint256")

# Uniswap SwapRouter02: exactInputSingle has no deadline field; multicall(deadline, data) supplies it
EXACT_INPUT_SINGLE = Fn("exactInputSingle((address,address,uint24,address,uint256,uint256,uint160))", "uint256")
ROUTER_MULTICALL = Fn("multicall(uint256,bytes[])", "bytes[]", memo=False)

# ERC-20 supply (an LP token's share of its pair's reserves)
TOTAL_SUPPLY = Fn("totalSupply()", "uint256")

# Uniswap V2 pair (the LP token itself): reserves in token0/token1 order, tokens sorted by address
GET_RESERVES = Fn("getReserves()", "uint112,uint112,uint32")  # (reserve0, reserve1, blockTimestampLast)
TOKEN0 = Fn("token0()", "address")
TOKEN1 = Fn("token1()", "address")
GET_ACTIVE_TOKENS = Fn("getActiveTokens()", "address[]")  # AssetLocking: the tokens that can be locked this epoch

# AssetLocking: LP tokens locked for points. The points snapshot reads `lockDatas(token, user)` at its block
# (bot/points/locks.py). The Lock / UnLock events' parameters are all unindexed: data = (locker, token, amount,
# userLockAmount, totalLockAmount), the two last being the locker's and everyone's locked amount after the call.
LOCK = Fn("lock(address,uint256)")
UNLOCK = Fn("unlock(address,uint256)")
LOCK_WITHDRAW = Fn("withdraw(address,uint256)")
LOCK_EVENT = "0x9e91fc08a6b9ad305ed9692fc37e5c77042b1828c424b7b406bedacaf76aa898"  # Lock(address,address,uint256,uint256,uint256)
UNLOCK_EVENT = "0x7a9516f3fd088bc02179d72dfd24929b8e08ca0aa38e2fffb72e53550a2d762b"  # UnLock(address,address,uint256,uint256,uint256)
LOCK_EVENT_DATA = ("address", "address", "uint256", "uint256", "uint256")  # Lock and UnLock alike
LOCK_DATAS = Fn("lockDatas(address,address)", "uint256,uint256,uint256")  # (token, user) -> (amount, cooldownAmount, cooldownEndTimestamp)

# Nexlabs-style index factory (shared/protocol-facts.md, "request / fulfil issuance"): the requests and their events,
# and the views the quote reads (weights as market shares summing to 100e18, a price feed per constituent, the fee)
ISSUANCE_INDEX_TOKENS = Fn("issuanceIndexTokens(uint256)", "uint256")
CANCEL_ISSUANCE = Fn("cancelIssuance(uint256)")
REDEMPTION = Fn("redemption(uint256)", "uint256")
CANCEL_REDEMPTION = Fn("cancelRedemption(uint256)")
FACTORY_INDEX_TOKEN = Fn("indexToken()", "address")
FACTORY_USDC = Fn("usdc()", "address")
FEE_RATE = Fn("feeRate()", "uint256")  # fee = amount * feeRate / 10000
INITIAL_PRICE = Fn("initialPrice()", "uint256")  # USD per index token (18 decimals) while nothing is issued
TOTAL_CURRENT_LIST = Fn("totalCurrentList()", "uint256")
CURRENT_LIST = Fn("currentList(uint256)", "address")
CURRENT_SHARE = Fn("tokenCurrentMarketShare(address)", "uint256")
TOTAL_ORACLE_LIST = Fn("totalOracleList()", "uint256")  # the next constituents of a pending reindex (0: none)
ORACLE_LIST = Fn("oracleList(uint256)", "address")
ORACLE_SHARE = Fn("tokenOracleMarketShare(address)", "uint256")
REINDEX_TIME = Fn("reindexTime()", "uint256")
PRICE_FEED_OF = Fn("priceFeedByTokenAddress(address)", "address")
ISSUANCE_REQUEST = Fn("issuanceRequest(uint256)", "address,uint256,uint8,uint256")  # (user, input, status, output)
REDEMPTION_REQUEST = Fn("redemptionRequest(uint256)", "address,uint256,uint8,uint256")
REQUEST_PENDING, REQUEST_COMPLETED, REQUEST_CANCELLED = 1, 2, 3
SHARE_TOTAL = 100 * 10**18


def topic(signature: str) -> str:
    """An event's topic 0: the keccak of its signature, as 0x-hex."""
    return "0x" + keccak(text=signature).hex()


# the factory's events, as the facts file gives them: nonce and user indexed; data = (token, input, output[, price], time)
REQUEST_ISSUANCE = topic("RequestIssuance(uint256,address,address,uint256,uint256,uint256)")
ISSUANCED = topic("Issuanced(uint256,address,address,uint256,uint256,uint256,uint256)")
REQUEST_REDEMPTION = topic("RequestRedemption(uint256,address,address,uint256,uint256,uint256)")
REDEMPTION_DONE = topic("Redemption(uint256,address,address,uint256,uint256,uint256,uint256)")
FILLED_DATA = ("address", "uint256", "uint256", "uint256", "uint256")  # Issuanced / Redemption: token, input, output, price, time

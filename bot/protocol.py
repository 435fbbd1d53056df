"""The contract functions the bot calls, exactly as shared/protocol-facts.md and Uniswap define them."""

from bot.chain import Fn

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

# Chainlink-style feed
LATEST_ROUND = Fn("latestRoundData()", "uint80,int256,uint256,uint256,uint80")

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

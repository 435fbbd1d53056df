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
COOLDOWN_INFOS = Fn("cooldownInfos(address)", "uint256,uint256")  # (cooldownAmount, cooldownEndTimestamp)
PAUSED = Fn("paused()", "bool")
STAKE = Fn("stake(uint256)")
UNSTAKE = Fn("unstake(uint256)")
STAKE_WITHDRAW = Fn("withdraw(uint256)")  # StakeToken.withdraw: what /claim sends

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

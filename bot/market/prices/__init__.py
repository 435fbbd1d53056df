"""Prices from several sources per symbol: Chainlink feeds, Pyth's Hermes service, Uniswap V3 TWAPs.

Each source kind is a module that registers itself (bot.market.prices.registry); importing this package registers
them all. See bot.market.prices.book for how a block's prices are chosen and bot.market.quotes for where they are read.
"""

from bot.market.prices import chainlink, pyth, twap  # noqa: F401 - registers the source kinds
from bot.market.prices.book import PriceBook, Priced
from bot.market.prices.model import PROBLEMS, HermesAnswer, HermesPrice, PriceSetup, ReadContext, Reading, TwapPool
from bot.market.prices.registry import KINDS, SourceConfigError, parse_sources
from bot.market.prices.sequencer import SequencerFeed, SequencerStatus
from bot.market.prices.source import PriceSource

__all__ = [
    "KINDS", "PROBLEMS", "HermesAnswer", "HermesPrice", "PriceBook", "PriceSetup", "PriceSource", "Priced", "ReadContext",
    "Reading", "SequencerFeed", "SequencerStatus", "SourceConfigError", "TwapPool", "parse_sources",
]

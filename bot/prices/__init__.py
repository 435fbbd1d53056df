"""Prices from several sources per symbol: Chainlink feeds, Pyth's Hermes service, Uniswap V3 TWAPs.

Each source kind is a module that registers itself (bot.prices.registry); importing this package registers
them all. See bot.prices.book for how a block's prices are chosen and bot.market for where they are read.
"""

from bot.prices import chainlink, pyth, twap  # noqa: F401 - registers the source kinds
from bot.prices.book import PriceBook, Priced
from bot.prices.model import PROBLEMS, HermesAnswer, HermesPrice, PriceSetup, ReadContext, Reading, TwapPool
from bot.prices.registry import KINDS, SourceConfigError, parse_sources
from bot.prices.sequencer import SequencerFeed, SequencerStatus
from bot.prices.source import PriceSource

__all__ = [
    "KINDS", "PROBLEMS", "HermesAnswer", "HermesPrice", "PriceBook", "PriceSetup", "PriceSource", "Priced", "ReadContext",
    "Reading", "SequencerFeed", "SequencerStatus", "SourceConfigError", "TwapPool", "parse_sources",
]

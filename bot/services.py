"""What handlers may use, built once by the composition root (bot.app) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from bot.delivery.alerts.digest import Digests
from bot.delivery.alerts.prices import PriceAlerts
from bot.storage.alert_settings import AlertSettingsRows
from bot.storage.deletions import PendingDeletionRows
from bot.delivery.announce.service import Announcements
from bot.market.balances import BalanceReader
from bot.points.boost import BoostTable
from bot.delivery.alerts.cooldowns import CooldownAlerts
from bot.dca.plans import Dca
from bot.limits.book import LimitOrders
from bot.faucet import Faucet
from bot.market.fees import IndexFees
from bot.i18n import Catalogs
from bot.market.quotes import Market
from bot.market.history import NavHistory
from bot.market.reserves import ReserveReader
from bot.card_links import CardLinks
from bot.portfolio.ledger import FillLedger
from bot.portfolio.issued import IssuedHoldings
from bot.portfolio.prices import IndexPrices
from bot.portfolio.transfers import Transfers
from bot.delivery.outbox import Outbox
from bot.delivery.quotes import ExpiringQuotes
from bot.points import Points
from bot.issuance.venue import Issuance
from bot.chain.profile import IndexRef, Profile
from bot.trading.desks import Desks
from bot.delivery.schedule import Schedule
from bot.market.positions import PositionReader
from bot.storage.repositories import UserRows
from bot.storage.wallets import SettingsRows
from wallets.connected import ConnectedWallets
from wallets.custodial import CustodialWallets
from wallets.pin import PinGuard


@dataclass(frozen=True)
class Limits:
    """Sanity bounds on amounts users type; anything above is refused as absurd."""

    max_usdc: Decimal = Decimal(10_000_000)
    max_index_tokens: Decimal = Decimal(1_000_000)
    default_quote_usdc: Decimal = Decimal(100)


OPTIONAL = frozenset({"faucet"})  # the only service a configuration may lack (the devnet's)


@dataclass(frozen=True)
class Services:
    """Every service a handler may use, each required: a wiring mistake fails here, at start-up, never by a
    command silently missing. The devnet's faucet is the one service a configuration may lack."""

    profile: Profile
    market: Market
    users: UserRows
    catalogs: Catalogs
    limits: Limits
    wallets: CustodialWallets
    pins: PinGuard  # check_pin(user_id, pin) gates export and withdraw
    settings: SettingsRows  # slippage and timezone per user
    balances: BalanceReader
    deletions: PendingDeletionRows  # messages the front ends must delete at a given time (an exported key)
    desks: Desks  # each chain's intent pipeline (buy, sell, withdraw, stake); `desks.home` is the home chain's
    connected: ConnectedWallets  # the user's own wallet: /connect, signing links (wallets.connected)
    positions: PositionReader  # staking positions and SOSO boost, read from the chain (bot.market.positions)
    boost: BoostTable  # boost levels and points multipliers (config [boost])
    points: Points  # the points ledger, referrals and the daily snapshot (bot.points)
    outbox: Outbox  # everything said unprompted: alerts, DCA runs, announcements (bot.delivery.outbox)
    schedule: Schedule  # named timed jobs (bot.delivery.schedule)
    announcements: Announcements  # moderators' announcements (bot.delivery.announce)
    cooldowns: CooldownAlerts  # cooldown-end alerts (bot.delivery.alerts.cooldowns)
    quotes: ExpiringQuotes  # quotes on show, edited to say they expired when they do (bot.delivery.quotes)
    dca: Dca  # DCA plans and their runs (bot.dca)
    price_alerts: PriceAlerts  # /alert lines and their check (bot.delivery.alerts.prices)
    limit_orders: LimitOrders  # /limit, /stop, /takeprofit and their check at every block (bot.limits)
    alert_settings: AlertSettingsRows  # /alerts: kinds on or off, quiet hours, digest time
    digests: Digests  # the daily points digest (bot.delivery.alerts.digest)
    issuance: Issuance  # indexes issued by a factory: quotes, requests, /orders (bot.issuance)
    fees: IndexFees  # each pool index's daily fee, for /indexes (bot.market.fees)
    reserves: ReserveReader  # each pool index's basket against its supply, for /reserves (bot.market.reserves)
    navs: NavHistory  # the NAV samples /chart draws, and the job that records them (bot.market.history)
    ledger: FillLedger  # every fill, for /history and the PnL in /positions (bot.portfolio)
    card_links: CardLinks  # share cards' pictures at public https links, for inline photo results (bot.card_links)
    transfers: Transfers  # transfers in and out seen from balances, reconciled before the portfolio views (bot.portfolio)
    prices: IndexPrices  # each index's price per token for its value and PnL: pool price, or factory NAV (bot.portfolio)
    issued: IssuedHoldings  # factory-issued indexes held, read on their own chains at their NAV (bot.portfolio.issued)
    companions: tuple[Profile, ...]  # the other chains loaded beside `profile` (bot.chain.profile.load_profiles); may be ()
    remote_balances: tuple[BalanceReader, ...]  # ETH, USDC and pool indexes on companion chains not the home one
    faucet: Faucet | None = None  # the devnet's only; /faucet is registered only when there is one

    def __post_init__(self) -> None:
        """Refuse a service left out (None where the types say it cannot be): the app does not start."""
        missing = [f.name for f in fields(self) if f.name not in OPTIONAL and getattr(self, f.name) is None]
        if missing:
            raise TypeError(f"Services built without {', '.join(missing)}: wire every service in bot.app")

    async def timezone(self, user_id: int) -> str:
        """The user's IANA time zone for every time shown (`/timezone`); UTC until they choose one."""
        return await self.settings.zone_of(user_id)

    @property
    def all_indexes(self) -> tuple[IndexRef, ...]:
        """Every index on every loaded chain, the home chain's first."""
        return tuple(ref for prof in (self.profile, *self.companions) for ref in prof.indexes)

    def chain_of(self, ref: IndexRef) -> Profile:
        return next((prof for prof in self.companions if ref in prof.indexes), self.profile)

    def find_indexes(self, typed: str) -> list[IndexRef]:
        """Every index `typed` names (`named`): `mag7` names MAG7.ssi and MAG7.nex, the home chain's first."""
        return named(self.all_indexes, typed)

    def meant_index(self, typed: str) -> Meant:
        """The index a typed symbol means on any chain (/quote, /buy, /sell): see `meant`."""
        return meant(self.all_indexes, self.profile.indexes, typed)

    def find_index(self, typed: str) -> IndexRef | None:
        """The home chain's index `typed` names (`mag7`, `MAG7.ssi`, `ussi`): staking, alerts and DCA are theirs."""
        found = named(self.profile.indexes, typed)
        return found[0] if found else None

    def index_list(self) -> str:
        """The home chain's indexes, for the features that are theirs alone."""
        return ", ".join(ref.symbol for ref in self.profile.indexes)

    def all_index_list(self) -> str:
        """Every index /quote, /buy and /sell take."""
        return ", ".join(ref.symbol for ref in self.all_indexes)


def named(indexes: tuple[IndexRef, ...], typed: str) -> list[IndexRef]:
    """The one place a typed index symbol is resolved: the exact symbol (any case) if one has it; else, when
    `typed` has no `.xyz` suffix, every index whose symbol without its suffix matches (`mag7`). A suffix that
    no index has (`MEME.nex`, `MAG7.scam`) names nothing: never another index with the same stem."""
    wanted = typed.strip().lower()
    exact = [ref for ref in indexes if ref.symbol.lower() == wanted]
    if exact or "." in wanted:
        return exact
    return [ref for ref in indexes if _stem(ref.symbol) == wanted]


@dataclass(frozen=True)
class Meant:
    """What a typed symbol means: `index`, the one taken (None when the user must pick among `others`), and
    `others`, the indexes of the same name elsewhere, offered beside it."""

    index: IndexRef | None
    others: tuple[IndexRef, ...] = ()


def meant(indexes: tuple[IndexRef, ...], home: tuple[IndexRef, ...], typed: str) -> Meant:
    """The index `typed` means among `indexes` (`named`): the only one it names; else, where exactly one of them
    is the home chain's (`home`), that one, the others offered (`mag7`: MAG7.ssi on Base, MAG7.nex on Ethereum
    offered); else none, the user picks (ambiguous: two of the home chain's, or none of them)."""
    found = named(indexes, typed)
    at_home = [ref for ref in found if ref in home]
    chosen = found[0] if len(found) == 1 else at_home[0] if len(at_home) == 1 else None
    return Meant(chosen, tuple(ref for ref in found if ref != chosen))


def _stem(symbol: str) -> str:
    s = symbol.strip().lower()
    return s.rsplit(".", 1)[0] if "." in s else s

"""The composition root: everything the bot needs is built here, once, and passed in.

`App.start(config)` starts the embedded devnet when no chain is configured, loads and verifies the chain
profile, opens the database, and wires the router with every handler. Front ends receive the `App`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
import logging
import os
import secrets
import time
from datetime import time as dt_time
from collections.abc import Callable, Sequence
from functools import partial
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.market.fees import IndexFees
from bot.delivery.housekeeping import Housekeeping
from bot.delivery.quotes import ExpiringQuotes
from bot.storage.purge import PurgeRows
from bot.storage.telegram_updates import TelegramUpdateRows
from bot.delivery.announce.service import Announcements
from bot.market.balances import BalanceReader
from bot.market.positions import PositionReader
from bot.chain.client import Chain, HeadTracker
from bot.chain.binding import StartupRefused, bind_chains, refuse_lost_devnet
from bot.delivery.alerts.cooldowns import CooldownAlerts
from bot.delivery.alerts.digest import Digests
from bot.storage.alert_settings import AlertSettingsRows
from bot.delivery.alerts.jobs import schedule_market_alerts, schedule_nav_samples, schedule_reserves
from bot.delivery.alerts.prices import PriceAlerts
from bot.delivery.alerts.rebalance import RebalanceWatcher
from bot.delivery.alerts.reserves import ReservesWatcher
from bot.market.history import NavHistory
from bot.market.reserves import ReserveReader
from bot.storage.navs import NavSampleRows
from bot.storage.reserves import ReserveStateRows
from bot.storage.fills import FillRows
from bot.portfolio.ledger import FillLedger, swap_fill
from bot.portfolio.prices import BTC as PNL_BTC, IndexPrices
from bot.portfolio.issued import IssuedHoldings
from bot.portfolio.transfers import Transfers, schedule_transfers
from bot.storage.market_alerts import PriceAlertRows, RebalanceRows
from bot.dca.plans import Dca
from bot.points import Points
from bot.points.ledger import Ledger
from bot.points.referrals import Referrals
from bot.points.snapshot import Snapshotter
from bot.config import Config, url_secrets
from bot.logs import redact_more
from bot.core.frontends import FrontEnds
from bot.core.notices import Notices
from bot.delivery.outbox import Outbox
from bot.delivery.outbox.render import Renderer
from bot.storage.outbox import OutboxRows
from bot.core.router import Router
from bot.faucet import Faucet
from bot.i18n import Catalogs
from bot.market.quotes import Market
from bot.market.prices.hermes import Hermes
from bot.storage.prices import LastFreshPriceRows
from bot.issuance.orders import Orders
from bot.issuance.venue import Issuance
from bot.chain.profile import Profile, PythRef, load_profiles
from bot.storage.orders import OrderRows
from bot.trading.desks import Desks
from bot.delivery.schedule import LocalSchedule, Schedule
from bot.delivery.schedule.durable import NAME_INDEX, DurableSchedule
from bot.services import Services
from bot.storage.announcements import AnnouncementRows
from bot.storage.connected import ConnectedAddressRows, ConnectLinkRows, SigningLinkRows
from bot.storage.miniapp import MiniAppInitDataRows
from bot.storage.cooldowns import CooldownWatchRows
from bot.storage.quote_messages import QuoteMessageRows
from bot.storage.dca import DcaPlanRows
from bot.storage.db import Database, split_connections
from bot.jobs.engine import Jobs, cancelled, stalled_seconds
from bot.storage.deletions import PendingDeletionRows
from bot.storage.private import private_dir
from bot.storage.intents import IntentRows
from bot.storage import nonces as stored_nonces
from bot.storage.prompts import PromptRows
from bot.storage.repositories import ButtonRows, UserRows
from bot.storage.wallets import PinRows, SealedKeyRows, SettingsRows, WalletRows
from bot.issuance.requests import Cancel, Request
from bot.trading.executor import Executor
from bot.trading.kinds import KindRegistry
from bot.limits.book import LimitOrders, OrderSettings
from bot.limits.kind import OrderSwap, order_fill
from bot.storage.limit_orders import LimitOrderRows
from bot.trading.stake import Stake
from bot.trading.swap import Swap
from bot.trading.withdraw import Withdraw
from bot.trading.nonces import NonceManager
from bot.trading.failpoints import kill_at
from bot.trading.jobs import TradeFollowUps
from bot.storage.owners import IntentOwners
from bot.trading.reconcile import reconcile
from bot.chain.discovery import verify_at_startup
from bot.chain.verify import hermes_for
from bot.card_links import PURPOSE as CARD_PURPOSE, CardLinks
from bot.frontends.web import cards as card_pages
from bot.frontends.web import connect as connect_pages
from bot.frontends.web import pin as pin_pages
from bot.frontends.web import sign as sign_pages
from bot.frontends.web.pages import PageKit
from bot.frontends.web.miniapp import MiniAppGate
from bot.frontends.web.pin import pin_pad_url
from bot.frontends.web.ops import Ops, OpsServer, health_routes, ops_routes
from bot.frontends.web.server import WebServer, bind, public_url
from bot.frontends.web.telegram_webhook import WebhookIngress
from handlers import register_all
from wallets.connected import ConnectedWallets, ConnectSettings, LinkChain
from wallets.custodial import CustodialWallets
from wallets.keystore import Keystore, MasterKey, load_or_create_key_file
from wallets.pin import PinGuard
from wallets.rotation import unreadable

log = logging.getLogger(__name__)
DEFAULT_WEB_PORT = 8080


@dataclass
class App:
    config: Config
    profile: Profile
    chain: Chain
    head: HeadTracker
    db: Database
    services: Services
    router: Router
    notices: Notices
    front_ends: FrontEnds  # each chat front end attaches its bot name, invite link and standing check when it starts
    devnet: Any = None  # the embedded devnet this app started, stopped with it
    web: WebServer | None = None  # the connect and signing pages, served while the app runs
    schedule: Schedule | None = None  # timed jobs (the daily points snapshot); started with the front ends
    ops: OpsServer | None = None  # /metrics, /healthz, /readyz on 127.0.0.1:INDEXBOT_METRICS_PORT, when set
    jobs: Jobs | None = None  # the fleet's job engine (procrastinate) on PostgreSQL; None on the embedded SQLite
    worker: asyncio.Task[None] | None = None  # this process's run of the engine's jobs (`start_schedule(work=True)`)
    # what was opened while building (chains and head trackers, every companion's too; the database, the
    # outbox, the web pages), closed last-opened first by `stop`
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)
    telegram_webhook: WebhookIngress | None = None  # where Telegram posts (TELEGRAM_WEBHOOK_URL); the front end attaches
    health: Ops | None = None  # what /readyz reads (always built by `start`); the sender role adds its elections

    @classmethod
    async def start(cls, config: Config, *, track_head: bool = True) -> App:
        """Build everything. `track_head=False` is a one-off command (`indexbot points snapshot`): no head polling,
        and the web pages on any free port, so it runs beside a bot that holds the configured one."""
        devnet = None
        private_dir(config.home)  # the database, the chat log and the embedded devnet's key file live under it
        if config.chain is None:
            from devnet.harness import STATE_FILE, Devnet  # the embedded default; not imported on a real chain

            log.info("no chain configured: starting the embedded devnet")
            refuse_lost_devnet(config.database_path, config.home / "embedded-devnet" / STATE_FILE)
            devnet = await Devnet.start(config.home / "embedded-devnet", fulfil=True, persist=True)  # kept beside the database
            profiles = load_profiles(devnet.profile_path)
        else:
            profiles = load_profiles(config.chain, config.home, config.profile_override)
        redact_more(x for p in profiles for url in p.rpc_urls for x in url_secrets(url))  # a profile's keyed RPC URLs
        redact_more(pyth_secrets(profiles))  # and the Hermes API key and keyed URL
        profile, companions = profiles[0], profiles[1:]
        if config.rpc_urls:
            profile = replace(profile, rpc_urls=config.rpc_urls)
        if config.log_range_blocks is not None:  # the operator's provider's eth_getLogs cap
            profile = replace(profile, log_range_blocks=config.log_range_blocks)
        try:
            return await cls._build(config, profile, companions, devnet, track_head)
        except BaseException:
            if devnet is not None:
                await devnet.stop()
            raise

    @classmethod
    async def _build(cls, config: Config, profile: Profile, companions: tuple[Profile, ...], devnet: Any,
                     track_head: bool) -> App:
        async with AsyncExitStack() as opened:  # a failure part-way closes what was opened (no thread left behind)
            app = await cls._assemble(config, profile, companions, devnet, track_head, opened)
            app.resources = opened.pop_all()  # from here on App.stop closes them
            return app

    @classmethod
    async def _assemble(cls, config: Config, profile: Profile, companions: tuple[Profile, ...], devnet: Any,
                        track_head: bool, opened: AsyncExitStack) -> App:
        chain = Chain(profile.rpc_urls, profile.multicall3, log_range_blocks=profile.log_range_blocks)
        opened.push_async_callback(chain.close)
        hermes = _hermes(profile, opened)
        profile, setup = await verify_at_startup(profile, chain, hermes=hermes)  # staking tokens discovered, then verified
        head = HeadTracker(chain, interval=max(0.25, profile.block_time_seconds / 2))
        opened.push_async_callback(head.stop)
        if track_head:
            await head.poll_once()
            head.start()
        # a SQLite file is 0600, in a directory created 0700; PostgreSQL's pool takes its share of the connections
        db = await Database.open(config.database_where, connections=split_connections(config.database_connections)[0])
        opened.push_async_callback(db.close)
        clock = time.time  # the one clock every repository reads (injected, never called by them directly)
        await _bind(db, config, profile, chain, companions, clock)  # before anything reads what the database holds
        jobs = await _jobs(config, db, opened)
        catalogs = Catalogs()
        users = UserRows(db, clock)
        market = Market(profile, chain, setup, head, config.market, hermes=hermes)
        devnet_home = _devnet_home(config, profile, devnet)
        masters = _master_keys(config, devnet_home)
        keystore = Keystore(masters)
        lost = await unreadable(SealedKeyRows(db), keystore)
        if lost is not None:  # found now, not by a user at Confirm
            raise StartupRefused(lost.message())
        pins = PinGuard(PinRows(db), keystore)
        wallets = CustodialWallets(WalletRows(db, clock), keystore, pins)
        settings = SettingsRows(db)
        buttons = ButtonRows(db, clock)
        # Discord: what a member's closed DMs refused is shown them at their next interaction (discord_kept.py)
        outbox = Outbox(OutboxRows(db, clock), Renderer(users, buttons, catalogs, zones=settings.zone_of), on_blocked=users.forget,
                        keep_refused={"discord"})
        opened.push_async_callback(outbox.stop)
        notices = Notices(outbox)
        intents = IntentRows(db, clock)
        # The zero-config embedded devnet takes any free port rather than fail on a busy 8080.
        port = config.web.port if config.web.port is not None else (0 if devnet is not None else DEFAULT_WEB_PORT)
        if not track_head:
            port = 0
        sock = bind(config.web.host, port)
        url = public_url(config.web.public_url, sock)
        card_links = CardLinks(url, masters[0].derive(CARD_PURPOSE) if masters else secrets.token_bytes(32), clock)
        connected = ConnectedWallets(
            ConnectedAddressRows(db, clock), ConnectLinkRows(db, clock), SigningLinkRows(db, clock), notices, chain,
            ConnectSettings(url, profile.chain_id, config.web.signing_link_seconds),
            chains={profile.chain_id: LinkChain(chain, profile.chain_label)},
        )
        nonces = _nonces(db, chain, profile.chain_id)
        kinds = kind_registry()
        trading = Executor(
            profile, chain, head, market, intents, nonces, wallets, notices, settings, config.trading, kinds,
            clock=clock, connected=connected,
        )
        others, remote_balances, verified = [], [], []
        for other in companions:  # each chain its own executor; one that shares the home chain shares its nonces
            same = (other.chain_id, other.rpc_urls) == (profile.chain_id, profile.rpc_urls)
            o_chain, o_head, o_nonces = (chain, head, nonces) if same else await _open_chain(other, db, track_head, opened)
            o_hermes = _hermes(other, opened)
            other, o_setup = await verify_at_startup(other, o_chain, hermes=o_hermes)  # a companion's staking tokens too
            verified.append(other)
            o_market = Market(other, o_chain, o_setup, o_head, config.market, hermes=o_hermes)
            connected.chains.setdefault(other.chain_id, LinkChain(o_chain, other.chain_label))  # its signing links
            others.append(Executor(other, o_chain, o_head, o_market, intents, o_nonces, wallets, notices, settings,
                                   config.trading, kinds, clock=clock, connected=connected))
            if not same:
                remote_balances.append(BalanceReader(other, o_chain, o_market, other.chain_label))
        desks = Desks(trading, tuple(others))
        connected.on_hash = desks.on_hash  # the pipeline records and follows what a connected wallet sent
        orders = Orders(OrderRows(db, clock), desks.by_chain(), outbox)
        ledger = FillLedger(FillRows(db), {"buy": swap_fill, "sell": swap_fill, "order": order_fill},
                            partial(_btc_usd, market, clock), clock,
                            {desk.profile.name: desk.profile.chain_id for desk in desks})
        orders.filled_hooks.append(ledger.order_filled)  # a factory's fill becomes a fill of the ledger
        for desk in desks:
            desk.mined_hooks.append(orders.on_mined)  # a mined request becomes a pending order
            desk.mined_hooks.append(ledger.on_mined)  # a mined buy or sell becomes a fill of the ledger
        if jobs is not None:
            _trade_follow_ups(jobs, db, desks, outbox, opened)
        if config.failpoint:
            for desk in desks:
                desk.fault = kill_at(config.failpoint)
        balances = BalanceReader(profile, chain, market)
        front_ends = FrontEnds({"discord": config.discord_invite_url} if config.discord_invite_url else {})  # attached at their start
        points = _points(config, db, chain, market, profile, front_ends, clock)
        if config.failpoint:
            points.snapshot.fault = kill_at(config.failpoint)
        schedule = _schedule(jobs, points.snapshot, config.points.snapshot_at)
        announcements = Announcements(AnnouncementRows(db, clock), outbox, schedule, config.announce,  # a source and a rebuild
                                      front_ends=front_ends)
        cooldowns = CooldownAlerts(CooldownWatchRows(db), chain, profile, outbox, schedule)
        trading.mined_hooks.append(cooldowns.on_mined)  # a mined unstake starts its cooldown watch
        schedule.rebuild(cooldowns.rebuild)
        orders.schedule(schedule.put, config.issuance_watch_seconds)
        issuance = Issuance(desks.by_chain(), orders, chain)
        dca = Dca(DcaPlanRows(db, clock), trading, outbox, schedule, profile, issuance=issuance)
        schedule.rebuild(dca.rebuild)
        reserves = ReserveReader(market)
        limit_orders = LimitOrders(LimitOrderRows(db), trading, outbox, OrderSettings(config.limits_max_open), clock)
        price_alerts = _market_alerts(config, db, chain, market, profile, outbox, schedule, reserves)
        navs = NavHistory(market, NavSampleRows(db), config.alerts.chart_sample_seconds, config.alerts.chart_keep_days, clock)
        schedule_nav_samples(schedule, navs)  # charts:nav
        positions = PositionReader(profile, market, balances, config.boost)
        issued = IssuedHoldings(issuance)
        transfers = Transfers(ledger, positions, profile, head, WalletRows(db, clock).every_live,
                              issued)  # and issued indexes, on their own chains
        prices = IndexPrices(market, issuance)  # what every PnL is reckoned at
        schedule_transfers(schedule, transfers, config.transfers_seconds)  # portfolio:transfers
        alert_settings = AlertSettingsRows(db)
        digests = Digests(points, alert_settings, outbox, schedule, partial(ledger.pnl_now, prices), transfers.settle)
        schedule.rebuild(digests.rebuild)
        schedule.after_snapshot(digests.after_snapshot)
        schedule.calls(cooldowns.fire, announcements.send_due, dca.run, digests.send)  # jobs other processes put
        schedule.rebuild(partial(Housekeeping(buttons, PurgeRows(db), config.retention).plan, schedule))  # purge:rows
        quotes = ExpiringQuotes(QuoteMessageRows(db), intents, outbox, config.trading.expired_sweep_seconds, clock)
        schedule.rebuild(partial(quotes.plan, schedule))  # quotes:expired
        services = Services(
            profile, market, users, catalogs, config.limits,
            wallets=wallets,
            pins=pins,
            settings=settings,
            balances=balances,
            deletions=PendingDeletionRows(db),
            desks=desks,
            connected=connected,
            positions=positions,
            boost=config.boost,
            points=points,
            outbox=outbox,
            schedule=schedule,
            announcements=announcements,
            cooldowns=cooldowns,
            quotes=quotes,
            dca=dca,
            price_alerts=price_alerts,
            limit_orders=limit_orders,
            alert_settings=alert_settings,
            digests=digests,
            issuance=issuance,
            fees=IndexFees(chain, profile),
            reserves=reserves,
            navs=navs,
            ledger=ledger,
            card_links=card_links,
            transfers=transfers,
            prices=prices,
            issued=issued,
            companions=tuple(verified),
            remote_balances=tuple(remote_balances),
            faucet=_devnet_faucet(profile, head) if devnet_home is not None else None,
        )
        kit = PageKit(catalogs, users, profile.chain_label, profile.chain_id)
        ops = Ops(db, {desk.profile.name: desk.head for desk in desks}, schedule.names, clock)
        telegram_webhook = _telegram_webhook(config, db, clock)
        gate = MiniAppGate(config.telegram_token.reveal() if config.telegram_token is not None else None,
                           MiniAppInitDataRows(db, clock), users, clock)
        router = Router(users, buttons, catalogs, zones=settings.zone_of, clock=clock, prompts=PromptRows(db, clock),
                        prompt_seconds=config.prompt_seconds, pin_pad=pin_pad_url(url))
        register_all(router, services)
        web = WebServer(sock, url, [*connect_pages.routes(kit, connected, gate),
                                    *sign_pages.routes(kit, connected, gate, url.startswith("https://")),
                                    *pin_pages.routes(kit, router, front_ends, gate),
                                    *card_pages.routes(card_links),
                                    *health_routes(ops),  # /metrics only on the loopback ops server (web/ops.py)
                                    *(telegram_webhook.routes() if telegram_webhook is not None else [])])
        await web.start()
        opened.push_async_callback(web.stop)
        metrics_port = config.web.metrics_port if track_head else None  # a one-off command beside a running bot: none
        ops_server = OpsServer(metrics_port, ops_routes(ops)) if metrics_port is not None else None
        if ops_server is not None:
            await ops_server.start()
            opened.push_async_callback(ops_server.stop)
        return cls(config, profile, chain, head, db, services, router, notices, front_ends, devnet, web, schedule,
                   ops_server, jobs, telegram_webhook=telegram_webhook, health=ops)

    async def reconcile(self) -> None:
        """Settle every trade a previous run left unfinished and tell each user (front ends attached first,
        so the notices reach them)."""
        desks = self.services.desks
        for desk in desks:
            await reconcile(desk, partial(desks.owns, desk))
        await self.services.issuance.orders.sweep()  # rows a crash kept from being made; the watch job does the rest
        await self.services.ledger.sweep(desks.home.intents)  # fills a crash kept from being recorded

    async def start_schedule(self, work: bool = True) -> None:
        """Re-create the timed jobs from the database and start them (`indexbot run` and `chat` do, once their
        front ends are up; a one-off command does not). On PostgreSQL, `work` also runs the engine's jobs in this
        process (the worker role), until `stop`."""
        if self.schedule is not None:
            await self.schedule.start_all()
        self.services.limit_orders.watch(self.head)  # every open order checked at each new block
        if work and self.jobs is not None and self.worker is None:
            self.worker = asyncio.create_task(self.jobs.work(), name="jobs-worker")
            self.worker.add_done_callback(_worker_ended)

    @property
    def outbox(self) -> Outbox:
        return self.notices.outbox

    async def stop(self) -> None:
        worker, self.worker = self.worker, None
        await self.services.limit_orders.stop()
        if worker is not None and not worker.done():
            await cancelled(worker)  # running jobs get a moment to finish (bot.jobs.engine)
        if self.schedule is not None:
            await self.schedule.stop()
        await self.services.desks.stop()
        await self.resources.aclose()  # the web pages, each chain's head tracker and client, the outbox, the database
        if self.devnet is not None:
            await self.devnet.stop()


def _telegram_webhook(config: Config, db: Database, clock: Callable[[], float]) -> WebhookIngress | None:
    """The route Telegram posts updates to (its path is TELEGRAM_WEBHOOK_URL's), when the bot runs by webhook."""
    if config.telegram_webhook_url is None or config.telegram_webhook_secret is None:
        return None
    path = urlsplit(config.telegram_webhook_url).path.rstrip("/")
    return WebhookIngress(path, config.telegram_webhook_secret.reveal(), TelegramUpdateRows(db, clock))


async def _jobs(config: Config, db: Database, opened: AsyncExitStack) -> Jobs | None:
    """The job engine on PostgreSQL, its schema applied (bot.jobs.engine); none on SQLite (one process)."""
    if db.dialect != "postgresql":
        return None
    jobs = Jobs(str(config.database_where), stalled=stalled_seconds(),
                pool_size=split_connections(config.database_connections)[1])
    await jobs.open()
    opened.push_async_callback(jobs.close)
    await jobs.ensure_schema(NAME_INDEX)  # the durable schedule's lookups by name
    return jobs


def _trade_follow_ups(jobs: Jobs, db: Database, desks: Desks, outbox: Outbox, opened: AsyncExitStack) -> TradeFollowUps:
    """In a fleet each process owns the trades it confirms, and a job finishes one whose process died
    (bot.trading.jobs)."""
    owners = IntentOwners(db)
    opened.push_async_callback(owners.close)
    follow_ups = TradeFollowUps(jobs, owners, desks, outbox)
    follow_ups.register()
    return follow_ups


def _worker_ended(task: asyncio.Task[None]) -> None:
    """A worker that stopped by itself (its database gone for good) is said loudly: this process runs no jobs now."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("jobs: the worker stopped; this process runs no jobs until restarted", exc_info=task.exception())


def _schedule(jobs: Jobs | None, snapshot: Snapshotter, snapshot_at: dt_time) -> Schedule:
    """The timed jobs on the fleet's engine (procrastinate) on PostgreSQL, on APScheduler in this process on SQLite."""
    if jobs is not None:
        return DurableSchedule(jobs, snapshot, snapshot_at)
    return LocalSchedule(snapshot, snapshot_at)


def kind_registry() -> KindRegistry:
    """Every kind of intent and the handler that builds, follows and tells it (bot.trading.kinds)."""
    swap, staking, request, cancel = Swap(), Stake(), Request(), Cancel()
    return KindRegistry({
        "buy": swap, "sell": swap, "withdraw": Withdraw(),
        "stake": staking, "unstake": staking, "claim": staking,  # SOSO's staking token (the boost) too
        "issue": request, "redeem": request, "cancel_issue": cancel, "cancel_redeem": cancel,
        "order": OrderSwap(),  # a limit, stop-loss or take-profit order's execution (bot.limits)
    })


def _nonces(db: Database, chain: Chain, chain_id: int) -> NonceManager:
    """A chain's nonces: the node's pending count, the stored in-flight nonces and, on PostgreSQL (a fleet may
    send from the same wallets), the advisory lock that makes the processes take turns (bot.storage.nonces)."""
    in_flight = partial(stored_nonces.in_flight, db, chain_id)
    return NonceManager(chain.nonce, in_flight, stored_nonces.address_lock(db, chain_id))


async def _open_chain(profile: Profile, db: Database, track_head: bool,
                      opened: AsyncExitStack) -> tuple[Chain, HeadTracker, NonceManager]:
    """A companion chain's connection, head tracker and nonces (an address has its own nonces on every chain)."""
    chain = Chain(profile.rpc_urls, profile.multicall3, log_range_blocks=profile.log_range_blocks)
    opened.push_async_callback(chain.close)
    head = HeadTracker(chain, interval=max(0.25, profile.block_time_seconds / 2))
    opened.push_async_callback(head.stop)
    if track_head:
        await head.poll_once()
        head.start()
    return chain, head, _nonces(db, chain, profile.chain_id)


async def _bind(db: Database, config: Config, profile: Profile, chain: Chain, companions: tuple[Profile, ...],
                clock: Callable[[], float]) -> None:
    """The database bound to its chains (bot.chain.binding); a companion on a chain of its own through a short-lived
    connection of its own (its lasting one is opened later with its head tracker)."""
    pairs, own = [(profile, chain)], []
    for other in companions:
        same = (other.chain_id, other.rpc_urls) == (profile.chain_id, profile.rpc_urls)
        if not same:
            own.append(Chain(other.rpc_urls, other.multicall3))
        pairs.append((other, chain if same else own[-1]))
    try:
        await bind_chains(db, config.database_shown, pairs, clock)
    finally:
        for o_chain in own:
            await o_chain.close()


def _devnet_home(config: Config, profile: Profile, devnet: Any) -> Path | None:
    """Where the devnet this app runs on keeps its state: the embedded one's directory, or the directory of
    a devnet profile (`indexbot devnet up` writes it under $INDEXBOT_HOME/devnet). None on a real chain."""
    if devnet is not None:
        return Path(devnet.profile_path).parent
    if config.chain is not None and "devnet" in profile.extra:
        return Path(config.chain).parent
    return None


def _master_keys(config: Config, devnet_home: Path | None) -> list[MasterKey]:
    """The master key from the environment (on a devnet without one, the devnet's own key file), then the
    previous ones, which only open what they sealed."""
    previous = [MasterKey.from_base64(k.reveal()) for k in config.previous_master_keys]
    if config.master_key is not None:
        return [MasterKey.from_base64(config.master_key.reveal()), *previous]
    if devnet_home is not None:
        path = devnet_home / "master.key"
        log.info("devnet: custodial keys are encrypted with the key file %s", path)
        return [load_or_create_key_file(path), *previous]
    log.warning("INDEXBOT_MASTER_KEY is not set: custodial wallets are disabled")
    return []


def _devnet_faucet(profile: Profile, head: HeadTracker) -> Faucet:
    from devnet.faucet import DevnetFaucet  # the devnet's own; never imported on a real chain

    return DevnetFaucet(profile, after=head.poll_once)  # the user's next read sees the funds


async def _btc_usd(market: Market, clock: Callable[[], float]) -> Decimal | None:
    """BTC's price from the market's own price sources (a constituent of MAG7's tokenset), for the ledger: the last
    fresh reading the trade's own quote made, read again only when it is stale. A fill is recorded between "mined"
    and telling the user, so it must not wait on the network for a comparison figure."""
    last = market.last_fresh.get(PNL_BTC)
    if last is not None and last.price is not None and clock() - last.published_at <= last.max_age:
        return last.price
    return (await market.snapshot()).prices.get(PNL_BTC)


def _hermes(profile: Profile, opened: AsyncExitStack) -> Hermes | None:
    """The profile's Hermes client (bot.chain.verify.hermes_for), closed with the app."""
    hermes = hermes_for(profile)
    if hermes is not None:
        opened.push_async_callback(hermes.close)
    return hermes


def _points(config: Config, db: Database, chain: Chain, market: Market, profile: Profile, front_ends: FrontEnds,
            clock: Callable[[], float]) -> Points:
    ledger = Ledger(db, config.boost, config.points)
    snapshot = Snapshotter(db, chain, market, profile, ledger, config.points, prices=LastFreshPriceRows(db, profile.chain_id))
    return Points(config.points, ledger, Referrals(db, clock), snapshot, front_ends)


def _market_alerts(config: Config, db: Database, chain: Chain, market: Market, profile: Profile, outbox: Outbox,
                   schedule: Schedule, reserves: ReserveReader) -> PriceAlerts:
    """/alert lines, the rebalance watcher and the reserves watcher, with their jobs (`alerts:prices`,
    `alerts:rebalance`, `alerts:reserves`)."""
    alert_rows = PriceAlertRows(db)
    prices = PriceAlerts(alert_rows, market, outbox, config.alerts)
    rebalances = RebalanceWatcher(RebalanceRows(db), alert_rows, chain, market, profile, outbox, config.alerts)
    schedule_market_alerts(schedule, config.alerts, rebalances, prices)
    schedule_reserves(schedule, config.alerts, ReservesWatcher(reserves, ReserveStateRows(db), rebalances.holders, outbox))
    return prices


def pyth_secrets(profiles: Sequence[Profile]) -> list[str]:
    """What the log filter must hide of the profiles' Hermes settings: the API key their environment variable
    holds, and the keyed parts of the Hermes URL."""
    refs = [p.pyth or PythRef() for p in profiles]
    keys = [os.environ.get(ref.api_key_env, "") for ref in refs]
    return [k for k in keys if k] + [x for ref in refs for x in url_secrets(ref.hermes_url)]

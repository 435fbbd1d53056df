"""The composition root: everything the bot needs is built here, once, and passed in.

`App.start(config)` starts the embedded devnet when no chain is configured, loads and verifies the chain
profile, opens the database, and wires the router with every handler. Front ends receive the `App`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.chain import Chain, HeadTracker
from bot.config import Config
from bot.core.notices import Notices
from bot.core.router import Router
from bot.i18n import Catalogs
from bot.market import Market
from bot.profile import Profile, load_profile
from bot.services import Services
from bot.storage.db import Database
from bot.storage.repositories import Buttons, Users
from bot.verify import verify_profile
from handlers import register_all

log = logging.getLogger(__name__)


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
    devnet: Any = None  # the embedded devnet this app started, stopped with it

    @classmethod
    async def start(cls, config: Config, *, track_head: bool = True) -> App:
        devnet = None
        if config.chain is None:
            from devnet.harness import Devnet  # the embedded default; not imported on a real chain

            log.info("no chain configured: starting the embedded devnet")
            devnet = await Devnet.start(config.home / "embedded-devnet")
            profile = devnet.profile
        else:
            profile = load_profile(config.chain)
        if config.rpc_urls:
            profile = replace(profile, rpc_urls=config.rpc_urls)
        try:
            return await cls._build(config, profile, devnet, track_head)
        except BaseException:
            if devnet is not None:
                await devnet.stop()
            raise

    @classmethod
    async def _build(cls, config: Config, profile: Profile, devnet: Any, track_head: bool) -> App:
        chain = Chain(profile.rpc_urls, profile.multicall3)
        setup = await verify_profile(profile, chain)
        head = HeadTracker(chain, interval=max(0.25, profile.block_time_seconds / 2))
        if track_head:
            await head.poll_once()
            head.start()
        Path(config.database_path).parent.mkdir(parents=True, exist_ok=True)
        db = await Database.open(config.database_path)
        catalogs = Catalogs()
        users = Users(db)
        services = Services(profile, Market(profile, chain, setup, head, config.market), users, catalogs, config.limits)
        buttons = Buttons(db)
        router = Router(users, buttons, catalogs)
        register_all(router, services)
        return cls(config, profile, chain, head, db, services, router, Notices(users, buttons, catalogs), devnet)

    async def stop(self) -> None:
        await self.head.stop()
        await self.chain.close()
        await self.db.close()
        if self.devnet is not None:
            await self.devnet.stop()

"""The share cards (/pnl, Share, Telegram's inline mode): a PnL card and a quote card as pictures drawn off the event
loop (bot.cards), and the line that makes a shared card a referral: "Buy MAG7 in indexbot" with the sharer's invite
(the Telegram deep link `/start ref_<code>` that /start credits, or `/start <code>` where there is no link)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from bot.cards import Card, Tone, render_card, spark_of, tone_of
from bot.chain.profile import IndexRef
from bot.core.messages import Msg, Pct, Usd
from bot.core.request import Caller
from bot.portfolio.pnl import METHOD, IndexPnl
from bot.services import Services

DAY = 86_400


def invite_link(services: Services, code: str) -> str | None:
    """The Telegram deep link carrying `code`, once the Telegram front end told its username; None without it."""
    link = services.points.invite_links.get("telegram")
    return link.replace("{code}", code) if link else None


async def sharer_link(services: Services, user_key: int) -> str | None:
    """The sharer's own deep link (their invite code in it), None before Telegram told its username."""
    return invite_link(services, await services.points.referrals.code_of(user_key))


async def buy_line(services: Services, user_key: int, index: str) -> Msg:
    """"Buy <index> in indexbot" with the sharer's own invite: a friend who starts from it is their referral."""
    code = await services.points.referrals.code_of(user_key)
    link = invite_link(services, code)
    return Msg("share.buy.link", {"index": index, "link": link}) if link else Msg("share.buy.code", {"index": index, "code": code})


async def drawn(card: Card) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, render_card, card)


@dataclass(frozen=True)
class Face:
    """What a card says, before it is drawn (a picture) or sent as text (an inline share)."""

    title: Msg
    headline: Msg
    tone: Tone
    lines: tuple[Msg, ...]
    spark: tuple[Decimal, ...] = ()


def _signed(amount: Decimal | None, pnl: IndexPnl, key: str, unpriced: str) -> Msg:
    return Msg(key, {"usd": Usd(amount), "pct": Pct(pnl.pct(amount) or Decimal(0), signed=True)}) if amount is not None else Msg(unpriced)


def pnl_face(pnl: IndexPnl) -> Face:
    """The owner's PnL on one index (or on all, `bot.portfolio.pnl.total_of`): total PnL as the headline, then cost,
    value, unrealized, realized, BTC, USDC."""
    value = pnl.value
    total = pnl.total
    btc = Msg("card.pnl.btc", {"usd": Usd(pnl.btc_worth), "pct": Pct(pnl.pct(pnl.btc_pnl) or Decimal(0), signed=True)}) \
        if pnl.btc_worth is not None else Msg("positions.pnl.btc.unpriced")
    lines = (Msg("card.pnl.cost", {"usd": Usd(pnl.cost), "method": Msg(f"portfolio.method.{METHOD}")}),
             Msg("card.pnl.value", {"usd": Usd(value)}) if value is not None else Msg("card.pnl.value.unpriced"),
             _signed(pnl.unrealized, pnl, "card.pnl.unrealized", "positions.pnl.unrealized.unpriced"),
             _signed(pnl.realized, pnl, "card.pnl.realized", "positions.pnl.realized.unpriced"),
             btc, Msg("card.pnl.usdc", {"usd": Usd(pnl.invested)}))
    return Face(Msg("card.pnl.title", {"index": pnl.index}), _signed(total, pnl, "card.pnl.total", "card.pnl.unpriced"),
                tone_of(total), lines)


async def quote_face(services: Services, ref: IndexRef) -> Face:
    """NAV, premium and the 24 h change from the bot's own NAV samples (said when there are none yet), a sparkline."""
    samples = await services.navs.period(ref, 1)
    snap = (await services.market.snapshot()).indexes.get(ref.symbol)
    nav = snap.nav if snap is not None else (samples[-1].nav if samples else None)
    premium = snap.premium if snap is not None else (samples[-1].premium if samples else None)
    day_old = bool(samples) and samples[0].at <= time.time() - DAY + 3600  # the oldest sample is about a day old
    change = nav / samples[0].nav - 1 if nav is not None and day_old and samples[0].nav else None
    lines = (Msg("card.quote.premium", {"pct": Pct(premium, signed=True)}) if premium is not None else Msg("card.quote.premium.none"),
             Msg("card.quote.change", {"pct": Pct(change, signed=True)}) if change is not None else Msg("card.quote.change.none"))
    headline = Msg("card.quote.nav", {"usd": Usd(nav)}) if nav is not None else Msg("card.quote.nav.none")
    return Face(Msg("card.quote.title", {"index": ref.symbol}), headline, tone_of(change), lines,
                spark_of([s.nav for s in samples]))


async def drawn_face(services: Services, locale: str, face: Face) -> bytes:
    """The card as a PNG in `locale`, drawn in an executor thread."""
    say = partial(services.catalogs.render_msg, locale=locale, escape=str)
    return await drawn(Card(say(face.title), say(face.headline), face.tone, tuple(say(m) for m in face.lines),
                            say(Msg("card.footer")), locale, face.spark))


async def pnl_card(services: Services, caller: Caller, pnl: IndexPnl) -> bytes:
    return await drawn_face(services, caller.locale, pnl_face(pnl))

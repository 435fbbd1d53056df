"""/wallet: the custodial wallet. `/wallet` shows the address and balances; `new`, `import <key>`,
`export <PIN>` and `remove <PIN>` manage it. Private only; the router deletes every message carrying a key
or PIN where the platform allows, and one typed where others can read it is refused as seen."""

import asyncio
import re
from dataclasses import replace
from functools import partial

from bot.market.balances import Balances, Holding
from bot.core.errors import UserError
from bot.core.messages import Amount, Ask, Button, Count, Msg, Reply, Usd
from bot.core.request import Caller
from bot.core.router import Router
from bot.core.secrets import PIN_DIGITS, is_pin
from bot.services import Services

EXPORT_VISIBLE_SECONDS = 60
USAGE = Msg("usage.wallet")
_KEY_LIKE = re.compile(r"^(0[xX])?[0-9a-fA-F]{60,68}$")


def looks_like_key(words: tuple[str, ...]) -> bool:
    return any(_KEY_LIKE.match(w) for w in words)


def secret_in(args: tuple[str, ...]) -> str | None:
    """Which secret a /wallet message carries: a key (import, or one pasted bare) or a PIN (export, remove)."""
    sub = args[0].lower() if args else ""
    if (sub == "import" and len(args) > 1) or looks_like_key(args):
        return "key"
    if sub in ("export", "remove") and len(args) > 1:
        return "pin"
    return None


def balance_lines(balances: Balances) -> list[Msg]:
    lines = [Msg("wallet.balances", style="title")]
    for h in balances.holdings:
        if h.units == 0 and h.kind not in ("native", "stable"):
            continue
        shown = Amount(h.amount, 8 if h.kind in ("index", "staked") else 6)
        symbol = h.symbol if h.chain is None else Msg("wallet.symbol_on", {"symbol": h.symbol, "chain": h.chain})
        # a card per holding (name, amount, value), each line narrow enough for a phone
        lines += [Msg("wallet.holding.name", {"symbol": symbol}), Msg("wallet.holding", {"amount": shown}),
                  Msg("wallet.holding.unpriced") if h.usd is None else Msg("wallet.holding.usd", {"usd": Usd(h.usd)})]
    lines.append(Msg("wallet.total", {"usd": Usd(balances.total_usd)}))
    if balances.unpriced:
        lines.append(Msg("wallet.total.unpriced", {"symbols": ", ".join(h.symbol for h in balances.unpriced)}))
    lines.append(Msg("common.block", {"block": balances.block}))
    return lines


async def show(services: Services, caller: Caller, edit: bool = False) -> Reply:
    """The address, its balances on every chain, and where to deposit; or the offer to create a wallet."""
    address = await services.wallets.address_of(caller.user_key)
    if address is None:
        return Reply.of(
            Msg("wallet.none", style="title"), Msg("wallet.none.body"),
            buttons=((Button(Msg("button.wallet_new"), "wallet.new"),),), edit=edit,
        )
    balances, elsewhere, issued = await asyncio.gather(  # every chain at once
        services.balances.read(address),
        asyncio.gather(*(reader.read(address) for reader in services.remote_balances)),  # ETH, USDC elsewhere
        services.issuance.holdings(address),  # issued indexes (MAG7.nex), on whichever chain they live
    )
    more = tuple(h for b in elsewhere for h in b.holdings) + issued
    balances = replace(balances, holdings=balances.holdings + more)
    deposit = [Msg("wallet.deposit", {"chain": services.profile.name})] + [
        Msg("wallet.deposit.other", {"chain": r.profile.chain_label, "indexes": ", ".join(i.symbol for i in r.profile.indexes)})
        for r in services.remote_balances
    ]
    actions = [Button(Msg("button.refresh"), "wallet.show"), Button(Msg("button.export"), "wallet.export_hint")]
    actions.append(Button(Msg("button.withdraw"), "withdraw.start"))  # asked step by step (handlers.withdraw.guided)
    rows = [tuple(actions)] + ([(Button(Msg("button.faucet"), "faucet.run"),)] if services.faucet else [])
    return Reply.of(
        Msg("wallet.title", style="title"), Msg("wallet.address", {"address": address}, style="code"),
        *deposit, *balance_lines(balances),
        buttons=tuple(rows), edit=edit,
    )


async def next_steps(services: Services, caller: Caller) -> list[Msg]:
    """Choosing a PIN comes first (no trade or export before it), unless the user has one already."""
    pin = [] if await services.pins.has_pin(caller.user_key) else [Msg("wallet.pin_next")]
    steps = [*pin, Msg("wallet.deposit", {"chain": services.profile.name})]
    return steps + ([Msg("wallet.faucet_hint")] if services.faucet else [])


def pin_button(steps: list[Msg]) -> tuple[tuple[Button, ...], ...]:
    """Choose a PIN, as a button (asked by handlers.pin), when choosing one is the next step."""
    return ((Button(Msg("button.pin_set"), "pin.ask"),),) if Msg("wallet.pin_next") in steps else ()


async def create(services: Services, caller: Caller, edit: bool = False) -> Reply:
    address = await services.wallets.create(caller.user_key)
    steps = await next_steps(services, caller)
    return Reply.of(Msg("wallet.created", style="title"), Msg("wallet.address", {"address": address}, style="code"),
                    *steps, buttons=pin_button(steps), edit=edit)


async def import_key(services: Services, caller: Caller, words: tuple[str, ...]) -> Reply:
    if not words:
        raise UserError("error.key.missing", usage=USAGE)
    if len(words) > 1:
        raise UserError("error.args.extra", usage=USAGE)
    address = await services.wallets.import_key(caller.user_key, words[0])
    steps = await next_steps(services, caller)
    return Reply.of(Msg("wallet.imported", style="title"), Msg("wallet.address", {"address": address}, style="code"),
                    *steps, buttons=pin_button(steps))


async def export(services: Services, caller: Caller, words: tuple[str, ...]) -> Reply:
    """`/wallet export <PIN>`, or `/wallet export` alone: the PIN asked (its message deleted at once)."""
    if not words:
        return await ask_export_pin(caller, ())
    if len(words) != 1:
        raise UserError("error.args.extra", usage=USAGE)
    key = await services.wallets.export(caller.user_key, words[0])
    return Reply.of(
        Msg("wallet.export.title", style="title"), Msg("wallet.export.key", {"key": key}, style="code"),
        Msg("wallet.export.warning", {"count": Count(EXPORT_VISIBLE_SECONDS)}), delete_after=EXPORT_VISIBLE_SECONDS,
    )


async def ask_export_pin(caller: Caller, _: tuple[str, ...]) -> Reply:
    return Reply.of(Msg("wallet.export.ask"), ask=Ask("wallet.export", (), Msg("prompt.field.pin"), secret="pin"))


async def export_answered(services: Services, caller: Caller, text: str, _: tuple[str, ...]) -> Reply:
    if not is_pin(text):
        raise UserError("error.pin.length", min=PIN_DIGITS[0], count=Count(PIN_DIGITS[1]))
    return await export(services, caller, (text,))


async def remove(services: Services, caller: Caller, words: tuple[str, ...]) -> Reply:
    if len(words) != 1:
        raise UserError("error.pin.missing" if not words else "error.args.extra", usage=USAGE)
    address = await services.wallets.remove(caller.user_key, words[0])
    return Reply.of(Msg("wallet.removed", {"address": address}))


async def wallet(services: Services, caller: Caller) -> Reply:
    """Dispatch on the first word; secrets are never echoed."""
    args = caller.request.args
    sub, rest = (args[0].lower(), args[1:]) if args else ("", ())
    if sub == "":
        return await show(services, caller)
    if sub == "new":
        if rest:
            raise UserError("error.args.extra", usage=USAGE)
        return await create(services, caller)
    if sub == "import":
        return await import_key(services, caller, rest)
    if sub == "export":
        return await export(services, caller, rest)
    if sub == "remove":
        return await remove(services, caller, rest)
    raise UserError("error.wallet.subcommand", usage=USAGE)  # a bare key lands here too: never echoed


async def refresh(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    return await show(services, caller, edit=True)


async def new_pressed(services: Services, caller: Caller, _: tuple[str, ...]) -> Reply:
    """Create a wallet, in place of the screen that offered it."""
    return await create(services, caller, edit=True)


async def export_hint(caller: Caller, _: tuple[str, ...]) -> Reply:
    return Reply.of(Msg("wallet.export.hint"))


async def withdraw_hint(caller: Caller, _: tuple[str, ...]) -> Reply:
    return Reply.of(Msg("wallet.withdraw.hint"))


def register(router: Router, services: Services) -> None:
    router.command("wallet", partial(wallet, services), private_only=True, secret=secret_in)
    router.prompt("wallet.export", partial(export_answered, services), ask_export_pin)
    router.action("wallet.show", partial(refresh, services), private_only=True)
    router.action("wallet.new", partial(new_pressed, services), private_only=True)
    router.action("wallet.export_hint", export_hint)
    router.action("wallet.withdraw_hint", withdraw_hint)

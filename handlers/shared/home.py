"""The home screen's content, shown by /start and by Home (handlers.home): a summary read once per block, and the
buttons that open every feature."""

from dataclasses import dataclass, field

from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply, Usd
from bot.core.request import Caller
from bot.market.balances import Balances
from bot.services import Services

OPENED = ("indexes", "wallet", "positions", "alerts", "points", "invite")  # features shown as their bare command
KEPT_WALLETS = 10_000  # summaries kept at most; all dropped past it (they are one block's anyway)


def home_buttons() -> tuple[tuple[Button, ...], ...]:
    def opens(name: str) -> Button:
        return Button(Msg(f"home.button.{name}"), "home.open", (name,))

    def menu(name: str) -> Button:
        return Button(Msg(f"home.button.{name}"), f"menu.{name}")

    return (
        (opens("indexes"), menu("buy"), menu("sell")),
        (opens("wallet"), opens("positions"), menu("stake")),
        (opens("alerts"), opens("points"), opens("invite")),
        (menu("settings"),),
    )


@dataclass
class Summaries:
    """Each wallet's value, kept for the block it was read at: no chain call while the head stays there."""

    services: Services
    kept: dict[str, Balances] = field(default_factory=dict)  # by address

    async def line(self, user_key: int) -> Msg:
        try:
            address = (await self.services.desks.home.sender(user_key)).address
        except UserError:  # no wallet yet
            return Msg("home.no_wallet")
        balances = self.kept.get(address)
        head = self.services.market.head.fresh_head()
        if balances is None or head is None or balances.block != head:
            balances = await self.services.balances.read(address)
            if len(self.kept) >= KEPT_WALLETS:
                self.kept.clear()
            self.kept[address] = balances
        return Msg("home.wallet", {"value": Usd(balances.total_usd)})


async def home_reply(summaries: Summaries, caller: Caller, *lines: Msg, edit: bool = False) -> Reply:
    """The home screen, after `lines` (a welcome)."""
    return Reply.of(*lines, await summaries.line(caller.user_key), Msg("home.body"), buttons=home_buttons(), edit=edit)

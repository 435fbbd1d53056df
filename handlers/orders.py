"""/orders: everything the user left to act: their limit, stop-loss and take-profit orders (as /limits lists them,
each open one with a Cancel button; `/orders cancel 3` cancels #3 as `/limits cancel 3` does), then their issuance and redemption requests, pending first, each pending one
with a Cancel button.

Cancel sends `cancelIssuance` / `cancelRedemption` for that request through the intent pipeline at once (the press
is the confirmation; a second press is refused while the first is on its way) and answers with the outcome.
"""

from functools import partial
from bot.core.errors import UserError
from bot.core.messages import Button, Msg, Reply
from bot.core.request import Caller
from bot.core.router import Router
from bot.issuance import present
from bot.services import Services
from handlers.shared.confirm import intent_arg, run_confirm
from handlers.shared.limit_orders import book_lines, cancel_order


async def orders(services: Services, caller: Caller) -> Reply:
    """`/orders`."""
    args = caller.request.args
    if len(args) == 2 and args[0].lower() == "cancel":  # a limit, stop-loss or take-profit order, as /limits cancel
        return await cancel_order(services, caller, args[1])
    if args:
        raise UserError("error.args.extra", usage=Msg("usage.orders"))
    issuance = services.issuance
    mine = await issuance.orders.rows.of_user(caller.user_key)
    book, cancels = await book_lines(services, caller.user_key)
    if not mine and not book:
        return Reply.of(Msg("limits.empty"), Msg("limits.usage.all"),
                        Msg("orders.none", {"indexes": ", ".join(ref.symbol for ref in issuance.indexes)}))
    buttons = tuple((Button(Msg("button.orders_cancel", {"nonce": o.nonce, "index": o.index}), "orders.cancel", (str(o.id),)),)
                    for o in mine if o.state == "pending")
    requests = [Msg("orders.title", style="title"), *(line for o in mine for line in present.order_lines(o))] if mine else []
    return Reply.of(*book, *requests, buttons=(*cancels, *buttons))


async def cancel(services: Services, caller: Caller, args: tuple[str, ...]) -> Reply:
    """The Cancel button of a pending order: the cancel is sent at once (the press is the confirmation)."""
    req = caller.request
    _, intent_id = await services.issuance.orders.cancel(intent_arg(args), caller.user_key, req.platform, req.news_chat)
    return await run_confirm(services, caller, intent_id)


def register(router: Router, services: Services) -> None:
    router.command("orders", partial(orders, services), personal=True)
    router.action("orders.cancel", partial(cancel, services))

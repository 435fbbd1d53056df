"""The executor acts on an intent only through its kind's registered handler: an unknown kind is an error."""

import pytest

from bot.app import App
from bot.trading.intents import State
from bot.trading.kinds import UnknownKind
from auxil.trading import funded_user


async def test_an_intent_of_an_unknown_kind_is_refused_before_anything_changes(app: App) -> None:
    user, address = await funded_user(app)
    x = app.services.desks.home
    assert x is not None
    intent_id = await x.intents.create(
        user_id=user, address=address, kind="teleport", chain_id=app.profile.chain_id,
        params={"asset": "ETH", "token": None, "decimals": 18, "amount": 10**15, "all": False, "to": address,
                "chain": app.profile.name},  # a withdrawal's params: once, an unknown kind fell through to withdraw
        expires_at=2**31, platform="console", chat_id="c1",
    )
    with pytest.raises(UnknownKind):
        await x.confirm(intent_id, user, None, "c1")
    intent = await x.intents.get(intent_id)
    assert intent is not None and intent.state is State.QUOTED
    assert await x.intents.txs(intent_id) == [] and await app.chain.nonce(address) == 0

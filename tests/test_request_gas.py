"""An issuance request signed behind its USDC approval (/buy MAG7.nex) gets its gas limit from an estimate with
the allowance overridden, not the 400,000 bound, and the limit covers what the request used."""

from __future__ import annotations

from bot.app import App
from bot.issuance.requests import REQUEST_GAS
from bot.trading.txs import with_margin
from devnet.fulfil import Fulfiller
from auxil.issuance import hours_app  # noqa: F401  (a fixture)
from test_staking_txs import trading
from auxil.trading import click, funded_user, say


async def test_an_issuance_request_behind_its_approval_gets_an_estimated_limit(hours_app: tuple[App, Fulfiller]) -> None:
    app, _ = hours_app
    uid, _ = await funded_user(app)
    done = await click(app, await say(app, "/buy MAG7.nex 1000"), "Confirm")
    assert "Issuance request #" in done.rendered.text, done.rendered.text
    (intent,) = await trading(app).intents.of_user(uid)
    txs = await trading(app).intents.txs(intent.id)
    assert [t.purpose for t in txs] == ["approve", "issue"]
    receipts = await app.chain.receipts([t.tx_hash for t in txs])
    used, limit = int(receipts[txs[1].tx_hash]["gasUsed"]), intent.params["gas_limits"][1]
    assert limit != REQUEST_GAS and used < limit <= with_margin(used) + 25_000

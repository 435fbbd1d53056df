"""A `Reply` as JSON and back, so a message can wait in the outbox (across a restart) and be rendered when sent.

Rendering happens at send time, in the reader's language and time zone then, and the buttons' server-side
tokens are issued then (their lifetime starts when the user sees them). Typed parameters keep their type:
`Decimal`s travel as strings, never as floats.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.messages import Amount, Button, Count, Day, Msg, Param, Pct, Reply, Usd, When


def dumps(reply: Reply) -> str:
    body: dict[str, Any] = {"lines": [_msg(m) for m in reply.lines]}
    if reply.buttons:
        body["buttons"] = [[[_msg(b.label), b.action, list(b.args), *([b.url] if b.url else [])] for b in row]
                           for row in reply.buttons]
    if reply.image is not None:
        body["image"] = base64.b64encode(reply.image).decode()
    if reply.edit_only:
        body["edit_only"] = True
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Reply:
    body = json.loads(text)
    buttons = tuple(
        tuple(Button(_unmsg(label), str(action), tuple(str(a) for a in args), *(str(u) for u in url)) for label, action, args, *url in row)
        for row in body.get("buttons", ())
    )
    image = base64.b64decode(body["image"]) if "image" in body else None
    return Reply(lines=tuple(_unmsg(m) for m in body["lines"]), buttons=buttons, image=image,
                 edit_only=bool(body.get("edit_only", False)))


def _msg(msg: Msg) -> dict[str, Any]:
    out: dict[str, Any] = {"k": msg.key}
    if msg.params:
        out["p"] = {name: _param(value) for name, value in msg.params.items()}
    if msg.style != "text":
        out["s"] = msg.style
    return out


def _unmsg(raw: dict[str, Any]) -> Msg:
    params = {name: _unparam(value) for name, value in raw.get("p", {}).items()}
    return Msg(raw["k"], params, raw.get("s", "text"))


def _param(value: Param) -> Any:
    if isinstance(value, bool):
        raise TypeError("a bool is not a message parameter")
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    if isinstance(value, Usd):
        return {"usd": str(value.value), "places": value.places}
    if isinstance(value, Amount):
        return {"amount": str(value.value), "places": value.places}
    if isinstance(value, Pct):
        return {"pct": str(value.value), "places": value.places, "signed": value.signed}
    if isinstance(value, When):
        return {"when": value.timestamp, "tz": value.tz}
    if isinstance(value, Count):
        return {"count": value.n}
    if isinstance(value, Day):
        return {"day": value.day.isoformat()}
    if isinstance(value, Msg):
        return {"msg": _msg(value)}
    raise TypeError(f"cannot store a {type(value).__name__} parameter")


def _unparam(raw: Any) -> Param:
    if isinstance(raw, str):
        return raw
    if "int" in raw:
        return int(raw["int"])
    if "dec" in raw:
        return Decimal(raw["dec"])
    if "usd" in raw:
        return Usd(Decimal(raw["usd"]), int(raw["places"]))
    if "amount" in raw:
        return Amount(Decimal(raw["amount"]), int(raw["places"]))
    if "pct" in raw:
        return Pct(Decimal(raw["pct"]), int(raw["places"]), bool(raw["signed"]))
    if "when" in raw:
        return When(int(raw["when"]), raw.get("tz"))
    if "count" in raw:
        return Count(int(raw["count"]))
    if "day" in raw:
        return Day(date.fromisoformat(raw["day"]))
    if "msg" in raw:
        return _unmsg(raw["msg"])
    raise ValueError(f"unknown stored parameter {raw!r}")

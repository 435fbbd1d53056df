"""Share cards: a small picture of one figure and the lines under it (the /pnl card, the inline quote card).

Pure: already-localized strings in, PNG bytes out, drawn on a `Figure` of its own with the Agg canvas (no pyplot,
no global state), so a handler runs it in an executor thread (as bot.market.navchart). A card may carry a
sparkline (NAV over the last day); values stay Decimal up to here and become floats only as plotting coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from typing import Literal

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.fonts import families  # noqa: E402

WIDTH, HEIGHT, DPI = 8, 4.5, 100  # 800 × 450 pixels: a phone-wide picture
Tone = Literal["up", "down", "flat"]
COLOURS = {"up": "#16a34a", "down": "#dc2626", "flat": "#374151"}


@dataclass(frozen=True)
class Card:
    """Every word on a card, in the reader's language: a title, the headline figure and its tone (green up, red
    down), the lines under it, a footer (the bot's name), and an optional sparkline of values oldest first."""

    title: str
    headline: str
    tone: Tone
    lines: tuple[str, ...]
    footer: str
    locale: str = "en"
    spark: tuple[Decimal, ...] = field(default=())


def tone_of(value: Decimal | None) -> Tone:
    return "flat" if not value else ("up" if value > 0 else "down")


def render_card(card: Card) -> bytes:
    """Title top left, the headline large in its tone, the lines below; the sparkline on the right when given."""
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor="#f8fafc")
    FigureCanvasAgg(fig)
    family = families(card.locale)
    fig.text(0.05, 0.88, card.title, fontsize=20, fontweight="bold", color="#111827", fontfamily=family)
    fig.text(0.05, 0.70, card.headline, fontsize=28, fontweight="bold", color=COLOURS[card.tone], fontfamily=family)
    top, step = 0.58, min(0.08, 0.48 / max(len(card.lines), 1))
    for n, line in enumerate(card.lines):
        fig.text(0.05, top - n * step, line, fontsize=13, color="#374151", fontfamily=family)
    fig.text(0.05, 0.04, card.footer, fontsize=10, color="#6b7280", fontfamily=family)
    if len(card.spark) > 1:
        axes = fig.add_axes((0.62, 0.55, 0.33, 0.3))
        ys = [float(v) for v in card.spark]  # plotting coordinates only
        axes.plot(range(len(ys)), ys, color=COLOURS[card.tone], linewidth=2)
        axes.fill_between(range(len(ys)), ys, min(ys), color=COLOURS[card.tone], alpha=0.15)
        axes.set_axis_off()
    out = BytesIO()
    fig.savefig(out, format="png", facecolor=fig.get_facecolor())
    return out.getvalue()


def spark_of(values: Sequence[Decimal], points: int = 48) -> tuple[Decimal, ...]:
    """At most `points` points (and the last), evenly picked, so a long day of samples stays a light line."""
    if len(values) <= points:
        return tuple(values)
    step = len(values) / points
    return tuple(values[int(i * step)] for i in range(points)) + (values[-1],)


BARS = "▁▂▃▄▅▆▇█"
TEXT_POINTS = 16  # a text sparkline fits a phone's line beside its label


def spark_text(values: Sequence[Decimal], points: int = TEXT_POINTS) -> str:
    """The sparkline of `values` (oldest first) in Unicode bars, lowest ▁ to highest █, at most `points` (and the
    last) evenly picked; "" for fewer than two values (nothing to draw), a level line of ▄ when they do not move.
    Ours, not a package's: eight lines of Decimal arithmetic, where the PyPI ones are unmaintained or pull floats."""
    picked = spark_of(values, points)
    if len(picked) < 2:
        return ""
    low, high = min(picked), max(picked)
    if high == low:
        return BARS[3] * len(picked)
    top = len(BARS) - 1
    return "".join(BARS[min(top, int((v - low) * len(BARS) / (high - low)))] for v in picked)

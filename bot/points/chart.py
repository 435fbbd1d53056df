"""The /points chart: a user's daily points over an epoch as a PNG.

Pure: (day, points) pairs and already-localized strings in, PNG bytes out. It draws with matplotlib's Agg
canvas on a `Figure` of its own (no pyplot, no global figure state), so it is safe to run in an executor
thread; the handler does exactly that to keep the event loop free. Points stay `Decimal` up to here and become
floats only as plotting coordinates.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.fonts import families  # noqa: E402

def render_chart(days: list[tuple[date, Decimal]], title: str, x_label: str, y_label: str) -> bytes:
    """A bar per credited day, as PNG bytes."""
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    family = families()
    xs = [d.toordinal() for d, _ in days]
    ys = [float(p) for _, p in days]  # plotting coordinates only
    ax.bar(xs, ys, width=0.8, color="#3b82f6")
    ax.set_title(title, fontfamily=family)
    ax.set_xlabel(x_label, fontfamily=family)
    ax.set_ylabel(y_label, fontfamily=family)
    ticks = xs if len(xs) <= 10 else xs[:: len(xs) // 10 + 1]
    ax.set_xticks(ticks, [date.fromordinal(x).strftime("%m-%d") for x in ticks])
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    out = BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()

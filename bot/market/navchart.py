"""The /chart picture: NAV per token and the pool price over time, and below them the premium/discount.

Pure: samples and already-localized strings in, PNG bytes out, drawn on a `Figure` of its own with the Agg canvas
(no pyplot, no global state), so the handler runs it in an executor thread. Values stay Decimal up to here and
become floats only as plotting coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from babel.dates import format_skeleton  # noqa: E402
from matplotlib.dates import AutoDateLocator, num2date  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bot.fonts import families  # noqa: E402
from bot.market.history import NavSample  # noqa: E402

WIDTH, HEIGHT, DPI = 10, 6, 100  # 1000 × 600 pixels
SHORT_SPAN = 2 * 86400  # samples over at most two days: ticks name the hour too
LONE_PAD = timedelta(hours=1)  # a lone sample's time axis, each side of it
MIN_PREMIUM_SPAN = 0.05  # percent: the premium panel shows at least this much each side of 0


@dataclass(frozen=True)
class ChartLabels:
    """Every word on the picture, in the reader's language."""

    title: str
    nav: str
    pool: str
    usd: str
    premium: str
    locale: str = "en"


def render_nav_chart(samples: Sequence[NavSample], labels: ChartLabels) -> bytes:
    """Two panels sharing the time axis: NAV and pool price (USD), then the premium in percent."""
    out = BytesIO()
    nav_figure(samples, labels).savefig(out, format="png")
    return out.getvalue()


def nav_figure(samples: Sequence[NavSample], labels: ChartLabels) -> Figure:
    """The chart's figure (`render_nav_chart`)."""
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (2, 1)})
    family = families(labels.locale)
    times = [datetime.fromtimestamp(s.at, UTC) for s in samples]
    dot = "o" if len(samples) == 1 else None  # a lone sample (a bot's first): a point, where a line would not show
    top.plot(times, [float(s.nav) for s in samples], color="#2563eb", label=labels.nav,
             marker=dot)  # plotting coordinates only
    priced = [(t, s) for t, s in zip(times, samples) if s.pool is not None]
    top.plot([t for t, _ in priced], [float(s.pool) for _, s in priced if s.pool is not None], color="#f59e0b",
             label=labels.pool, marker=dot)
    top.set_title(labels.title, fontfamily=family)
    top.set_ylabel(labels.usd, fontfamily=family)
    top.legend(prop={"family": family}, loc="best")
    top.grid(alpha=0.3)
    premiums = [(t, float(s.premium * 100)) for t, s in zip(times, samples) if s.premium is not None]
    xs, ys = [t for t, _ in premiums], [p for _, p in premiums]
    bottom.plot(xs, ys, color="#6b7280", marker=dot)
    bottom.fill_between(xs, ys, 0, where=[p >= 0 for p in ys], color="#16a34a", alpha=0.3, interpolate=True)
    bottom.fill_between(xs, ys, 0, where=[p < 0 for p in ys], color="#dc2626", alpha=0.3, interpolate=True)
    bottom.axhline(0, color="#111827", linewidth=0.8)
    if max((abs(p) for p in ys), default=0.0) < MIN_PREMIUM_SPAN:  # a pool at NAV: a readable ±0.05 %, not 1e-16
        bottom.set_ylim(-MIN_PREMIUM_SPAN, MIN_PREMIUM_SPAN)
    for panel in (top, bottom):
        panel.ticklabel_format(axis="y", useOffset=False, style="plain")  # figures as they are, never "+1e2" aside
    bottom.set_ylabel(labels.premium, fontfamily=family)
    bottom.grid(alpha=0.3)
    if len(set(times)) == 1:  # one moment (a bot's first sample): an hour each side, where matplotlib's own choice
        bottom.set_xlim(times[0] - LONE_PAD, times[0] + LONE_PAD)  # for a zero span ran over a decade of ticks
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(tick_dates(times, labels.locale))
    bottom.tick_params(axis="x", labelfontfamily=family)  # month names in the reader's script
    fig.tight_layout()
    return fig


def tick_dates(times: Sequence[datetime], locale: str) -> FuncFormatter:
    """Tick labels in the reader's language through Babel (`12月4日`, `4 дек.`; with the time over a short span), not
    matplotlib's English month names."""
    short = len(times) < 2 or (max(times) - min(times)).total_seconds() <= SHORT_SPAN

    def label(x: float, _pos: int | None) -> str:
        when = num2date(x, tz=UTC)  # type: ignore[no-untyped-call]
        day = format_skeleton("MMMd", when, locale=locale)
        return f"{day} {format_skeleton('Hm', when, locale=locale)}" if short else day

    return FuncFormatter(label)

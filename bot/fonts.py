"""The fonts every chart draws with (bot.points.chart, bot.market.navchart): one that has every shipped language's glyphs.

DejaVu Sans (matplotlib's own) covers the Latin, Cyrillic and Vietnamese catalogs; Chinese, Japanese and Korean need
Noto Sans CJK (Debian's fonts-noto-cjk, installed by `make fonts`). matplotlib tries the families in order per
glyph; the CJK family of the reader's language comes first among them, so a Japanese title gets Japanese glyph forms.
Fonts installed after matplotlib built its font cache are added here once, so the cache need not be rebuilt by hand.
"""

from __future__ import annotations

from functools import cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402

_CJK = {"zh_TW": "Noto Sans CJK TC", "ja": "Noto Sans CJK JP", "ko": "Noto Sans CJK KR"}
_OTHERS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
           "Microsoft YaHei", "PingFang SC")


@cache
def _known() -> frozenset[str]:
    manager = font_manager.fontManager
    have = {f.fname for f in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if "CJK" in path and path not in have:  # installed since the cache was built
            manager.addfont(path)
    return frozenset(f.name for f in manager.ttflist)


def families(locale: str = "en") -> list[str]:
    """The fallback list for `locale`, limited to installed fonts (naming a missing one makes matplotlib warn)."""
    wanted = ["DejaVu Sans", *([_CJK[locale]] if locale in _CJK else []), *_OTHERS]
    known = _known()
    return [name for name in wanted if name in known] or ["sans-serif"]

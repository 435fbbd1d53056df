"""Pictures the bot draws (charts, cards), read back as a user's app would open them."""

from __future__ import annotations

from io import BytesIO

from PIL import Image


def size_of(png: bytes, kind: str = "PNG") -> tuple[int, int]:
    """The size of a picture of `kind` (a PNG unless said), which must decode whole."""
    with Image.open(BytesIO(png)) as picture:
        assert picture.format == kind
        picture.load()
        return picture.size


def pixels_near(png: bytes, box: tuple[int, int, int, int], colour: str, tolerance: int = 24) -> int:
    """How many pixels of the picture inside `box` (left, top, right, bottom) are within `tolerance` of `colour` ("#rrggbb")
    on every channel: a line of that colour drawn there, or none."""
    want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    with Image.open(BytesIO(png)) as picture:
        raw = picture.convert("RGB").crop(box).tobytes()
    return sum(1 for i in range(0, len(raw), 3) if all(abs(raw[i + c] - want[c]) <= tolerance for c in range(3)))

"""A white page to draw a chart on with Pillow: DejaVu Sans, texts fitted to a width, ticks.

Pillow is all the chart's process loads to draw (a tenth of a second to import, start and
draw a chart, against more than half a second for matplotlib to import and as much to draw
the same chart). The layout a chart needs is small enough to write here: bars are rectangles,
every text is placed and fitted to the room it has, measured in pixels with the font it is
drawn in, so no label runs into another whatever its length.
"""

from __future__ import annotations

import importlib.util
import io
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

__all__ = ["ELLIPSIS", "Box", "Canvas", "font_file", "ticks"]

ELLIPSIS = "…"
# matplotlib ships DejaVu Sans in its data (mpl-data/fonts/ttf), so it is there wherever the
# bot is installed, and it has every precomposed Vietnamese letter (ắ, ổ, ự, đ...) as well as
# ★, – and ….  Found through the package's location, without importing matplotlib.
_FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
# The gap between two lines of a text, as a share of the font's height.
_LINE_GAP = 0.15

Align = Literal["left", "center", "right"]


def _plain(text: str) -> str:
    """`text` with its spaces and line breaks as single spaces, its letters composed (NFC):
    "ủ" typed as "u" and a combining hook is drawn as the font's own "ủ"."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def font_file(*, bold: bool = False) -> Path:
    """Where DejaVu Sans (or its bold face) is on this machine."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("matplotlib, which ships the chart's font, is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "mpl-data" / "fonts" / "ttf" / _FONT_FILES[bold]


def ticks(top: float, most: int = 8) -> list[int]:
    """Whole numbers from 0 to the first tick at or past `top`, at most `most` steps apart by
    1, 2 or 5 times a power of ten (0, 200, 400... for 1,100)."""
    scale = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * scale
            steps = max(math.ceil(top / step), 1)
            if steps <= most:
                return list(range(0, steps * step + 1, step))
        scale *= 10


@dataclass(frozen=True)
class Box:
    """A rectangle of the page in pixels: left, top, right, bottom."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        """Its width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> float:
        """Its height in pixels."""
        return self.bottom - self.top


class Canvas:
    """A white RGB page, the fonts at the sizes asked for, and the texts fitted to widths."""

    def __init__(self, width: int, height: int) -> None:
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        # One page's own fonts: FreeType's faces are not shared between threads drawing at once.
        self._fonts: dict[tuple[int, bool], FreeTypeFont] = {}

    def font(self, size: int, *, bold: bool = False) -> FreeTypeFont:
        """DejaVu Sans at `size` pixels."""
        key = (size, bold)
        if key not in self._fonts:
            from PIL import ImageFont

            self._fonts[key] = ImageFont.truetype(str(font_file(bold=bold)), size)
        return self._fonts[key]

    @staticmethod
    def line_height(font: FreeTypeFont) -> float:
        """From one line's top to the next's."""
        ascent, descent = font.getmetrics()
        return (ascent + descent) * (1 + _LINE_GAP)

    @classmethod
    def lines_in(cls, font: FreeTypeFont, height: float) -> int:
        """How many lines fit in `height` (at least one)."""
        step = cls.line_height(font)
        # The last line needs no gap under it.
        return max(1, int((height + step - sum(font.getmetrics())) // step))

    @staticmethod
    def cut(text: str, font: FreeTypeFont, width: float) -> str:
        """`text` on one line, cut with "…" where it would be wider than `width`."""
        text = _plain(text)
        if font.getlength(text) <= width:
            return text
        # Halving: the longest start that fits with the ellipsis after it.
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if font.getlength(text[:middle].rstrip() + ELLIPSIS) <= width:
                low = middle
            else:
                high = middle - 1
        return text[:low].rstrip() + ELLIPSIS

    @classmethod
    def fit(cls, text: str, font: FreeTypeFont, width: float, max_lines: int) -> list[str]:
        """`text` wrapped at spaces into lines no wider than `width`; the last of `max_lines`
        cut with "…" if more is left. A word wider than a line is cut, not overflowed."""
        lines: list[str] = []
        words = _plain(text).split()
        while words and len(lines) < max_lines:
            line = words.pop(0)
            while words and font.getlength(line + " " + words[0]) <= width:
                line += " " + words.pop(0)
            lines.append(line)
        if words:
            lines[-1] = lines[-1] + " " + " ".join(words)
        return [cls.cut(line, font, width) for line in lines] or [""]

    def text(
        self,
        lines: list[str],
        font: FreeTypeFont,
        x: float,
        y: float,
        *,
        align: Align = "left",
        middle: bool = False,
        color: str = "black",
    ) -> None:
        """Lines from `y` down (or centred on `y` if `middle`), each aligned on `x`."""
        step = self.line_height(font)
        top = y - step * len(lines) / 2 if middle else y
        anchor = {"left": "la", "center": "ma", "right": "ra"}[align]
        for index, line in enumerate(lines):
            self.draw.text((x, top + index * step), line, font=font, fill=color, anchor=anchor)

    def rectangle(self, box: Box, fill: str | None, outline: str | None = None) -> None:
        """A filled (or outlined) rectangle, its edges on whole pixels."""
        self.draw.rectangle(
            (round(box.left), round(box.top), round(box.right), round(box.bottom)),
            fill=fill,
            outline=outline,
        )

    def line(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """A one-pixel black line (an axis or a tick)."""
        self.draw.line((round(start[0]), round(start[1]), round(end[0]), round(end[1])), "black")

    def png(self) -> bytes:
        """The page as a PNG."""
        buf = io.BytesIO()
        # Level 1: a chart is mostly flat colours, which even the fastest level packs well.
        self.image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

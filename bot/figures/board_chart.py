"""The public board's chart: two bars per unit, as SVG written out here.

An SVG of bars is a few rectangles and texts; the visitor's browser draws them in its own
fonts. Written by hand it costs the bot a fraction of a millisecond and no library: with
matplotlib the first visitor of /board loaded about 40 MB into the bot's process for good, from
a public page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.figures.canvas import ticks
from bot.messages.limits import cut

__all__ = ["BoardSeries", "board_svg"]

WIDTH = 600
_NAMES = 190  # the names' column, left of the bars
_RIGHT = 40  # room right of the longest bar for its count
_TOP = 16
_ROW = 44  # one unit: its two bars and the gap under them
_BAR = 16
_AXIS = 28  # the count marks under the bars
_LEGEND = 30
# The browser measures no text for us: a name is cut at a count of letters that fits the
# names' column at 11 pixels in common sans-serif fonts (at most about 7 pixels a letter).
_NAME_LETTERS = 26
_FONT = 'font-family="DejaVu Sans, Verdana, Arial, sans-serif"'


@dataclass(frozen=True)
class BoardSeries:
    """One bar per unit: its legend's label, its colour, its values."""

    label: str
    color: str
    values: list[int]


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'dominant-baseline="middle">{escape(text)}</text>'
    )


def board_svg(names: list[str], series: tuple[BoardSeries, BoardSeries]) -> bytes:
    """The units top to bottom, each with a bar per series; counts beside, legend under."""
    rows = max(len(names), 1)
    height = _TOP + rows * _ROW + _AXIS + _LEGEND
    left, right = _NAMES + 8, WIDTH - _RIGHT
    marks = ticks(max((v for s in series for v in s.values), default=0), most=6)
    scale = (right - left) / marks[-1]
    bottom = _TOP + rows * _ROW
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" {_FONT}>',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
    ]
    for row, name in enumerate(names):
        top = _TOP + row * _ROW
        name = cut(" ".join(name.split()), _NAME_LETTERS)
        parts.append(_text(_NAMES, top + _BAR, name, anchor="end", size=11))
        for index, entry in enumerate(series):
            y = top + 4 + index * _BAR
            width = entry.values[row] * scale
            parts.append(
                f'<rect class="bar" x="{left}" y="{y}" width="{width:.1f}" height="{_BAR - 2}" '
                f'fill="{entry.color}"/>'
            )
            parts.append(
                _text(left + width + 4, y + _BAR / 2 - 1, str(entry.values[row]), size=11)
            )
    parts.append(f'<path d="M{left} {_TOP}V{bottom}H{right}" stroke="black" fill="none"/>')
    for mark in marks:
        x = left + mark * scale
        parts.append(f'<path d="M{x:.1f} {bottom}v4" stroke="black"/>')
        parts.append(_text(x, bottom + 14, str(mark), anchor="middle", size=11))
    x, middle = float(left), bottom + _AXIS + _LEGEND / 2
    for entry in series:
        parts.append(
            f'<rect class="key" x="{x:.1f}" y="{middle - 6}" width="18" height="12" '
            f'fill="{entry.color}"/>'
        )
        parts.append(_text(x + 24, middle, entry.label))
        # The legend's labels are translations of bounded length (a few words).
        x += 24 + 7.5 * len(entry.label) + 20
    parts.append("</svg>")
    return "".join(parts).encode()

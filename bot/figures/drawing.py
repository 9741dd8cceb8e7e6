"""The chart of /stats and the weekly digest, drawn from words and numbers already chosen.

What a chart says (its texts, translated; its figures, formatted) is decided in
`bot.figures.stats.chart_of`; this module only lays it out with matplotlib. It imports nothing
else of the bot, nor babel: it is all the chart's process (`bot.figures.chart_child`) loads
besides matplotlib, and every module there is memory held while the chart is drawn.
"""

from __future__ import annotations

import importlib
import io
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

__all__ = [
    "CHART_DPI",
    "CHART_SIZE",
    "FONT",
    "Bars",
    "Chart",
    "Series",
    "Table",
    "UnitBars",
    "draw",
    "load_modules",
]

# DejaVu Sans ships inside matplotlib (mpl-data/fonts), so it is always there, and it has every
# precomposed Vietnamese letter (ắ, ổ, ự, đ...) as well as ★ and –. It is named on every text
# of the figure instead of through rcParams, which are global and shared between threads.
FONT = "DejaVu Sans"
# parse_math off: a "$" in a unit name must stay a dollar sign, not start mathtext.
_TEXT: dict[str, Any] = {"fontfamily": FONT, "parse_math": False}
CHART_SIZE = (16, 10)  # inches, at CHART_DPI: 1600x1000 pixels
CHART_DPI = 100
# The panels' places, as fractions of the figure: the left column leaves room for category and
# unit names wrapped at 34 characters, the rows for the two-line title above and the status
# names (three lines at most) between them.
_GRID = {"left": 0.16, "right": 0.985, "top": 0.86, "bottom": 0.05, "wspace": 0.16, "hspace": 0.38}
MIN_SLOTS = 5
BAR_COLOR = "#4C72B0"
# The table's columns: their widths, as fractions of the panel, and the characters of a header
# that fit across each at the table's font size.
_WIDTHS = [0.34, 0.1, 0.16, 0.16, 0.1, 0.14]
_HEADER_CHARS = [30, 8, 13, 13, 8, 12]


@dataclass(frozen=True)
class Bars:
    """One bar per label, in this order, with its count written beside it."""

    title: str
    labels: list[str]
    values: list[int]
    colors: list[str]


@dataclass(frozen=True)
class Series:
    """One of the unit panel's three bars per unit, with its legend's label."""

    label: str
    color: str
    values: list[int]


@dataclass(frozen=True)
class UnitBars:
    """The units ranked, top first, each with a bar per series."""

    title: str
    names: list[str]
    series: list[Series]


@dataclass(frozen=True)
class Table:
    """The timeliness table: a header, rows of texts, and the rows to mark as overdue."""

    title: str
    header: list[str]
    rows: list[list[str]]
    overdue: list[bool]  # per row: its overdue cell is marked
    more: str  # under the table ("… and 3 more"), or ""


@dataclass(frozen=True)
class Chart:
    """Everything the chart shows. `panels` is None when there is nothing to count; `empty`
    then says so in the middle of the figure."""

    title: str
    empty: str
    panels: tuple[Bars, Bars, UnitBars, Table] | None


def load_modules() -> None:
    """Import what `draw` needs (half a second the first time), e.g. while SQL runs."""
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg", "PIL.Image"):
        importlib.import_module(name)


def _wrap(text: str, width: int, max_lines: int = 3) -> str:
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


def _style_axes(ax: Axes, title: str, pad: float = 6.0) -> None:
    ax.set_title(title, loc="left", fontsize=13, fontweight="bold", pad=pad, **_TEXT)
    ax.tick_params(labelfontfamily=FONT, labelsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _integer_ticks(axis: Axis) -> None:
    """Count axes tick at whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _min_slots(ax: Axes, count: int, *, horizontal: bool) -> None:
    """Keep bars slim when there are only a few of them."""
    limits = (-0.6, max(count, MIN_SLOTS) - 0.4)
    if horizontal:
        # The first bar at the top, as people read a ranking.
        ax.set_ylim(limits[1], limits[0])
    else:
        ax.set_xlim(*limits)


def _bars_panel(ax: Axes, bars: Bars, *, horizontal: bool) -> None:
    """Categories across (names wrapped at 34 characters), or statuses upright (at 16)."""
    positions = list(range(len(bars.labels)))
    if horizontal:
        drawn = ax.barh(positions, bars.values, height=0.7, color=bars.colors)
        ax.set_yticks(positions, [_wrap(label, 34) for label in bars.labels], **_TEXT)
    else:
        drawn = ax.bar(positions, bars.values, width=0.7, color=bars.colors)
        ax.set_xticks(positions, [_wrap(label, 16) for label in bars.labels], **_TEXT)
    ax.bar_label(drawn, labels=[str(n) for n in bars.values], padding=2, fontsize=8, **_TEXT)
    _integer_ticks(ax.xaxis if horizontal else ax.yaxis)
    if horizontal:
        ax.margins(x=0.12)
    else:
        ax.margins(y=0.12)
    _min_slots(ax, len(bars.labels), horizontal=horizontal)
    _style_axes(ax, bars.title)


def _unit_panel(ax: Axes, units: UnitBars) -> None:
    positions = list(range(len(units.names)))
    height = 0.27
    for series, offset in zip(units.series, (-height, 0.0, height), strict=True):
        ax.barh(
            [p + offset for p in positions],
            series.values,
            height=height,
            color=series.color,
            label=series.label,
        )
    ax.set_yticks(positions, [_wrap(name, 30, 2) for name in units.names], **_TEXT)
    _integer_ticks(ax.xaxis)
    _min_slots(ax, len(units.names), horizontal=True)
    ax.legend(
        prop={"family": FONT, "size": 9},
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=3,
        frameon=False,
    )
    # The title above the legend's row, which it would otherwise run into.
    _style_axes(ax, units.title, pad=26.0)


def _table_panel(ax: Axes, table: Table) -> None:
    ax.axis("off")
    ax.set_title(table.title, loc="left", fontsize=13, fontweight="bold", **_TEXT)
    body = [[_wrap(row[0], 30, 1), *row[1:]] for row in table.rows]
    drawn = ax.table(
        cellText=body,
        colLabels=[_wrap(h, n, 3) for h, n in zip(table.header, _HEADER_CHARS, strict=True)],
        colWidths=_WIDTHS,
        cellLoc="center",
        loc="upper center",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    header_height = 0.15
    row_height = min(0.8 / max(len(body), 1), 0.065)
    for (row, col), cell in drawn.get_celld().items():
        text = cell.get_text()
        text.set_fontfamily(FONT)
        text.set_parse_math(False)
        cell.set_edgecolor("#BBBBBB")
        cell.set_height(header_height if row == 0 else row_height)
        if row == 0:
            text.set_fontweight("bold")
            cell.set_facecolor("#E8EEF7")
        elif col == 0:
            text.set_horizontalalignment("left")
            cell.PAD = 0.02
        if row > 0 and col == 4 and table.overdue[row - 1]:
            cell.set_facecolor("#F6D5D5")
    if table.more:
        ax.text(0.0, 0.0, table.more, transform=ax.transAxes, fontsize=9, va="top", **_TEXT)


def draw(chart: Chart) -> bytes:
    """Draw the chart as a 1600x1000 PNG.

    Uses matplotlib's object API with the Agg canvas only (no pyplot, no rcParams changes), so
    it can run in a worker thread (asyncio.to_thread) beside the bot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    # Fixed margins, not layout="constrained": its solver measured every label's box before
    # the draw, half of the chart's time. The labels' widths are bounded (wrapped, cut), so
    # margins sized for the widest of them always fit.
    fig = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
    canvas = FigureCanvasAgg(fig)
    fig.suptitle(chart.title, fontsize=16, fontweight="bold", **_TEXT)
    if chart.panels is None:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            chart.empty,
            ha="center",
            va="center",
            fontsize=22,
            color="#555555",
            transform=ax.transAxes,
            **_TEXT,
        )
    else:
        categories, statuses, units, table = chart.panels
        grid = fig.add_gridspec(2, 2, **_GRID)
        _bars_panel(fig.add_subplot(grid[0, 0]), categories, horizontal=True)
        _bars_panel(fig.add_subplot(grid[0, 1]), statuses, horizontal=False)
        _unit_panel(fig.add_subplot(grid[1, 0]), units)
        _table_panel(fig.add_subplot(grid[1, 1]), table)
    # One draw, then the pixels straight to PNG: savefig would lay the figure out and draw it
    # a second time first. Pillow comes with matplotlib, which encodes its PNGs with it too.
    canvas.draw()
    width, height = canvas.get_width_height()
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    # Saved as drawn, RGBA: the chart is opaque, and an RGB copy (a PNG a tenth smaller, 16 ms
    # faster to encode) would be another 6 MB at the drawing process's peak. Telegram sends a
    # photo on as JPEG anyway. Level 1 is 3x faster than 6.
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()

"""The chart of /stats and the weekly digest, drawn from words and numbers already chosen.

What a chart says (its texts, translated; its figures, formatted) is decided in
`bot.figures.stats.chart_of`; this module only lays it out, with Pillow (`bot.figures.canvas`).
It imports nothing else of the bot, nor babel: it is all the chart's process
(`bot.figures.chart_child`) loads besides Pillow, and every module there is time an admin waits.

The page, 1600x1000 pixels: a title of one or two lines across the top, then four panels,
categories and statuses above, units and the timeliness table below. The names of the left
panels' rows stand in the room left of them, wrapped and cut to it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from bot.figures.canvas import Box, Canvas, ticks

__all__ = ["BAR_COLOR", "CHART_SIZE", "Bars", "Chart", "Series", "Table", "UnitBars", "draw"]

CHART_SIZE = (1600, 1000)  # pixels
BAR_COLOR = "#4C72B0"
# Fewer rows or columns than this are drawn as slim as this many would be.
MIN_SLOTS = 5
# The four panels' plotting areas. Left of the left ones: the rows' names (_NAMES pixels);
# between the columns, the right panels' counts; above each, its title (and the units'
# legend); under the statuses, their names in up to three lines.
_NAMES = 240
_PANELS = {
    "categories": Box(256, 140, 867, 480),
    "statuses": Box(965, 140, 1576, 480),
    "units": Box(256, 610, 867, 950),
    "table": Box(965, 610, 1576, 950),
}
# Font sizes in pixels.
_TITLE, _PANEL_TITLE, _LABEL, _COUNT, _EMPTY = 22, 18, 12, 11, 31
_TITLE_ROOM = 30  # from a panel title's top to its panel
_LEGEND_ROOM = 26  # the units' legend, between their title and their panel
# The share of a row's (or column's) height its bar takes; the units' three bars share this.
_BAR, _UNIT_BARS = 0.7, 0.81
# Room past the longest bar for its count, as a share of the bar.
_COUNT_ROOM = 1.12
# The table's columns as shares of its width; its header's and rows' heights in pixels.
_WIDTHS = [0.34, 0.1, 0.16, 0.16, 0.1, 0.14]
_HEADER_HEIGHT, _ROW_HEIGHT = 51, 22
_CELL_PAD = 6
_GRID_COLOR, _HEADER_COLOR, _OVERDUE_COLOR = "#BBBBBB", "#E8EEF7", "#F6D5D5"


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
    """Import what `draw` needs, e.g. while the figures are counted."""
    for name in ("PIL.Image", "PIL.ImageDraw", "PIL.ImageFont"):
        importlib.import_module(name)


def _title(canvas: Canvas, box: Box, title: str, room: float = _TITLE_ROOM) -> None:
    font = canvas.font(_PANEL_TITLE, bold=True)
    canvas.text([canvas.cut(title, font, box.width)], font, box.left, box.top - room)


def _axis_across(canvas: Canvas, box: Box, marks: list[int]) -> None:
    """The axis along the panel's foot, its count marks, and the axis up its left side."""
    font = canvas.font(_LABEL)
    canvas.line((box.left, box.top), (box.left, box.bottom))
    canvas.line((box.left, box.bottom), (box.right, box.bottom))
    for mark in marks:
        x = box.left + box.width * mark / marks[-1]
        canvas.line((x, box.bottom), (x, box.bottom + 4))
        canvas.text([str(mark)], font, x, box.bottom + 7, align="center")


def _axis_up(canvas: Canvas, box: Box, marks: list[int]) -> None:
    """The axis up the panel's left side, its count marks, and the axis along its foot."""
    font = canvas.font(_LABEL)
    canvas.line((box.left, box.top), (box.left, box.bottom))
    canvas.line((box.left, box.bottom), (box.right, box.bottom))
    for mark in marks:
        y = box.bottom - box.height * mark / marks[-1]
        canvas.line((box.left - 4, y), (box.left, y))
        canvas.text([str(mark)], font, box.left - 7, y, align="right", middle=True)


def _rows(
    canvas: Canvas,
    box: Box,
    names: list[str],
    bars: list[tuple[list[int], list[str]]],
    *,
    max_lines: int,
    counts: bool,
) -> None:
    """One row per name, the first on top, with a bar across per (values, colours) in `bars`;
    each bar's count beside it if `counts`."""
    font, count_font = canvas.font(_LABEL), canvas.font(_COUNT)
    top = max((value for values, _colors in bars for value in values), default=0)
    marks = ticks(top * _COUNT_ROOM if counts else top)
    slot = box.height / max(len(names), MIN_SLOTS)
    thickness = slot * (_BAR if len(bars) == 1 else _UNIT_BARS / len(bars))
    lines = min(max_lines, canvas.lines_in(font, slot))
    for row, name in enumerate(names):
        middle = box.top + slot * (row + 0.5)
        label = canvas.fit(name, font, _NAMES - 8, lines)
        canvas.text(label, font, box.left - 8, middle, align="right", middle=True)
        for index, (values, colors) in enumerate(bars):
            centre = middle + (index - (len(bars) - 1) / 2) * thickness
            end = box.left + box.width * values[row] / marks[-1]
            half = thickness / 2
            canvas.rectangle(Box(box.left, centre - half, end, centre + half), colors[row])
            if counts:
                canvas.text([str(values[row])], count_font, end + 4, centre, middle=True)
    _axis_across(canvas, box, marks)


def _columns(canvas: Canvas, box: Box, bars: Bars) -> None:
    """One column per label, left to right, its count above it and its name under it."""
    font, count_font = canvas.font(_LABEL), canvas.font(_COUNT)
    marks = ticks(max(bars.values, default=0) * _COUNT_ROOM)
    slot = box.width / max(len(bars.labels), MIN_SLOTS)
    half = slot * _BAR / 2
    for column, (label, value, color) in enumerate(
        zip(bars.labels, bars.values, bars.colors, strict=True)
    ):
        centre = box.left + slot * (column + 0.5)
        top = box.bottom - box.height * value / marks[-1]
        canvas.rectangle(Box(centre - half, top, centre + half, box.bottom), color)
        above = top - 3 - canvas.line_height(count_font)
        canvas.text([str(value)], count_font, centre, above, align="center")
        name = canvas.fit(label, font, slot - 6, 3)
        canvas.text(name, font, centre, box.bottom + 8, align="center")
    _axis_up(canvas, box, marks)


def _legend(canvas: Canvas, box: Box, series: list[Series]) -> None:
    """The series' colours and names in a row above the panel, to its right."""
    font = canvas.font(_LABEL)
    swatch, gap, between = 22, 6, 18
    widths = [swatch + gap + font.getlength(s.label) for s in series]
    x = box.right - sum(widths) - between * (len(series) - 1)
    middle = box.top - _LEGEND_ROOM / 2
    for entry, width in zip(series, widths, strict=True):
        canvas.rectangle(Box(x, middle - 5, x + swatch, middle + 5), entry.color)
        canvas.text([entry.label], font, x + swatch + gap, middle, middle=True)
        x += width + between


def _table(canvas: Canvas, box: Box, table: Table) -> None:
    """The timeliness table from the panel's top: a header, then a row per unit."""
    font, bold = canvas.font(_LABEL), canvas.font(_LABEL, bold=True)
    widths = [box.width * share for share in _WIDTHS]
    row_height = min(_ROW_HEIGHT, (box.height - _HEADER_HEIGHT) / max(len(table.rows), 1))
    lefts = [box.left + sum(widths[:column]) for column in range(len(widths))]
    for column, (heading, width) in enumerate(zip(table.header, widths, strict=True)):
        cell = Box(lefts[column], box.top, lefts[column] + width, box.top + _HEADER_HEIGHT)
        canvas.rectangle(cell, _HEADER_COLOR, _GRID_COLOR)
        lines = canvas.fit(heading, bold, width - _CELL_PAD, 3)
        canvas.text(
            lines,
            bold,
            cell.left + width / 2,
            cell.top + cell.height / 2,
            align="center",
            middle=True,
        )
    top = box.top + _HEADER_HEIGHT
    for cells, overdue in zip(table.rows, table.overdue, strict=True):
        for column, (text, width) in enumerate(zip(cells, widths, strict=True)):
            cell = Box(lefts[column], top, lefts[column] + width, top + row_height)
            fill = _OVERDUE_COLOR if overdue and column == 4 else "white"
            canvas.rectangle(cell, fill, _GRID_COLOR)
            line = [canvas.cut(text, font, width - 2 * _CELL_PAD)]
            middle = top + row_height / 2
            if column == 0:
                canvas.text(line, font, cell.left + _CELL_PAD, middle, middle=True)
            else:
                canvas.text(line, font, cell.left + width / 2, middle, align="center", middle=True)
        top += row_height
    if table.more:
        canvas.text([canvas.cut(table.more, font, box.width)], font, box.left, top + 8)


def draw(chart: Chart) -> bytes:
    """Draw the chart as a 1600x1000 PNG (Pillow only; any thread may draw)."""
    canvas = Canvas(*CHART_SIZE)
    width, height = CHART_SIZE
    title = canvas.font(_TITLE, bold=True)
    lines = [canvas.cut(line, title, width - 100) for line in chart.title.splitlines()]
    canvas.text(lines, title, width / 2, 18, align="center")
    if chart.panels is None:
        empty = canvas.font(_EMPTY)
        lines = canvas.fit(chart.empty, empty, width - 200, 2)
        canvas.text(
            lines, empty, width / 2, height / 2, align="center", middle=True, color="#555555"
        )
        return canvas.png()
    categories, statuses, units, table = chart.panels
    box = _PANELS["categories"]
    _rows(
        canvas,
        box,
        categories.labels,
        [(categories.values, categories.colors)],
        max_lines=3,
        counts=True,
    )
    _title(canvas, box, categories.title)
    box = _PANELS["statuses"]
    _columns(canvas, box, statuses)
    _title(canvas, box, statuses.title)
    box = _PANELS["units"]
    colored = [(s.values, [s.color] * len(s.values)) for s in units.series]
    _rows(canvas, box, units.names, colored, max_lines=2, counts=False)
    _legend(canvas, box, units.series)
    _title(canvas, box, units.title, _TITLE_ROOM + _LEGEND_ROOM)
    box = _PANELS["table"]
    _table(canvas, box, table)
    _title(canvas, box, table.title)
    return canvas.png()

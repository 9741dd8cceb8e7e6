"""Statistics of a period: the period asked for, the figures, a short text and a chart."""

from __future__ import annotations

import importlib
import io
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from babel.numbers import format_decimal

from bot.core.domain import VN_TZ, Category, Status
from bot.core.parsing import fold
from bot.i18n import Gettext
from bot.messages.labels import category_label, status_label
from bot.messages.limits import cut, visible_length

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

    from bot.store.periods import PeriodFigures

__all__ = [
    "Period",
    "PeriodError",
    "Stats",
    "UnitStats",
    "load_chart_modules",
    "parse_period",
    "period_text",
    "render_chart",
    "stats_of",
    "summary_text",
]

DEFAULT_DAYS = 30
MAX_DAYS = 3660
_DAY = 86_400.0
_HOUR = 3_600.0


# --------------------------------------------------------------------------- periods


class PeriodError(ValueError):
    """The arguments name a period that does not exist (the reason is plain English)."""


@dataclass(frozen=True)
class Period:
    """A span of report creation times: since inclusive, until exclusive, None for open."""

    since: float | None
    until: float | None
    label: str  # "7d", "2026-11" or "01/11/2026–30/11/2026"


_DAYS_RE = re.compile(r"(\d{1,6})d", re.IGNORECASE)
_MONTH_RE = re.compile(r"(\d{4})-(\d{1,2})")
_DMY_RE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_YMD_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_RANGE_DASHES = frozenset({"-", "–", "—", ".."})


def _local_midnight(day: date) -> float:
    """Return the epoch at which `day` starts in Vietnam."""
    return datetime.combine(day, time(), tzinfo=VN_TZ).timestamp()


def _as_date(token: str) -> date | None:
    """Read dd/mm/yyyy (also with . or -) or yyyy-mm-dd; None when it is not shaped like one."""
    if m := _DMY_RE.fullmatch(token):
        day, month, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
    elif m := _YMD_RE.fullmatch(token):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise PeriodError(f"no such day: {token!r}") from exc


def _date_range(first: date, last: date) -> Period:
    if first > last:
        raise PeriodError(f"the first date {first} is after the last date {last}")
    label = f"{first:%d/%m/%Y}–{last:%d/%m/%Y}"
    return Period(_local_midnight(first), _local_midnight(last + timedelta(days=1)), label)


def _last_days(days: int, now: float) -> Period:
    if not 1 <= days <= MAX_DAYS:
        raise PeriodError(f"the number of days must be between 1 and {MAX_DAYS}, not {days}")
    return Period(now - days * _DAY, None, f"{days}d")


def parse_period(args: Sequence[str], now: float) -> tuple[Period, list[str]]:
    """Read a period from the start of a command's arguments; return it and the rest.

    Accepted: "7d" (any 1..3660 days up to now), "2026-11" (a calendar month) or two dates
    "01/11/2026 30/11/2026" (dd/mm/yyyy or yyyy-mm-dd, both days included, Vietnam time).
    Without any of these the period is the last 30 days and every argument is left over.
    """
    rest = [a for a in (arg.strip() for arg in args) if a]
    if not rest:
        return _last_days(DEFAULT_DAYS, now), []
    head = rest[0]
    if m := _DAYS_RE.fullmatch(head):
        return _last_days(int(m.group(1)), now), rest[1:]
    if m := _MONTH_RE.fullmatch(head):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"no such month: {head!r}")
        if not 1970 <= year <= 9998:
            raise PeriodError(f"year out of range: {head!r}")
        start = date(year, month, 1)
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(
            _local_midnight(start), _local_midnight(end), f"{year:04d}-{month:02d}"
        ), rest[1:]
    # One token with an en dash, as the label of a date range is written.
    if "–" in head:
        parts = head.split("–")
        dates = [_as_date(p.strip()) for p in parts]
        if len(parts) != 2 or dates[0] is None or dates[1] is None:
            raise PeriodError(f"not a date range: {head!r}")
        return _date_range(dates[0], dates[1]), rest[1:]
    first = _as_date(head)
    if first is None:
        return _last_days(DEFAULT_DAYS, now), rest
    tail = rest[1:]
    if tail and tail[0] in _RANGE_DASHES:
        tail = tail[1:]
    last = _as_date(tail[0]) if tail else None
    if last is None:
        raise PeriodError("a date range needs two dates: FROM TO")
    return _date_range(first, last), tail[1:]


def period_text(period: Period, _: Gettext) -> str:
    """Return the period as people read it: "last 7 days", or the label itself."""
    if m := _DAYS_RE.fullmatch(period.label):
        return _("last %(days)d days") % {"days": int(m.group(1))}
    return period.label


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class UnitStats:
    """One unit's figures over a period."""

    code: str
    name: str
    total: int
    open: int
    overdue: int
    resolved: int
    declined: int
    median_ack_hours: float | None
    median_resolve_days: float | None
    rating_avg: float | None
    rating_count: int


@dataclass(frozen=True)
class Stats:
    """All figures of a period; spam is never counted."""

    period: Period
    total: int
    by_category: dict[str, int]  # stored category value -> count, most frequent first
    by_status: dict[str, int]  # stored status value -> count, most frequent first
    units: list[UnitStats]  # most reports first, then by name
    overdue: int
    rating_avg: float | None
    rating_count: int


def stats_of(figures: PeriodFigures, period: Period) -> Stats:
    """Return the Stats of a period from the store's counts (`ReportStore.period_figures`)."""
    units = sorted(
        (
            UnitStats(
                code=u.code,
                name=u.name,
                total=u.total,
                open=u.open,
                overdue=u.overdue,
                resolved=u.resolved,
                declined=u.declined,
                median_ack_hours=u.median_ack_hours,
                median_resolve_days=u.median_resolve_days,
                rating_avg=u.rating_sum / u.rating_count if u.rating_count else None,
                rating_count=u.rating_count,
            )
            for u in figures.units
        ),
        # fold: "Ân Thi" sorts with the A's, not after Z as raw code points would.
        key=lambda u: (-u.total, fold(u.name), u.name, u.code),
    )
    rating_sum = sum(u.rating_sum for u in figures.units)
    rating_count = sum(u.rating_count for u in figures.units)
    return Stats(
        period=period,
        total=sum(u.total for u in units),
        by_category=dict(figures.by_category),
        by_status=dict(figures.by_status),
        units=units,
        overdue=sum(u.overdue for u in units),
        rating_avg=rating_sum / rating_count if rating_count else None,
        rating_count=rating_count,
    )


# --------------------------------------------------------------------------- text

# The summary's visible text, in UTF-16 units as Telegram counts it; the weekly digest adds a
# heading of under 100 (bot.messages.unit.digest_text) and stays within 4,096.
SUMMARY_BUDGET = 3500
TOP_CATEGORIES = 5
_NAME_CUT = 80
_PERIOD_CUT = 200
_DASH = "–"


def _language(locale: str) -> str:
    return "en" if locale.lower().replace("-", "_").split("_")[0] == "en" else "vi"


def _number(value: float | None, locale: str) -> str:
    """Format a figure with one decimal at most, the locale's way ("5,2" in Vietnamese)."""
    if value is None:
        return _DASH
    return format_decimal(value, format="#,##0.#", locale=_language(locale))


def _unit_line(unit: UnitStats, _: Gettext, locale: str) -> str:
    name = cut(unit.name, _NAME_CUT)
    hours = (
        _("%(hours)s h") % {"hours": _number(unit.median_ack_hours, locale)}
        if unit.median_ack_hours is not None
        else _DASH
    )
    days = (
        _("%(days)s d") % {"days": _number(unit.median_resolve_days, locale)}
        if unit.median_resolve_days is not None
        else _DASH
    )
    rating = f"★ {_number(unit.rating_avg, locale)} ({unit.rating_count})"
    figures = " · ".join([str(unit.total), str(unit.open), str(unit.overdue), hours, days, rating])
    return f"• {escape(name)}: {escape(figures)}"


def summary_text(stats: Stats, _: Gettext, locale: str) -> str:
    """Return the period's figures as a short Telegram message (HTML).

    Its visible text, counted as Telegram counts it, stays within SUMMARY_BUDGET: the units
    that do not fit are counted in a last line instead.
    """
    # The period may name a unit ("30d · name"), whose name from the configuration is unbounded.
    period = cut(period_text(stats.period, _), _PERIOD_CUT)
    title = _("Statistics: %(period)s") % {"period": period}
    lines = [f"<b>{escape(title)}</b>", ""]
    if stats.total == 0:
        lines.append(escape(_("No reports in this period.")))
        return "\n".join(lines)
    lines.append(escape(_("Reports: %(count)d") % {"count": stats.total}))
    lines.append(escape(_("Overdue: %(count)d") % {"count": stats.overdue}))
    if stats.rating_count:
        average = _("Average rating: %(avg)s ★ (%(count)d ratings)") % {
            "avg": _number(stats.rating_avg, locale),
            "count": stats.rating_count,
        }
        lines.append(escape(average))
    heading = _("By status")
    lines += ["", f"<b>{escape(heading)}</b>"]
    for status, count in stats.by_status.items():
        lines.append(f"• {escape(status_label(status, _))}: {count}")
    heading = _("Top categories")
    lines += ["", f"<b>{escape(heading)}</b>"]
    for category, count in list(stats.by_category.items())[:TOP_CATEGORIES]:
        lines.append(f"• {escape(category_label(category, _))}: {count}")
    heading = _("By unit")
    lines += ["", f"<b>{escape(heading)}</b>"]
    legend = _(
        "reports · open · overdue · median time to acknowledge · median time to resolve"
        " · ★ average rating (number of ratings)"
    )
    lines.append(f"<i>{escape(legend)}</i>")
    used = sum(visible_length(line) + 1 for line in lines)
    for index, unit in enumerate(stats.units):
        line = _unit_line(unit, _, locale)
        left = len(stats.units) - index
        more = _("… and %(count)d more") % {"count": left}
        # Room is kept for the "… and N more" line in case the next unit does not fit.
        last = left == 1
        size = visible_length(line) + 1
        if used + size + (0 if last else visible_length(more) + 1) > SUMMARY_BUDGET:
            lines.append(escape(more))
            break
        lines.append(line)
        used += size
    return "\n".join(lines)


# --------------------------------------------------------------------------- chart

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
TOP_UNITS = 10
TABLE_ROWS = 12
MIN_SLOTS = 5
_COLORS = {
    "total": "#4C72B0",
    "open": "#DD8452",
    "overdue": "#C44E52",
    "category": "#4C72B0",
}
_STATUS_COLORS: dict[str, str] = {
    Status.NEW: "#8172B3",
    Status.ACKNOWLEDGED: "#64B5CD",
    Status.IN_PROGRESS: "#DD8452",
    Status.RESOLVED: "#55A868",
    Status.DECLINED: "#937860",
    Status.TRANSFERRED: "#8C8C8C",
}


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


def _category_panel(ax: Axes, stats: Stats, _: Gettext, locale: str) -> None:
    # Every category is shown, zeros included: that nothing was reported is news too.
    counts = {c.value: 0 for c in Category} | stats.by_category
    items = sorted(counts.items(), key=lambda item: -item[1])
    positions = list(range(len(items)))
    values = [n for _c, n in items]
    bars = ax.barh(positions, values, height=0.7, color=_COLORS["category"])
    ax.set_yticks(positions, [_wrap(category_label(c, _), 34) for c, _n in items], **_TEXT)
    ax.bar_label(bars, labels=[str(n) for n in values], padding=2, fontsize=8, **_TEXT)
    _integer_ticks(ax.xaxis)
    ax.margins(x=0.12)
    _min_slots(ax, len(items), horizontal=True)
    _style_axes(ax, _("Reports by category"))


def _status_panel(ax: Axes, stats: Stats, _: Gettext, locale: str) -> None:
    # The workflow's statuses in order; "transferred" only when a row carries it.
    order: list[str] = [
        s.value for s in Status if s != Status.TRANSFERRED or s.value in stats.by_status
    ]
    order += [s for s in stats.by_status if s not in order]
    positions = list(range(len(order)))
    values = [stats.by_status.get(s, 0) for s in order]
    colors = [_STATUS_COLORS.get(s, "#8C8C8C") for s in order]
    bars = ax.bar(positions, values, width=0.7, color=colors)
    ax.set_xticks(positions, [_wrap(status_label(s, _), 16) for s in order], **_TEXT)
    ax.bar_label(bars, labels=[str(n) for n in values], padding=2, fontsize=8, **_TEXT)
    _integer_ticks(ax.yaxis)
    ax.margins(y=0.12)
    _min_slots(ax, len(order), horizontal=False)
    _style_axes(ax, _("Reports by status"))


def _unit_panel(ax: Axes, stats: Stats, _: Gettext, locale: str) -> None:
    units = stats.units[:TOP_UNITS]
    positions = list(range(len(units)))
    height = 0.27
    series = [
        ("total", _("Reports"), [u.total for u in units], -height),
        ("open", _("Open"), [u.open for u in units], 0.0),
        ("overdue", _("Overdue"), [u.overdue for u in units], height),
    ]
    for key, label, values, offset in series:
        ax.barh(
            [p + offset for p in positions], values, height=height, color=_COLORS[key], label=label
        )
    ax.set_yticks(positions, [_wrap(u.name, 30, 2) for u in units], **_TEXT)
    _integer_ticks(ax.xaxis)
    _min_slots(ax, len(units), horizontal=True)
    ax.legend(
        prop={"family": FONT, "size": 9},
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=3,
        frameon=False,
    )
    title = _("Reports by unit")
    if len(stats.units) > TOP_UNITS:
        title = _("Reports by unit (top %(count)d)") % {"count": TOP_UNITS}
    # The title above the legend's row, which it would otherwise run into.
    _style_axes(ax, title, pad=26.0)


def _table_panel(ax: Axes, stats: Stats, _: Gettext, locale: str) -> None:
    ax.axis("off")
    ax.set_title(_("Timeliness by unit"), loc="left", fontsize=13, fontweight="bold", **_TEXT)
    header = [
        _("Unit"),
        _("Reports"),
        _("Median hours to acknowledge"),
        _("Median days to resolve"),
        _("Overdue"),
        _("Rating"),
    ]
    units = stats.units[:TABLE_ROWS]
    body = [
        [
            _wrap(u.name, 30, 1),
            str(u.total),
            _number(u.median_ack_hours, locale),
            _number(u.median_resolve_days, locale),
            str(u.overdue),
            f"{_number(u.rating_avg, locale)} ({u.rating_count})" if u.rating_count else _DASH,
        ]
        for u in units
    ]
    widths = [0.34, 0.1, 0.16, 0.16, 0.1, 0.14]
    # Characters that fit across each column at the table's font size.
    header_chars = [30, 8, 13, 13, 8, 12]
    table = ax.table(
        cellText=body,
        colLabels=[_wrap(h, n, 3) for h, n in zip(header, header_chars, strict=True)],
        colWidths=widths,
        cellLoc="center",
        loc="upper center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    header_height = 0.15
    row_height = min(0.8 / max(len(body), 1), 0.065)
    for (row, col), cell in table.get_celld().items():
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
        if row > 0 and col == 4 and units[row - 1].overdue:
            cell.set_facecolor("#F6D5D5")
    if len(stats.units) > TABLE_ROWS:
        more = _("… and %(count)d more") % {"count": len(stats.units) - TABLE_ROWS}
        ax.text(0.0, 0.0, more, transform=ax.transAxes, fontsize=9, va="top", **_TEXT)


def load_chart_modules() -> None:
    """Import what render_chart needs (half a second the first time), e.g. while SQL runs."""
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg", "PIL.Image"):
        importlib.import_module(name)


def render_chart(stats: Stats, _: Gettext, locale: str) -> bytes:
    """Draw the period's figures as a 1600x1000 PNG.

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
    # The period may name a unit ("30d · name"), whose name from the configuration is unbounded.
    period = cut(period_text(stats.period, _), _PERIOD_CUT)
    title = _("Statistics: %(period)s") % {"period": period}
    if stats.total:
        title += "\n" + _("Reports: %(count)d · overdue: %(overdue)d") % {
            "count": stats.total,
            "overdue": stats.overdue,
        }
    fig.suptitle(title, fontsize=16, fontweight="bold", **_TEXT)
    if stats.total == 0:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            _("No reports in this period."),
            ha="center",
            va="center",
            fontsize=22,
            color="#555555",
            transform=ax.transAxes,
            **_TEXT,
        )
    else:
        grid = fig.add_gridspec(2, 2, **_GRID)
        _category_panel(fig.add_subplot(grid[0, 0]), stats, _, locale)
        _status_panel(fig.add_subplot(grid[0, 1]), stats, _, locale)
        _unit_panel(fig.add_subplot(grid[1, 0]), stats, _, locale)
        _table_panel(fig.add_subplot(grid[1, 1]), stats, _, locale)
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

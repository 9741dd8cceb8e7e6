"""Statistics of a period: the period asked for, the figures, a short text and a chart."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import TYPE_CHECKING

from babel.numbers import format_decimal

from bot.core.domain import VN_TZ, Category, Status
from bot.core.parsing import fold
from bot.figures.drawing import BAR_COLOR, Bars, Chart, Series, Table, UnitBars, draw
from bot.i18n import Gettext
from bot.messages.labels import category_label, status_label
from bot.messages.limits import cut, visible_length

if TYPE_CHECKING:
    from bot.store.periods import PeriodFigures

__all__ = [
    "Period",
    "PeriodError",
    "Stats",
    "UnitStats",
    "chart_of",
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

TOP_UNITS = 10
TABLE_ROWS = 12
_COLORS = {"total": "#4C72B0", "open": "#DD8452", "overdue": "#C44E52"}
_STATUS_COLORS: dict[str, str] = {
    Status.NEW: "#8172B3",
    Status.ACKNOWLEDGED: "#64B5CD",
    Status.IN_PROGRESS: "#DD8452",
    Status.RESOLVED: "#55A868",
    Status.DECLINED: "#937860",
    Status.TRANSFERRED: "#8C8C8C",
}


def _category_bars(stats: Stats, _: Gettext) -> Bars:
    # Every category is shown, zeros included: that nothing was reported is news too.
    counts = {c.value: 0 for c in Category} | stats.by_category
    items = sorted(counts.items(), key=lambda item: -item[1])
    return Bars(
        title=_("Reports by category"),
        labels=[category_label(c, _) for c, _n in items],
        values=[n for _c, n in items],
        colors=[BAR_COLOR] * len(items),
    )


def _status_bars(stats: Stats, _: Gettext) -> Bars:
    # The workflow's statuses in order; "transferred" only when a row carries it.
    order: list[str] = [
        s.value for s in Status if s != Status.TRANSFERRED or s.value in stats.by_status
    ]
    order += [s for s in stats.by_status if s not in order]
    return Bars(
        title=_("Reports by status"),
        labels=[status_label(s, _) for s in order],
        values=[stats.by_status.get(s, 0) for s in order],
        colors=[_STATUS_COLORS.get(s, "#8C8C8C") for s in order],
    )


def _unit_bars(stats: Stats, _: Gettext) -> UnitBars:
    units = stats.units[:TOP_UNITS]
    title = _("Reports by unit")
    if len(stats.units) > TOP_UNITS:
        title = _("Reports by unit (top %(count)d)") % {"count": TOP_UNITS}
    return UnitBars(
        title=title,
        names=[u.name for u in units],
        series=[
            Series(_("Reports"), _COLORS["total"], [u.total for u in units]),
            Series(_("Open"), _COLORS["open"], [u.open for u in units]),
            Series(_("Overdue"), _COLORS["overdue"], [u.overdue for u in units]),
        ],
    )


def _table(stats: Stats, _: Gettext, locale: str) -> Table:
    units = stats.units[:TABLE_ROWS]
    more = ""
    if len(stats.units) > TABLE_ROWS:
        more = _("… and %(count)d more") % {"count": len(stats.units) - TABLE_ROWS}
    return Table(
        title=_("Timeliness by unit"),
        header=[
            _("Unit"),
            _("Reports"),
            _("Median hours to acknowledge"),
            _("Median days to resolve"),
            _("Overdue"),
            _("Rating"),
        ],
        rows=[
            [
                u.name,
                str(u.total),
                _number(u.median_ack_hours, locale),
                _number(u.median_resolve_days, locale),
                str(u.overdue),
                f"{_number(u.rating_avg, locale)} ({u.rating_count})" if u.rating_count else _DASH,
            ]
            for u in units
        ],
        overdue=[u.overdue > 0 for u in units],
        more=more,
    )


def chart_of(stats: Stats, _: Gettext, locale: str) -> Chart:
    """Say what the period's chart shows, in `locale`: `bot.figures.drawing` draws it."""
    # The period may name a unit ("30d · name"), whose name from the configuration is unbounded.
    period = cut(period_text(stats.period, _), _PERIOD_CUT)
    title = _("Statistics: %(period)s") % {"period": period}
    if stats.total:
        title += "\n" + _("Reports: %(count)d · overdue: %(overdue)d") % {
            "count": stats.total,
            "overdue": stats.overdue,
        }
    panels = None
    if stats.total:
        panels = (
            _category_bars(stats, _),
            _status_bars(stats, _),
            _unit_bars(stats, _),
            _table(stats, _, locale),
        )
    return Chart(title=title, empty=_("No reports in this period."), panels=panels)


def render_chart(stats: Stats, _: Gettext, locale: str) -> bytes:
    """Draw the period's chart in this process, as a 1600x1000 PNG (the bot draws it in a
    process of its own: `bot.figures.chart_process`)."""
    return draw(chart_of(stats, _, locale))

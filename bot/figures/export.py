"""Report rows as spreadsheets: CSV for any tool, XLSX for Excel, both safe to open."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from bot.core.deadlines import deadline_day
from bot.core.domain import OPEN_STATUSES, local_today
from bot.core.parsing import format_code, format_date
from bot.i18n import Gettext
from bot.messages.labels import category_label, status_label

__all__ = ["PROGRESS_EVERY", "export_csv", "export_rows", "export_xlsx", "neutralize"]

Progress = Callable[[int, int], None]
Row = Mapping[str, Any]

PROGRESS_EVERY = 1000
# Excel refuses longer text in one cell.
XLSX_CELL_LIMIT = 32_767

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and CR,
# may strip them and then do so): a citizen's description "=HYPERLINK(...)" would run in the
# officer's Excel (CSV/formula injection). A leading apostrophe makes it plain text again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters other than tab, LF and CR are not allowed in XML, hence in XLSX, and
# only confuse CSV readers; Telegram text should not carry them, but stored text might.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralize(text: str) -> str:
    """Return text safe to put in a spreadsheet cell: no control characters, no formula."""
    text = _CONTROL_RE.sub("", text)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _header(_: Gettext, full: bool) -> list[str]:
    header = [
        _("Code"),
        _("Created"),
        _("Category"),
        _("Unit"),
        _("Status"),
        _("Deadline"),
        _("Overdue"),
        _("Description"),
        _("Official"),
        _("Amount (VND)"),
        _("Resolution note"),
        _("Rating"),
    ]
    if full:
        header += [_("Reporter name"), _("Reporter phone")]
    return header


def _code(value: Any) -> str:
    try:
        return format_code(str(value or ""))
    except ValueError:
        return str(value or "")


def _is_overdue(row: Row, now: float) -> bool:
    # The same rule as the statistics: open past its deadline, or escalated once already.
    if (row.get("escalation_level") or 0) > 0:
        return True
    deadline = row.get("deadline_at")
    return row.get("status") in OPEN_STATUSES and deadline is not None and deadline <= now


def _values(row: Row, _: Gettext, full: bool, now: float, yes: str, no: str) -> list[object]:
    deadline = row.get("deadline_at")
    rating = row.get("rating")
    values: list[object] = [
        _code(row.get("code")),
        local_today(row["created_at"]),
        category_label(row.get("category"), _),
        str(row.get("unit_name") or row.get("unit_code") or ""),
        status_label(str(row.get("status") or ""), _),
        deadline_day(deadline) if deadline is not None else None,
        yes if _is_overdue(row, now) else no,
        row.get("description") or "",
        row.get("official") or "",
        int(row["amount"]) if row.get("amount") is not None else None,
        row.get("resolution_note") or "",
        int(rating) if rating is not None else None,
    ]
    if full:
        # Only named reports carry a contact; report_rows already blanks anonymous ones, and
        # this check keeps it so whatever the rows came from.
        named = not row.get("anonymous")
        values.append((row.get("contact_name") or "") if named else "")
        values.append((row.get("contact_phone") or "") if named else "")
    return values


def _iter_values(
    rows: Sequence[Row], _: Gettext, full: bool, now: float | None
) -> Iterator[list[object]]:
    moment = time.time() if now is None else now
    yes, no = _("yes"), _("no")
    for row in rows:
        yield _values(row, _, full, moment, yes, no)


def export_rows(
    rows: Sequence[Row], _: Gettext, locale: str, *, full: bool, now: float | None = None
) -> tuple[list[str], list[list[object]]]:
    """Return a header and one list of values per report row (`Repository.report_rows`).

    Dates are `datetime.date` objects, the amount and rating ints (None when missing), the
    rest text. `full` adds the reporter's name and phone (left empty for anonymous reports).
    `now` decides what is overdue (the current time by default).
    """
    return _header(_, full), list(_iter_values(rows, _, full, now))


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(done, total)


def export_csv(
    rows: Sequence[Row],
    _: Gettext,
    locale: str,
    *,
    full: bool,
    progress: Progress | None = None,
    now: float | None = None,
) -> bytes:
    """Return the rows as CSV in UTF-8 with a BOM, so that Excel reads Vietnamese right."""

    days: dict[date, str] = {}  # babel is slow and a period holds few distinct days

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, date):
            if value not in days:
                days[value] = format_date(value, locale)
            return days[value]
        if isinstance(value, str):
            return neutralize(value)
        return str(value)

    buf = io.BytesIO()
    # Encoding as rows are written keeps one copy of the file in memory, in bytes. Without the
    # BOM Excel guesses a legacy code page and garbles every diacritic.
    stream = io.TextIOWrapper(buf, encoding="utf-8-sig", newline="")
    writer = csv.writer(stream, quoting=csv.QUOTE_MINIMAL)
    writer.writerow([text(h) for h in _header(_, full)])
    total = len(rows)
    done = 0
    for values in _iter_values(rows, _, full, now):
        writer.writerow([text(v) for v in values])
        done += 1
        _report(progress, done, total)
    if total == 0:
        _report(progress, 0, 0)
    stream.flush()
    stream.detach()  # leaves buf open
    return buf.getvalue()


# Widths in characters, per column of the header above.
_XLSX_WIDTHS = [12, 12, 30, 30, 22, 12, 10, 60, 24, 14, 40, 8, 24, 16]


def export_xlsx(
    rows: Sequence[Row],
    _: Gettext,
    locale: str,
    *,
    full: bool,
    progress: Progress | None = None,
    now: float | None = None,
) -> bytes:
    """Return the rows as an Excel workbook, streamed row by row to keep memory flat."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    # The same day-first forms as format_date: "5 Mar 2026" in English, "05/03/2026" otherwise.
    english = locale.strip().lower().replace("-", "_").split("_")[0] == "en"
    date_format = "d mmm yyyy" if english else "dd/mm/yyyy"
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Reports")[:31])
    header = _header(_, full)
    # Column sizes and the frozen header must be set before the first row is written.
    for index, width in enumerate(_XLSX_WIDTHS[: len(header)], start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    wrap = Alignment(vertical="top", wrap_text=True)

    def cell(value: object) -> object:
        if isinstance(value, date):
            out = WriteOnlyCell(sheet, value=value)
            out.number_format = date_format
            return out
        if isinstance(value, str):
            # openpyxl itself would store a string starting with "=" as a formula.
            return neutralize(value)[:XLSX_CELL_LIMIT]
        return value

    heading = []
    for title in header:
        head = WriteOnlyCell(sheet, value=neutralize(title))
        head.font = bold
        head.alignment = wrap
        heading.append(head)
    sheet.append(heading)
    total = len(rows)
    done = 0
    for values in _iter_values(rows, _, full, now):
        sheet.append([cell(v) for v in values])
        done += 1
        _report(progress, done, total)
    if total == 0:
        _report(progress, 0, 0)
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()

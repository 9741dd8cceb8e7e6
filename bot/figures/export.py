"""Report rows as spreadsheets: CSV for any tool, XLSX for Excel, both safe to open."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from bot.core.deadlines import deadline_day
from bot.core.domain import OPEN_STATUSES, local_today
from bot.core.parsing import CODE_ALPHABET, CODE_LENGTH, format_code, format_date
from bot.figures.xlsx import XlsxSheet
from bot.i18n import Gettext
from bot.messages.labels import category_label, status_label

__all__ = [
    "EXPORT_PREFIX",
    "PROGRESS_EVERY",
    "Export",
    "export_csv",
    "export_folder",
    "export_rows",
    "export_xlsx",
    "neutralize",
    "remove_export_folders",
]

Progress = Callable[[int, int], None]
Row = Mapping[str, Any]

PROGRESS_EVERY = 1000
# The columns of `_header` that hold dates (created, deadline).
_DATE_COLUMNS = (1, 5)
# The folders of exports under way, in the bot's state folder (`export_folder`).
EXPORTS = "exports"
EXPORT_PREFIX = "export-"

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and CR,
# may strip them and then do so): a citizen's description "=HYPERLINK(...)" would run in the
# officer's Excel (CSV/formula injection). A leading apostrophe makes it plain text again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters other than tab, LF and CR are not allowed in XML, hence in XLSX, and
# only confuse CSV readers; Telegram text should not carry them, but stored text might. Nor are
# U+FFFE and U+FFFF, and a lone surrogate cannot even be encoded in UTF-8.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The letters of a canonical stored code (`_Cells`).
_CODE_LETTERS = frozenset(CODE_ALPHABET)
_HALF_CODE = CODE_LENGTH // 2


def neutralize(text: str) -> str:
    """Return text safe to put in a spreadsheet cell: no control characters, no formula."""
    # Every character the pattern removes is unprintable; most text has none, and this test
    # costs a tenth of the substitution.
    if not text.isprintable():
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


class _Days:
    """A moment's local day by `convert` (local_today, deadline_day), looked up once per hour.

    Vietnam's offset is whole hours, so every moment strictly inside one UTC hour falls on the
    same local day and is never a local midnight: the day of the hour's middle stands for all of
    them. A moment within a millisecond of an hour's edge (where datetime rounds to the
    microsecond) is converted as it is. Two conversions per row were a fifth of an export.
    """

    def __init__(self, convert: Callable[[float], date]) -> None:
        self._convert = convert
        self._hours: dict[int, date] = {}

    def __call__(self, moment: float) -> date:
        """Return `convert(moment)`."""
        if 0.001 < moment % 3600.0 < 3599.999:
            hour = int(moment // 3600.0)
            day = self._hours.get(hour)
            if day is None:
                day = self._hours[hour] = self._convert(hour * 3600.0 + 1800.0)
            return day
        return self._convert(moment)


class _Cells:
    """Turns rows of `Repository.report_rows` into rows of cell values (see `export_rows`).

    With `neutral`, text goes through `neutralize` on the way, once for every file written from
    the values; the bot's own labels and the units' names (few, and the same in many rows) are
    translated and neutralized once each.
    """

    def __init__(self, _: Gettext, *, full: bool, now: float | None, neutral: bool) -> None:
        self._ = _
        self._full = full
        self._now = time.time() if now is None else now
        self._clean: Callable[[str], str] = neutralize if neutral else str
        self._created = _Days(local_today)
        self._deadline = _Days(deadline_day)
        self._yes, self._no = self._clean(_("yes")), self._clean(_("no"))
        self._categories: dict[Any, str] = {}
        self._statuses: dict[Any, str] = {}
        self._units: dict[Any, str] = {}

    def __call__(self, row: Row) -> list[object]:
        """Return the cells of one row."""
        clean = self._clean
        category = row.get("category")
        category_text = self._categories.get(category)
        if category_text is None:
            category_text = self._categories[category] = clean(category_label(category, self._))
        status = row.get("status")
        status_text = self._statuses.get(status)
        if status_text is None:
            status_text = self._statuses[status] = clean(status_label(str(status or ""), self._))
        unit = row.get("unit_name") or row.get("unit_code") or ""
        unit_text = self._units.get(unit)
        if unit_text is None:
            unit_text = self._units[unit] = clean(str(unit))
        deadline = row.get("deadline_at")
        # The same rule as the statistics: open past its deadline, or escalated once already.
        overdue = (row.get("escalation_level") or 0) > 0 or (
            status in OPEN_STATUSES and deadline is not None and deadline <= self._now
        )
        code = row.get("code")
        if isinstance(code, str) and len(code) == CODE_LENGTH and _CODE_LETTERS.issuperset(code):
            # A stored code is canonical already; format_code's checks would cost a third of
            # an export. Its letters and digits start no formula.
            code_text = f"{code[:_HALF_CODE]}-{code[_HALF_CODE:]}"
        else:
            code_text = clean(_code(code))
        description = row.get("description")
        official = row.get("official")
        note = row.get("resolution_note")
        amount = row.get("amount")
        rating = row.get("rating")
        values: list[object] = [
            code_text,
            self._created(row["created_at"]),
            category_text,
            unit_text,
            status_text,
            self._deadline(deadline) if deadline is not None else None,
            self._yes if overdue else self._no,
            clean(description) if description else "",
            clean(official) if official else "",
            int(amount) if amount is not None else None,
            clean(note) if note else "",
            int(rating) if rating is not None else None,
        ]
        if self._full:
            # Only named reports carry a contact; report_rows already blanks anonymous ones,
            # and this check keeps it so whatever the rows came from.
            named = not row.get("anonymous")
            name = row.get("contact_name") if named else None
            phone = row.get("contact_phone") if named else None
            values.append(clean(name) if name else "")
            values.append(clean(phone) if phone else "")
        return values


def _iter_values(
    rows: Iterable[Row], _: Gettext, full: bool, now: float | None
) -> Iterator[list[object]]:
    cells = _Cells(_, full=full, now=now, neutral=False)
    for row in rows:
        yield cells(row)


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


class _CsvFile:
    """CSV in UTF-8 with a BOM, so that Excel reads Vietnamese right, written row by row."""

    def __init__(self, header: list[str], locale: str, out: BinaryIO | None = None) -> None:
        """Write to `out` (a binary file), or to memory, which `close()` returns."""
        self._locale = locale
        self._days: dict[date, str] = {}  # babel is slow and a period holds few distinct days
        self._buffer: io.BytesIO | None = None
        if out is None:
            out = self._buffer = io.BytesIO()
        # Encoded as rows are written. Without the BOM Excel guesses a legacy code page and
        # garbles every diacritic.
        self._stream = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._stream, quoting=csv.QUOTE_MINIMAL)
        self.row(header)

    def _text(self, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, date):
            if value not in self._days:
                self._days[value] = format_date(value, self._locale)
            return self._days[value]
        if isinstance(value, str):
            return neutralize(value)
        return str(value)

    def row(self, values: Sequence[object]) -> None:
        """Write one row."""
        text = self._text
        self._writer.writerow([text(v) for v in values])

    def neutral_rows(self, rows: Iterable[Sequence[object]]) -> None:
        """Write rows of `_Cells(neutral=True)`: their text went through `neutralize` already."""
        days = self._days
        out: list[list[object]] = []
        for values in rows:
            cells = list(values)  # the caller's values keep their dates
            # csv writes str as it is, int as str() would and None as "": only the dates,
            # in their columns of the header, are turned into text.
            for index in _DATE_COLUMNS:
                value = cells[index]
                if isinstance(value, date):
                    text = days.get(value)
                    if text is None:
                        text = days[value] = format_date(value, self._locale)
                    cells[index] = text
            out.append(cells)
        self._writer.writerows(out)

    def close(self) -> bytes:
        """Finish the file; return it if it is in memory (a given file is left open)."""
        self._stream.flush()
        self._stream.detach()  # leaves the buffer or the file open
        return b"" if self._buffer is None else self._buffer.getvalue()


# Widths in characters, per column of the header above.
_XLSX_WIDTHS = [12, 12, 30, 30, 22, 12, 10, 60, 24, 14, 40, 8, 24, 16]


def _xlsx_file(
    header: list[str], _: Gettext, locale: str, out: BinaryIO | None = None
) -> XlsxSheet:
    # The same day-first forms as format_date: "5 Mar 2026" in English, "05/03/2026" otherwise.
    english = locale.strip().lower().replace("-", "_").split("_")[0] == "en"
    sheet = XlsxSheet(
        _("Reports"), _XLSX_WIDTHS[: len(header)], "d mmm yyyy" if english else "dd/mm/yyyy", out
    )
    sheet.header([neutralize(title) for title in header])
    return sheet


def _xlsx_row(sheet: XlsxSheet, values: list[object]) -> None:
    # A citizen's "=..." must stay text (neutralize), as in the CSV.
    sheet.row([neutralize(v) if isinstance(v, str) else v for v in values])


def _private_file(path: Path) -> BinaryIO:
    # A full export holds reporters' contacts: readable by the bot's user alone, and never an
    # existing file (O_EXCL), from the first byte written.
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


class Export:
    """Both files of one export, CSV and XLSX, written at once from rows given in chunks.

    The files are written to `folder` (`export.csv`, `export.xlsx`), not held in memory: at
    100,000 reports the CSV alone is about 30 MB, which the bot would otherwise hold twice, once
    written and once more while it is uploaded.
    """

    def __init__(
        self, _: Gettext, locale: str, *, full: bool, folder: Path, now: float | None = None
    ) -> None:
        self.csv_path = folder / "export.csv"
        self.xlsx_path = folder / "export.xlsx"
        header = _header(_, full)
        self._csv_out = _private_file(self.csv_path)
        try:
            self._xlsx_out = _private_file(self.xlsx_path)
        except BaseException:
            self._csv_out.close()
            raise
        self._csv = _CsvFile(header, locale, self._csv_out)
        self._xlsx = _xlsx_file(header, _, locale, self._xlsx_out)
        self._cells = _Cells(_, full=full, now=now, neutral=True)
        self.count = 0

    def add(self, rows: Iterable[Row]) -> int:
        """Write rows of `Repository.report_rows` to both files; return the rows written so far."""
        # Turned into cells and neutralized once for both files.
        values = [self._cells(row) for row in rows]
        self._csv.neutral_rows(values)
        write = self._xlsx.row
        for cells in values:
            write(cells)
        self.count += len(values)
        return self.count

    def finish(self) -> tuple[Path, Path]:
        """Complete both files and close them; return the CSV's and the XLSX's paths."""
        try:
            self._csv.close()
            self._xlsx.close()
        except BaseException:
            self.discard()
            raise
        self._csv_out.close()
        self._xlsx_out.close()
        return self.csv_path, self.xlsx_path

    def discard(self) -> None:
        """Close both files as they are (an export stopped half-way); their folder goes next."""
        # Each writer ends what it holds first: a ZIP left open would try to write its end
        # into a closed file when it is collected.
        for writer in (self._csv, self._xlsx):
            with contextlib.suppress(Exception):
                writer.close()
        self._csv_out.close()
        self._xlsx_out.close()


@contextlib.contextmanager
def export_folder(state: Path) -> Iterator[Path]:
    """Lend a new private folder for one export's files under `state`; remove it afterwards."""
    parent = state / EXPORTS
    parent.mkdir(mode=0o700, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX, dir=parent))  # mode 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_export_folders(state: Path) -> int:
    """Remove the folders exports left behind when the bot stopped mid-way; return how many."""
    parent = state / EXPORTS
    removed = 0
    if parent.is_dir():
        for folder in parent.glob(EXPORT_PREFIX + "*"):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


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
    out = _CsvFile(_header(_, full), locale)
    total = len(rows)
    done = 0
    for values in _iter_values(rows, _, full, now):
        out.row(values)
        done += 1
        _report(progress, done, total)
    if total == 0:
        _report(progress, 0, 0)
    return out.close()


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
    sheet = _xlsx_file(_header(_, full), _, locale)
    total = len(rows)
    done = 0
    for values in _iter_values(rows, _, full, now):
        _xlsx_row(sheet, values)
        done += 1
        _report(progress, done, total)
    if total == 0:
        _report(progress, 0, 0)
    return sheet.close()

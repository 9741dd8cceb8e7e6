"""Report rows as spreadsheets: CSV for any tool, XLSX for Excel, both safe to open."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
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
    "write_files",
]

Progress = Callable[[int, int], None]
Row = Mapping[str, Any]

PROGRESS_EVERY = 1000
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
# A stored code is canonical already; format_code's checks would cost a third of an export.
_CODE_LETTERS = frozenset(CODE_ALPHABET)


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
    if isinstance(value, str) and len(value) == CODE_LENGTH and _CODE_LETTERS.issuperset(value):
        half = CODE_LENGTH // 2
        return f"{value[:half]}-{value[half:]}"
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
    rows: Iterable[Row], _: Gettext, full: bool, now: float | None
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

    def neutral_row(self, values: Sequence[object]) -> None:
        """Write one row whose text went through `neutralize` already."""
        days = self._days
        cells: list[object] = []
        for value in values:
            if value is None:
                cells.append("")
            elif isinstance(value, date):
                if value not in days:
                    days[value] = format_date(value, self._locale)
                cells.append(days[value])
            else:
                cells.append(value)  # csv writes str as it is and int as str() would
        self._writer.writerow(cells)

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


# Columns of `_values` by what their text is: what people wrote or stored (the code as stored
# when it is not one, the unit's name, the description, the official, the resolution note, the
# reporter's name and phone), and labels the bot writes itself (category, status, overdue).
_WRITTEN_COLUMNS = (0, 3, 7, 8, 10, 12, 13)
_LABEL_COLUMNS = (2, 4, 6)


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
        self._ = _
        self._full = full
        self._now = time.time() if now is None else now
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
        self._written = [i for i in _WRITTEN_COLUMNS if i < len(header)]
        self._labels: dict[str, str] = {}
        self.count = 0

    def add(self, rows: Iterable[Row]) -> int:
        """Write rows of `Repository.report_rows` to both files; return the rows written so far."""
        written = self._written
        labels = self._labels
        for values in _iter_values(rows, self._, self._full, self._now):
            # Neutralized once for both files: what people wrote in every row, the bot's own
            # labels (few, and the same in many rows) once each.
            for index in written:
                value = values[index]
                if isinstance(value, str) and value:
                    values[index] = neutralize(value)
            for index in _LABEL_COLUMNS:
                value = values[index]
                if isinstance(value, str):
                    known = labels.get(value)
                    if known is None:
                        known = labels[value] = neutralize(value)
                    values[index] = known
            self._csv.neutral_row(values)
            self._xlsx.row(values)
            self.count += 1
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


async def write_files(files: Export, chunks: AsyncIterator[Sequence[Row]]) -> tuple[Path, Path]:
    """Write chunks of rows to both files in a worker thread; return the CSV's and XLSX's paths."""
    writing: asyncio.Future[int] | None = None
    try:
        async for chunk in chunks:
            # The next chunk is read while this one is written.
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(files.add, chunk))
        if writing is not None:
            await writing
        return await asyncio.to_thread(files.finish)
    except BaseException:
        if writing is not None and not writing.done():
            # The thread cannot be stopped: let it finish its chunk before the file closes.
            with contextlib.suppress(BaseException):
                await asyncio.shield(writing)
        files.discard()
        raise


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

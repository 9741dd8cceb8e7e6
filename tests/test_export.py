"""Exports: CSV and XLSX that open right in Excel and cannot run a citizen's formula."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import sys
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.config import UnitConfig
from bot.core.deadlines import deadline_day
from bot.core.domain import VN_TZ, Actor, Draft, ReportFields, local_today
from bot.figures.export import (
    _CONTROL_RE,
    Export,
    _Days,
    export_csv,
    export_folder,
    export_rows,
    export_xlsx,
    neutralize,
    remove_export_folders,
)
from bot.figures.export_process import ExportError, ExportFiles
from bot.figures.stats import Period, render_chart, stats_of, summary_text
from bot.figures.xlsx import CELL_LIMIT as XLSX_CELL_LIMIT
from bot.figures.xlsx import XlsxSheet
from bot.i18n import Translator
from bot.store.database import StorageError
from bot.store.repository import Repository
from tests.conftest import ALERT

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ).timestamp()
DAY = 86400.0
BOM = b"\xef\xbb\xbf"

vi = Translator().get("vi")
en = Translator().get("en")

HEADER = [
    "Code",
    "Created",
    "Category",
    "Unit",
    "Status",
    "Deadline",
    "Overdue",
    "Description",
    "Official",
    "Amount (VND)",
    "Resolution note",
    "Rating",
]
CONTACT = ["Reporter name", "Reporter phone"]


def row(**values: Any) -> dict[str, Any]:
    """A row shaped like Repository.report_rows(contacts=True)."""
    base: dict[str, Any] = {
        "id": 1,
        "code": "ABCDEFGH",
        "status": "new",
        "category": "bribe",
        "unit_code": "HL",
        "unit_name": "UBND phường Hạ Long",
        "created_at": datetime(2026, 11, 5, 23, 30, tzinfo=VN_TZ).timestamp(),
        "acknowledged_at": None,
        "closed_at": None,
        "deadline_kind": "ack",
        # Midnight ending 10 November: the last day to act is the 9th.
        "deadline_at": datetime(2026, 11, 10, tzinfo=VN_TZ).timestamp(),
        "escalation_level": 0,
        "extended": 0,
        "description": "Cán bộ đòi 2 triệu ở Hạ Long.",
        "official": "Nguyễn Văn A",
        "amount": 2_000_000,
        "occurred_on": "2026-11-05",
        "location": "Hạ Long",
        "resolution_note": None,
        "decline_reason": None,
        "citizen_verdict": None,
        "rating": None,
        "anonymous": 1,
        "spam": 0,
        "contact_name": None,
        "contact_phone": None,
    }
    base.update(values)
    return base


def sample_rows() -> list[dict[str, Any]]:
    return [
        row(id=1),
        row(
            id=2,
            code="JKLMNPQR",
            status="resolved",
            category="conduct",
            deadline_at=None,
            closed_at=NOW - DAY,
            resolution_note="Đã nhắc nhở cán bộ.",
            rating=4,
            amount=None,
            anonymous=0,
            contact_name="Trần Thị Bình",
            contact_phone="0912 345 678",
        ),
    ]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --------------------------------------------------------------------------- export_rows


def test_export_rows_values() -> None:
    header, values = export_rows(sample_rows(), en, "en", full=False, now=NOW)
    assert header == HEADER
    first, second = values
    assert first == [
        "ABCD-EFGH",
        date(2026, 11, 5),  # 23:30 in Vietnam, whatever the server's zone
        "Asking for or taking bribes, profiteering",
        "UBND phường Hạ Long",
        "Received, waiting for the unit",
        date(2026, 11, 9),
        "yes",  # open and past its deadline
        "Cán bộ đòi 2 triệu ở Hạ Long.",
        "Nguyễn Văn A",
        2_000_000,
        "",
        None,
    ]
    assert second[4] == "Resolved" and second[5] is None and second[6] == "no"
    assert second[9] is None and second[10] == "Đã nhắc nhở cán bộ." and second[11] == 4


def test_export_rows_are_translated() -> None:
    _header, [first, _second] = export_rows(sample_rows(), vi, "vi", full=False, now=NOW)
    assert first[2] == "Đòi hoặc nhận hối lộ, trục lợi"
    assert first[4] == "Đã nhận, đang chờ đơn vị tiếp nhận"


def test_escalated_reports_count_as_overdue() -> None:
    rows = [row(status="resolved", deadline_at=None, escalation_level=1)]
    _header, [values] = export_rows(rows, en, "en", full=False, now=NOW)
    assert values[6] == "yes"
    ahead = [row(deadline_at=NOW + DAY)]
    assert export_rows(ahead, en, "en", full=False, now=NOW)[1][0][6] == "no"


def test_contacts_only_when_full_and_only_for_named_reports() -> None:
    header, values = export_rows(sample_rows(), en, "en", full=True, now=NOW)
    assert header == HEADER + CONTACT
    assert values[0][-2:] == ["", ""]
    assert values[1][-2:] == ["Trần Thị Bình", "0912 345 678"]
    # An anonymous row never shows a contact, even if one slipped into the row.
    leaked = [row(anonymous=1, contact_name="X", contact_phone="0900000000")]
    assert export_rows(leaked, en, "en", full=True, now=NOW)[1][0][-2:] == ["", ""]
    header, values = export_rows(sample_rows(), en, "en", full=False, now=NOW)
    assert len(header) == len(values[1]) == len(HEADER)
    assert "Trần Thị Bình" not in values[1]


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+84 912 345 678", "'+84 912 345 678"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Hạ Long = 1", "Hạ Long = 1"),
        ("bình thường", "bình thường"),
        ("a\x00b\x0bc", "abc"),
        # Not allowed in XML (XLSX), and a lone surrogate cannot be written in UTF-8 at all.
        ("a\ufffeb\uffffc\ud800d", "abcd"),
        ("", ""),
    ],
)
def test_neutralize(text: str, safe: str) -> None:
    assert neutralize(text) == safe


# --------------------------------------------------------------------------- CSV


def test_csv_has_a_bom_and_keeps_vietnamese() -> None:
    data = export_csv(sample_rows(), vi, "vi", full=False, now=NOW)
    assert data.startswith(BOM)
    table = read_csv(data)
    assert len(table) == 3
    assert len(table[0]) == len(HEADER)
    first = table[1]
    assert first[0] == "ABCD-EFGH"
    assert first[1] == "05/11/2026"
    assert first[3] == "UBND phường Hạ Long"
    assert "Hạ Long" in first[7]
    assert first[9] == "2000000"
    assert table[2][11] == "4"
    english = read_csv(export_csv(sample_rows(), en, "en", full=False, now=NOW))
    assert english[0] == HEADER
    assert english[1][1] == "5 Nov 2026"


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    text = 'Dòng 1, có dấu phẩy\nDòng 2 "trích dẫn"'
    table = read_csv(export_csv([row(description=text)], en, "en", full=False, now=NOW))
    assert table[1][7] == text


def test_csv_neutralises_formulas() -> None:
    rows = [
        row(
            description='=HYPERLINK("http://evil.example","Bấm vào")',
            official="@cmd",
            location="-",
            anonymous=0,
            contact_name="+Ông B",
            contact_phone="+84912345678",
        )
    ]
    table = read_csv(export_csv(rows, en, "en", full=True, now=NOW))
    cells = table[1]
    assert cells[7] == '\'=HYPERLINK("http://evil.example","Bấm vào")'
    assert cells[8] == "'@cmd"
    assert cells[-2:] == ["'+Ông B", "'+84912345678"]
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in table for cell in row
    )


def test_csv_contact_columns() -> None:
    short = read_csv(export_csv(sample_rows(), en, "en", full=False, now=NOW))
    assert short[0] == HEADER
    assert all(len(r) == len(HEADER) for r in short)
    full = read_csv(export_csv(sample_rows(), en, "en", full=True, now=NOW))
    assert full[0] == HEADER + CONTACT
    assert full[1][-2:] == ["", ""]
    assert full[2][-2:] == ["Trần Thị Bình", "0912 345 678"]


# --------------------------------------------------------------------------- XLSX


def load(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_xlsx_holds_the_rows() -> None:
    data = export_xlsx(sample_rows(), vi, "vi", full=True, now=NOW)
    assert data[:2] == b"PK"  # a zip file
    sheet = load(data)
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3
    assert len(rows[0]) == len(HEADER) + len(CONTACT)
    first, second = rows[1], rows[2]
    assert first[0] == "ABCD-EFGH"
    assert first[1] == datetime(2026, 11, 5)  # a real date cell, sortable in Excel
    assert first[3] == "UBND phường Hạ Long"
    assert first[7] == "Cán bộ đòi 2 triệu ở Hạ Long."
    assert first[9] == 2_000_000
    assert second[11] == 4
    assert second[-2:] == ("Trần Thị Bình", "0912 345 678")
    assert first[-2:] == (None, None)


def test_xlsx_header_is_bold_and_frozen() -> None:
    sheet = load(export_xlsx(sample_rows(), en, "en", full=False, now=NOW))
    assert [c.value for c in sheet[1]] == HEADER
    assert all(c.font.bold for c in sheet[1])
    assert not sheet["A2"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["H"].width > sheet.column_dimensions["A"].width
    assert sheet["B2"].number_format == "d mmm yyyy"
    vietnamese = load(export_xlsx(sample_rows(), vi, "vi", full=False, now=NOW))
    assert vietnamese["B2"].number_format == "dd/mm/yyyy"


def test_xlsx_neutralises_formulas_and_control_characters() -> None:
    rows = [row(description="=1+1", official="a\x01b\x1fc", location="@x")]
    sheet = load(export_xlsx(rows, en, "en", full=False, now=NOW))
    cell = sheet["H2"]
    assert cell.value == "'=1+1"
    assert cell.data_type == "s"  # text, not a formula
    assert sheet["I2"].value == "abc"


def test_xlsx_without_rows() -> None:
    sheet = load(export_xlsx([], en, "en", full=False, now=NOW))
    assert [c.value for c in sheet[1]] == HEADER
    assert sheet.max_row == 1


def test_xlsx_escapes_markup_cuts_long_text_and_keeps_numbers() -> None:
    long = "Đ" * (XLSX_CELL_LIMIT + 10)
    rows = [row(description="<b>A & B</b> > C", official=long, amount=0, rating=5)]
    sheet = load(export_xlsx(rows, en, "en", full=False, now=NOW))
    assert sheet["H2"].value == "<b>A & B</b> > C"
    assert sheet["I2"].value == "Đ" * XLSX_CELL_LIMIT
    assert sheet["J2"].value == 0 and sheet["L2"].value == 5
    assert sheet.title == "Reports"


def test_xlsx_sheet_name_follows_excel_rules() -> None:
    sheet = XlsxSheet("Báo cáo [2026]: a/b\\c*?" + "x" * 40, [10], "dd/mm/yyyy")
    sheet.header(["A"])
    book = openpyxl.load_workbook(io.BytesIO(sheet.close()))
    assert book.active.title == ("Báo cáo 2026 abcx" + "x" * 40)[:31]


def test_both_files_at_once_equal_each_file_alone(tmp_path: Path) -> None:
    rows = [*sample_rows(), row(id=3, code="bad code", description="=2+2", official="a\x01b")]
    files = Export(en, "en", full=True, now=NOW, folder=tmp_path)
    assert files.add(rows[:2]) == 2
    assert files.add(rows[2:]) == 3
    csv_path, xlsx_path = files.finish()
    # A full export holds contacts: its files are the bot's user's alone.
    assert {csv_path.stat().st_mode & 0o777, xlsx_path.stat().st_mode & 0o777} == {0o600}
    csv_data, xlsx_data = csv_path.read_bytes(), xlsx_path.read_bytes()
    assert csv_data == export_csv(rows, en, "en", full=True, now=NOW)
    alone = load(export_xlsx(rows, en, "en", full=True, now=NOW))
    together = load(xlsx_data)
    assert list(together.iter_rows(values_only=True)) == list(alone.iter_rows(values_only=True))
    assert together["B2"].number_format == alone["B2"].number_format == "d mmm yyyy"
    assert together["A4"].value == "bad code"  # not a code: shown as stored


# --------------------------------------------------------------------------- progress


@pytest.mark.parametrize("export", [export_csv, export_xlsx])
@pytest.mark.parametrize(
    ("count", "calls"),
    [
        (2500, [(1000, 2500), (2000, 2500), (2500, 2500)]),
        (2000, [(1000, 2000), (2000, 2000)]),
        (3, [(3, 3)]),
        (0, [(0, 0)]),
    ],
)
def test_progress(export: Any, count: int, calls: list[tuple[int, int]]) -> None:
    seen: list[tuple[int, int]] = []
    rows = [row(id=i) for i in range(count)]
    export(rows, en, "en", full=False, progress=lambda done, total: seen.append((done, total)))
    assert seen == calls


# --------------------------------------------------------------------------- real rows

UNITS = (
    UnitConfig("QN", "UBND tỉnh Quảng Ninh", None, -100),
    UnitConfig("HL", "UBND phường Hạ Long", "QN", -200),
    UnitConfig("DT", "UBND phường Đông Triều", "QN", None),
)


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW - 5 * DAY

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Repository]:
    repo = Repository(tmp_path / "t.db", clock=FakeClock(), url=database_url)
    async with repo:
        await repo.units.seed_units(UNITS)
        yield repo


async def submit(db: Repository, user_id: int, **fields: Any) -> int:
    values: dict[str, Any] = {
        "category": "conduct",
        "unit_code": "HL",
        "description": "Cán bộ quát tháo người dân ở Hạ Long.",
        "anonymous": True,
    }
    values.update(fields)
    await db.drafts.save_draft(Draft(user_id, user_id, 14, ReportFields(**values)))
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return report.id


@pytest.mark.both_backends
async def test_repository_rows_feed_statistics_and_exports(db: Repository) -> None:
    clock = db.clock
    assert isinstance(clock, FakeClock)
    officer = Actor("officer", 7, "Quang")
    resolved = await submit(
        db,
        42,
        category="bribe",
        amount=2_000_000,
        official="Ông C",
        anonymous=False,
        contact_name="Trần Thị Bình",
        contact_phone="0912345678",
    )
    late = await submit(db, 43, unit_code="DT", description='=HYPERLINK("x") Đông Triều')
    spam = await submit(db, 44, description="quảng cáo")
    await db.reports.transition(
        late, actor=officer, action="x", changes={"deadline_at": NOW - DAY}
    )
    clock.now += 3 * 3600
    await db.reports.transition(
        resolved,
        actor=officer,
        action="acknowledged",
        to="acknowledged",
        changes={"acknowledged_at": clock.now},
    )
    clock.now += 2 * DAY
    await db.reports.transition(
        resolved,
        actor=officer,
        action="resolved",
        to="resolved",
        changes={"closed_at": clock.now, "resolution_note": "Đã xử lý."},
    )
    await db.reports.transition(resolved, actor=officer, action="rated", changes={"rating": 5})
    assert await db.admin.set_spam(spam, True)

    rows = await db.reports.report_rows(None, None, None, contacts=True, include_spam=True)
    assert len(rows) == 3
    period = Period(None, None, "30d")
    stats = stats_of(await db.reports.period_figures(None, None, None, NOW), period)
    assert stats.total == 2  # the spam row is left out
    assert stats.overdue == 1
    assert (stats.rating_avg, stats.rating_count) == (5.0, 1)
    by_code = {u.code: u for u in stats.units}
    assert by_code["HL"].median_ack_hours == pytest.approx(3.0)
    assert by_code["HL"].median_resolve_days == pytest.approx(2.0)
    assert by_code["HL"].name == "UBND phường Hạ Long"
    assert "UBND phường Đông Triều" in summary_text(stats, vi, "vi")
    assert render_chart(stats, vi, "vi").startswith(b"\x89PNG\r\n\x1a\n")

    kept = await db.reports.report_rows(None, None, None, contacts=True)
    table = read_csv(export_csv(kept, en, "en", full=True, now=NOW))
    assert len(table) == 3
    named = next(r for r in table[1:] if r[3] == "UBND phường Hạ Long")
    assert named[9] == "2000000" and named[10] == "Đã xử lý." and named[11] == "5"
    assert named[-2:] == ["Trần Thị Bình", "0912345678"]
    anonymous = next(r for r in table[1:] if r[3] == "UBND phường Đông Triều")
    assert anonymous[7].startswith("'=") and anonymous[6] == "yes"
    assert anonymous[-2:] == ["", ""]
    sheet = load(export_xlsx(kept, vi, "vi", full=False, now=NOW))
    assert sheet.max_row == 3 and sheet.max_column == len(HEADER)
    # Without contacts asked for, the repository hands none over.
    bare = await db.reports.report_rows(None, None, None)
    assert all(r["contact_name"] is None for r in bare)
    assert set(bare[0]) == set(row())


@pytest.mark.both_backends
async def test_rows_stream_in_chunks_like_report_rows(db: Repository) -> None:
    for user in range(7):
        await submit(db, 100 + user, unit_code="DT" if user % 3 == 0 else "HL")
    await submit(db, 200, anonymous=False, contact_name="Lê Văn C", contact_phone="0987654321")
    spam = await submit(db, 201)
    assert await db.admin.set_spam(spam, True)
    for codes in (None, ["HL"], ["DT", "QN"], []):
        for contacts in (False, True):
            whole = await db.reports.report_rows(None, None, codes, contacts=contacts)
            chunks = [
                chunk
                async for chunk in db.reports.iter_report_rows(
                    None, None, codes, contacts=contacts, chunk=3
                )
            ]
            assert [len(c) for c in chunks] == [3] * (len(whole) // 3) + (
                [len(whole) % 3] if len(whole) % 3 else []
            )
            assert [r for chunk in chunks for r in chunk] == whole
            assert await db.reports.count_report_rows(None, None, codes) == len(whole)
    named = [r for r in await db.reports.report_rows(None, None, None, contacts=True)]
    assert [r["contact_phone"] for r in named if r["contact_phone"]] == ["0987654321"]
    period = [r async for chunk in db.reports.iter_report_rows(NOW, None, None) for r in chunk]
    assert period == []  # every report here was made before NOW


@pytest.mark.both_backends
async def test_export_files_from_streamed_rows(db: Repository, tmp_path: Path) -> None:
    for user in range(5):
        await submit(db, 300 + user, description=f"=SUM(A{user})")
    rows = await db.reports.report_rows(None, None, None, contacts=True)
    files = ExportFiles("vi", full=True, now=NOW, folder=tmp_path)
    chunks = db.reports.iter_report_rows(None, None, None, contacts=True, chunk=2)
    csv_path, xlsx_path = await files.write(chunks)
    # Written by a child process, private from the first byte as in this one.
    assert {csv_path.stat().st_mode & 0o777, xlsx_path.stat().st_mode & 0o777} == {0o600}
    csv_data, xlsx_data = csv_path.read_bytes(), xlsx_path.read_bytes()
    assert files.count == 5
    assert csv_data.startswith(BOM)
    assert csv_data == export_csv(rows, vi, "vi", full=True, now=NOW)
    sheet = load(xlsx_data)
    assert sheet.max_row == 6 and sheet["H2"].value == "'=SUM(A0)"


# --------------------------------------------------------------------------- files on disk


def test_an_export_folder_is_private_and_goes_when_done(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), export_folder(tmp_path) as folder:
        assert folder.parent == tmp_path / "exports"
        assert folder.stat().st_mode & 0o777 == 0o700
        (folder / "export.csv").write_bytes(b"x")
        raise RuntimeError("the upload failed")
    assert list((tmp_path / "exports").iterdir()) == []


def test_folders_left_by_a_crash_are_removed_and_nothing_else(tmp_path: Path) -> None:
    assert remove_export_folders(tmp_path) == 0  # no exports folder yet
    exports = tmp_path / "exports"
    for name in ("export-a1", "export-b2"):
        (exports / name).mkdir(parents=True)
        (exports / name / "export.csv").write_text("Trần Thị Bình,0912345678")
    (tmp_path / "liemchinh.db").write_bytes(b"kept")
    assert remove_export_folders(tmp_path) == 2
    assert list(exports.iterdir()) == []
    assert (tmp_path / "liemchinh.db").read_bytes() == b"kept"


def test_an_export_stopped_half_way_closes_its_files(tmp_path: Path) -> None:
    files = Export(en, "en", full=False, now=NOW, folder=tmp_path)
    files.add(sample_rows())
    files.discard()
    # Closed, not leaked (the suite turns an unclosed file's ResourceWarning into an error),
    # and written no further: a second finish has nothing open to write to.
    assert files.count == len(sample_rows())
    with pytest.raises(ValueError):
        files.finish()


async def chunks_then(failure: BaseException | None) -> AsyncIterator[list[dict[str, Any]]]:
    """The sample rows in two chunks, then `failure` raised (or the end)."""
    yield sample_rows()[:1]
    yield sample_rows()[1:]
    if failure is not None:
        raise failure


async def test_the_child_writes_the_same_files_as_this_process(tmp_path: Path) -> None:
    files = ExportFiles("en", full=True, now=NOW, folder=tmp_path)
    csv_path, xlsx_path = await files.write(chunks_then(None))
    assert files.count == 2
    assert csv_path.read_bytes() == export_csv(sample_rows(), en, "en", full=True, now=NOW)
    alone = load(export_xlsx(sample_rows(), en, "en", full=True, now=NOW))
    together = load(xlsx_path.read_bytes())
    assert list(together.iter_rows(values_only=True)) == list(alone.iter_rows(values_only=True))


async def test_rows_that_fail_to_come_stop_the_child(tmp_path: Path) -> None:
    files = ExportFiles("en", full=False, now=NOW, folder=tmp_path)
    with pytest.raises(StorageError):
        await files.write(chunks_then(StorageError("database is locked")))
    # The child was stopped and reaped (asyncio warns, an error here, of a child not waited for).
    assert files.count == 2


async def test_a_child_that_fails_is_an_export_error_with_its_reason(tmp_path: Path) -> None:
    # A file already there: the child refuses to write over it (O_EXCL) and exits.
    (tmp_path / "export.csv").write_bytes(b"someone else's")
    files = ExportFiles("en", full=False, now=NOW, folder=tmp_path)
    with pytest.raises(ExportError, match="FileExistsError"):
        await files.write(chunks_then(None))
    assert (tmp_path / "export.csv").read_bytes() == b"someone else's"


async def test_an_export_cancelled_stops_its_child(tmp_path: Path) -> None:
    given = asyncio.Event()

    async def endless() -> AsyncIterator[list[dict[str, Any]]]:
        yield sample_rows()
        given.set()
        await asyncio.Event().wait()  # the store never answers again
        yield []

    files = ExportFiles("en", full=False, now=NOW, folder=tmp_path)
    work = asyncio.create_task(files.write(endless()))
    await given.wait()
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    assert files.count == 2


async def test_a_child_that_cannot_start_is_an_export_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    files = ExportFiles("en", full=False, now=NOW, folder=tmp_path)
    with pytest.raises(ExportError, match="cannot start"):
        await files.write(chunks_then(None))


@pytest.mark.parametrize("convert", [local_today, deadline_day])
def test_days_looked_up_by_the_hour_are_the_days_converted_one_by_one(
    convert: Callable[[float], date],
) -> None:
    days = _Days(convert)
    start = datetime(2026, 11, 1, tzinfo=VN_TZ).timestamp()
    rng = random.Random(7)
    moments = [start + rng.uniform(0, 40 * DAY) for _ in range(5000)]
    # Local midnights, every hour's edge and moments a hair around them, where datetime rounds
    # to the microsecond: the lookup must not stand in for the conversion there.
    for hour in range(0, 48 * 3600, 3600):
        edge = start + hour
        moments += [edge, edge - 3e-7, edge + 3e-7, edge - 0.0005, edge + 0.0005, edge - 0.0015]
        moments += [edge + 0.0015, edge + 1799.5, edge - 3599.9995]
    for moment in moments:
        assert days(moment) == convert(moment), moment


def test_text_without_unprintable_characters_is_never_searched() -> None:
    # neutralize skips the control-character pattern for printable text: exact only if every
    # character the pattern removes is unprintable.
    removed = [chr(c) for c in range(0x110000) if _CONTROL_RE.match(chr(c))]
    assert removed and not any(c.isprintable() for c in removed)

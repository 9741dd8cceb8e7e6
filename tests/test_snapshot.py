"""The read-only connection (`Database.snapshot`): committed data, without the writer's lock.

The outbox and the figures read there so that a citizen's step never waits behind them for the
one lock; these tests hold that such a read goes on while a write transaction is open, sees only
what was committed, can write nothing, and that closing the database closes both connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.domain import Draft, ReportFields
from bot.core.outbox import Outgoing, TextNotice
from bot.store.repository import Repository
from tests.conftest import ALERT
from tests.test_storage import UNITS, FakeClock, seeded

# Long enough for a read that does not wait; a read that waited for the writer would wait
# forever, as the writer lets go only once the read is done.
NO_WAIT = 5.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Repository]:
    # The snapshot is SQLite's: its database alone.
    async with seeded(tmp_path / "t.db") as repo:
        yield repo


async def _submit(db: Repository, user_id: int, unit_code: str = "HL") -> int:
    fields = ReportFields(category="bribe", unit_code=unit_code, description="x" * 30)
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return report.id


async def test_a_snapshot_read_goes_on_during_a_write_and_sees_only_commits(
    db: Repository,
) -> None:
    report_id = await _submit(db, 42)
    database = db.database
    opened = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        # A transaction held open, as a citizen's step or the outbox's record holds one.
        async with database.write() as conn:
            await conn.execute("UPDATE units SET name = 'Đổi tên' WHERE code = 'HL'")
            await conn.execute(
                "INSERT INTO outbox (kind, chat_id, payload, created_at, next_attempt_at)"
                " VALUES ('notice', 7, '{}', 0, 0)"
            )
            opened.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await opened.wait()
    assert database._lock.locked()
    try:
        async with asyncio.timeout(NO_WAIT):
            async with database.snapshot() as conn:
                row = await conn.execute_fetchall("SELECT name FROM units WHERE code = 'HL'")
            # What the outbox loop reads to pick and draw an alert, and the figures of /stats.
            due = await db.outbox.due()
            unit = await db.committed.units.get_unit("HL")
            report = await db.committed.reports.get_report(report_id)
            figures = await db.reports.period_figures(None, None, None, 0.0)
            chunks = [chunk async for chunk in db.reports.iter_report_rows(None, None, None)]
        # The writer was still in its transaction all along: the reads did not wait for it.
        assert database._lock.locked() and not task.done()
    finally:
        release.set()
        await task
    assert [r["name"] for r in row] == ["UBND phường Hạ Long"]
    assert [(i.kind, i.report_id) for i in due] == [("alert", report_id)]
    assert unit is not None and unit.name == "UBND phường Hạ Long"
    assert report is not None and report.id == report_id
    assert [u.name for u in figures.units] == ["UBND phường Hạ Long"]
    assert [r["unit_name"] for chunk in chunks for r in chunk] == ["UBND phường Hạ Long"]

    # Committed: the next read on the same connection sees it.
    unit = await db.committed.units.get_unit("HL")
    assert unit is not None and unit.name == "Đổi tên"
    assert sorted(i.kind for i in await db.outbox.due()) == ["alert", "notice"]


async def test_statements_read_together_see_one_state(db: Repository) -> None:
    database = db.database
    count = "SELECT count(*) AS n FROM outbox"
    async with database.snapshot(together=True) as conn:
        [before] = await conn.execute_fetchall(count)
        # The writer's lock is free: a commit goes through while this read is held.
        async with asyncio.timeout(NO_WAIT):
            await db.outbox.add_notice(7, TextNotice(text="x"))
        [after] = await conn.execute_fetchall(count)
    assert after["n"] == before["n"]
    async with database.snapshot() as conn:
        [now] = await conn.execute_fetchall(count)
    assert now["n"] == before["n"] + 1
    assert database._reader is not None and not database._reader.in_transaction


async def test_a_read_transaction_left_open_is_ended_before_the_next_read(
    db: Repository,
) -> None:
    reader = db.database._reader
    assert reader is not None
    # As a lease cancelled in the middle of its ROLLBACK would leave it: pinned to one state.
    await reader.execute("BEGIN")
    await reader.execute_fetchall("SELECT count(*) FROM outbox")
    await db.outbox.add(Outgoing(TextNotice(text="x"), chat_id=7))
    assert [i.chat_id for i in await db.outbox.due()] == [7]
    assert not reader.in_transaction


async def test_the_snapshot_connection_refuses_writes(db: Repository) -> None:
    async with db.database.snapshot() as conn:
        assert conn is db.database._reader
        for statement in (
            "UPDATE units SET name = 'x' WHERE code = 'HL'",
            "INSERT INTO admins (user_id, added_by, added_at) VALUES (1, 1, 0)",
            "DELETE FROM units WHERE code = 'DT'",
            "CREATE TABLE intruder (x)",
        ):
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await conn.execute(statement)
        pragmas = [
            (await conn.execute_fetchall(f"PRAGMA {name}"))[0][0]
            for name in ("query_only", "busy_timeout", "journal_mode")
        ]
        # Searches fold case and diacritics there as on the writer.
        [folded] = await conn.execute_fetchall("SELECT fold('Hạ LONG') AS f")
    assert pragmas == [1, 5000, "wal"]
    assert folded["f"] == "ha long"
    unit = await db.units.get_unit("HL")
    assert unit is not None and unit.name == "UBND phường Hạ Long"
    assert await db.units.get_unit("DT") is not None
    # The stores that read there write nothing either, whatever the method.
    with pytest.raises(RuntimeError, match="writes nothing"):
        await db.committed.units.set_unit_chat_state("HL", "broken")
    with pytest.raises(RuntimeError, match="writes nothing"):
        await db.committed.admin.add_admin(1, 1)


async def test_without_the_second_connection_a_snapshot_is_a_read(db: Repository) -> None:
    database = db.database
    reader, database._reader = database._reader, None
    try:
        async with database.snapshot(together=True) as conn:
            assert conn is database._conn
            assert database._lock.locked()
        assert await db.committed.units.get_unit("HL") is not None
    finally:
        database._reader = reader


async def test_exported_chunks_leave_the_connection_free_between_them(db: Repository) -> None:
    for user in range(5):
        await _submit(db, 100 + user)
    database = db.database
    seen = []
    async for chunk in db.reports.iter_report_rows(None, None, None, chunk=2):
        # Handed on after the read: neither lock is held while a chunk is written out.
        assert not database._reader_lock.locked() and not database._lock.locked()
        seen.extend(r["id"] for r in chunk)
    assert len(seen) == 5 and seen == sorted(seen)


async def test_closing_closes_both_connections(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "t.db", clock=FakeClock())
    await repo.open()
    writer, reader = repo.database._conn, repo.database._reader
    await repo.close()
    assert writer is not None and reader is not None and writer is not reader
    assert repo.database._conn is None and repo.database._reader is None
    assert not repo.is_open
    for conn in (writer, reader):
        with pytest.raises(ValueError):
            await conn.execute("SELECT 1")
    with pytest.raises(RuntimeError, match="not open"):
        async with repo.database.snapshot():
            pass
    # Opened again, both are back.
    async with repo:
        assert repo.database._conn is not None and repo.database._reader is not None


@pytest.mark.both_backends
async def test_the_committed_stores_read_what_the_others_read(
    tmp_path: Path, database_url: str | None
) -> None:
    async with Repository(tmp_path / "t.db", clock=FakeClock(), url=database_url) as repo:
        await repo.units.seed_units(UNITS)
        report_id = await _submit(repo, 42)
        assert await repo.committed.reports.get_report(report_id) == (
            await repo.reports.get_report(report_id)
        )
        assert await repo.committed.units.ancestors("HL") == ["HL", "QN"]
        assert [i.report_id for i in await repo.outbox.due()] == [report_id]
        database = repo.database
        async with database.snapshot(together=True) as conn:
            # PostgreSQL has one connection: there a snapshot is a read, under the one lock.
            assert database._lock.locked() == database.is_postgres
            assert (conn is database._reader) != database.is_postgres
        with pytest.raises(RuntimeError, match="writes nothing"):
            await repo.committed.units.set_unit_chat_state("HL", "broken")

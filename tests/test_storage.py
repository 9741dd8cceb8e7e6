"""The repository: migrations, seeding, drafts, the report transaction and the outbox."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.config import UnitConfig
from bot.core.domain import Actor, Attachment, Draft, ReportFields
from bot.core.outbox import (
    AnswerPayload,
    OutboxKind,
    Outgoing,
    RefreshPayload,
    StatusNotice,
    TextNotice,
)
from bot.core.ports import NOT_NULL
from bot.store.migrations import MIGRATIONS
from bot.store.repository import Repository
from tests.conftest import ALERT

pytestmark = pytest.mark.both_backends

UNITS = (
    UnitConfig("QN", "UBND tỉnh Quảng Ninh", None, -100, (7,)),
    UnitConfig("HL", "UBND phường Hạ Long", "QN", -200),
    UnitConfig("DT", "UBND phường Đông Triều", "QN", None),
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def seeded(path: Path, url: str | None = None) -> AsyncIterator[Repository]:
    """Open a repository at `path` (on PostgreSQL with `url`) holding the units above."""
    async with Repository(path, clock=FakeClock(), url=url) as repo:
        await repo.units.seed_units(UNITS)
        yield repo


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Repository]:
    async with seeded(tmp_path / "t.db", database_url) as repo:
        yield repo


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Repository]:
    """The SQLite database alone, for what only SQLite has (pragmas, its file)."""
    async with seeded(tmp_path / "t.db") as repo:
        yield repo


async def test_migrations_on_blank_database(tmp_path: Path) -> None:
    async with Repository(tmp_path / "blank.db") as repo:
        assert await repo.applied_migrations() == [name for name, _ in MIGRATIONS]
    # Opening again runs nothing twice.
    async with Repository(tmp_path / "blank.db") as repo:
        assert await repo.applied_migrations() == [name for name, _ in MIGRATIONS]
    conn = sqlite3.connect(tmp_path / "blank.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"units", "drafts", "reports", "reporters", "attachments", "outbox"} <= tables


async def test_durability_pragmas(sqlite_db: Repository) -> None:
    async with sqlite_db._read() as conn:
        sync = await (await conn.execute("PRAGMA synchronous")).fetchone()
        fks = await (await conn.execute("PRAGMA foreign_keys")).fetchone()
    assert sync is not None and sync[0] == 2  # FULL
    assert fks is not None and fks[0] == 1


async def test_forgetting_a_handled_update_leaves_every_other_commit_durable(
    sqlite_db: Repository,
) -> None:
    db = sqlite_db
    await db.inbound.store_updates([(41, '{"update_id": 41}'), (42, '{"update_id": 42}')])
    await db.inbound.update_handled(41)
    assert [uid for uid, _payload in await db.inbound.unhandled_updates()] == [42]
    # The deletion alone was committed without waiting for the disk; FULL is back at once.
    async with db._read() as conn:
        sync = await (await conn.execute("PRAGMA synchronous")).fetchone()
    assert sync is not None and sync[0] == 2


async def test_unit_tree_and_search(db: Repository) -> None:
    top = await db.units.child_units(None)
    assert [u.code for u in top] == ["QN"]
    children = await db.units.child_units("QN")
    assert [u.name for u in children] == ["UBND phường Đông Triều", "UBND phường Hạ Long"]
    assert await db.units.has_children(["QN", "HL"]) == {"QN"}
    assert [u.code for u in await db.units.search_units("ha long")] == ["HL"]
    assert [u.code for u in await db.units.search_units("DONG TRIEU")] == ["DT"]
    assert await db.units.search_units("không có") == []
    unit = await db.units.get_unit("DT")
    assert unit is not None and unit.chat_state == "unset"


async def test_runtime_chat_migration_survives_reseeding(db: Repository) -> None:
    assert await db.units.migrate_unit_chat(-200, -100200) == ["HL"]
    await db.units.seed_units(UNITS)  # a restart with the same config keeps the migrated id
    unit = await db.units.get_unit("HL")
    assert unit is not None and unit.chat_id == -100200
    changed = (UNITS[0], UnitConfig("HL", "UBND phường Hạ Long", "QN", -300), UNITS[2])
    await db.units.seed_units(changed)  # the operator wrote a new id: it wins
    unit = await db.units.get_unit("HL")
    assert unit is not None and unit.chat_id == -300


async def test_draft_round_trip_and_steps(db: Repository) -> None:
    draft = Draft(user_id=42, chat_id=42, step=3, fields=ReportFields(category="bribe"))
    await db.drafts.save_draft(draft)
    draft.fields.amount = 2_000_000
    draft.step = 7
    draft.reviewing = True
    await db.drafts.save_draft(draft)
    loaded = await db.drafts.get_draft(42)
    assert loaded == draft
    assert await db.drafts.draft_steps() == {(42, 42): 7}
    await db.drafts.delete_draft(42)
    assert await db.drafts.get_draft(42) is None


async def test_a_draft_stores_only_its_answers(sqlite_db: Repository, tmp_path: Path) -> None:
    db = sqlite_db
    fresh = Draft(user_id=42, chat_id=42, step=1)
    await db.drafts.save_draft(fresh)
    assert await db.drafts.get_draft(42) == fresh
    full = Draft(
        user_id=43,
        chat_id=43,
        step=9,
        fields=ReportFields(category="bribe", amount=0, anonymous=False, latitude=0.0),
        reviewing=True,
        answered_by=1234,
        unseen=True,
    )
    await db.drafts.save_draft(full)
    assert await db.drafts.get_draft(43) == full
    # A draft written with every key, as before, reads the same.
    old = (
        '{"fields": {"category": "bribe", "unit_code": null, "amount": 0}, "reviewing": false,'
        ' "answered_by": 7, "unseen": false}'
    )
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("INSERT INTO drafts VALUES (44, 44, 2, ?, 0)", (old,))
        stored = dict(conn.execute("SELECT user_id, data FROM drafts").fetchall())
    assert stored[42] == "{}"
    assert '"unit_code"' not in stored[43] and '"amount":0' in stored[43]
    assert await db.drafts.get_draft(44) == Draft(
        44, 44, 2, ReportFields(category="bribe", amount=0), answered_by=7
    )


def _photo(message_id: int) -> Attachment:
    return Attachment("photo", f"F{message_id}", f"U{message_id}", 1000, 42, message_id)


async def test_submit_draft_is_one_transaction(db: Repository) -> None:
    fields = ReportFields(
        category="bribe",
        unit_code="HL",
        amount=2_000_000,
        occurred_on="2026-03-05",
        description="Cán bộ đòi 2 triệu để nhận hồ sơ đất đai.",
        anonymous=True,
    )
    await db.drafts.save_draft(Draft(42, 42, 14, fields))
    first = await db.drafts.add_draft_attachment(42, _photo(10))
    await db.drafts.add_draft_attachment(42, _photo(11))
    await db.drafts.set_attachment_hash(first, "ab" * 32)

    report = await db.reports.submit_draft(42, "vi", outbox=ALERT)
    assert report is not None and len(report.code) == 8
    assert await db.drafts.get_draft(42) is None
    assert await db.drafts.draft_attachments(42) == []
    stored = await db.reports.get_report(report.id)
    assert stored is not None and stored.fields == fields and stored.status == "new"
    atts = await db.reports.report_attachments(report.id)
    assert [a.message_id for a in atts] == [10, 11]
    assert atts[0].sha256 == "ab" * 32
    due = await db.outbox.due()
    assert [(i.kind, i.report_id, i.unit_code) for i in due] == [("alert", report.id, "HL")]
    # A second confirm (a double tap) finds no draft and creates nothing.
    assert await db.reports.submit_draft(42, "vi", outbox=ALERT) is None
    assert await db.reports.count_reports() == 1


async def test_reports_are_visible_only_to_their_reporter(db: Repository) -> None:
    fields = ReportFields(category="other", unit_code="QN", description="x" * 30)
    await db.drafts.save_draft(Draft(42, 42, 14, fields))
    report = await db.reports.submit_draft(42, "vi", outbox=ALERT)
    assert report is not None
    assert await db.reports.report_for_reporter(report.code, 42) is not None
    assert await db.reports.report_for_reporter(report.code, 43) is None
    assert [r.code for r in await db.reports.reports_of(42)] == [report.code]
    assert await db.reports.reports_of(43) == []


async def test_incomplete_draft_is_refused_and_kept(db: Repository) -> None:
    await db.drafts.save_draft(Draft(42, 42, 14, ReportFields(category="other")))
    with pytest.raises(ValueError, match="incomplete"):
        await db.reports.submit_draft(42, "vi", outbox=ALERT)
    assert await db.drafts.get_draft(42) is not None
    assert await db.reports.count_reports() == 0


async def test_outbox_retry_progress_and_done(db: Repository) -> None:
    clock = db.clock
    assert isinstance(clock, FakeClock)
    item_id = await db.outbox.add_notice(7, TextNotice("hello"))
    [item] = await db.outbox.due()
    await db.outbox.part_sent(item_id, 1, 555)
    await db.outbox.retry(item_id, 30, "RetryAfter 30")
    assert await db.outbox.due() == []
    assert await db.outbox.next_due() == clock.now + 30
    clock.now += 31
    [again] = await db.outbox.due()
    assert (again.parts_done, again.message_id, again.attempts) == (1, 555, 1)
    await db.outbox.done(item_id)
    assert await db.outbox.due() == []
    assert await db.outbox.stats() == {"sent": 1}
    assert (item.kind, item.payload) == (OutboxKind.NOTICE, TextNotice("hello"))


async def _report(db: Repository, user_id: int = 42) -> int:
    fields = ReportFields(category="other", unit_code="HL", description="x" * 30, anonymous=True)
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return report.id


async def test_transition_checks_state_and_writes_audit_and_outbox(db: Repository) -> None:
    report_id = await _report(db)
    officer = Actor("officer", 7, "Quang")
    done = await db.reports.transition(
        report_id,
        actor=officer,
        action="acknowledged",
        expect=("new",),
        to="acknowledged",
        changes={"acknowledged_at": 5.0},
        outbox=[Outgoing(RefreshPayload()), Outgoing(StatusNotice())],
    )
    assert done is not None
    report, audit_id = done
    assert report.status == "acknowledged" and report.acknowledged_at == 5.0
    due = [(i.kind, i.payload) for i in await db.outbox.due()]
    assert (OutboxKind.REFRESH, RefreshPayload()) in due
    assert (OutboxKind.STATUS_NOTICE, StatusNotice(audit_id)) in due
    # The same step again finds the wrong status and changes nothing.
    again = await db.reports.transition(
        report_id, actor=officer, action="acknowledged", expect=("new",), to="acknowledged"
    )
    assert again is None
    # A guard that no longer holds, a consumed link that is gone: nothing either.
    assert (
        await db.reports.transition(report_id, actor=officer, action="x", guard={"rating": 3})
        is None
    )
    assert (
        await db.reports.transition(
            report_id, actor=officer, action="x", guard={"remind_at": NOT_NULL}
        )
        is None
    )
    assert (
        await db.reports.transition(report_id, actor=officer, action="x", consume=(1, 2)) is None
    )
    history = await db.reports.audit_of(report_id)
    assert [(e.action, e.actor.kind, e.actor.id) for e in history] == [
        ("submitted", "citizen", None),
        ("acknowledged", "officer", 7),
    ]
    with pytest.raises(ValueError, match="not changeable"):
        await db.reports.transition(report_id, actor=officer, action="x", changes={"code": "AAAA"})


async def test_audit_log_refuses_rewrites(sqlite_db: Repository, tmp_path: Path) -> None:
    report_id = await _report(sqlite_db)
    await sqlite_db.close()
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET note = 'changed' WHERE report_id = ?", (report_id,))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE report_id = ?", (report_id,))
    finally:
        conn.close()


async def test_pending_reports_cover_the_units_below(db: Repository) -> None:
    first = await _report(db, 42)
    second = await _report(db, 43)
    await db.reports.transition(
        second, actor=Actor("system"), action="x", changes={"deadline_at": 10.0}
    )
    await db.reports.transition(
        first, actor=Actor("system"), action="x", changes={"deadline_at": 20.0}
    )
    assert [r.id for r in await db.reports.pending_reports(["QN"])] == [second, first]
    assert [r.id for r in await db.reports.pending_reports(["DT"])] == []
    assert await db.units.ancestors("HL") == ["HL", "QN"]


async def test_relay_is_stored_once_per_source_message(db: Repository) -> None:
    report_id = await _report(db)
    args = {
        "direction": "to_unit",
        "kind": "text",
        "text": "Có biên lai.",
        "source_chat_id": 42,
        "source_message_id": 9,
        "actor": Actor("citizen"),
        "outgoing": Outgoing(AnswerPayload(), "HL"),
    }
    assert await db.links.add_relay(report_id, **args) is not None
    assert await db.links.add_relay(report_id, **args) is None  # a replayed update
    assert len(await db.links.relays_of(report_id)) == 1


async def test_officers_struck_from_the_config_lose_their_rights(db: Repository) -> None:
    assert await db.units.officer_units(7) == {"QN"}
    await db.units.add_officer("QN", 8)  # added in chat: the config does not take it away
    await db.units.seed_units([UnitConfig("QN", "UBND tỉnh Quảng Ninh", None, -100, ())])
    assert await db.units.officer_units(7) == set()
    assert await db.units.officer_units(8) == {"QN"}

"""The store's writes of one statement and its combined reads, on SQLite and PostgreSQL.

A write of one statement runs without BEGIN and COMMIT (`Database.write_one`), committed and on
disk when it returns; reads that went together are one query. Both save calls into SQLite's
thread (docs/performance.md, "Hand-offs to SQLite per step"); these tests hold what they return
and what they leave on disk to what the separate statements did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.domain import Attachment, Draft, ReportFields
from bot.store.database import StorageError
from bot.store.repository import Repository
from tests.handoffs import HandoffCounter
from tests.test_storage import UNITS, FakeClock

pytestmark = pytest.mark.both_backends


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Repository]:
    repo = Repository(tmp_path / "t.db", clock=FakeClock(), url=database_url)
    async with repo:
        await repo.units.seed_units(UNITS)
        yield repo


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Repository]:
    repo = Repository(tmp_path / "t.db", clock=FakeClock())
    async with repo:
        yield repo


def _photo(message_id: int) -> Attachment:
    return Attachment("photo", f"F{message_id}", f"U{message_id}", 1000, 42, message_id)


async def test_a_user_is_read_with_their_ban_in_one_query(db: Repository) -> None:
    # Unknown: created, in the language given, without consent, not banned.
    assert await db.users.get_or_create_with_ban(42, "vi") == ("vi", False, None)
    assert await db.users.get_or_create_user(42, "en") == ("vi", False)
    await db.users.set_consent(42, "vi")
    assert await db.users.get_or_create_with_ban(42, "en") == ("vi", True, None)
    # Banned, not told yet; then told: as AdminStore.ban_state says.
    assert await db.admin.ban(42, "spam", 7)
    assert await db.users.get_or_create_with_ban(42, "en") == ("vi", True, False)
    await db.admin.ban_notified(42)
    assert await db.admin.ban_state(42) is True
    assert await db.users.get_or_create_with_ban(42, "en") == ("vi", True, True)
    # A ban kept for someone without a user row: the row is created, the ban still shows.
    assert await db.admin.ban(43, None, 7)
    assert await db.users.get_or_create_with_ban(43, "en") == ("en", False, False)
    assert await db.users.user_locale(43) == "en"


async def test_a_draft_is_read_with_its_count_of_files(db: Repository) -> None:
    assert await db.drafts.get_draft_and_files(42) == (None, 0)
    draft = Draft(user_id=42, chat_id=42, step=11, fields=ReportFields(category="bribe"))
    await db.drafts.save_draft(draft)
    assert await db.drafts.get_draft_and_files(42) == (draft, 0)
    await db.drafts.add_draft_attachment(42, _photo(1))
    await db.drafts.add_draft_attachment(42, _photo(2))
    # The same message again (a replayed update) is the same file.
    await db.drafts.add_draft_attachment(42, _photo(2))
    assert await db.drafts.get_draft_and_files(42) == (draft, 2)
    assert await db.drafts.get_draft_and_files(43) == (None, 0)
    await db.drafts.clear_draft_attachments(42)
    assert await db.drafts.get_draft_and_files(42) == (draft, 0)


async def test_a_write_of_one_statement_returns_the_rows_it_changed(db: Repository) -> None:
    assert await db.units.set_unit_chat_state("HL", "unset")
    assert not await db.units.set_unit_chat_state("HL", "unset")
    assert (await db.units.get_unit("HL")).chat_state == "unset"  # type: ignore[union-attr]
    # A refused statement changes nothing and is reported as it was inside a transaction.
    with pytest.raises(sqlite3.IntegrityError):
        await db.database.write_one(
            "INSERT INTO units (code, name, parent, created_at) VALUES (?, ?, ?, ?)",
            ("HL", "again", None, 0.0),
        )
    assert (await db.units.get_unit("HL")).name == "UBND phường Hạ Long"  # type: ignore[union-attr]


async def test_a_write_of_one_statement_is_on_disk_when_it_returns(
    sqlite_db: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = HandoffCounter()
    counter.install(monkeypatch)
    draft = Draft(user_id=42, chat_id=42, step=3, fields=ReportFields(category="bribe"))
    await sqlite_db.drafts.save_draft(draft)
    # One call into SQLite's thread, where BEGIN, the statement and COMMIT were three.
    assert counter.take("other") == 1
    # Committed: another connection sees it while the bot's is still open, and nothing is
    # left open on the bot's.
    with sqlite3.connect(tmp_path / "t.db") as other:
        assert other.execute("SELECT step FROM drafts WHERE user_id = 42").fetchall() == [(3,)]
    async with sqlite_db._read() as conn:
        assert not conn.in_transaction  # type: ignore[attr-defined]
        sync = await conn.execute_fetchall("PRAGMA synchronous")
    assert next(iter(sync))[0] == 2  # FULL


async def test_a_write_that_may_be_lost_is_one_call_and_leaves_full_behind(
    sqlite_db: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite_db
    await db.inbound.store_updates([(41, '{"update_id": 41}'), (42, '{"update_id": 42}')])
    counter = HandoffCounter()
    counter.install(monkeypatch)
    await db.inbound.update_handled(41)
    # The two PRAGMAs around the deletion go with it: one call, where five were.
    assert counter.take("other") == 1
    assert [uid for uid, _payload in await db.inbound.unhandled_updates()] == [42]
    with sqlite3.connect(tmp_path / "t.db") as other:
        assert other.execute("SELECT update_id FROM inbound").fetchall() == [(42,)]
    # A statement that fails in the script still leaves every later commit FULL.
    with pytest.raises(StorageError):
        await db.database.write_one("DELETE FROM nowhere WHERE id = ?", (1,), durable=False)
    async with db._read() as conn:
        sync = await conn.execute_fetchall("PRAGMA synchronous")
    assert next(iter(sync))[0] == 2


async def test_only_integers_are_written_into_a_script(sqlite_db: Repository) -> None:
    write = sqlite_db.database.write_one
    with pytest.raises(TypeError):
        await write("DELETE FROM inbound WHERE payload = ?", ("x",), durable=False)
    with pytest.raises(TypeError):
        await write("DELETE FROM inbound WHERE update_id = ?", (True,), durable=False)
    with pytest.raises(ValueError, match="not a statement for a script"):
        await write(
            "DELETE FROM inbound WHERE payload = 'a' AND update_id = ?", (1,), durable=False
        )
    with pytest.raises(ValueError, match="not a statement for a script"):
        await write(
            "DELETE FROM inbound WHERE update_id = ?; DELETE FROM drafts", (1,), durable=False
        )
    with pytest.raises(ValueError, match="not a statement for a script"):
        await write("DELETE FROM inbound WHERE update_id = ?", (1, 2), durable=False)

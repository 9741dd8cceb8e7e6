"""The daily limit on new reports holds across /forget, while its counts name nobody."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest

from bot.core.domain import Draft, ReportFields
from bot.jobs import apply_retention
from bot.sealing import limit_key_path
from bot.store.repository import Repository, StorageError
from tests.conftest import ALERT, World

CITIZEN = 771234567


async def seed(db: Repository, user_id: int, n: int) -> None:
    """Store `n` reports as if the citizen had sent them, through the submit transaction."""
    for i in range(n):
        fields = ReportFields(
            category="delay",
            unit_code="HL",
            description=f"Hồ sơ đất đai thứ {i} bị trễ hẹn nhiều lần.",
            anonymous=True,
        )
        await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
        assert await db.reports.submit_draft(user_id, "vi", outbox=ALERT) is not None


async def counts(db: Repository) -> list[tuple[str, float]]:
    async with db.database.read() as conn:
        rows = await conn.execute_fetchall("SELECT sender, sent_at FROM sent_reports")
    return [(r["sender"], r["sent_at"]) for r in rows]


async def test_forget_does_not_reset_the_daily_limit(world: World) -> None:
    await seed(world.db, CITIZEN, world.settings.reports_per_day)
    citizen = world.person(CITIZEN, "Lan")
    await citizen.say("/start", expect="đồng ý")
    await citizen.press("Tôi đồng ý", expect="24 giờ")

    asked = await citizen.say("/forget", expect="xoá dữ liệu cá nhân")
    assert "24 giờ" in asked["text"]
    await citizen.press("Có, xoá dữ liệu", expect="đã được xoá")
    assert await world.db.reports.reports_of(CITIZEN) == []
    # A new user to the bot, but not to the limit.
    await citizen.say("/start", expect="đồng ý")
    await citizen.press("Tôi đồng ý", expect="24 giờ")
    await citizen.say("/report", expect="24 giờ")

    # What the limit keeps names nobody: a keyed hash, never the account id.
    rows = await counts(world.db)
    assert len(rows) == world.settings.reports_per_day
    key = bytes.fromhex(limit_key_path(world.db.path).read_text().strip())
    expected = hmac.new(key, str(CITIZEN).encode(), hashlib.sha256).hexdigest()
    assert {sender for sender, _at in rows} == {expected}
    assert all(re.fullmatch(r"[0-9a-f]{64}", sender) for sender, _at in rows)
    assert not any(str(CITIZEN) in f"{sender} {at}" for sender, at in rows)

    # A day later the limit allows reports again, and retention deletes the counts.
    world.clock.advance(hours=24, days=0.01)
    await citizen.say("/report", expect="Chọn loại")
    assert (await apply_retention(world.db, world.settings))["limit_counts"] == 5
    assert await counts(world.db) == []


async def test_the_limit_key_is_made_once_beside_the_database_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with Repository(path) as db:
        first = db.database.pseudonym(CITIZEN)
        assert first != db.database.pseudonym(CITIZEN + 1)
    key = limit_key_path(path)
    assert key.name == "bot.db.limit-key" and key.stat().st_mode & 0o777 == 0o600
    async with Repository(path) as db:
        assert db.database.pseudonym(CITIZEN) == first
    # Another deployment, another key: the same account gets another hash.
    async with Repository(tmp_path / "other.db") as other:
        assert other.database.pseudonym(CITIZEN) != first
    # A loose mode is tightened, as for the database.
    key.chmod(0o644)
    async with Repository(path) as db:
        assert db.database.pseudonym(CITIZEN) == first
    assert key.stat().st_mode & 0o777 == 0o600
    # A damaged key is refused rather than silently replaced (a backup's may be going back).
    key.write_text("not a key\n")
    with pytest.raises(StorageError, match="limit-key"):
        await Repository(path).open()
    key.unlink()
    async with Repository(path) as db:
        assert db.database.pseudonym(CITIZEN) != first

"""The public board's figures, counted in SQL on both databases, pinned report by report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import UnitConfig
from bot.core.domain import VN_TZ, Actor, Draft, ReportFields
from bot.store.repository import Repository
from tests.conftest import ALERT

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ).timestamp()
DAY = 86400.0
HOUR = 3600.0
OFFICER = Actor("officer", 7, "Quang")
UNITS = (
    UnitConfig("QN", "UBND tỉnh Quảng Ninh", None, -100),
    UnitConfig("HL", "UBND phường Hạ Long", "QN", -200),
    UnitConfig("DT", "UBND phường Đông Triều", "QN", None),
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW - 40 * DAY

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Repository]:
    repo = Repository(tmp_path / "t.db", clock=Clock(), url=database_url)
    async with repo:
        await repo.units.seed_units(UNITS)
        yield repo


async def submit(db: Repository, user_id: int, unit: str = "HL") -> int:
    fields = ReportFields(
        category="delay",
        unit_code=unit,
        description="Hồ sơ đất đai bị trễ hẹn, cán bộ không giải thích.",
        official="Ông Nguyễn Văn Hùng",
        anonymous=True,
    )
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    report = await db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return report.id


async def step(db: Repository, report_id: int, action: str, **changes: Any) -> None:
    to = {"acknowledged": "acknowledged", "resolved": "resolved"}.get(action)
    done = await db.reports.transition(
        report_id, actor=OFFICER, action=action, to=to, changes=changes
    )
    assert done is not None


def at(db: Repository, moment: float) -> None:
    clock = db.clock
    assert isinstance(clock, Clock)
    clock.now = moment


@pytest.mark.both_backends
async def test_figures_per_unit_and_period(db: Repository) -> None:
    # 40 days ago: inside the 90-day period, outside the 30-day one.
    await submit(db, 40)
    start = NOW - 5 * DAY
    at(db, start)
    # On time throughout: acknowledged after 3 hours, resolved 2 days later.
    prompt = await submit(db, 41)
    # Escalated before anyone acknowledged it, and still open past its deadline.
    late = await submit(db, 42)
    await step(db, late, "x", deadline_at=NOW - DAY)
    # Acknowledged in time, then escalated, then resolved: resolved late.
    slow = await submit(db, 43)
    spam = await submit(db, 44)
    # Another unit with a single report: below the minimum of two.
    await submit(db, 45, unit="DT")
    assert await db.admin.set_spam(spam, True)

    at(db, start + 3 * HOUR)
    await step(db, prompt, "acknowledged", acknowledged_at=start + 3 * HOUR)
    at(db, start + DAY)
    await step(db, late, "escalated")
    await step(db, slow, "acknowledged", acknowledged_at=start + DAY)
    at(db, start + 1.5 * DAY)
    await step(db, late, "acknowledged", acknowledged_at=start + 1.5 * DAY)
    at(db, start + 2 * DAY + 3 * HOUR)
    await step(db, prompt, "resolved", closed_at=start + 2 * DAY + 3 * HOUR)
    at(db, start + 3 * DAY)
    await step(db, slow, "escalated")
    at(db, start + 4 * DAY)
    await step(db, slow, "resolved", closed_at=start + 4 * DAY)
    at(db, NOW)

    [row] = await db.board.unit_figures(NOW - 30 * DAY, NOW, 2)
    assert (row.unit_code, row.unit_name) == ("HL", "UBND phường Hạ Long")
    # The spam report and the one before the period are not counted.
    assert row.received == 3
    assert row.acknowledged_on_time == 2  # prompt and slow; late was escalated first
    assert row.resolved_on_time == 1  # prompt; slow was escalated after acknowledgement
    assert row.overdue == 1  # late
    # Days from creation: acknowledged after 0.125, 1.0 and 1.5; resolved after 2.125 and 4.
    assert row.median_ack_days == pytest.approx(1.0)
    assert row.median_resolve_days == pytest.approx((2.125 + 4.0) / 2)

    # The minimum counts reports of the period only: at three HL is listed, at four it is not.
    assert [r.unit_code for r in await db.board.unit_figures(NOW - 30 * DAY, NOW, 3)] == ["HL"]
    assert await db.board.unit_figures(NOW - 30 * DAY, NOW, 4) == []
    # Over 90 days the older report counts too, and at a minimum of one so does Đông Triều.
    wide = {r.unit_code: r for r in await db.board.unit_figures(NOW - 90 * DAY, NOW, 1)}
    assert set(wide) == {"HL", "DT"}
    assert wide["HL"].received == 4 and wide["DT"].received == 1
    assert wide["DT"].median_ack_days is None and wide["DT"].median_resolve_days is None

"""The pattern search runs after a report is stored, from the outbox: never in its way, never
skipped."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.domain import Draft, Report, ReportFields
from bot.core.outbox import OutboxKind
from bot.telegram.delivery import MAX_ATTEMPTS
from tests.conftest import HA_LONG_CHAT, PROVINCE_CHAT, World, eventually

DESCRIPTION = "Cán bộ yêu cầu nộp thêm tiền mới nhận hồ sơ đất đai."


async def _submit(world: World, user_id: int, official: str) -> Report:
    """Store a report naming `official` at Hạ Long through the workflow."""
    fields = ReportFields(
        category="conduct",
        unit_code="HL",
        description=DESCRIPTION,
        anonymous=True,
        official=official,
        official_head="no",
    )
    await world.db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    report = await world.app.bot_data["services"].workflow.submit(user_id, "vi")
    assert report is not None
    return report


def code_of(report: Report) -> str:
    return f"{report.code[:4]}-{report.code[4:]}"


def chat_text(world: World, chat_id: int) -> str:
    return "\n".join(m.get("text") or "" for m in world.sim.messages(chat_id))


async def _checks(world: World) -> list[dict[str, Any]]:
    """Return the pattern checks in the outbox, oldest first."""
    async with world.db._read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT report_id, status, attempts, last_error FROM outbox WHERE kind = ?"
            " ORDER BY id",
            (OutboxKind.PATTERN_CHECK.value,),
        )
    return [dict(r) for r in rows]


async def _escalations(world: World, report: Report) -> int:
    entries = await world.db.reports.audit_of(report.id)
    return [e.action for e in entries].count("pattern_escalated")


async def test_a_failing_search_neither_loses_nor_holds_up_a_report(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = world.app.bot_data["services"].delivery
    # The background loop is stopped: rounds of delivery are run by the test, one at a time.
    await delivery.stop()
    integrity = world.db.integrity
    real_search = integrity.named_reports

    async def broken(*args: Any, **kwargs: Any) -> list[Report]:
        raise RuntimeError("pattern search broken")

    monkeypatch.setattr(integrity, "named_reports", broken)
    reports = [
        await _submit(world, 770001 + n, name)
        for n, name in enumerate(["Nguyễn Văn Hùng", "nguyen van hung", "Ông Nguyễn Văn Hùng"])
    ]
    for report in reports:
        assert await world.db.reports.get_report(report.id) is not None
    await delivery.deliver_due()
    # Every report is stored and its alert delivered, although every search failed.
    for report in reports:
        await world.sim.wait_for_message(HA_LONG_CHAT, contains=code_of(report))
    checks = await _checks(world)
    assert [c["report_id"] for c in checks] == [r.id for r in reports]
    assert all(c["status"] == "pending" and "broken" in c["last_error"] for c in checks)
    assert code_of(reports[2]) not in chat_text(world, PROVINCE_CHAT)

    # Failing far more often than a message to a person is tried, the check is still owed.
    for _round in range(MAX_ATTEMPTS + 2):
        world.clock.advance(hours=1)
        await delivery.deliver_due()
    assert all(c["status"] == "pending" for c in await _checks(world))

    # Once the search works again, the checks run and the third report escalates the pattern.
    monkeypatch.setattr(integrity, "named_reports", real_search)
    world.clock.advance(hours=1)
    await delivery.deliver_due()
    copy = await world.sim.wait_for_message(PROVINCE_CHAT, contains=code_of(reports[2]))
    assert code_of(reports[0]) in copy["text"] and code_of(reports[1]) in copy["text"]
    assert [c["status"] for c in await _checks(world)] == ["sent"] * 3
    assert await _escalations(world, reports[2]) == 1


async def test_a_check_owed_at_a_stop_runs_at_the_next_start(world: World) -> None:
    services = world.app.bot_data["services"]
    # Stopped as by a crash right after the commit: the checks are owed, in the database.
    await services.delivery.stop()
    reports = [
        await _submit(world, 771001 + n, name)
        for n, name in enumerate(["Trần Thị Mai", "tran thi mai", "Chị Trần Thị Mai, tổ 2"])
    ]
    assert [c["status"] for c in await _checks(world)] == ["pending"] * 3
    assert await _escalations(world, reports[2]) == 0
    services.delivery.start()
    services.delivery.wake()
    copy = await world.sim.wait_for_message(PROVINCE_CHAT, contains=code_of(reports[2]))
    assert "3" in copy["text"]
    await eventually(lambda: _all_sent(world))
    assert await _escalations(world, reports[2]) == 1


async def _all_sent(world: World) -> bool:
    return all(c["status"] == "sent" for c in await _checks(world))


async def test_a_report_naming_nobody_owes_no_check(world: World) -> None:
    await world.db.drafts.save_draft(
        Draft(
            772001,
            772001,
            14,
            ReportFields(
                category="conduct", unit_code="HL", description=DESCRIPTION, anonymous=True
            ),
        )
    )
    services = world.app.bot_data["services"]
    report = await services.workflow.submit(772001, "vi")
    assert report is not None
    services.delivery.wake()
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code_of(report))
    assert await _checks(world) == []

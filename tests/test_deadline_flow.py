"""Deadlines: a reminder the day before, escalation one level up when missed, across restarts.

The bot's clock is moved by the tests; nothing sleeps for a deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from bot.app import build_application, running
from bot.core.domain import VN_TZ
from bot.sim import BotApiSimulator
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    PROVINCE_CHAT,
    FakeClock,
    Person,
    World,
    eventually,
    make_settings,
    quick_report,
)


def vn(day: int, month: int = 12, hour: int = 0, minute: int = 0) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ).timestamp()


def containing(sim: BotApiSimulator, chat_id: int, *fragments: str) -> list[dict[str, object]]:
    return [
        m for m in sim.messages(chat_id) if all(f in str(m.get("text") or "") for f in fragments)
    ]


async def run_timers(world: World) -> None:
    await world.app.bot_data["services"].workflow.run_timers()
    world.app.bot_data["services"].delivery.wake()


async def test_reminder_then_escalation_up_the_tree(world: World) -> None:
    sim = world.sim
    citizen = world.person(730001, "Minh")
    code = await quick_report(citizen)  # Monday 30 Nov, 09:00: acknowledge by Thu 3 Dec
    await sim.wait_for_message(HA_LONG_CHAT, contains=code)

    world.clock.set(vn(2, hour=23))  # Wednesday night: not yet a day before the deadline
    await run_timers(world)
    assert containing(sim, HA_LONG_CHAT, "Nhắc việc", code) == []

    world.clock.set(vn(3, hour=0, minute=30))  # Thursday: the last day
    await run_timers(world)
    await run_timers(world)
    reminder = await sim.wait_for_message(HA_LONG_CHAT, contains="Nhắc việc")
    assert code in str(reminder["text"]) and "03/12/2026" in str(reminder["text"])
    assert reminder.get("reply_to_message"), "the reminder answers the alert it is about"

    world.clock.set(vn(4, hour=0, minute=5))  # Friday: missed
    await run_timers(world)
    overdue = await sim.wait_for_message(PROVINCE_CHAT, contains=code)
    assert "Quá hạn tại UBND phường Hạ Long" in str(overdue["text"])
    assert "✅ Tiếp nhận" in [b for b, _d in overdue.get("buttons") or []]
    told = await sim.wait_for_message(citizen.id, contains="chuyển lên UBND tỉnh Quảng Ninh")
    assert code in str(told["text"])
    await eventually(lambda: "QUÁ HẠN" in str(sim.messages(HA_LONG_CHAT)[0].get("text")))

    # The province also lets it slip for three working days: the administrators get it.
    world.clock.set(vn(10, hour=0, minute=5))  # Fri 4 Dec + 3 working days: Wed 9 Dec
    await run_timers(world)
    admin_copy = await sim.wait_for_message(ADMIN_ID, contains=code)
    assert "quản trị viên" in str(admin_copy["text"])
    await sim.wait_for_message(citizen.id, contains="quản trị viên hệ thống")

    # Nothing is sent twice, however often the clock is checked.
    world.clock.advance(days=30)
    await run_timers(world)
    await run_timers(world)
    await eventually(lambda: len(containing(sim, ADMIN_ID, code)) == 1)
    assert len(containing(sim, HA_LONG_CHAT, "Nhắc việc", code)) == 1
    assert len(containing(sim, PROVINCE_CHAT, code)) == 1
    assert len([m for m in citizen.messages if "chuyển lên" in str(m.get("text"))]) == 1
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    actions = [e.action for e in await world.db.reports.audit_of(report.id)]
    assert actions == ["submitted", "reminded", "escalated", "escalated"]


async def test_acting_in_time_stops_the_escalation(world: World) -> None:
    citizen = world.person(730002, "Nga")
    code = await quick_report(citizen)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    officer = world.sim.add_user(900102, "Hùng")
    await officer.press_button(alert, "Tiếp nhận")
    await world.sim.wait_for_message(citizen.id, contains="Hạn giải quyết")
    world.clock.set(vn(5))  # past the acknowledgement deadline, far from the resolution one
    await run_timers(world)
    await run_timers(world)
    assert containing(world.sim, PROVINCE_CHAT, code) == []
    assert containing(world.sim, HA_LONG_CHAT, "Nhắc việc") == []


@asynccontextmanager
async def bot_at(sim: BotApiSimulator, tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    app = build_application(make_settings(sim, tmp_path), clock=clock)
    async with running(app):
        yield World(sim, app, make_settings(sim, tmp_path), clock)


async def test_timers_survive_restarts_without_loss_or_repeat(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    clock = FakeClock()
    async with bot_at(sim, tmp_path, clock) as world:
        citizen = Person(sim, sim.add_user(730003, "Oanh"))
        code = await quick_report(citizen)
        await sim.wait_for_message(HA_LONG_CHAT, contains=code)

    # The reminder falls due while Telegram makes the bot wait; the bot is then stopped.
    clock.set(vn(3, hour=1))
    sim.inject("sendMessage", status=429, retry_after=600, chat_id=HA_LONG_CHAT)
    async with bot_at(sim, tmp_path, clock) as world:
        await run_timers(world)
        await eventually(lambda: sim.count("sendMessage", HA_LONG_CHAT) == 2)
        assert (await world.db.outbox.stats()).get("pending", 0) == 1
    assert containing(sim, HA_LONG_CHAT, "Nhắc việc") == []

    # Next start, after the wait: the owed reminder goes out once, and checking the clock
    # again does not repeat it.
    clock.advance(hours=1)
    async with bot_at(sim, tmp_path, clock) as world:
        await sim.wait_for_message(HA_LONG_CHAT, contains="Nhắc việc", timeout=10)
        await run_timers(world)
    async with bot_at(sim, tmp_path, clock) as world:
        await run_timers(world)
        clock.set(vn(4, hour=2))
        await run_timers(world)
        await sim.wait_for_message(PROVINCE_CHAT, contains=code)
    async with bot_at(sim, tmp_path, clock) as world:
        await run_timers(world)
        db = world.db

        async def settled() -> bool:
            return (await db.outbox.stats()).get("pending", 0) == 0

        await eventually(settled)
    assert len(containing(sim, HA_LONG_CHAT, "Nhắc việc", code)) == 1
    assert len(containing(sim, PROVINCE_CHAT, code)) == 1


async def test_the_level_above_asks_and_gets_the_answer(world: World) -> None:
    sim = world.sim
    citizen = world.person(730004, "Phúc")
    code = await quick_report(citizen)
    await sim.wait_for_message(HA_LONG_CHAT, contains=code)
    world.clock.set(vn(4, hour=1))
    await run_timers(world)
    overdue = await sim.wait_for_message(PROVINCE_CHAT, contains=code)
    province = sim.add_user(900101, "Quang")
    sim.chat(PROVINCE_CHAT).add_member(province)
    await province.send("Vì sao chưa được tiếp nhận?", chat_id=PROVINCE_CHAT, reply_to=overdue)
    question = await sim.wait_for_message(citizen.id, contains="Vì sao chưa được tiếp nhận?")
    assert "UBND tỉnh Quảng Ninh" in str(question["text"]) and "Quang" not in str(question)
    mark = len(sim.messages(PROVINCE_CHAT))
    await citizen.user.send("Tôi đã chờ ba ngày.", reply_to=question)
    await sim.wait_for_message(PROVINCE_CHAT, contains="Tôi đã chờ ba ngày.", after=mark)
    assert containing(sim, HA_LONG_CHAT, "Tôi đã chờ ba ngày.") == []

"""One person cannot hold up everyone: chats are handled side by side, each in order.

A citizen flooding the bot, or an outsider hammering /start in a group of their own, delays only
themselves; someone sending too fast is told once and not read for a minute; a group no unit
uses hears at most one word from the bot. Within one chat, updates keep their order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build_application, running
from bot.sim import BotApiSimulator
from bot.store.repository import Repository
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    FakeClock,
    World,
    eventually,
    make_settings,
    member,
    press_data,
    quick_report,
)
from tests.test_bad_input import NOT_ACTIVE, settled
from tests.test_poison import raw_message

HELP = "/myreports"  # a line of the answer to /help
TOO_FAST = "Bạn đang gửi tin nhắn quá nhanh"
NOT_FOUND = "Không tìm thấy phản ánh nào có mã"
FOREIGN_GROUP = -1001000000555


def code_asked(text: str) -> str:
    """The code a "not found" answer repeats."""
    found = re.search(r"mã (\S+)", text)
    assert found, text
    return found.group(1)


async def drained(world: World) -> None:
    """Wait until Telegram holds nothing for the bot and every stored update is handled."""
    await eventually(lambda: world.sim.pending_updates == [], wait=10)
    await settled(world)


@pytest.fixture
async def roomy(sim: BotApiSimulator, tmp_path: Path) -> AsyncIterator[World]:
    """The bot with a flood limit no test sender reaches: for tests about order alone."""
    settings = dataclasses.replace(make_settings(sim, tmp_path), flood_messages=1000)
    clock = FakeClock()
    app = build_application(settings, clock=clock)
    async with running(app):
        yield World(sim, app, settings, clock)


async def test_order_within_a_chat_holds_while_other_chats_talk(roomy: World) -> None:
    sim = roomy.sim
    lan = sim.add_user(734001, "Lan")
    others = [sim.add_user(734010 + n, f"Khách {n}") for n in range(6)]
    codes = [f"A{n:02d}" for n in range(30)]
    for n, code in enumerate(codes):
        await lan.send(f"/status {code}")
        await others[n % len(others)].send("/help")
    await eventually(lambda: len(sim.messages(lan.id)) == len(codes), wait=15)
    said = [m["text"] for m in sim.messages(lan.id)]
    assert [code_asked(text) for text in said] == codes, said
    assert all(NOT_FOUND in text for text in said)
    await eventually(lambda: all(len(sim.messages(o.id)) == 5 for o in others))


async def test_a_flooder_and_a_foreign_group_do_not_hold_up_a_citizen(world: World) -> None:
    sim = world.sim
    flooder = sim.add_user(734101, "Tràn")
    outsider = sim.add_user(734102, "Người Ngoài")
    bystander = sim.add_user(734103, "Hiền")
    # The outsider adds the bot to their own group and sends /start there 40 times.
    sim.add_chat(FOREIGN_GROUP, "Nhóm riêng", bot_status="left").add_member(outsider, "creator")
    await sim.add_bot_to_chat(FOREIGN_GROUP, outsider.id)
    for _ in range(40):
        await outsider.send("/start", chat_id=FOREIGN_GROUP)
    for n in range(500):
        await flooder.send(f"Tin nhắn số {n}")
    began = time.monotonic()
    await bystander.send("/help")
    await sim.wait_for_message(bystander.id, contains=HELP, timeout=2)
    assert time.monotonic() - began < 2

    # The flooder was read up to the limit, told once, and the rest dropped unread.
    await drained(world)
    flooded = [m["text"] for m in sim.messages(flooder.id)]
    assert sum(TOO_FAST in text for text in flooded) == 1
    assert len(flooded) <= 21
    # The foreign group heard nothing, and the bot left it.
    assert sim.messages(FOREIGN_GROUP) == []
    assert sim.count("leaveChat", FOREIGN_GROUP) == 1


async def test_too_fast_is_said_once_and_officers_pressing_buttons_are_not_limited(
    world: World,
) -> None:
    sim = world.sim
    code = await quick_report(world.person(734201, "Lan"))
    alert = await sim.wait_for_message(HA_LONG_CHAT, contains=code)
    officer = member(world, 900102, "Hùng")
    # An officer going fast through 30 presses: every one is answered.
    answers = await asyncio.gather(
        *[press_data(world, officer, alert, f"zz:{n}") for n in range(30)]
    )
    assert answers == [NOT_ACTIVE] * 30
    # A citizen sending 30 messages at once: the first 20 are read, then one notice.
    hasty = sim.add_user(734202, "Vội")
    for n in range(30):
        await hasty.send(f"/status X{n:02d}")
    await drained(world)
    await eventually(lambda: any(TOO_FAST in m["text"] for m in sim.messages(hasty.id)))
    said = [m["text"] for m in sim.messages(hasty.id)]
    assert sum(TOO_FAST in text for text in said) == 1
    assert [code_asked(t) for t in said if NOT_FOUND in t] == [f"X{n:02d}" for n in range(20)]


async def test_an_unbound_group_hears_once_how_to_bind_it_and_nothing_more(
    world: World,
) -> None:
    sim = world.sim
    admin = sim.user(ADMIN_ID)
    group = -1001000000556
    sim.add_chat(group, "Tổ công tác mới").add_member(admin, "administrator")
    stranger = member(world, 734301, "Khách", group)
    for _ in range(3):
        await admin.send("/start", chat_id=group)
        await stranger.send("/start", chat_id=group)
    await drained(world)
    said = [m["text"] for m in sim.messages(group)]
    assert len(said) == 1 and "/bind MÃ" in said[0], said
    assert sim.count("leaveChat", group) == 0
    # The admin binds it there; from then on it is a unit's chat like any other.
    await admin.send('/unit_add TCT "Tổ công tác"')
    await sim.wait_for_message(ADMIN_ID, contains="TCT")
    await admin.send("/bind TCT", chat_id=group)
    await sim.wait_for_message(group, contains="Tổ công tác")
    unit = await world.db.units.get_unit("TCT")
    assert unit is not None and unit.chat_id == group
    # Remembered in the database, so that a restart does not say it again.
    assert await world.db.chats.chat_note(group) == "told"


async def test_a_restart_replays_what_was_stored_in_order_per_chat(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    settings = make_settings(sim, tmp_path)
    lan, others = (
        sim.add_user(734401, "Lan"),
        [sim.add_user(734410 + n, "Khách") for n in range(3)],
    )
    codes = [f"B{n:02d}" for n in range(12)]
    stored = []
    # What a run stored, confirmed to Telegram and died before handling: its ids are not even
    # in order, as after a week without updates.
    for n, code in enumerate(codes):
        stored.append(raw_message(5_000 - n, lan.id, "Lan", f"/status {code}"))
        stored.append(raw_message(9_000 + n, others[n % 3].id, "Khách", "/help"))
    async with Repository(settings.database) as db:
        await db.inbound.store_updates([(u["update_id"], json.dumps(u)) for u in stored])
    app = build_application(settings, clock=FakeClock())
    async with running(app):
        await eventually(lambda: len(sim.messages(lan.id)) == len(codes), wait=10)
        assert [code_asked(m["text"]) for m in sim.messages(lan.id)] == codes
        await eventually(lambda: all(len(sim.messages(o.id)) == 4 for o in others))

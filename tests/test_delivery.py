"""Alert delivery through the outbox: retries, migration, a removed bot."""

from __future__ import annotations

from typing import Any

import pytest

from bot.store.repository import Repository, StorageError
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    World,
    code_in,
    eventually,
    quick_report,
    walk_to_review,
)


def alerts_with(world: World, chat_id: int, code: str) -> list[dict[str, object]]:
    return [m for m in world.sim.messages(chat_id) if code in str(m.get("text") or "")]


async def nothing_pending(db: Repository) -> bool:
    return (await db.outbox.stats()).get("pending", 0) == 0


async def only_the_alert_pending(db: Repository) -> bool:
    """Tell whether the held alert alone is still owed.

    The code and the admins' notice are sent meanwhile; each shows on the simulated Telegram a
    moment before the bot records it as sent, so this is waited for, not read once.
    """
    async with db._read() as conn:
        rows = await conn.execute_fetchall("SELECT kind FROM outbox WHERE status = 'pending'")
    return [r["kind"] for r in rows] == ["alert"]


async def test_alert_delivered_once_after_429_and_500(world: World) -> None:
    sim = world.sim
    sim.inject("sendMessage", status=429, retry_after=1, chat_id=HA_LONG_CHAT)
    sim.inject(
        "sendMessage", status=500, description="Internal Server Error", chat_id=HA_LONG_CHAT
    )
    code = await quick_report(world.person(710001, "Hà"))
    await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
    await eventually(lambda: nothing_pending(world.db))
    assert len(alerts_with(world, HA_LONG_CHAT, code)) == 1
    failed = [
        c
        for c in sim.calls
        if c[0] == "sendMessage" and str(c[1].get("chat_id")) == str(HA_LONG_CHAT)
    ]
    assert len(failed) == 3  # 429, 500, then the one that landed


async def test_group_upgraded_to_supergroup_follows_the_new_id(world: World) -> None:
    sim = world.sim
    new_id = -1009999999002
    await sim.migrate_chat(HA_LONG_CHAT, new_id)
    code = await quick_report(world.person(710002, "Hoa"))
    await sim.wait_for_message(new_id, contains=code, timeout=10)
    unit = await world.db.units.get_unit("HL")
    assert unit is not None and unit.chat_id == new_id and unit.chat_state == "ok"
    assert alerts_with(world, HA_LONG_CHAT, code) == []


async def test_removed_bot_holds_alert_and_tells_admins(world: World) -> None:
    sim = world.sim
    await sim.kick_bot(HA_LONG_CHAT)
    code = await quick_report(world.person(710003, "Huy"))
    notice = await sim.wait_for_message(ADMIN_ID, contains="UBND phường Hạ Long", timeout=10)
    assert code not in notice["text"]
    unit = await world.db.units.get_unit("HL")
    assert unit is not None and unit.chat_state == "broken"
    # Kept, not lost: still owed to the unit.
    await eventually(lambda: only_the_alert_pending(world.db))


async def test_unit_without_chat_holds_alert_and_tells_admins(world: World) -> None:
    sim = world.sim
    person = world.person(710004, "Khoa")
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")
    await person.press("Khác", expect="đơn vị")
    await person.browse("UBND tỉnh Quảng Ninh", until_button="UBND đặc khu Vân Đồn")
    await person.browse("UBND đặc khu Vân Đồn", until_button="✅ UBND đặc khu Vân Đồn")
    await person.press("✅ UBND đặc khu Vân Đồn", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")
    await person.say("Cán bộ uống rượu trong giờ làm việc tại trụ sở.", expect="bằng chứng")
    await person.press("Bỏ qua", expect="ẩn danh")
    await person.press("Ẩn danh", expect="kiểm tra")
    await person.press("Gửi phản ánh", expect="/status")
    await sim.wait_for_message(ADMIN_ID, contains="UBND đặc khu Vân Đồn", timeout=10)
    unit = await world.db.units.get_unit("VD")
    assert unit is not None and unit.chat_state == "unset"
    await eventually(lambda: only_the_alert_pending(world.db))


async def test_a_part_whose_answer_was_lost_is_sent_again_marked_resent(world: World) -> None:
    sim = world.sim
    # Telegram posts the alert, then the connection drops: the bot cannot know it arrived.
    sim.inject("sendMessage", status=200, chat_id=HA_LONG_CHAT, lose_answer=True)
    code = await quick_report(world.person(710005, "Lâm"))
    await eventually(lambda: len(alerts_with(world, HA_LONG_CHAT, code)) == 2, wait=15)
    await eventually(lambda: nothing_pending(world.db))
    first, second = (str(m["text"]) for m in alerts_with(world, HA_LONG_CHAT, code))
    assert "gửi lại" not in first
    assert second.startswith("🔁 (gửi lại)") and code in second
    assert len(alerts_with(world, HA_LONG_CHAT, code)) == 2


async def test_a_receipt_whose_answer_was_lost_is_sent_again_marked_resent(world: World) -> None:
    sim = world.sim
    person = world.person(710008, "Oanh")
    await walk_to_review(person, "Cán bộ quát tháo người dân khi được hỏi hồ sơ.")
    # The press is answered by an edit; the next message sent in the chat is the receipt, which
    # Telegram posts before the connection drops.
    sim.inject("sendMessage", status=200, chat_id=person.id, lose_answer=True)
    await person.press("Gửi phản ánh")

    def receipts() -> list[str]:
        return [str(m["text"]) for m in sim.messages(person.id) if "/status" in str(m["text"])]

    await eventually(lambda: len(receipts()) == 2, wait=15)
    await eventually(lambda: nothing_pending(world.db))
    first, second = receipts()
    code = code_in(first)
    assert "gửi lại" not in first
    assert second.startswith("🔁 (gửi lại)") and code in second
    assert len(receipts()) == 2


async def test_a_refused_part_is_not_marked_resent(world: World) -> None:
    world.sim.inject("sendMessage", status=429, retry_after=1, chat_id=HA_LONG_CHAT)
    code = await quick_report(world.person(710006, "Mai"))
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
    await eventually(lambda: nothing_pending(world.db))
    [alert] = alerts_with(world, HA_LONG_CHAT, code)
    assert "gửi lại" not in str(alert["text"])


async def test_a_busy_database_delays_the_record_but_never_resends(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = world.db.outbox
    real = outbox.part_sent
    refusals = []

    async def busy(item_id: int, parts_done: int, *args: Any, **kwargs: Any) -> None:
        # Another process holds the database for a while, just after Telegram took the alert.
        if len(refusals) < 3:
            refusals.append(item_id)
            raise StorageError("database is locked")
        await real(item_id, parts_done, *args, **kwargs)

    monkeypatch.setattr(outbox, "part_sent", busy)
    code = await quick_report(world.person(710007, "Nam"))
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
    await eventually(lambda: nothing_pending(world.db), wait=15)
    assert len(refusals) == 3
    [alert] = alerts_with(world, HA_LONG_CHAT, code)
    assert "gửi lại" not in str(alert["text"])

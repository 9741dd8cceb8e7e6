"""What the bad-input tests share: the texts people are told, and the walks to each step."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable
from typing import Any

from bot.core.domain import Draft, Report
from bot.core.parsing import normalize_code
from bot.sim import SimUser
from tests.conftest import (
    HA_LONG_CHAT,
    Person,
    World,
    eventually,
    quick_report,
)

OFFICER_HL = 900102
STRANGER = 900199
PLAIN_GROUP = -1001000000099

# What people are told, as written in locales/vi/LC_MESSAGES/messages.po.
NOT_SAVED = "Xin lỗi, hiện chưa lưu được câu trả lời của bạn. Vui lòng gửi lại sau giây lát"
WENT_WRONG = "Xin lỗi, đã có lỗi xảy ra"
UNAVAILABLE = "dịch vụ đang tạm thời gián đoạn"
NOT_ACTIVE = "Nút này không còn hiệu lực."
ANSWER_WITH_TEXT = "Vui lòng trả lời bằng tin nhắn văn bản."
SEND_EVIDENCE = "Vui lòng gửi ảnh, tài liệu, tin nhắn thoại hoặc video, hoặc bấm Xong."
ASK_UNIT = "Sự việc xảy ra ở đơn vị, cơ quan nào?"
ASK_DESCRIPTION = "Mô tả sự việc bằng lời của bạn"
ASK_EVIDENCE = "Bạn có bằng chứng không?"
ASK_CATEGORY = "Chọn loại hành vi vi phạm"
REVIEW = "Vui lòng kiểm tra lại phản ánh của bạn"
TOO_SHORT = "Vui lòng viết ít nhất 20 ký tự"
TOO_BIG = "Tệp này lớn hơn 20 MB"
EDITED = "Nếu bạn sửa một tin nhắn đã gửi, thay đổi đó sẽ không được ghi nhận."
OFFICERS_ONLY = "Chỉ cán bộ của đơn vị mới có thể thực hiện thao tác này."
OFFICERS_ONLY_ASK = "Chỉ cán bộ của đơn vị mới có thể đặt câu hỏi cho người phản ánh."
GROUP_HINT = "Để bảo vệ danh tính của bạn, vui lòng gửi phản ánh trong cuộc trò chuyện riêng"
UNIT_CHAT_ONLY = "Lệnh này chỉ dùng được trong nhóm nhận cảnh báo của đơn vị."
NOT_FOUND = "Không tìm thấy phản ánh nào có mã"
NO_REPORT_HERE = "Không có phản ánh nào của đơn vị này mang mã đó."

DESCRIPTION = "Cán bộ bộ phận một cửa quát tháo và không nhận hồ sơ của tôi."


# -- helpers ----------------------------------------------------------------------------------


async def quiet(world: World, chat_id: int) -> None:
    """Wait until the bot has written or edited nothing more in a chat for a moment."""
    while True:
        count = len(world.sim.message_calls(chat_id))
        await asyncio.sleep(0.15)
        if len(world.sim.message_calls(chat_id)) == count:
            return


STATUS_USAGE = "Vui lòng gửi /status kèm mã theo dõi"


async def said_after(world: World, user: SimUser, action: Awaitable[Any]) -> list[str]:
    """Run an action in the user's private chat; return everything the bot said about it.

    Updates are handled one at a time, in order: once a bare /status sent after the action is
    answered (it changes nothing, even in the middle of a report), all is said.
    """
    mark = len(world.sim.messages(user.id))
    await action
    await user.send("/status")
    await world.sim.wait_for_message(
        user.id, predicate=lambda m: m["text"].startswith(STATUS_USAGE), after=mark
    )
    said = [str(m.get("text") or "") for m in world.sim.messages(user.id)[mark:]]
    last = max(i for i, text in enumerate(said) if text.startswith(STATUS_USAGE))
    return said[:last]


async def pressed_into(
    queries: list[dict[str, Any]], user: SimUser, message: dict[str, Any], data: str
) -> None:
    """Press with any callback data; keep the query to read the bot's answer to it."""
    queries.append(await user.press(message, data, check_button=False))


async def after(world: World, chat_id: int, action: Awaitable[Any], expect: str) -> dict[str, Any]:
    """Run an action and return the first bot message after it containing `expect`."""
    mark = len(world.sim.messages(chat_id))
    await action
    return await world.sim.wait_for_message(chat_id, contains=expect, after=mark)


async def consent(person: Person) -> None:
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")


async def to_unit(person: Person) -> None:
    """Consent and choose a category: the unit question is next."""
    await consent(person)
    await person.press("Thái độ", expect="đơn vị")


async def to_description(person: Person) -> None:
    """Answer up to the description, skipping what may be skipped."""
    await to_unit(person)
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")


async def to_evidence(person: Person) -> None:
    await to_description(person)
    await person.say(DESCRIPTION, expect="bằng chứng")


async def draft_of(world: World, user_id: int) -> Draft:
    draft = await world.db.drafts.get_draft(user_id)
    assert draft is not None
    return draft


def table_counts(world: World) -> dict[str, int]:
    """Count the rows of every table a report touches, read straight from the file."""
    queries = {
        "reports": "SELECT count(*) FROM reports",
        "reporters": "SELECT count(*) FROM reporters",
        "audit": "SELECT count(*) FROM audit",
        "outbox": "SELECT count(*) FROM outbox",
        "report_files": "SELECT count(*) FROM attachments WHERE report_id IS NOT NULL",
        "draft_files": "SELECT count(*) FROM attachments WHERE draft_user_id IS NOT NULL",
        "drafts": "SELECT count(*) FROM drafts",
        "relays": "SELECT count(*) FROM relays",
        "sent_reports": "SELECT count(*) FROM sent_reports",
    }
    with contextlib.closing(sqlite3.connect(world.settings.database, timeout=10)) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in queries.items()}


async def report_of(world: World, code: str) -> Report:
    report = await world.db.reports.report_by_code(normalize_code(code) or "")
    assert report is not None
    return report


async def reported(world: World, user_id: int = 730001) -> tuple[Person, str, dict[str, Any]]:
    """A citizen reports to Hạ Long; return them, the code and the unit's alert."""
    citizen = world.person(user_id, "Lan", last_name="Nguyễn Thị")
    code = await quick_report(citizen)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    return citizen, code, alert


def inbound_left(world: World) -> int:
    """Count the stored updates not yet handled."""
    with contextlib.closing(sqlite3.connect(world.settings.database, timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound").fetchone()[0])


async def settled(world: World) -> None:
    """Wait until every update received so far is handled and forgotten."""
    await eventually(lambda: inbound_left(world) == 0)

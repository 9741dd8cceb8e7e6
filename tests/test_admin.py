"""Admins run units, officers, moderation, figures and exports from a private chat."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
from dataclasses import replace
from typing import Any

import openpyxl
import pytest

from bot.core.domain import Draft, ReportFields
from bot.core.parsing import format_code
from bot.figures import export_process
from bot.figures.chart_process import ChartError, ChartProcess
from bot.sim import SimUser
from bot.store.repository import StorageError
from tests.conftest import (
    ADMIN_ID,
    ALERT,
    HA_LONG_CHAT,
    START,
    World,
    code_in,
    current,
    eventually,
    quick_report,
    walk_to_review,
)

CITIZEN = 740001


async def ask(world: World, user: SimUser, text: str, expect: str | None = None) -> list[str]:
    """Send a command in the user's private chat; return the texts of the bot's answers."""
    mark = len(world.sim.messages(user.id))
    await user.send(text)
    await world.sim.wait_for_message(user.id, contains=expect, after=mark)
    await _quiet(world, user.id)
    return [
        str(m.get("text") or m.get("caption") or "") for m in world.sim.messages(user.id)[mark:]
    ]


async def _quiet(world: World, chat_id: int) -> None:
    """Wait until the bot has written nothing more to a chat for a moment."""
    while True:
        count = len(world.sim.messages(chat_id))
        await asyncio.sleep(0.2)
        if len(world.sim.messages(chat_id)) == count:
            return


async def seed(world: World, user_id: int, unit: str, description: str, **extra: Any) -> str:
    """Store a report as if a citizen had sent it; return its code."""
    fields = ReportFields(
        category=extra.pop("category", "bribe"),
        unit_code=unit,
        description=description,
        anonymous=extra.pop("anonymous", True),
        **extra,
    )
    await world.db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    report = await world.db.reports.submit_draft(user_id, "vi", outbox=ALERT)
    assert report is not None
    return format_code(report.code)


async def test_non_admins_get_a_polite_refusal_and_no_data(world: World) -> None:
    citizen = world.sim.add_user(CITIZEN, "Lan")
    for command in (
        "/units",
        "/unit_add X Y",
        "/officer_add HL 5",
        "/officers HL",
        "/ban 5",
        "/banned",
        "/stats",
        "/export full",
        "/find ha long",
        "/admin_add 5",
        "/spam ABCD-EFGH",
    ):
        answers = await ask(world, citizen, command, expect="quản trị viên")
        assert len(answers) == 1, (command, answers)
    assert world.sim.count("sendDocument") == 0 and world.sim.count("sendPhoto") == 0
    assert await world.db.admin.admin_log() == []


async def test_help_is_one_answer_while_the_admins_cannot_be_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = world.sim.add_user(CITIZEN, "Lan")

    async def unreadable() -> set[int]:
        raise StorageError("connection was closed in the middle of operation")

    monkeypatch.setattr(world.db.admin, "chat_admins", unreadable)
    # The citizen's commands, and no apology for an answer "not saved": it was answered.
    answers = await ask(world, citizen, "/help", expect="/myreports")
    assert len(answers) == 1 and "/unit_add" not in answers[0]


async def test_admin_commands_only_in_private(world: World) -> None:
    admin = world.sim.user(ADMIN_ID)
    world.sim.chat(HA_LONG_CHAT).add_member(admin, "administrator")
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await admin.send("/units", chat_id=HA_LONG_CHAT)
    answer = await world.sim.wait_for_message(HA_LONG_CHAT, after=mark)
    assert "trò chuyện riêng" in str(answer["text"])


async def test_add_a_unit_and_bind_it_by_adding_the_bot_to_a_channel(world: World) -> None:
    sim = world.sim
    admin = sim.user(ADMIN_ID)
    answers = await ask(world, admin, '/unit_add HL-MC "Bộ phận Một cửa Hạ Long" HL', "HL-MC")
    assert "Đã tạo đơn vị HL-MC" in answers[0]
    channel = -1001000000077
    sim.add_chat(channel, "Một cửa Hạ Long", type="channel", bot_status="left")
    mark = len(sim.messages(ADMIN_ID))
    await sim.add_bot_to_chat(channel, ADMIN_ID)
    offer = await sim.wait_for_message(ADMIN_ID, contains="Một cửa Hạ Long", after=mark)
    await admin.press_button(offer, "UBND tỉnh Quảng Ninh ›")
    await eventually(lambda: "UBND phường Hạ Long ›" in buttons(world, offer))
    await admin.press_button(current(world, offer), "UBND phường Hạ Long ›")
    await eventually(lambda: "Bộ phận Một cửa Hạ Long" in buttons(world, offer))
    await admin.press_button(current(world, offer), "Bộ phận Một cửa Hạ Long")
    await eventually(lambda: "Xong" in str(current(world, offer)["text"]))
    unit = await world.db.units.get_unit("HL-MC")
    assert unit is not None and unit.chat_id == channel and unit.chat_state == "ok"

    listing = "\n".join(await ask(world, admin, "/units", "HL-MC"))
    assert "HL-MC" in listing and "✏️" in listing
    # A citizen's report to the new unit reaches the channel.
    citizen = world.person(CITIZEN, "Lan")
    await walk_to_review(
        citizen,
        "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định.",
        unit_query="mot cua ha long",
        unit_button="Bộ phận Một cửa Hạ Long",
    )
    confirmation = await citizen.press("Gửi phản ánh", expect="/status")
    code = code_of(confirmation)
    await sim.wait_for_message(channel, contains=code)
    actions = [row["action"] for row in await world.db.admin.admin_log()]
    assert actions == ["bind", "unit_add"]


async def test_officer_added_in_chat_can_act_at_once_and_removed_cannot(world: World) -> None:
    sim = world.sim
    admin = sim.user(ADMIN_ID)
    code = await quick_report(world.person(CITIZEN, "Lan"))
    alert = await sim.wait_for_message(HA_LONG_CHAT, contains=code)
    newcomer = sim.add_user(900150, "Tâm")
    sim.chat(HA_LONG_CHAT).add_member(newcomer)
    refused = await newcomer.press_button(alert, "Tiếp nhận")
    assert "cán bộ" in str((await sim.wait_for_callback_answer(refused["id"])).get("text"))

    await ask(world, admin, "/officer_add HL 900150", "900150")
    listing = "\n".join(await ask(world, admin, "/officers HL", "900150"))
    assert "900102" in listing and "900150" in listing
    accepted = await newcomer.press_button(alert, "Tiếp nhận")
    assert "Đã cập nhật" in str((await sim.wait_for_callback_answer(accepted["id"])).get("text"))

    await ask(world, admin, "/officer_remove HL 900150", "900150")
    await eventually(lambda: "🔧 Đang xử lý" in buttons(world, alert))
    again = await newcomer.press_button(current(world, alert), "Đang xử lý")
    assert "cán bộ" in str((await sim.wait_for_callback_answer(again["id"])).get("text"))


async def test_ban_gives_one_refusal_then_silence(world: World) -> None:
    sim = world.sim
    admin = sim.user(ADMIN_ID)
    citizen = sim.add_user(CITIZEN, "Lan")
    await ask(world, admin, "/ban 740001 gửi tin rác", "740001")
    assert "740001" in "\n".join(await ask(world, admin, "/banned", "740001"))
    answers = await ask(world, citizen, "/start", "không thể tiếp tục sử dụng")
    assert len(answers) == 1
    mark = len(sim.messages(CITIZEN))
    await citizen.send("/report")
    await citizen.send("xin chào")
    await asyncio.sleep(0.5)
    assert sim.messages(CITIZEN)[mark:] == []
    # Privacy rights stay: a banned person can still get a copy of their data.
    await citizen.send("/mydata")
    await eventually(lambda: any("document" in m for m in sim.messages(CITIZEN)[mark:]))
    await ask(world, admin, "/unban 740001", "740001")
    assert any("Xin chào" in a for a in await ask(world, citizen, "/start", "Xin chào"))


async def test_daily_limit_on_new_reports(world: World) -> None:
    for n in range(world.settings.reports_per_day):
        await seed(world, CITIZEN, "HL", f"Phản ánh thứ {n} về việc trễ hẹn hồ sơ đất đai.")
    citizen = world.person(CITIZEN, "Lan")
    await citizen.say("/start", expect="đồng ý")
    await citizen.press("Tôi đồng ý", expect="24 giờ")


async def test_stats_sends_numbers_and_a_png_chart(world: World) -> None:
    sim = world.sim
    for n in range(3):
        await seed(world, 750000 + n, "HL", f"Cán bộ Hạ Long đòi tiền lần {n}, rất bức xúc.")
    await seed(world, 750010, "DT", "Cán bộ Đông Triều hẹn lần hẹn lữa mãi không trả.")
    junk = await seed(world, 750020, "HL", "Quảng cáo bán hàng không liên quan gì cả nhé.")
    admin = sim.user(ADMIN_ID)
    await ask(world, admin, f"/spam {junk}", "tin rác")
    answers = await ask(world, admin, "/stats 30d", expect=None)
    await eventually(lambda: any("photo" in m for m in sim.messages(ADMIN_ID)))
    summary = "\n".join(answers)
    assert "UBND phường Hạ Long" in summary and "UBND phường Đông Triều" in summary
    assert "4" in summary and "5" not in summary.split("\n")[0]
    photo = next(m for m in reversed(sim.messages(ADMIN_ID)) if "photo" in m)
    png = sim.file_content(photo["photo"][-1]["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1600, 1000)
    # The province's figures for one unit only.
    one = "\n".join(await ask(world, admin, "/stats 7d DT", expect=None))
    assert "Đông Triều" in one and "Hạ Long" not in one.split("·")[0]


async def test_stats_without_its_chart_says_so(world: World, monkeypatch: Any) -> None:
    async def broken(self: ChartProcess, chart: object) -> bytes:
        raise ChartError("the chart's process failed (1): MemoryError")

    monkeypatch.setattr(ChartProcess, "draw", broken)
    await seed(world, 750100, "HL", "Cán bộ Hạ Long đòi tiền, rất bức xúc, đã nhiều lần.")
    admin = world.sim.user(ADMIN_ID)
    answers = await ask(world, admin, "/stats 30d", expect="không vẽ được")
    assert "UBND phường Hạ Long" in "\n".join(answers)
    assert world.sim.count("sendPhoto") == 0


async def test_export_csv_and_xlsx_hold_the_reports(world: World) -> None:
    sim = world.sim
    plain = await seed(world, 760001, "HL", "Cán bộ <b>Hạ Long</b> đòi 2 triệu & doạ trả hồ sơ.")
    named = await seed(
        world,
        760002,
        "DT",
        '=HYPERLINK("x") Cán bộ Đông Triều trễ hẹn nhiều lần.',
        anonymous=False,
        contact_name="Trần Thị Bình",
        contact_phone="0912345678",
    )
    admin = sim.user(ADMIN_ID)
    await ask(world, admin, "/export 30d", expect="Xuất xong")
    documents = [m for m in sim.messages(ADMIN_ID) if "document" in m]
    assert [d["document"]["file_name"].rsplit(".", 1)[1] for d in documents] == ["csv", "xlsx"]
    raw = sim.file_content(documents[0]["document"]["file_id"])
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    flat = "\n".join(",".join(r) for r in rows)
    assert plain in flat and named in flat and "Hạ Long" in flat
    assert "Trần Thị Bình" not in flat and "0912345678" not in flat
    assert "'=HYPERLINK" in flat
    book = openpyxl.load_workbook(
        io.BytesIO(sim.file_content(documents[1]["document"]["file_id"]))
    )
    cells = [str(c.value) for row in book.active.iter_rows() for c in row if c.value is not None]
    assert plain in cells and named in cells

    mark = len(sim.messages(ADMIN_ID))
    await ask(world, admin, "/export 30d full", expect="Xuất xong")
    full = [m for m in sim.messages(ADMIN_ID)[mark:] if "document" in m]
    text = sim.file_content(full[0]["document"]["file_id"]).decode("utf-8-sig")
    assert "Trần Thị Bình" in text and "0912345678" in text
    assert [r["action"] for r in await world.db.admin.admin_log()][:2] == ["export_full", "export"]
    # The files were written on disk to be sent from there, and are gone once sent.
    assert list((world.db.path.parent / "exports").iterdir()) == []


async def test_an_export_that_cannot_be_written_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = world.sim
    await seed(world, 760011, "HL", "Cán bộ trả hồ sơ không rõ lý do.")
    # A child that cannot run: what a crash or a full disk in the export's process looks like.
    monkeypatch.setattr(export_process, "CHILD", "bot.figures.no_such_module")
    answers = await ask(world, sim.user(ADMIN_ID), "/export 30d", expect="chưa chuẩn bị được")
    assert not any("Xuất xong" in a for a in answers)
    assert not [m for m in sim.messages(ADMIN_ID) if "document" in m]
    assert list((world.db.path.parent / "exports").iterdir()) == []


async def test_find_ignores_diacritics_and_admin_report_shows_everything(world: World) -> None:
    sim = world.sim
    code = await seed(
        world,
        770001,
        "HL",
        "Bộ phận một cửa Hạ Long giữ hồ sơ quá hạn ba tuần.",
        anonymous=False,
        contact_name="Lê Văn Cường",
        contact_phone="0987654321",
    )
    await seed(world, 770002, "DT", "Cán bộ Đông Triều không đeo thẻ công chức.")
    admin = sim.user(ADMIN_ID)
    found = "\n".join(await ask(world, admin, "/find ha long", code))
    assert code in found and "Đông Triều" not in found
    assert "không" in "\n".join(await ask(world, admin, "/find xyz khong co", None)).lower()
    shown = "\n".join(await ask(world, admin, f"/report {code}", "Lịch sử"))
    assert "đã nhận phản ánh" in shown and "Lê Văn Cường" in shown and "0987654321" in shown
    assert "report_view" in [r["action"] for r in await world.db.admin.admin_log()]


async def test_admins_added_in_chat_and_the_config_ones_stay(world: World) -> None:
    sim = world.sim
    admin = sim.user(ADMIN_ID)
    helper = sim.add_user(780001, "Hạnh")
    assert len(await ask(world, helper, "/units", "quản trị viên")) == 1
    await ask(world, admin, "/admin_add 780001", "780001")
    assert "UBND tỉnh Quảng Ninh" in "\n".join(await ask(world, helper, "/units", "QN"))
    refused = "\n".join(await ask(world, helper, f"/admin_remove {ADMIN_ID}", str(ADMIN_ID)))
    assert "tệp cấu hình" in refused
    await ask(world, admin, "/admin_remove 780001", "780001")
    assert len(await ask(world, helper, "/units", "quản trị viên")) == 1


async def test_disabled_units_disappear_for_citizens(world: World) -> None:
    admin = world.sim.user(ADMIN_ID)
    await ask(world, admin, "/unit_disable DT", "DT")
    citizen = world.person(CITIZEN, "Lan")
    await citizen.say("/start", expect="đồng ý")
    await citizen.press("Tôi đồng ý", expect="Chọn loại")
    await citizen.press("Thái độ", expect="đơn vị")
    answer = await citizen.say("dong trieu")
    assert "Đông Triều" not in str(answer.get("buttons"))


async def test_weekly_digest_goes_out_once(world: World) -> None:
    services = world.app.bot_data["services"]
    services.workflow.settings = replace(world.settings, weekly_digest=True)
    await seed(world, 790001, "HL", "Cán bộ Hạ Long đòi tiền để ký giấy xác nhận.")
    world.clock.set(START + 7 * 86400)  # the next Monday, 09:00
    assert await services.workflow.queue_digest()
    assert not await services.workflow.queue_digest()
    services.delivery.wake()
    await world.sim.wait_for_message(ADMIN_ID, contains="tuần trước")
    await eventually(lambda: any("photo" in m for m in world.sim.messages(ADMIN_ID)))
    await eventually(lambda: any("photo" in m for m in world.sim.messages(-1001000000001)))


def buttons(world: World, message: dict[str, Any]) -> list[str]:
    return [label for label, _data in current(world, message).get("buttons") or []]


def code_of(message: dict[str, Any]) -> str:
    return code_in(str(message["text"]))

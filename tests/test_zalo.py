"""The Zalo channel end to end: the real application on the simulated Zalo and Telegram."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import httpx

from bot.core.conversation import Step
from bot.core.domain import FIRST_INTERNAL_ID, Channel, Status
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from bot.zalo.webhook import SECRET_HEADER
from tests.conftest import (
    HA_LONG_CHAT,
    FakeClock,
    World,
    current,
    eventually,
    labels,
    member,
    press,
    quick_report,
)
from tests.test_restart import shut_down, start_bot, write_config
from tests.zalo_helpers import SECRET, ZaloCitizen, channel_of, code_in, jpeg, zalo_world

OFFICER_HL = 900102
DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ <không có> trong quy định & hẹn lại."


async def walk_to_evidence(citizen: ZaloCitizen) -> None:
    """Consent (the first time) and answer, in Vietnamese, up to the evidence question."""
    if "đồng ý" in await citizen.say("/baocao", expect="?"):
        await citizen.say("1", expect="Chọn loại")
    await citizen.pick("Thái độ", expect="đơn vị")
    await citizen.say("ha long", expect="Hạ Long")
    await citizen.pick("UBND phường Hạ Long", expect="cán bộ")
    await citizen.pick("Bỏ qua", expect="khi nào")
    await citizen.say("hôm nay", expect="ở đâu")
    await citizen.say("Bộ phận một cửa phường", expect="Mô tả")
    await citizen.say(DESCRIPTION, expect="bằng chứng")


async def file_report(citizen: ZaloCitizen, photo: bytes) -> str:
    """Walk a whole report with one photo; return its tracking code."""
    await walk_to_evidence(citizen)
    await citizen.photo(photo, expect="1")
    await citizen.pick("Xong", expect="ẩn danh")
    await citizen.pick("Ẩn danh", expect="kiểm tra")
    receipt = await citizen.pick("Gửi phản ánh", expect="/trangthai")
    return code_in(receipt)


async def test_full_report_in_vietnamese_with_a_photo(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Nguyễn Thị Lan"))
        photo = jpeg()
        code = await file_report(citizen, photo)

        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None and report.fields.description == DESCRIPTION
        assert await world.db.reports.reporter_channel(report.id) == "zalo"
        # The alert says "via Zalo"; the photo reaches the unit's chat as an upload, its hash
        # kept like Telegram evidence's.
        alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
        assert "Zalo" in alert["text"] and "Nguyễn Thị Lan" not in alert["text"]
        assert citizen.id not in str(world.sim.messages(HA_LONG_CHAT))
        atts = await world.db.reports.report_attachments(report.id)
        assert [a.sha256 for a in atts] == [hashlib.sha256(photo).hexdigest()]
        assert await world.db.files.attachment_bytes(atts[0].id or 0) == photo
        await eventually(lambda: any("photo" in m for m in world.sim.messages(HA_LONG_CHAT)))
        # Every message the citizen got fits Zalo's 2,000 characters, and none is HTML.
        for message in zsim.sent(citizen.id):
            assert 0 < len(message["text"]) <= 2000
            assert "<b>" not in message["text"] and "&lt;" not in message["text"]
        # /trangthai and /cuatoi answer on Zalo.
        status = await citizen.say(f"/trangthai {code}", expect=code)
        assert "Hạ Long" in status
        await citizen.say("/cuatoi", expect=code)


async def reported(
    world: World, zsim: ZaloSimulator, name: str = "Lan"
) -> tuple[ZaloCitizen, str, dict[str, Any]]:
    """File a report on Zalo; return the citizen, the code and the unit's alert."""
    citizen = ZaloCitizen(zsim, zsim.user(name))
    code = await file_report(citizen, jpeg())
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    return citizen, code, alert


async def ask(world: World, officer: object, alert: dict, text: str) -> None:
    """An officer replies to the alert with a question for the reporter."""
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await officer.send(text, chat_id=HA_LONG_CHAT, reply_to=alert)  # type: ignore[attr-defined]
    await world.sim.wait_for_message(HA_LONG_CHAT, contains="Đã gửi câu hỏi", after=mark)


async def test_officer_question_answered_on_zalo(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen, code, alert = await reported(world, zsim)
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        mark = citizen.count
        await ask(world, officer, alert, "Anh/chị đến lúc mấy giờ?")
        question = await zsim.wait_for(citizen.id, "Anh/chị đến lúc mấy giờ?", after=mark)
        assert code in question["text"] and "Hùng" not in question["text"]
        assert str(OFFICER_HL) not in question["text"]

        # The citizen writes while the question is open: text, then a photo, reach the unit.
        unit_mark = len(world.sim.messages(HA_LONG_CHAT))
        await citizen.say("Khoảng 8 giờ sáng thứ Hai.", expect=code)
        answer = await world.sim.wait_for_message(
            HA_LONG_CHAT, contains="Khoảng 8 giờ", after=unit_mark
        )
        assert code in answer["text"] and "Lan" not in answer["text"]
        assert citizen.id not in str(answer)
        # Answered: the next text is no longer an answer.
        await citizen.say("Cảm ơn", expect="/baocao")
        await ask(world, officer, alert, "Anh/chị gửi ảnh biên nhận được không?")
        await zsim.wait_for(citizen.id, "biên nhận", after=mark)
        await citizen.photo(jpeg(3000), expect=code)
        await eventually(
            lambda: any("photo" in m for m in world.sim.messages(HA_LONG_CHAT)[unit_mark:])
        )


async def test_several_open_questions_ask_which_report(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        first = await file_report(citizen, jpeg())
        second = await file_report(citizen, jpeg())
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        for code in (first, second):
            alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
            await ask(world, officer, alert, f"Câu hỏi về {code}?")
            await zsim.wait_for(citizen.id, f"Câu hỏi về {code}?")
        which = await citizen.say("Tôi đến lúc 9 giờ.", expect="phản ánh nào")
        assert first in which and second in which
        unit_mark = len(world.sim.messages(HA_LONG_CHAT))
        await citizen.pick(first, expect=first)
        answer = await world.sim.wait_for_message(HA_LONG_CHAT, contains="9 giờ", after=unit_mark)
        assert first in answer["text"] and second not in answer["text"]


async def test_resolution_confirmed_and_rated(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen, code, alert = await reported(world, zsim)
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        mark = citizen.count
        await press(world, officer, alert, "Tiếp nhận")
        await zsim.wait_for(citizen.id, "tiếp nhận", after=mark)
        await eventually(lambda: "🏁 Đã giải quyết" in labels(current(world, alert)))
        unit_mark = len(world.sim.messages(HA_LONG_CHAT))
        await press(world, officer, alert, "Đã giải quyết")
        prompt = await world.sim.wait_for_message(
            HA_LONG_CHAT, contains="vui lòng trả lời", after=unit_mark
        )
        await officer.send("Đã trả hồ sơ đúng hạn.", chat_id=HA_LONG_CHAT, reply_to=prompt)
        verdict = await zsim.wait_for(citizen.id, "Đã trả hồ sơ đúng hạn.", after=mark)
        assert code in verdict["text"]
        # The notice asks the question once, its numbered answers follow.
        told = "\n\n".join(m.get("text") or "" for m in zsim.sent(citizen.id)[mark:])
        assert told.count("thực sự được giải quyết") == 1, told
        rating = await citizen.say("1", expect="1 (")
        assert code in rating
        await citizen.say("5", expect="ghi nhận")
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None and report.status == Status.RESOLVED
        assert report.citizen_verdict == "yes" and report.rating == 5
        actions = [e.action for e in await world.db.reports.audit_of(report.id)]
        assert actions == ["submitted", "acknowledged", "resolved", "confirmed", "rated"]


async def test_an_expired_photo_link_asks_for_the_photo_again(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        await walk_to_evidence(citizen)
        told = await citizen.photo(jpeg(), expect="hết hạn", expired=True)
        assert "gửi lại" in told
        draft = await world.db.drafts.get_draft(
            await world.db.identities.user_id(Channel.ZALO, citizen.id)
        )
        assert draft is not None and not await world.db.drafts.draft_attachments(draft.user_id)
        # Sent again with a fresh link, it is taken.
        await citizen.photo(jpeg(), expect="1")
        assert len(await world.db.drafts.draft_attachments(draft.user_id)) == 1
        # Bytes that are no photo are refused, and nothing is stored.
        await citizen.photo(b"GIF89a not a photo", expect="JPEG")
        assert len(await world.db.drafts.draft_attachments(draft.user_id)) == 1


async def test_every_message_fits_2000_characters(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        await citizen.say("/baocao", expect="đồng ý")
        await citizen.say("1", expect="Chọn loại")
        await citizen.pick("Thái độ", expect="đơn vị")
        await citizen.say("ha long", expect="Hạ Long")
        await citizen.pick("UBND phường Hạ Long", expect="cán bộ")
        # A name of 200 emoji (400 UTF-16 units) and a description of 3,000 characters,
        # many of them emoji: the review cannot be one message, and is split, never cut.
        await citizen.say("😀" * 200, expect="lãnh đạo")
        await citizen.pick("Không", expect="khi nào")
        await citizen.say("hôm nay", expect="ở đâu")
        await citizen.pick("Bỏ qua", expect="Mô tả")
        description = ("Cán bộ gây khó dễ 😡 " * 150)[:2990] + "KẾT THÚC"
        await citizen.say(description, expect="bằng chứng")
        await citizen.pick("Bỏ qua", expect="ẩn danh")
        mark = citizen.count
        await citizen.pick("Ẩn danh", expect="Mọi thông tin")
        review = zsim.sent(citizen.id)[mark:]
        assert len(review) >= 2
        whole = "\n".join(m["text"] for m in review)
        assert "KẾT THÚC" in whole and "😀" * 200 in whole
        for message in zsim.sent(citizen.id):
            assert 0 < len(message["text"].encode("utf-16-le")) // 2 <= 2000
        # The simulated Zalo refuses anything longer, as Zalo does: nothing was refused.
        assert not [c for c in zsim.calls if c[0] == "sendMessage" and len(c[1]["text"]) > 2000]
        report_user = await world.db.identities.user_id(Channel.ZALO, citizen.id)
        assert await world.db.drafts.get_draft(report_user) is not None


async def test_stickers_and_unsupported_messages_get_a_hint(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock):
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        mark = citizen.count
        await citizen.user.send_sticker()
        await zsim.wait_for(citizen.id, "nhãn dán", after=mark)
        await citizen.say("/baocao", expect="đồng ý")
        await citizen.say("1", expect="Chọn loại")
        mark = citizen.count
        await citizen.user.send_unsupported()
        hint = await zsim.wait_for(citizen.id, "nhãn dán", after=mark)
        # The question is asked again with the hint, and the step has not moved.
        assert "Chọn loại" in hint["text"]
        await citizen.pick("Thái độ", expect="đơn vị")


async def test_same_person_on_telegram_and_zalo_is_two_reporters(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        person = world.person(730001, "Nguyễn Thị Lan")
        telegram_code = await quick_report(person)
        citizen = ZaloCitizen(zsim, zsim.user("Nguyễn Thị Lan"))
        zalo_code = await file_report(citizen, jpeg())
        db = world.db
        zalo_user = await db.identities.user_id(Channel.ZALO, citizen.id)
        assert zalo_user != person.id and zalo_user >= FIRST_INTERNAL_ID
        telegram_report = await db.reports.report_by_code(telegram_code.replace("-", ""))
        zalo_report = await db.reports.report_by_code(zalo_code.replace("-", ""))
        assert telegram_report is not None and zalo_report is not None
        assert await db.reports.is_reporter(telegram_report.id, person.id)
        assert not await db.reports.is_reporter(telegram_report.id, zalo_user)
        assert await db.reports.is_reporter(zalo_report.id, zalo_user)
        assert not await db.reports.is_reporter(zalo_report.id, person.id)
        # Neither channel shows the other's report.
        await citizen.say("/cuatoi", expect=zalo_code)
        assert telegram_code not in zsim.texts(citizen.id)
        assert await citizen.say(f"/trangthai {telegram_code}", expect="không có")
        mine = await person.say("/myreports", expect=telegram_code)
        assert zalo_code not in mine["text"]


async def test_messages_zalo_refuses_are_held_until_the_person_writes(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen, code, alert = await reported(world, zsim)
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        zsim.refuse(citizen.id)
        mark = citizen.count
        await press(world, officer, alert, "Tiếp nhận")
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None

        async def held() -> bool:
            rows = await world.db.outbox.stats()
            return rows.get("pending", 0) >= 1 and any(
                c[0] == "sendMessage"
                and c[1]["chat_id"] == citizen.id
                and "tiếp nhận" in c[1]["text"]
                for c in zsim.calls
            )

        await eventually(held)
        assert zsim.sent(citizen.id)[mark:] == []
        # Zalo takes messages again once the person writes: the notice comes at once.
        zsim.refuse(citizen.id, False)
        mark = citizen.count
        await citizen.user.send_text("Cho tôi hỏi tình hình?")
        told = await zsim.wait_for(citizen.id, "tiếp nhận", after=mark)
        assert code in told["text"]


async def test_a_zalo_user_erases_their_data(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen, code, _alert = await reported(world, zsim)
        db = world.db
        user_id = await db.identities.user_id(Channel.ZALO, citizen.id)
        data = await citizen.say("/dulieu", expect=code.replace("-", "")[:4])
        assert "{" in data or "JSON" in data
        await citizen.say("/xoadulieu", expect="xoá")
        await citizen.say("1", expect="đã được xoá")
        # The Zalo account id is no longer stored; the report stays, linked to nobody.
        assert await db.identities.find_user_id(Channel.ZALO, citizen.id) is None
        assert citizen.id not in str(await db.privacy.personal_data(user_id))
        report = await db.reports.report_by_code(code.replace("-", ""))
        assert report is not None and not await db.reports.is_reporter(report.id, user_id)
        assert await db.reports.reports_of(user_id) == []
        # Writing again, they must consent again; a ban or the daily limit would still hold.
        await citizen.say("/baocao", expect="đồng ý")
        assert await db.identities.find_user_id(Channel.ZALO, citizen.id) == user_id
        await citizen.say("/cuatoi", expect="chưa gửi")


async def test_webhook_mode_and_a_wrong_secret(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock, webhook=True) as world:
        config = channel_of(world).config
        assert zsim.state.webhook == config.webhook_url and zsim.state.secret == SECRET
        url = config.webhook_url or ""
        update = {
            "event_name": "message.text.received",
            "message": {
                "from": {"id": "forged-user", "display_name": "X"},
                "chat": {"id": "forged-user", "chat_type": "PRIVATE"},
                "message_id": "forged-1",
                "date": 1,
                "text": "/baocao",
            },
        }
        body = json.dumps({"ok": True, "result": update})
        async with httpx.AsyncClient() as client:
            for headers in (
                {},
                {SECRET_HEADER: "wrong-secret-0"},
                {SECRET_HEADER: SECRET[:-1]},
                {SECRET_HEADER: SECRET + "x"},
            ):
                refused = await client.post(url, content=body, headers=headers)
                assert refused.status_code == 403
            bad = await client.post(url, content=b"[1, 2", headers={SECRET_HEADER: SECRET})
            assert bad.status_code == 400
            shapeless = await client.post(
                url, content=b'{"ok": true, "result": {"x": 1}}', headers={SECRET_HEADER: SECRET}
            )
            assert shapeless.status_code == 400
            big = await client.post(
                url, content=b"{" + b" " * 1_000_001 + b"}", headers={SECRET_HEADER: SECRET}
            )
            assert big.status_code == 413
        # Nothing refused was stored or answered.
        assert await world.db.identities.find_user_id(Channel.ZALO, "forged-user") is None
        assert zsim.sent("forged-user") == []
        # Zalo's own posts, with the secret, carry a whole report.
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        code = await file_report(citizen, jpeg())
        await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)


async def test_a_long_unit_list_pages_with_zero(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        for n in range(30):
            await world.db.units.add_unit(f"X{n:02d}", f"UBND xã Thử Nghiệm {n:02d}", "QN")
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        await citizen.say("/baocao", expect="đồng ý")
        await citizen.say("1", expect="Chọn loại")
        first = await citizen.pick("Thái độ", expect="0. ")
        assert "1. UBND tỉnh Quảng Ninh" in first and "10. " not in first
        second = await citizen.say("0", expect="10. ")
        assert "1. UBND tỉnh" not in second
        # Numbers keep their meaning across pages: one from the second page is taken.
        label = second.splitlines()[
            [ln.startswith("12. ") for ln in second.splitlines()].index(True)
        ]
        name = label.removeprefix("12. ").lstrip("— ")
        mark = citizen.count
        await citizen.say("12", expect="cán bộ")
        report_user = await world.db.identities.user_id(Channel.ZALO, citizen.id)
        draft = await world.db.drafts.get_draft(report_user)
        assert draft is not None
        unit = await world.db.units.get_unit(draft.fields.unit_code or "")
        assert unit is not None and unit.name == name
        assert mark < citizen.count


async def test_kill_9_mid_report_then_resume(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    text = config.read_text(encoding="utf-8")
    zalo = f'[zalo]\ntoken = "{zsim.token}"\nbase_url = "{zsim.base_url}"\nseconds_per_user = 0\n'
    config.write_text(zalo + text, encoding="utf-8")
    log = tmp_path / "bot.log"
    citizen = ZaloCitizen(zsim, zsim.user("Tuấn"))
    first = await start_bot(config, log)
    try:
        await citizen.say("/baocao", expect="đồng ý", wait=30)
        await citizen.say("1", expect="Chọn loại")
        await citizen.pick("hối lộ", expect="đơn vị")
        await citizen.say("ha long", expect="Hạ Long")
        await citizen.pick("UBND phường Hạ Long", expect="tiền")
        await citizen.say("2 triệu rưỡi", expect="cán bộ")
        await citizen.say("Anh Tâm, cán bộ địa chính", expect="lãnh đạo")
        await citizen.pick("Không", expect="khi nào")
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL

    second = await start_bot(config, log)
    try:
        # The next answer lands at the step where the first process died.
        await citizen.say("hôm qua", expect="ở đâu", wait=30)
        await citizen.say("Trụ sở UBND phường", expect="Mô tả")
        await citizen.say("Cán bộ địa chính đòi 2,5 triệu để ký xác nhận hồ sơ đất.", "bằng chứng")
        await citizen.pick("Bỏ qua", expect="ẩn danh")
        review = await citizen.pick("Ẩn danh", expect="kiểm tra")
        for part in ("2.500.000", "Anh Tâm, cán bộ địa chính", "Trụ sở UBND phường"):
            assert part in review, part
        receipt = await citizen.pick("Gửi phản ánh", expect="/trangthai")
        code = code_in(receipt)
        alert = await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
        assert "Zalo" in alert["text"] and "Tuấn" not in alert["text"]
    finally:
        await shut_down(second)


async def test_a_units_photo_reaches_the_zalo_citizen_by_link(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock, media=True) as world:
        citizen, code, alert = await reported(world, zsim)
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        photo = jpeg(4000)
        mark = len(world.sim.messages(HA_LONG_CHAT))
        await officer.send_photo(
            content=photo, caption="Đây có phải giấy hẹn?", chat_id=HA_LONG_CHAT, reply_to=alert
        )
        await world.sim.wait_for_message(HA_LONG_CHAT, contains="Đã gửi câu hỏi", after=mark)
        question = await zsim.wait_for(citizen.id, "Đây có phải giấy hẹn?")
        assert code in question["text"] and "Zalo" not in question["text"]

        def sent_photo() -> dict[str, Any] | None:
            return next((m for m in zsim.sent(citizen.id) if m.get("photo")), None)

        shown = await eventually(sent_photo)
        link = str(shown["photo"])
        assert link.startswith("http://127.0.0.1:") and "/zalo/media/" in link
        async with httpx.AsyncClient() as client:
            fetched = await client.get(link)
            assert fetched.status_code == 200 and fetched.content == photo
            # Only the exact link serves it.
            assert (await client.get(link[:-8] + "xxxx.jpg")).status_code == 404


async def test_zalo_limits_and_outages_delay_but_lose_nothing(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        # A reply refused with 429 and then 500 is sent again; the step is taken once.
        zsim.fail_next("sendMessage", 429, retry_after=1)
        await citizen.say("/baocao", expect="đồng ý")
        zsim.fail_next("sendMessage", 502, times=2)
        await citizen.say("1", expect="Chọn loại")
        user_id = await world.db.identities.user_id(Channel.ZALO, citizen.id)
        draft = await world.db.drafts.get_draft(user_id)
        assert draft is not None and draft.step == Step.CATEGORY
        # An outbox notice through a Zalo outage arrives once Zalo is back.
        await citizen.say("/huy", expect="huỷ")
        citizen2, code, alert = await reported(world, zsim, "Minh")
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        zsim.fail_next("sendMessage", 500, times=1)
        mark = citizen2.count
        await press(world, officer, alert, "Tiếp nhận")
        told = await zsim.wait_for(citizen2.id, "Hạn giải quyết", after=mark, wait=20)
        assert code in told["text"]


async def test_a_zalo_user_switches_to_english_mid_report(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock):
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        await citizen.say("/baocao", expect="đồng ý")
        await citizen.say("1", expect="Chọn loại")
        await citizen.say("/language", expect="English")
        switched = await citizen.pick("English", expect="English with you")
        assert "Tiếng Việt" not in switched
        # The report goes on where it was, in English.
        await zsim.wait_for(citizen.id, "What happened")
        await citizen.pick("Improper attitude", expect="unit")
        await citizen.say("/ngonngu", expect="Tiếng Việt")
        await citizen.say("1", expect="tiếng Việt")


async def test_not_resolved_on_zalo_reopens_it(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen, code, alert = await reported(world, zsim)
        officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
        await press(world, officer, alert, "Tiếp nhận")
        await eventually(lambda: "🏁 Đã giải quyết" in labels(current(world, alert)))
        unit_mark = len(world.sim.messages(HA_LONG_CHAT))
        await press(world, officer, alert, "Đã giải quyết")
        prompt = await world.sim.wait_for_message(
            HA_LONG_CHAT, contains="vui lòng trả lời", after=unit_mark
        )
        await officer.send("Đã xử lý xong.", chat_id=HA_LONG_CHAT, reply_to=prompt)
        await zsim.wait_for(citizen.id, "thực sự được giải quyết")
        # Words that are neither answer are not taken as one.
        await citizen.say("Xin chào", expect="/baocao")
        unit_mark = len(world.sim.messages(HA_LONG_CHAT))
        await citizen.say("Chưa", expect="1 (")
        reopened = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code, after=unit_mark)
        assert "✅ Tiếp nhận" in labels(reopened)
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None and report.status == Status.NEW
        assert report.citizen_verdict == "no"
        await citizen.say("3", expect="ghi nhận")
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None and report.rating == 3


async def test_someone_sending_too_fast_is_told_once_and_not_read(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock, flood_messages=20) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        limit = world.settings.flood_messages
        for n in range(limit + 10):
            await citizen.user.send_text(f"/trangthai {n}")
        await zsim.wait_for(citizen.id, "quá nhanh")
        await asyncio.sleep(0.5)
        texts = [m["text"] for m in zsim.sent(citizen.id)]
        assert sum("quá nhanh" in t for t in texts) == 1
        assert len(texts) == limit + 1
        # A minute later they are read again.
        clock.advance(hours=0.02)
        await citizen.say("/cuatoi", expect="chưa gửi")

"""The Zalo report's last steps end to end: a named report (name and phone typed, then sealed),
edits at the review, the words Zalo shows where Telegram has buttons, and a photo too large."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.config import DATA_KEY_ENV
from bot.core.conversation import MAX_FILE_BYTES
from bot.core.domain import Channel
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from tests.conftest import HA_LONG_CHAT, FakeClock, quick_report
from tests.test_zalo import DESCRIPTION, file_report, walk_to_evidence
from tests.web_helpers import WebCitizen
from tests.zalo_helpers import ZaloCitizen, code_in, jpeg, web_port, zalo_world


async def test_a_named_zalo_report_edited_at_the_review_is_sealed(
    sim: BotApiSimulator,
    zsim: ZaloSimulator,
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Nguyễn Văn An"))
        await walk_to_evidence(citizen)
        await citizen.photo(jpeg(), expect="1")
        await citizen.pick("Xong", expect="ẩn danh")
        # Answered in words, not with the number.
        asked = await citizen.say("có danh tính", expect="họ tên")
        # Zalo has no contact button: the question says to type both, and nothing of Telegram.
        assert "Telegram" not in asked and "bấm nút" not in asked
        assert "0912345678" in asked
        # A name without a phone, then a phone that is not Vietnamese, are asked for again.
        again = await citizen.say("Nguyễn Văn An", expect="họ tên")
        assert "chưa đọc được" in again and "Telegram" not in again
        refused = await citizen.say("Nguyễn Văn An, 12345", expect="họ tên")
        assert "chưa đọc được" in refused
        review = await citizen.say("Nguyễn Văn An, 0912 345 678", expect="kiểm tra")
        assert "Nguyễn Văn An" in review and DESCRIPTION in review

        # An edit at the review: the description, then back to the review with the new one.
        await citizen.pick("Mô tả", expect="Mô tả sự việc")
        edited = "Cán bộ một cửa đòi thêm giấy xác nhận cư trú không có trong quy định."
        review = await citizen.say(edited, expect="kiểm tra")
        assert edited in review and DESCRIPTION not in review
        assert "Nguyễn Văn An" in review
        code = code_in(await citizen.pick("Gửi phản ánh", expect="/trangthai"))

        stored = code.replace("-", "")
        report = await world.db.reports.report_by_code(stored)
        assert report is not None and report.fields.description == edited
        assert report.fields.contact_name == "Nguyễn Văn An"
        assert report.fields.contact_phone == "0912345678"
        zalo_user = await world.db.identities.user_id(Channel.ZALO, citizen.id)
        assert await world.db.reports.is_reporter(report.id, zalo_user)
        # At rest, the name and the phone are sealed, as on Telegram and the web pages.
        with sqlite3.connect(world.settings.database) as conn:
            name, phone = conn.execute(
                "SELECT contact_name, contact_phone FROM reports WHERE code = ?", (stored,)
            ).fetchone()
        assert name.startswith("fernet:") and phone.startswith("fernet:")
        # Not "An": two letters turn up by chance in a token's base64 about once in 40 runs.
        assert "0912345678" not in phone and "Nguy" not in name
        # The unit sees neither, nor the Zalo account.
        alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
        assert "Zalo" in alert["text"]
        for trace in ("Nguyễn Văn An", "0912345678", "0912 345 678", citizen.id):
            assert trace not in str(world.sim.messages(HA_LONG_CHAT)), trace
        # Nothing the Zalo citizen read asked for a button or something only Telegram sends.
        said = zsim.texts(citizen.id)
        for telegram_only in ("Telegram", "nút", "tài liệu, tin nhắn thoại"):
            assert telegram_only not in said, telegram_only


async def test_a_photo_over_the_size_limit_is_refused_and_not_kept(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lan"))
        await walk_to_evidence(citizen)
        user_id = await world.db.identities.user_id(Channel.ZALO, citizen.id)
        # A JPEG's first bytes, one byte over what is kept.
        too_big = b"\xff\xd8\xff" + bytes(MAX_FILE_BYTES - 2)
        told = await citizen.photo(too_big, expect="quá lớn")
        assert "nhỏ hơn" in told
        assert await world.db.drafts.draft_attachments(user_id) == []
        # The step has not moved: a photo within the limit is taken.
        await citizen.photo(jpeg(), expect="1")
        assert len(await world.db.drafts.draft_attachments(user_id)) == 1


async def test_telegram_zalo_and_the_web_pages_in_one_process(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock, webhook=True, web_pages=True) as world:
        # One web server takes Zalo's webhook and serves the pages; one database for all.
        person = world.person(730002, "Trần Thị Mai")
        telegram_code = await quick_report(person)
        citizen = ZaloCitizen(zsim, zsim.user("Lê Văn Bình"))
        zalo_code = await file_report(citizen, jpeg())
        async with WebCitizen(f"http://127.0.0.1:{web_port(world)}") as visitor:
            web_code, _key = await visitor.file_report(DESCRIPTION)
        channels = {}
        for code in (telegram_code, zalo_code, web_code):
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None, code
            channels[code] = await world.db.reports.reporter_channel(report.id)
            # Each reaches the unit in Telegram, where officers handle them alike.
            await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
        assert channels == {telegram_code: "telegram", zalo_code: "zalo", web_code: "web"}

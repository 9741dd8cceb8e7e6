"""The Zalo channel end to end: the real application on the simulated Zalo and Telegram."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.core.domain import Status
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from tests.conftest import (
    HA_LONG_CHAT,
    FakeClock,
    World,
    current,
    eventually,
    labels,
    member,
    press,
)
from tests.zalo_helpers import ZaloCitizen, code_in, jpeg, zalo_world

OFFICER_HL = 900102
DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ <không có> trong quy định & hẹn lại."


@pytest.fixture
async def zsim() -> ZaloSimulator:
    async with ZaloSimulator() as simulator:
        yield simulator  # type: ignore[misc]


async def walk_to_evidence(citizen: ZaloCitizen) -> None:
    """Consent and answer, in Vietnamese, up to the evidence question."""
    await citizen.say("Xin chào", expect="đồng ý")
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

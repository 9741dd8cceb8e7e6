"""Integrity on Zalo: /trangthai says where a conflict of interest sent a report, and /bienlai
gives its reporter (and nobody else) the signed receipt as text, which `liemchinh verify` and
the web page /status/receipt accept, in one message or in several."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.cli import main
from bot.core.receipts import (
    key_path,
    load_or_create_key,
    public_bytes,
    public_text,
    receipt_text,
    sign,
    verify,
)
from bot.i18n import Translator
from bot.messages import integrity as integrity_texts
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from bot.zalo.receipts import receipt_parts
from bot.zalo.text import MESSAGE_LIMIT, plain
from tests.conftest import HA_LONG_CHAT, PROVINCE_CHAT, FakeClock, eventually
from tests.test_zalo import DESCRIPTION, file_report
from tests.web_helpers import WebCitizen
from tests.zalo_helpers import ZaloCitizen, code_in, jpeg, web_port, zalo_world

VALID = "Hợp lệ"
UNKNOWN = "Bạn không có phản ánh nào với mã này."
RECEIPT_START = '{"receipt":'


async def report_about_the_head(citizen: ZaloCitizen) -> str:
    """File a report naming the head of Hạ Long (it goes to the province); return its code."""
    if "đồng ý" in await citizen.say("/baocao", expect="?"):
        await citizen.say("1", expect="Chọn loại")
    await citizen.pick("Thái độ", expect="đơn vị")
    await citizen.say("ha long", expect="Hạ Long")
    await citizen.pick("UBND phường Hạ Long", expect="cán bộ")
    await citizen.say("Chủ tịch Trần Văn Bình", expect="lãnh đạo")
    await citizen.say("1", expect="khi nào")
    await citizen.say("hôm nay", expect="ở đâu")
    await citizen.say("Trụ sở UBND phường", expect="Mô tả")
    await citizen.say(DESCRIPTION, expect="bằng chứng")
    await citizen.pick("Bỏ qua", expect="ẩn danh")
    await citizen.pick("Ẩn danh", expect="kiểm tra")
    confirmation = await citizen.pick("Gửi phản ánh", expect="/trangthai")
    return code_in(confirmation)


async def receipt_of(citizen: ZaloCitizen, command: str) -> tuple[str, list[str]]:
    """Send a receipt command; return the introduction and the receipt's messages after it."""
    mark = citizen.count
    intro = await citizen.say(command, expect="🧾")
    pieces = re.search(r"trong (\d+) tin nhắn", intro)
    expected = int(pieces.group(1)) if pieces else 1
    start = mark + 1
    await eventually(lambda: citizen.count >= start + expected)
    return intro, [str(m["text"]) for m in citizen.zsim.sent(citizen.id)[start:]]


async def check_on_the_web(visitor: WebCitizen, text: str) -> str:
    """Paste a receipt on /status/receipt; return what the page says of it."""
    await visitor.get("/status/receipt")
    response = await visitor.post("/status/receipt", {"text": text})
    verdict = response.text.split("<main>", 1)[1].split("<form", 1)[0]
    assert (response.status_code == 200) == (VALID in verdict), (response.status_code, verdict)
    return verdict


def verified_by_the_command_line(tmp_path: Path, text: str, key: str) -> bool:
    """Run `liemchinh verify` on the text saved as a file, as an editor saves it."""
    saved = tmp_path / "receipt.txt"
    saved.write_text(text + "\n", encoding="utf-8")
    return main(["verify", str(saved), "--key", key]) == 0


async def test_trangthai_says_where_a_conflict_sent_the_report(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Phạm Thị Hoa"))
        code = await report_about_the_head(citizen)
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None
        assert (report.fields.unit_code, report.concerned_unit, report.conflict) == (
            "QN",
            "HL",
            "head",
        )
        # The core's line, as the web page and the other chats show it.
        _ = Translator().get("vi")
        line = plain(
            integrity_texts.routed_line(report, "UBND phường Hạ Long", "UBND tỉnh Quảng Ninh", _)
        )
        assert "UBND tỉnh Quảng Ninh" in line and "lãnh đạo" in line
        assert line in zsim.texts(citizen.id)
        status = await citizen.say(f"/trangthai {code}", expect=code)
        assert line in status and "Phạm Thị Hoa" not in status
        english = await citizen.say(f"/status {code}", expect=code)
        assert line in english

        # The province has the report; the unit it is about sees neither it nor its reporter.
        await world.sim.wait_for_message(PROVINCE_CHAT, contains=code)
        unit_chat = "\n".join(m.get("text") or "" for m in world.sim.messages(HA_LONG_CHAT))
        for trace in (code, "Trần Văn Bình", DESCRIPTION[:20], "Phạm Thị Hoa", citizen.id):
            assert trace not in unit_chat

        # A report that went to its own unit has no such line.
        plain_code = await file_report(citizen, jpeg())
        normal = await citizen.say(f"/trangthai {plain_code}", expect=plain_code)
        assert "UBND phường Hạ Long" in normal
        assert "⚖️" not in normal and "xung đột" not in normal and "lãnh đạo" not in normal


async def test_a_zalo_reporter_gets_a_receipt_that_verifies(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    photo = jpeg()
    async with zalo_world(sim, zsim, tmp_path, clock) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Nguyễn Thị Lan"))
        code = await file_report(citizen, photo)
        # The confirmation says how to get it.
        assert f"/bienlai {code}" in zsim.texts(citizen.id)
        report = await world.db.reports.report_by_code(code.replace("-", ""))
        assert report is not None

        intro, messages = await receipt_of(citizen, f"/bienlai {code}")
        key = load_or_create_key(key_path(world.settings.database))
        assert code in intro and public_text(key) in intro
        # Without the web pages there is no page to name: only the command line.
        assert "/status/receipt" not in intro and "liemchinh verify" in intro
        assert len(messages) == 1
        text = messages[0]
        assert text.startswith(RECEIPT_START) and text.isascii() and "\n" not in text
        assert 0 < len(text) <= MESSAGE_LIMIT
        # The receipt every channel gives, in its text form.
        workflow = world.app.bot_data["services"].workflow
        signed = await workflow.signed_receipt(report)
        assert signed is not None and receipt_text(signed) == text

        verdict = verify(text.encode(), public_bytes(key))
        assert verdict.valid and verdict.document is not None
        assert verdict.document["code"] == report.code
        assert verdict.document["unit_name"] == "UBND phường Hạ Long"
        assert verdict.document["evidence_sha256"] == [hashlib.sha256(photo).hexdigest()]
        assert (
            verdict.document["description_sha256"]
            == hashlib.sha256(DESCRIPTION.encode()).hexdigest()
        )
        for trace in ("Nguyễn Thị Lan", citizen.id, str(report.id)):
            assert f'"{trace}"' not in text
        assert verified_by_the_command_line(tmp_path, text, public_text(key))

        # Any byte changed, wherever it is, and the receipt is refused.
        for index in range(0, len(text), max(1, len(text) // 40)):
            changed = bytearray(text.encode())
            changed[index] = (changed[index] + 1) % 128
            assert not verify(bytes(changed), public_bytes(key)).valid, index
        forged = text.replace('"conduct"', '"delay"')
        assert forged != text
        assert not verify(forged.encode(), public_bytes(key)).valid
        assert not verified_by_the_command_line(tmp_path, forged, public_text(key))

        # The English alias gives the same receipt; no code, the usage.
        _intro, again = await receipt_of(citizen, f"/receipt {code}")
        assert again == [text]
        usage = await citizen.say("/bienlai", expect="/bienlai")
        assert RECEIPT_START not in usage

        # Another Zalo account asking for it gets the answer to a code that does not exist.
        other = ZaloCitizen(zsim, zsim.user("Trần Văn Minh"))
        refused = await other.say(f"/bienlai {code}", expect="mã")
        unknown = await other.say("/bienlai ZZZZ-ZZZZ", expect="mã")
        assert refused == unknown == UNKNOWN
        assert await other.say(f"/trangthai {code}", expect="mã") == UNKNOWN
        assert RECEIPT_START not in zsim.texts(other.id) and code not in zsim.texts(other.id)


async def test_a_receipt_pasted_from_zalo_is_checked_on_the_web_page(
    sim: BotApiSimulator, zsim: ZaloSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with zalo_world(sim, zsim, tmp_path, clock, web_pages=True) as world:
        citizen = ZaloCitizen(zsim, zsim.user("Lê Thị Mai"))
        code = await file_report(citizen, jpeg())
        intro, messages = await receipt_of(citizen, f"/bienlai {code}")
        base = f"http://127.0.0.1:{web_port(world)}"
        assert f"{base}/status/receipt" in intro
        async with WebCitizen(base) as visitor:
            form = await visitor.get("/status/receipt")
            assert "<textarea" in form.text and 'name="text"' in form.text
            verdict = await check_on_the_web(visitor, messages[0])
            assert VALID in verdict and code in verdict
            changed = messages[0].replace('"conduct"', '"delay"')
            assert VALID not in await check_on_the_web(visitor, changed)

            # A unit whose name is too long for one message: the receipt comes in pieces.
            long_name = "Ủy ban nhân dân phường Hạ Long, bộ phận tiếp nhận và trả kết quả " * 12
            assert await world.db.units.update_unit("HL", name=long_name.strip())
            intro, pieces = await receipt_of(citizen, f"/bienlai {code}")
            assert f"trong {len(pieces)} tin nhắn" in intro and len(pieces) > 1
            for piece in pieces:
                assert 0 < len(piece) <= MESSAGE_LIMIT and piece == piece.strip()
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None
            signed = await world.app.bot_data["services"].workflow.signed_receipt(report)
            assert signed is not None and "".join(pieces) == receipt_text(signed)
            # Pasted one after another, each on its own line, as copied from the chat.
            pasted = "\n".join(pieces)
            key = load_or_create_key(key_path(world.settings.database))
            document = verify(pasted.encode(), public_bytes(key)).document
            assert document is not None and document["unit_name"] == long_name.strip()
            assert verified_by_the_command_line(tmp_path, pasted, public_text(key))
            verdict = await check_on_the_web(visitor, "\r\n".join(pieces))
            assert VALID in verdict and code in verdict
            # A piece left out is refused.
            assert VALID not in await check_on_the_web(visitor, "\n".join(pieces[1:]))


def test_a_long_receipt_is_never_cut_beside_a_space() -> None:
    text = "a" * (MESSAGE_LIMIT - 1) + " " + "b" * 10 + " " + "c" * (MESSAGE_LIMIT - 12) + "d"
    parts = receipt_parts(text)
    assert "".join(parts) == text
    assert all(0 < len(p) <= MESSAGE_LIMIT and p == p.strip() for p in parts), parts
    assert receipt_parts("short") == ["short"]


def test_the_text_form_is_the_same_receipt_and_only_line_breaks_are_ignored() -> None:
    key = Ed25519PrivateKey.generate()
    document = {
        "format": "liemchinh-receipt/1",
        "code": "ABCDEFGH",
        "submitted_at": "2026-12-02T08:00:00+07:00",
        "category": "bribe",
        "unit": "HL",
        "unit_name": "UBND phường Hạ Long",
        "description_sha256": "0" * 64,
        "evidence_sha256": ["1" * 64],
    }
    signed = sign(document, key)
    text = receipt_text(signed)
    assert text.isascii() and "ph\\u01b0\\u1eddng" in text
    public = public_bytes(key)
    for form in (signed, text.encode(), text.encode() + b"\n"):
        verdict = verify(form, public)
        assert verdict.valid and verdict.document == document
    # Line breaks anywhere in the text form, even inside a value, join back into it.
    for index in range(1, len(text), 37):
        assert verify((text[:index] + "\r\n" + text[index:]).encode(), public).valid, index
    # A space is a changed byte; so is the file's layout with its line breaks taken out.
    assert not verify((text[:20] + " " + text[20:]).encode(), public).valid
    assert not verify(signed.replace(b"\n", b""), public).valid
    assert not verify(text.encode(), public_bytes(Ed25519PrivateKey.generate())).valid

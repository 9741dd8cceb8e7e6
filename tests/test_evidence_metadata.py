"""Images sent as documents reach the unit without their metadata; the receipt keeps the
original's fingerprint. Compressed photos and other files are copied as they are."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image

from bot.core.images import UnreadableImage, image_type, strip_metadata
from bot.core.receipts import key_path, load_or_create_key, public_bytes, verify
from tests.conftest import HA_LONG_CHAT, Person, World, code_in, eventually, member
from tests.web_helpers import gps_jpeg

PHOTO = b"\xff\xd8\xff\xe0" + b"compressed by telegram" * 30 + b"\xff\xd9"
PDF = b"%PDF-1.4 bien nhan cua bo phan mot cua"


async def _report_with(person: Person, send: list[tuple[str, str, bytes]]) -> str:
    """Walk a report to Hạ Long with the given evidence ("photo" or "document", name, bytes)."""
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")
    await person.press("Thái độ", expect="đơn vị")
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")
    await person.say("Cán bộ quát tháo người dân khi được hỏi hồ sơ đất đai.", expect="bằng chứng")
    for count, (kind, name, content) in enumerate(send, start=1):
        if kind == "photo":
            await person.send_photo(content, expect=str(count))
        else:
            await person.send_document(name, content, expect=str(count))
    await person.press("Xong" if send else "Bỏ qua", expect="ẩn danh")
    await person.press("Ẩn danh", expect="kiểm tra")
    return code_in((await person.press("Gửi phản ánh", expect="/status"))["text"])


def _documents(world: World, chat_id: int) -> list[dict[str, Any]]:
    """Return the documents the bot uploaded to a chat (not those it copied)."""
    return [m for m in world.sim.messages(chat_id) if m.get("method") == "sendDocument"]


def _gps_of(data: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(0x8825))


async def test_a_jpeg_document_arrives_without_gps_and_its_hash_is_the_receipts(
    world: World,
) -> None:
    original = gps_jpeg()
    assert _gps_of(original)  # the test image does carry a position
    lan = world.person(780001, "Lan")
    code = await _report_with(
        lan,
        [("document", "IMG_2041.JPG", original), ("photo", "", PHOTO), ("document", "a.pdf", PDF)],
    )
    # Every part of the alert is out once the PDF (the last piece) has been copied.
    await eventually(lambda: world.sim.count("copyMessage", HA_LONG_CHAT) == 2, wait=30)
    sent = _documents(world, HA_LONG_CHAT)[0]
    cleaned = world.sim.file_content(sent["document"]["file_id"])
    assert cleaned != original
    assert _gps_of(cleaned) == {} and b"PhoneMaker" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.size == (64, 48)
    # The citizen's own file name never reaches the unit; the unit is told what was removed.
    assert sent["document"].get("file_name") == "evidence.jpg"
    digest = hashlib.sha256(original).hexdigest()
    caption = sent.get("caption") or ""
    assert "siêu dữ liệu" in caption and digest in caption and code in caption
    # The compressed photo and the PDF are copied as they are: only the image was uploaded.
    assert len(_documents(world, HA_LONG_CHAT)) == 1

    mark = len(lan.messages)
    await lan.user.press_button(lan.with_button("Biên nhận"), "Biên nhận")
    receipt = await world.sim.wait_for_message(lan.id, contains="", after=mark)
    content = world.sim.file_content(receipt["document"]["file_id"])
    key = load_or_create_key(key_path(world.settings.database))
    verdict = verify(content, public_bytes(key))
    assert verdict.valid and verdict.document is not None
    assert verdict.document["evidence_sha256"][0] == digest
    assert hashlib.sha256(cleaned).hexdigest() not in verdict.document["evidence_sha256"]


async def test_an_image_that_cannot_be_cleaned_is_not_passed_on(world: World) -> None:
    # JPEG's first bytes but no image Pillow can decode: it could still carry GPS.
    broken = b"\xff\xd8\xff\xe1" + b"Exif\x00\x00 GPS 21.0N 107.0E" * 10
    minh = world.person(780002, "Minh")
    code = await _report_with(minh, [("document", "anh.jpg", broken)])
    notice = await world.sim.wait_for_message(HA_LONG_CHAT, contains="không chuyển", timeout=10)
    assert code in notice["text"]
    assert _documents(world, HA_LONG_CHAT) == []
    assert world.sim.count("copyMessage", HA_LONG_CHAT) == 0


def test_one_cleaning_for_every_channel() -> None:
    original = gps_jpeg()
    assert image_type(original) == "image/jpeg"
    assert image_type(PDF) is None
    assert _gps_of(strip_metadata(original, "image/jpeg")) == {}
    try:
        strip_metadata(PHOTO, "image/jpeg")
    except UnreadableImage:
        pass
    else:
        raise AssertionError("unreadable bytes must not pass as a cleaned image")


async def test_an_image_answered_as_a_file_reaches_the_unit_without_gps(world: World) -> None:
    hoa = world.person(780003, "Hoa")
    code = await _report_with(hoa, [])
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    officer = member(world, 900102, "Hùng", HA_LONG_CHAT)
    mark = len(hoa.messages)
    await officer.send("Chị gửi ảnh biên lai được không?", chat_id=HA_LONG_CHAT, reply_to=alert)
    question = await world.sim.wait_for_message(hoa.id, contains="Câu hỏi", after=mark)
    original = gps_jpeg()
    unit_mark = len(world.sim.messages(HA_LONG_CHAT))
    await hoa.user.send_document(
        "IMG_0007.JPG",
        content=original,
        mime_type="image/jpeg",
        caption="Ảnh biên lai",
        reply_to=question,
    )
    answer = await world.sim.wait_for_message(
        HA_LONG_CHAT, predicate=lambda m: "document" in m, after=unit_mark
    )
    cleaned = world.sim.file_content(answer["document"]["file_id"])
    assert _gps_of(cleaned) == {} and b"PhoneMaker" not in cleaned
    assert answer["document"].get("file_name") == "evidence.jpg"
    caption = answer.get("caption") or ""
    assert code in caption and "Ảnh biên lai" in caption and "siêu dữ liệu" in caption
    assert hashlib.sha256(original).hexdigest() in caption
    assert world.sim.count("copyMessage", HA_LONG_CHAT) == 0

"""Conflict-of-interest routing, repeated-misconduct patterns and signed receipts."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.cli import main
from bot.core.domain import SYSTEM, Draft, Report, ReportFields
from bot.core.integrity import clusters, matching, same_official
from bot.core.receipts import (
    key_path,
    load_or_create_key,
    public_bytes,
    public_text,
    receipt_document,
    sign,
    verify,
)
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    PROVINCE_CHAT,
    Person,
    World,
    code_in,
    current,
    eventually,
    member,
    press,
)

DESCRIPTION = "Chủ tịch phường yêu cầu nộp thêm tiền mới ký hồ sơ đất đai của tôi."


async def report_naming(
    person: Person, official: str, head: str, *, category: str = "Thái độ"
) -> str:
    """Walk a report to Hạ Long naming an official; `head` is the answer to the new question."""
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")
    await person.press(category, expect="đơn vị")
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.say(official, expect="lãnh đạo")
    await person.press(head, expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")
    await person.say(DESCRIPTION, expect="bằng chứng")
    await person.press("Bỏ qua", expect="ẩn danh")
    review = await person.press("Ẩn danh", expect="kiểm tra")
    assert official in review["text"]
    confirmation = await person.press("Gửi phản ánh", expect="/status")
    return code_in(confirmation["text"])


def chat_text(world: World, chat_id: int) -> str:
    return "\n".join(m.get("text") or "" for m in world.sim.messages(chat_id))


async def test_head_of_unit_goes_to_the_parent_and_the_unit_sees_no_content(
    world: World,
) -> None:
    lan = world.person(760001, "Lan")
    code = await report_naming(lan, "Chủ tịch Trần Văn Bình", "Có")
    receipt = lan.messages[-1]["text"]
    assert "UBND tỉnh Quảng Ninh" in receipt and "lãnh đạo của UBND phường Hạ Long" in receipt

    alert = await world.sim.wait_for_message(PROVINCE_CHAT, contains=code)
    assert "Trần Văn Bình" in alert["text"] and "⚖️" in alert["text"]
    notice = await world.sim.wait_for_message(HA_LONG_CHAT, contains="xung đột lợi ích")
    assert "UBND tỉnh Quảng Ninh" in notice["text"]
    # The unit concerned never sees the report: not its code, its words or its official.
    unit_chat = chat_text(world, HA_LONG_CHAT)
    for trace in (code, "Trần Văn Bình", "đất đai", DESCRIPTION[:20]):
        assert trace not in unit_chat

    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    assert (report.fields.unit_code, report.concerned_unit, report.conflict) == (
        "QN",
        "HL",
        "head",
    )
    status = await lan.say(f"/status {code}", expect=code)
    assert "UBND tỉnh Quảng Ninh" in status["text"] and "lãnh đạo" in status["text"]


@pytest.mark.parametrize("answer", ["Không", "Tôi không rõ"])
async def test_no_or_dont_know_stays_with_the_unit(world: World, answer: str) -> None:
    lan = world.person(760011, "Lan")
    code = await report_naming(lan, "Anh Tâm, bàn số 3", answer)
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    assert (report.fields.unit_code, report.concerned_unit, report.conflict) == ("HL", None, None)
    assert code not in chat_text(world, PROVINCE_CHAT)


async def test_admin_marked_conflict_routes_the_category_and_shows_in_units(world: World) -> None:
    admin = Person(world.sim, world.sim.user(ADMIN_ID))
    usage = await admin.say("/unit_conflict HL nope", expect="/unit_conflict")
    assert "CATEGORY" in usage["text"] or "LOẠI" in usage["text"]
    await admin.say("/unit_conflict HL bribe", expect="cấp trên")
    listing = await admin.say("/units", expect="Xung đột")
    assert "HL" in listing["text"]

    lan = world.person(760021, "Lan")
    await lan.say("/start", expect="đồng ý")
    await lan.press("Tôi đồng ý", expect="Chọn loại")
    await lan.press("hối lộ", expect="đơn vị")
    await lan.say("ha long", expect="ha long")
    await lan.press("UBND phường Hạ Long", expect="tiền")
    await lan.press("Bỏ qua", expect="cán bộ")
    await lan.press("Bỏ qua", expect="khi nào")
    await lan.press("Hôm nay", expect="ở đâu")
    await lan.press("Bỏ qua", expect="Mô tả")
    await lan.say(DESCRIPTION, expect="bằng chứng")
    await lan.press("Bỏ qua", expect="ẩn danh")
    await lan.press("Ẩn danh", expect="kiểm tra")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    await world.sim.wait_for_message(PROVINCE_CHAT, contains=code)
    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None and report.conflict == "marked"
    assert code not in chat_text(world, HA_LONG_CHAT)

    # Another category is not marked: it goes to the unit itself. Unmarking ends the routing.
    await admin.say("/unit_conflict HL bribe off", expect="chính đơn vị")
    assert not await world.db.integrity.is_conflicted("HL", "bribe")


async def test_a_routed_report_cannot_be_transferred_back_down(world: World) -> None:
    lan = world.person(760031, "Lan")
    code = await report_naming(lan, "Phó chủ tịch Lê Thị Hoa", "Có")
    alert = await world.sim.wait_for_message(PROVINCE_CHAT, contains=code)
    officer = member(world, 900101, "Tỉnh", PROVINCE_CHAT)
    await press(world, officer, alert, "Chuyển đơn vị")
    picker = await world.sim.wait_for_message(PROVINCE_CHAT, contains="Chọn đơn vị")
    await press(world, officer, picker, "UBND tỉnh Quảng Ninh ›")
    await eventually(lambda: "Đông Triều" in str(current(world, picker).get("buttons")))
    buttons = [label for label, _data in current(world, picker).get("buttons") or []]
    assert not any("Hạ Long" in label for label in buttons), buttons
    assert any("Đông Triều" in label for label in buttons), buttons

    report = await world.db.reports.report_by_code(code.replace("-", ""))
    assert report is not None
    workflow = world.app.bot_data["services"].workflow
    actor = await workflow.actor(officer.id, "Tỉnh")
    assert await workflow.transfer(report, actor, "HL", "Trả về đơn vị") is None
    assert await workflow.transfer(report, actor, "DT", "Đúng thẩm quyền") is not None


# -- patterns ----------------------------------------------------------------------------------


def test_names_match_across_diacritics_case_titles_and_typos() -> None:
    assert same_official("Nguyễn Văn Hùng", "nguyen van hung")
    assert same_official("Ông Nguyễn Văn Hùng, bàn số 3", "NGUYỄN VĂN HÙNG")
    assert same_official("Nguyễn Văn Hùng", "Nguyen Vn Hung")  # a letter left out
    assert same_official("Nguyễn Văn Hùng", "Nguyễn Văm Hùng")  # a letter mistyped
    assert not same_official("Nguyễn Văn Hùng", "Nguyễn Văn Dũng")
    assert not same_official("Trần Thị Mai", "Lê Văn Tâm")
    assert not same_official("", "Nguyễn Văn Hùng")


def _report(rid: int, unit: str, official: str, days_ago: float = 0) -> Report:
    return Report(
        id=rid,
        code=f"CODE{rid:04d}",
        status="new",
        fields=ReportFields(category="bribe", unit_code=unit, official=official),
        locale="vi",
        created_at=1_800_000_000 - days_ago * 86400,
    )


def test_similar_names_in_different_units_are_not_merged() -> None:
    here = _report(1, "HL", "Nguyễn Văn Hùng")
    others = [
        _report(2, "DT", "Nguyễn Văn Hùng"),
        _report(3, "HL", "nguyen van hung", days_ago=10),
        _report(4, "HL", "Nguyễn Văn Hùng", days_ago=120),  # outside the 90 days
    ]
    assert [r.id for r in matching(here, others)] == [3]
    groups = clusters([here, *others])
    assert [sorted(r.id for r in g) for g in groups] == [[1, 3]]


async def _stored(world: World, user_id: int, official: str) -> Report:
    db = world.db
    fields = ReportFields(
        category="conduct",
        unit_code="HL",
        description=DESCRIPTION,
        anonymous=True,
        official=official,
        official_head="no",
    )
    await db.drafts.save_draft(Draft(user_id, user_id, 14, fields))
    services = world.app.bot_data["services"]
    report = await services.workflow.submit(user_id, "vi")
    assert report is not None
    services.delivery.wake()
    return report


async def test_a_third_report_escalates_the_pattern_once(world: World) -> None:
    first = await _stored(world, 761001, "Nguyễn Văn Hùng")
    second = await _stored(world, 761002, "nguyen van hung, bàn 2")
    assert code_of(first) not in chat_text(world, PROVINCE_CHAT)
    third = await _stored(world, 761003, "Ông Nguyễn Văn Hung")
    copy = await world.sim.wait_for_message(PROVINCE_CHAT, contains=code_of(third))
    assert "3" in copy["text"] and code_of(first) in copy["text"]
    assert code_of(second) in copy["text"]
    fourth = await _stored(world, 761004, "Nguyễn văn Hùng")
    await eventually(lambda: code_of(fourth) in chat_text(world, HA_LONG_CHAT))
    # Once per cluster: the fourth report joins it without a second escalation.
    titles = [(m.get("text") or "").split("\n")[0] for m in world.sim.messages(PROVINCE_CHAT)]
    assert not any(code_of(fourth) in title for title in titles), titles
    entries = await world.db.reports.audit_of(third.id)
    assert [e.action for e in entries].count("pattern_escalated") == 1
    assert entries[-1].actor == SYSTEM
    # The unit concerned's own alerts never show the pattern.
    assert "cùng cán bộ" not in chat_text(world, HA_LONG_CHAT)
    admin = Person(world.sim, world.sim.user(ADMIN_ID))
    listing = await admin.say("/patterns", expect="90")
    assert "4" in listing["text"] and code_of(first) in listing["text"]
    for user_id in ("761001", "761002"):
        assert user_id not in listing["text"]


def code_of(report: Report) -> str:
    return f"{report.code[:4]}-{report.code[4:]}"


# -- receipts ----------------------------------------------------------------------------------


def _receipt(key: Ed25519PrivateKey) -> bytes:
    report = _report(7, "HL", "Nguyễn Văn Hùng")
    document = receipt_document(report, "UBND phường Hạ Long", ["ab" * 32])
    return sign(document, key)


def test_a_receipt_verifies_and_refuses_any_change_or_another_key() -> None:
    key = Ed25519PrivateKey.generate()
    data = _receipt(key)
    verdict = verify(data, public_bytes(key))
    assert verdict.valid and verdict.document is not None
    assert verdict.document["unit"] == "HL"
    # Every single byte changed makes it invalid.
    for index in range(0, len(data), 7):
        changed = bytearray(data)
        changed[index] = (changed[index] + 1) % 256
        assert not verify(bytes(changed), public_bytes(key)).valid, index
    other = Ed25519PrivateKey.generate()
    assert not verify(_receipt(other), public_bytes(key)).valid
    assert not verify(b"not json", public_bytes(key)).valid


def test_a_receipt_names_no_reporter() -> None:
    report = _report(8, "HL", "X")
    report.fields.contact_name = "Trần Thị Bình"
    report.fields.contact_phone = "0912345678"
    text = _receipt(Ed25519PrivateKey.generate()).decode()
    document: dict[str, Any] = json.loads(text)["receipt"]
    assert set(document) == {
        "format",
        "code",
        "submitted_at",
        "category",
        "unit",
        "unit_name",
        "description_sha256",
        "evidence_sha256",
    }


def test_the_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = key_path(tmp_path / "bot.db")
    key = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_text(load_or_create_key(path)) == public_text(key)


def test_processes_creating_the_key_at_once_share_one(tmp_path: Path) -> None:
    path = key_path(tmp_path / "bot.db")
    start = threading.Barrier(8)

    def create() -> str:
        start.wait()
        return public_text(load_or_create_key(path))

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _n: create(), range(8)))
    # One key for all of them, whole, owner-only, and no half-written drafts left beside it.
    assert keys == {public_text(load_or_create_key(path))}
    assert len(path.read_bytes()) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


async def test_the_key_is_made_at_the_first_start(world: World) -> None:
    # Before anyone asked for a receipt or the public key, it is there to be published.
    path = key_path(world.settings.database)
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    lan = world.person(762101, "Lan")
    shown = await lan.say("/publickey", expect="")
    assert public_text(load_or_create_key(path)) in shown["text"]
    assert path.read_bytes() == before


def test_verify_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = Ed25519PrivateKey.generate()
    good = tmp_path / "receipt.json"
    good.write_bytes(_receipt(key))
    assert main(["verify", str(good), "--key", public_text(key)]) == 0
    assert capsys.readouterr().out.startswith("valid")
    bad = tmp_path / "bad.json"
    bad.write_bytes(good.read_bytes().replace(b"HL", b"DT"))
    assert main(["verify", str(bad), "--key", public_text(key)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("invalid") and len(out.strip().splitlines()) == 1


async def test_the_receipt_button_sends_a_signed_file(world: World) -> None:
    lan = world.person(762001, "Lan")
    code = await report_naming(lan, "Anh Tâm", "Không")
    mark = len(lan.messages)
    await lan.user.press_button(lan.with_button("Biên nhận"), "Biên nhận")
    sent = await world.sim.wait_for_message(lan.id, contains="", after=mark)
    assert "document" in sent
    content = world.sim.file_content(sent["document"]["file_id"])
    key = load_or_create_key(key_path(world.settings.database))
    verdict = verify(content, public_bytes(key))
    assert verdict.valid and verdict.document is not None
    assert verdict.document["code"] == code.replace("-", "")
    assert "Lan" not in content.decode() and "762001" not in content.decode()
    shown = await lan.say("/publickey", expect=public_text(key)[:10])
    assert public_text(key) in shown["text"]

"""Callback data: each format built, parsed and routed from bot/telegram/callbacks.py alone.

The first half checks the formats themselves; the second drives the real application against
the simulated Bot API with data a modified client could send: not whole, or pressed in a chat
where that button never is. Either way the press is answered and nothing changes.
"""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import CallbackQueryHandler

from bot.app import build_application
from bot.config import UNIT_CODE_RE
from bot.core.domain import DeclineReason, Status
from bot.core.parsing import normalize_code
from bot.core.workflow import Action
from bot.sim import BotApiSimulator, SimUser
from bot.telegram import callbacks as cb
from handlers import common
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    VAN_DON_CHANNEL,
    World,
    code_in,
    current,
    labels,
    make_settings,
    member,
    press_data,
    quick_report,
    walk_to_review,
)

# One value of every format, with its wire string: the strings tests and old buttons use.
SAMPLES: dict[str, cb.CallbackData] = {
    "st:ack:42": cb.AlertAction(Action.ACKNOWLEDGE, 42),
    "tb:42:QN:0": cb.TransferBrowse(42, "QN", 0),
    "tb:42:-:3": cb.TransferBrowse(42, None, 3),
    "tu:42:VD-MC": cb.TransferChoose(42, "VD-MC"),
    "dr:42:notmis": cb.DeclineChoose(42, DeclineReason.NOT_MISCONDUCT),
    "tx:42": cb.PickerClose(42),
    "bb:-1001000000077:-:0": cb.BindBrowse(-1001000000077, None, 0),
    "bb:-1001000000077:HL:1": cb.BindBrowse(-1001000000077, "HL", 1),
    "bd:-1001000000077:HL.MC_2": cb.BindChoose(-1001000000077, "HL.MC_2"),
    "ans:42": cb.Answer(42),
    "fb:yes:42": cb.Verdict(True, 42),
    "fb:no:42": cb.Verdict(False, 42),
    "rate:42:5": cb.Rating(42, 5),
    "rcpt:42": cb.ReceiptRequest(42),
    "fg:yes": cb.Forget(True),
    "fg:no": cb.Forget(False),
    "lang:vi": cb.Language("vi"),
    "consent:yes": cb.Consent(True),
    "consent:no": cb.Consent(False),
    "report:new": cb.NewReport(),
    "a:category:bribe": cb.ReportAnswer("category", "bribe"),
    "a:unit:VD-MC": cb.ReportAnswer("unit", "VD-MC"),
    "a:review:edit_description": cb.ReportAnswer("review", "edit_description"),
    "ub:-:0": cb.UnitBrowse(None, 0),
    "ub:QN:2": cb.UnitBrowse("QN", 2),
}

# Not one of them: each differs from a good string by a character or two.
FORGED = (
    "st:ack:42\n",
    "st:ack:42 ",
    "st:ack:42:",
    "st:ack:42x",
    " st:ack:42",
    "ST:ack:42",
    "st:ack:042",
    "st:ack:+42",
    "st:ack:-42",
    "st:ack:٤٢",  # Arabic-Indic digits: int() would take them
    "st:ack:0",
    "st:ack:1234567890123",
    "st:zzz:42",
    "st:ack",
    "st:42:ack",
    "tb:42:QN:0\n",
    "tb:42:QN:1000",
    "tb:42:Q N:0",
    "tb:42::0",
    "tu:42:QN\n",
    "tu:42:" + "A" * 25,
    "dr:42:zzz",
    "dr:42:dup\n",
    "tx:42\n",
    "bb:-100:HL:0\n",
    "bb:--100:HL:0",
    "bd:-0100:HL",
    "ans:abc",
    "ans:42\n",
    "fb:maybe:42",
    "fb:yes:42\n",
    "rate:42:0",
    "rate:42:6",
    "rate:42:5\n",
    "fg:yes\n",
    "fg:",
    "fg:YES",
    "lang:vi\n",
    "lang:vie",
    "consent:yes\n",
    "consent:",
    "report:new\n",
    "report:new:",
    "report:newer",
    "a:category:bribe\n",
    "a:Category:bribe",
    "a:category:",
    "a::bribe",
    "a:category:bri be",
    "a:category:" + "x" * 41,
    "ub:QN:0\n",
    "ub::0",
    "ub:QN:-1",
)


# -- the formats -------------------------------------------------------------------------------


def test_every_format_has_a_sample() -> None:
    assert {type(value) for value in SAMPLES.values()} == set(cb.FORMATS.values())


@pytest.mark.parametrize("wire", SAMPLES)
def test_build_then_parse_gives_back_the_same_value(wire: str) -> None:
    value = SAMPLES[wire]
    kind = type(value)
    assert value.pack() == wire
    assert kind.parse(wire) == value
    assert kind.pattern().match(wire) is not None
    # Nothing else reads it: one string, one format.
    others = [k for k in cb.FORMATS.values() if k is not kind and k.parse(wire) is not None]
    assert others == []
    assert cb.family(wire) is kind


@pytest.mark.parametrize("data", FORGED)
def test_only_the_whole_string_is_read(data: str) -> None:
    for kind in cb.FORMATS.values():
        assert kind.parse(data) is None, (kind, data)
        assert kind.pattern().match(data) is None, (kind, data)


def test_field_types_are_read_as_their_types() -> None:
    press = cb.AlertAction.parse("st:ext:7")
    assert press is not None and press.action is Action.EXTEND and press.report_id == 7
    decline = cb.DeclineChoose.parse("dr:7:dup")
    assert decline is not None and decline.reason is DeclineReason.DUPLICATE
    browse = cb.BindBrowse.parse("bb:-1001000000077:-:12")
    assert browse == cb.BindBrowse(-1001000000077, None, 12)
    assert cb.Verdict.parse("fb:no:3") == cb.Verdict(False, 3)
    assert cb.Rating.parse("rate:3:4") == cb.Rating(3, 4)
    assert cb.Forget.parse(None) is None
    assert cb.Forget.parse("fg:yes" + " " * 64) is None


def _oversized(kind: type[cb.CallbackData]) -> cb.CallbackData | None:
    """Return a value of `kind` with one field far too long, if a field can be."""
    hints = typing.get_type_hints(kind, include_extras=True)
    values: dict[str, Any] = {}
    grown = False
    for field in dataclasses.fields(kind):
        hint = hints[field.name]
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if isinstance(base, type) and issubclass(base, Enum):
            values[field.name] = next(iter(base))
        elif base is bool:
            values[field.name] = True
        elif typing.get_origin(base) is typing.Literal:
            values[field.name] = typing.get_args(base)[0]
        elif base is int and not grown:
            values[field.name], grown = 10**70, True
        elif base is int:
            values[field.name] = 1
        elif not grown:
            values[field.name], grown = "A" * 70, True
        else:
            values[field.name] = "A"
    return kind(**values) if grown else None


@pytest.mark.parametrize("kind", list(cb.FORMATS.values()), ids=lambda k: k.prefix)
def test_more_than_64_bytes_is_refused_when_built(kind: type[cb.CallbackData]) -> None:
    value = _oversized(kind)
    if value is None:
        # Only yes/no fields or none: every value it can take is listed in SAMPLES, and short.
        assert all(len(v.pack().encode()) <= cb.MAX_BYTES for v in SAMPLES.values())
        return
    with pytest.raises(ValueError, match="64 bytes"):
        value.pack()


def test_a_value_outside_its_field_is_refused_when_built() -> None:
    for bad in (
        cb.TransferChoose(42, "Q N"),
        cb.TransferChoose(42, "HL\n"),
        cb.AlertAction(Action.ACKNOWLEDGE, -1),
        cb.Rating(42, 6),
        cb.Language("vietnamese"),
    ):
        with pytest.raises(ValueError):
            bad.pack()
    with pytest.raises(ValueError, match="64 bytes"):
        cb.sized("ub:" + "đ" * 31)
    assert cb.sized("ub:QN:0") == "ub:QN:0"


def test_a_unit_code_is_matched_whole() -> None:
    # Unit codes travel in callback data; one ending in a newline could never be pressed.
    assert UNIT_CODE_RE.match("VD-MC") is not None
    assert UNIT_CODE_RE.match("HL\n") is None


def test_patterns_fix_fields_and_are_anchored_at_both_ends() -> None:
    refuse = cb.Consent.pattern(given=False)
    assert refuse.match("consent:no") and not refuse.match("consent:yes")
    assert not refuse.match("consent:no\n")
    for kind in cb.FORMATS.values():
        source = kind.pattern().pattern
        assert source.startswith(r"\A") and source.endswith(r"\Z"), source
    with pytest.raises(TypeError):
        cb.Consent.pattern(nothing=True)


def test_a_prefix_cannot_overlap_another() -> None:
    with pytest.raises(TypeError, match="overlaps"):

        @dataclasses.dataclass(frozen=True)
        class Clash(cb.CallbackData, prefix="st", chats=cb.PRIVATE):
            report_id: int


# -- registration ------------------------------------------------------------------------------


async def test_every_button_handler_is_routed_by_a_format(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    app = build_application(make_settings(sim, tmp_path))
    routed: set[type[cb.CallbackData]] = set()
    for group, handlers in app.handlers.items():
        for handler in handlers:
            if not isinstance(handler, CallbackQueryHandler):
                continue
            if handler.pattern is None:
                # The two catch-alls: the check of every press, and the stale-button answer.
                assert (group, handler.callback) in (
                    (-1, common.check_button),
                    (0, common.expired_button),
                ), handler.callback
                continue
            kind = cb.format_of(handler.pattern)
            assert kind is not None, (handler.callback, handler.pattern)
            routed.add(kind)
    assert routed == set(cb.FORMATS.values())


# -- forged data: not whole ----------------------------------------------------------------------

OFFICER_HL = 900102
NOT_ACTIVE = "Nút này không còn hiệu lực."
NOT_HERE = "Xin lỗi, nút này không sử dụng được ở đây."
ADMINS_ONLY = "Xin lỗi, lệnh này chỉ dành cho quản trị viên."


async def reported(world: World, user_id: int = 733001) -> tuple[SimUser, int, dict[str, Any]]:
    """A citizen reports to Hạ Long; return them, the report's id and the unit's alert."""
    citizen = world.person(user_id, "Lan", last_name="Nguyễn Thị")
    code = await quick_report(citizen)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    report = await world.db.reports.report_by_code(normalize_code(code) or "")
    assert report is not None
    return citizen.user, report.id, alert


async def settled(world: World, *chat_ids: int) -> list[int]:
    """Send a harmless command from the admin; once answered, earlier updates are handled."""
    mark = len(world.sim.messages(ADMIN_ID))
    await world.sim.user(ADMIN_ID).send("/cancel")
    await world.sim.wait_for_message(ADMIN_ID, after=mark)
    return [len(world.sim.messages(chat_id)) for chat_id in chat_ids]


async def test_data_with_trailing_junk_changes_nothing(world: World) -> None:
    citizen, rid, alert = await reported(world)
    officer = member(world, OFFICER_HL, "Hùng")
    before = await settled(world, HA_LONG_CHAT, citizen.id)
    for data in (f"st:ack:{rid}\n", f"st:ack:{rid} ", f"st:ack:{rid}:", f"st:ack:0{rid}"):
        assert await press_data(world, officer, alert, data) == NOT_ACTIVE, data
    report = await world.db.reports.get_report(rid)
    assert report is not None and report.status == Status.NEW
    assert [e.action for e in await world.db.reports.audit_of(rid)] == ["submitted"]
    assert await settled(world, HA_LONG_CHAT, citizen.id) == before
    # The real button still works.
    assert "Đã cập nhật" in await press_data(world, officer, alert, f"st:ack:{rid}")


async def test_consent_with_trailing_junk_is_not_consent(world: World) -> None:
    lan = world.person(733011, "Lan")
    question = await lan.say("/start", expect="đồng ý")
    for data in ("consent:yes\n", "consent:yes ", "report:new\n"):
        assert await press_data(world, lan.user, question, data) == NOT_ACTIVE, data
    assert await settled(world, lan.id) == [len(lan.messages)]
    assert not any("Chọn loại" in str(m.get("text")) for m in lan.messages)
    assert await world.db.drafts.get_draft(lan.id) is None
    _locale, consented = await world.db.users.get_or_create_user(lan.id, "vi")
    assert not consented
    await lan.press("Tôi đồng ý", expect="Chọn loại")


# -- buttons pressed where they never are --------------------------------------------------------


@pytest.mark.parametrize("chat_id", [HA_LONG_CHAT, VAN_DON_CHANNEL], ids=["group", "channel"])
async def test_a_citizens_buttons_in_a_unit_chat_change_nothing(
    world: World, chat_id: int
) -> None:
    # The reporter herself is in the unit's chat and presses on a message there.
    lan = world.person(733021, "Lan")
    if chat_id == VAN_DON_CHANNEL:
        await walk_to_review(
            lan,
            "Cán bộ một cửa hẹn ba lần vẫn chưa trả kết quả hồ sơ.",
            unit_query="mot cua",
            unit_button="Bộ phận Một cửa Vân Đồn",
        )
    else:
        await walk_to_review(lan, "Cán bộ quát tháo người dân khi được hỏi hồ sơ.")
    code = code_in((await lan.press("Gửi phản ánh", expect="/status"))["text"])
    alert = await world.sim.wait_for_message(chat_id, contains=code)
    report = await world.db.reports.report_by_code(normalize_code(code) or "")
    assert report is not None
    member(world, lan.id, "Lan", chat_id)
    shown = labels(current(world, alert))
    assert shown
    before = await settled(world, chat_id, lan.id)
    rid = report.id
    for data in (
        "lang:en",
        "consent:yes",
        "consent:no",
        "report:new",
        "fg:yes",
        f"fb:yes:{rid}",
        f"fb:no:{rid}",
        f"rate:{rid}:5",
        f"ans:{rid}",
    ):
        assert await press_data(world, lan.user, alert, data) == NOT_HERE, data
    assert await settled(world, chat_id, lan.id) == before
    assert labels(current(world, alert)) == shown
    assert await world.db.drafts.get_draft(lan.id) is None
    assert await world.db.users.user_locale(lan.id) == "vi"
    after = await world.db.reports.get_report(rid)
    assert after == report
    assert await world.db.reports.reporter_chat(rid) == lan.id


async def test_a_unit_s_buttons_in_a_private_chat_change_nothing(world: World) -> None:
    citizen, rid, alert = await reported(world)
    confirmation = world.sim.messages(citizen.id)[-1]
    admin = world.sim.user(ADMIN_ID)
    before = await settled(world, HA_LONG_CHAT, citizen.id)
    # Officers' data in the citizen's private chat: it names no alert or picker there.
    for data in (
        f"st:ack:{rid}",
        f"st:dec:{rid}",
        f"tb:{rid}:-:0",
        f"tu:{rid}:DT",
        f"dr:{rid}:dup",
        f"tx:{rid}",
    ):
        assert await press_data(world, citizen, confirmation, data) == NOT_ACTIVE, data
    # Binding a chat is for admins, and only the tree offered in their private chat.
    assert await press_data(world, citizen, confirmation, f"bd:{HA_LONG_CHAT}:DT") == ADMINS_ONLY
    # An admin's private chat holds alerts only where the bot sent one; this is not one.
    hello = world.sim.messages(ADMIN_ID)[-1]
    assert await press_data(world, admin, hello, f"st:ack:{rid}") == NOT_ACTIVE
    # And the admins' binding tree pressed in a unit's group binds nothing.
    member(world, ADMIN_ID, "Quản trị")
    for data in (f"bd:{HA_LONG_CHAT}:DT", f"bb:{HA_LONG_CHAT}:-:0"):
        assert await press_data(world, admin, alert, data) == NOT_HERE, data
    assert [u.code for u in await world.db.units.units_by_chat(HA_LONG_CHAT)] == ["HL"]
    assert await world.db.admin.admin_log() == []
    report = await world.db.reports.get_report(rid)
    assert report is not None and report.status == Status.NEW
    assert [e.action for e in await world.db.reports.audit_of(rid)] == ["submitted"]
    assert labels(current(world, alert))
    assert await settled(world, HA_LONG_CHAT, citizen.id) == before

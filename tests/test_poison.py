"""An update python-telegram-bot cannot read is set aside, and stops nothing else.

Each update of a batch is read on its own: one that fails goes to the quarantine table with its
error and size, its offset is confirmed, the admins are told once, and every other update is
handled as usual, whether the bad one came first, in the middle, or was stored before a crash.
Nothing of what it said reaches the log, the notice or /quarantine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, running
from bot.sim import BotApiSimulator
from bot.store.repository import Repository
from bot.telegram.wire import withhold_update_dumps
from tests.conftest import ADMIN_ID, FakeClock, World, eventually, make_settings
from tests.test_bad_input import to_description

HELP = "/myreports"  # a line of the answer to /help
POISONER = 733001
POISONER_NAME = "Bí Mật"
POISON_TEXT = "Số điện thoại của tôi là 0912 345 678"
SET_ASIDE = "không đọc được và đã được cách ly"

# Shapes python-telegram-bot 22 fails on: it stops at the first, and the batch with it.
POISONS: dict[str, dict[str, Any]] = {
    "reply-markup-string": {"reply_markup": {"inline_keyboard": "không phải danh sách"}},
    "reply-markup-number": {"reply_markup": 5},
    "entity-without-offset": {"entities": [{"type": "bold"}]},
}


def raw_message(
    update_id: int | None, user_id: int, name: str, text: str, **extra: Any
) -> dict[str, Any]:
    """A message update as Telegram sends it, from a person in their private chat."""
    person = {"id": user_id, "is_bot": False, "first_name": name}
    message: dict[str, Any] = {
        "message_id": 1,
        "date": 1_800_000_000,
        "chat": {"id": user_id, "type": "private", "first_name": name},
        "from": person,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    message.update(extra)
    update: dict[str, Any] = {"message": message}
    if update_id is not None:
        update = {"update_id": update_id, **update}
    return update


def poison(update_id: int | None, shape: str = "reply-markup-string") -> dict[str, Any]:
    """An update from POISONER that python-telegram-bot cannot read."""
    return raw_message(update_id, POISONER, POISONER_NAME, POISON_TEXT, **POISONS[shape])


def quarantine_rows(database: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        return conn.execute("SELECT update_id, kind, error, size FROM quarantine").fetchall()


def assert_nothing_personal_logged(caplog: pytest.LogCaptureFixture) -> None:
    text = caplog.text
    for secret in (str(POISONER), POISONER_NAME, POISON_TEXT, "0912 345 678"):
        assert secret not in text, secret


def assert_ptb_did_not_parse(caplog: pytest.LogCaptureFixture) -> None:
    # The line python-telegram-bot logs, with the raw batch, when it fails to parse one.
    assert "Error while parsing updates" not in caplog.text


@pytest.mark.parametrize("shape", POISONS)
@pytest.mark.parametrize("position", ["first", "middle"])
async def test_an_unreadable_update_is_set_aside_and_the_batch_handled(
    world: World, caplog: pytest.LogCaptureFixture, position: str, shape: str
) -> None:
    caplog.set_level(logging.INFO)
    sim = world.sim
    an, binh = sim.add_user(733101, "An"), sim.add_user(733102, "Bình")
    sim.add_user(POISONER, POISONER_NAME)
    good = [raw_message(None, an.id, "An", "/help"), raw_message(None, binh.id, "Bình", "/help")]
    bad = poison(None, shape)
    # Queued in one go, they reach the bot as one batch of getUpdates.
    batch = [bad, *good] if position == "first" else [good[0], bad, good[1]]
    queued = [sim.queue_raw_update(update) for update in batch]
    bad_id = queued[batch.index(bad)]["update_id"]
    for person in (an, binh):
        await sim.wait_for_message(person.id, contains=HELP, timeout=5)
    # Its offset is confirmed: Telegram does not send it again.
    await eventually(lambda: sim.pending_updates == [])
    rows = quarantine_rows(world.settings.database)
    assert [(row[0], row[1]) for row in rows] == [(bad_id, "message")]
    assert rows[0][2].startswith(("TypeError", "AttributeError")) and rows[0][3] > 100
    assert sim.messages(POISONER) == []
    notice = await sim.wait_for_message(ADMIN_ID, contains=SET_ASIDE, timeout=5)
    assert str(bad_id) in notice["text"]
    # What the admin can read names it without a word of its content.
    mark = len(sim.messages(ADMIN_ID))
    await sim.user(ADMIN_ID).send("/quarantine")
    listing = await sim.wait_for_message(ADMIN_ID, contains=str(bad_id), after=mark)
    for text in (notice["text"], listing["text"]):
        for secret in (str(POISONER), POISONER_NAME, "0912"):
            assert secret not in text
    assert_nothing_personal_logged(caplog)
    assert_ptb_did_not_parse(caplog)


async def test_admins_are_told_once_and_an_update_sent_again_is_set_aside_once(
    world: World,
) -> None:
    sim = world.sim
    an = sim.add_user(733103, "An")
    for update_id in (9_001, 9_002):
        sim.queue_raw_update(poison(update_id))
    await eventually(lambda: len(quarantine_rows(world.settings.database)) == 2)
    # Telegram sends one of them again, as it does when the bot died before confirming it.
    sim.queue_raw_update(poison(9_002))
    sim.queue_raw_update(raw_message(9_003, an.id, "An", "/help"))
    await sim.wait_for_message(an.id, contains=HELP, timeout=5)
    await asyncio.sleep(0.3)
    assert len(quarantine_rows(world.settings.database)) == 2
    notices = [m for m in sim.messages(ADMIN_ID) if SET_ASIDE in m["text"]]
    assert len(notices) == 1


async def test_an_unreadable_update_stored_before_a_crash_is_set_aside_at_restart(
    sim: BotApiSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(sim, tmp_path)
    an, binh = sim.add_user(733201, "An"), sim.add_user(733202, "Bình")
    # What an earlier run stored without reading it, then died before handling any of it.
    async with Repository(settings.database) as db:
        stored = [
            raw_message(300, an.id, "An", "/help"),
            poison(301),
            raw_message(302, binh.id, "Bình", "/help"),
        ]
        await db.inbound.store_updates([(u["update_id"], _json(u)) for u in stored])
    app = build_application(settings, clock=FakeClock())
    async with running(app):
        for person in (an, binh):
            await sim.wait_for_message(person.id, contains=HELP, timeout=5)
        await sim.wait_for_message(ADMIN_ID, contains=SET_ASIDE, timeout=5)
        db = app.bot_data["services"].db
        await eventually(lambda: _left(settings.database) == 0)
        assert [p.update_id for p in await db.inbound.quarantined()] == [301]
    assert [row[0] for row in quarantine_rows(settings.database)] == [301]
    assert_nothing_personal_logged(caplog)
    assert_ptb_did_not_parse(caplog)


async def test_a_lone_surrogate_is_read_as_a_replacement_character(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim = world.sim
    lan = world.person(733301, "Lan")
    await to_description(lan)
    mark = len(lan.messages)
    # JSON may carry half of a UTF-16 pair as an escape; no UTF-8 text can hold it.
    sim.queue_raw_update(
        '{"message": {"message_id": 90, "date": 1800000000,'
        ' "chat": {"id": 733301, "type": "private", "first_name": "Lan\\ud800"},'
        ' "from": {"id": 733301, "is_bot": false, "first_name": "Lan\\ud800"},'
        ' "text": "C\\u00e1n b\\u1ed9 \\ud800 \\u0111\\u00f2i ti\\u1ec1n \\udfff'
        ' m\\u1edbi nh\\u1eadn h\\u1ed3 s\\u01a1."}}'
    )
    await sim.wait_for_message(lan.id, contains="bằng chứng", after=mark, timeout=5)
    draft = await world.db.drafts.get_draft(lan.id)
    assert draft is not None
    assert draft.fields.description == "Cán bộ \ufffd đòi tiền \ufffd mới nhận hồ sơ."
    assert quarantine_rows(world.settings.database) == []
    for secret in ("733301", "đòi tiền"):
        assert secret not in caplog.text


def _json(update: dict[str, Any]) -> str:
    return json.dumps(update, ensure_ascii=False)


def _left(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM inbound").fetchone()[0])


def test_ptb_log_lines_that_would_print_an_update_keep_its_content_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Our own reading replaces python-telegram-bot's, so these lines no longer come; should one
    # still come, it says what happened and nothing of what was sent.
    withhold_update_dumps()
    data = [poison(1)]
    for logger, line in (
        ("telegram.ext.ExtBot", "Error while parsing updates! Received data was %r"),
        ("telegram.ext.Application", "Error while building CallbackContext for update %s."),
        ("telegram.request.BaseRequest", 'Can not load invalid JSON data: "%s"'),
    ):
        logging.getLogger(logger).critical(line, data, exc_info=ValueError(POISON_TEXT))
    assert_nothing_personal_logged(caplog)
    assert caplog.text.count("content withheld") == 3

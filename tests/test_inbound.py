"""Updates are stored before Telegram is told they arrived: neither a crash nor a replay loses
or repeats them; webhook mode answers 200 only for a stored update with the right secret."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_application, running
from bot.config import Settings, WebhookConfig
from bot.sim import BotApiSimulator
from bot.store.migrations import MIGRATIONS
from bot.store.repository import Repository
from tests.conftest import FakeClock, Person, eventually, make_settings
from tests.test_restart import shut_down, start_bot, write_config

SECRET = "test-secret_token-1"


async def test_updates_confirmed_to_telegram_survive_kill_9(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    person = Person(sim, sim.add_user(731001, "Hải", language_code="vi"))
    first = await start_bot(config, log)
    try:
        await person.say("/start", expect="đồng ý", wait=30)
        # The bot's next answer hangs, so the messages behind it wait in the bot, fetched and
        # confirmed to Telegram but not yet handled, when the process is killed.
        sim.inject("sendMessage", status=200, delay=5.0, chat_id=person.id)
        commands = ["/help", "/privacy", "/language", "/myreports"]
        for command in commands:
            await person.user.send(command)
        await eventually(lambda: not sim.pending_updates, wait=15)
        # The welcome with the consent question, then the reply that hangs.
        await eventually(lambda: sim.count("sendMessage", person.id) >= 2, wait=15)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    # Telegram holds none of them any more: only the bot's database does.
    assert sim.pending_updates == []
    texts = "\n".join(str(m.get("text")) for m in person.messages)
    assert "/language" not in texts and "chọn ngôn ngữ" not in texts

    second = await start_bot(config, log)
    try:
        await sim.wait_for_message(person.id, contains="chọn ngôn ngữ", timeout=30)
        await sim.wait_for_message(person.id, contains="chưa gửi phản ánh", timeout=30)
        await sim.wait_for_message(person.id, contains="/myreports", timeout=30)  # the help
    finally:
        await shut_down(second)
    # Each command answered; the one in flight at the kill may have been answered twice.
    replies = [str(m.get("text")) for m in person.messages]
    assert sum("chọn ngôn ngữ" in t for t in replies) == 1
    assert sum("chưa gửi phản ánh" in t for t in replies) == 1


async def test_a_replayed_update_is_stored_and_handled_once(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    app = build_application(make_settings(sim, tmp_path), clock=FakeClock())
    async with running(app):
        db = app.bot_data["services"].db
        raw = {
            "update_id": 10_000_000,
            "message": {
                "message_id": 1,
                "date": 1_800_000_000,
                "chat": {"id": 731002, "type": "private", "first_name": "Hoà"},
                "from": {"id": 731002, "is_bot": False, "first_name": "Hoà"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        sim.add_user(731002, "Hoà")
        assert await db.inbound.store_updates([(10_000_000, json.dumps(raw))]) == [10_000_000]
        assert await db.inbound.store_updates([(10_000_000, json.dumps(raw))]) == []
        inbound_rows = await db.inbound.unhandled_updates()
        assert [uid for uid, _ in inbound_rows] == [10_000_000]
        await sim.wait_for_message(731002, contains="/myreports", timeout=10)
        await asyncio.sleep(0.3)
        assert await db.inbound.unhandled_updates() == []
        assert len(sim.messages(731002)) == 1


async def test_an_update_answered_as_the_bot_stops_is_not_answered_again_at_the_next_start(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.add_user(731003, "Hoà")
    raw = help_update(10_000_001, 731003, "Hoà")
    settings = make_settings(sim, tmp_path)
    app = build_application(settings, clock=FakeClock())
    async with running(app):
        db = app.bot_data["services"].db
        deleting = asyncio.Event()
        delete = db.inbound.updates_handled

        async def stuck(update_ids: Sequence[int]) -> None:
            # The reply went out; the bot is told to stop while the row's deletion is on its
            # way. The deletion stop() makes on its way out goes through.
            if not deleting.is_set():
                deleting.set()
                await asyncio.Event().wait()
            await delete(update_ids)

        monkeypatch.setattr(db.inbound, "updates_handled", stuck)
        await db.inbound.store_updates([(10_000_001, json.dumps(raw))])
        await asyncio.wait_for(deleting.wait(), 10)
        assert len(sim.messages(731003)) == 1
    # Leaving `running` stopped the bot: the cut-short deletion was finished on the way out.
    monkeypatch.undo()
    again = build_application(settings, clock=FakeClock())
    async with running(again):
        assert await again.bot_data["services"].db.inbound.unhandled_updates() == []
        await asyncio.sleep(0.5)
    assert len(sim.messages(731003)) == 1


async def test_webhook_needs_the_secret_and_answers_after_storing(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        make_settings(sim, tmp_path),
        webhook=WebhookConfig(
            url="https://bot.invalid/telegram/hook", secret_token=SECRET, listen="127.0.0.1"
        ),
    )
    sim.add_user(731003, "Khoa")
    app = build_application(settings, clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        update = {
            "update_id": 500,
            "message": {
                "message_id": 7,
                "date": 1_800_000_000,
                "chat": {"id": 731003, "type": "private", "first_name": "Khoa"},
                "from": {"id": 731003, "is_bot": False, "first_name": "Khoa"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        async with httpx.AsyncClient() as client:
            for headers in (
                {},
                {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
            ):
                answer = await client.post(url, json=update, headers=headers)
                assert answer.status_code == 403
            assert await services.db.inbound.highest_update_id() is None
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert (await client.post(url, content=b"{", headers=good)).status_code == 415
            bad = {**good, "Content-Type": "application/json"}
            assert (await client.post(url, content=b"[1]", headers=bad)).status_code == 400
            answer = await client.post(url, json=update, headers=good)
            assert answer.status_code == 200
            assert await services.db.inbound.highest_update_id() == 500
            # Telegram sends it again (it did not see our 200): handled once all the same.
            assert (await client.post(url, json=update, headers=good)).status_code == 200
        await sim.wait_for_message(731003, contains="/myreports", timeout=10)
        await asyncio.sleep(0.3)
        assert len(sim.messages(731003)) == 1
        assert sim.webhook_url == "https://bot.invalid/telegram/hook"


def webhook_settings(sim: BotApiSimulator, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        make_settings(sim, tmp_path),
        webhook=WebhookConfig(
            url="https://bot.invalid/telegram/hook", secret_token=SECRET, listen="127.0.0.1"
        ),
    )


def help_update(update_id: int, user_id: int, name: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_800_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": {"id": user_id, "is_bot": False, "first_name": name},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


GOOD = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
MALFORMED: dict[str, bytes] = {
    "id-too-big": b'{"update_id": 1000000000000000000000000000000, "message": {}}',
    "id-64-bit": b'{"update_id": 4294967296}',
    "id-boolean": b'{"update_id": true}',
    "id-negative": b'{"update_id": -5}',
    "id-float": b'{"update_id": 5.0}',
    "id-string": b'{"update_id": "5"}',
    "id-null": b'{"update_id": null}',
    "no-id": b'{"message": {}}',
    "not-an-object": b"[1, 2]",
    "not-json": b"{update_id: 5}",
    "nan": b'{"update_id": NaN}',
    "deeply-nested": b'{"update_id": 7, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "empty": b"",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_webhook_refuses_a_malformed_update_with_400(
    sim: BotApiSimulator, tmp_path: Path, body: bytes
) -> None:
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, content=body, headers=GOOD)
        assert answer.status_code == 400
        assert await services.db.inbound.highest_update_id() is None
        assert await services.db.inbound.quarantined() == []


async def test_webhook_sets_aside_what_it_cannot_read_and_reads_bad_utf8(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    sim.add_user(731101, "Khoa")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        unreadable = help_update(600, 731101, "Khoa")
        unreadable["message"]["reply_markup"] = {"inline_keyboard": "x"}
        # A text whose bytes are not UTF-8 (a Latin-1 "ạ"), which no Telegram sends.
        latin = (
            json.dumps(help_update(601, 731101, "Khoa")).encode().replace(b"/help", b"/help\xe1")
        )
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, json=unreadable, headers=GOOD)
            assert answer.status_code == 200
            assert (await client.post(url, content=latin, headers=GOOD)).status_code == 200
        await sim.wait_for_message(731101, contains="/myreports", timeout=5)
        assert [p.update_id for p in await services.db.inbound.quarantined()] == [600]


async def test_webhook_refuses_a_body_over_1_mb_before_reading_it(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        port = services.webhook_port
        head = b"POST /telegram/hook HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(
            b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in GOOD.items()
        )
        # Headers announcing 2 MB, then nothing: the answer comes without waiting for the body.
        assert await answer_to(port, head + b"Content-Length: 2000000\r\n\r\n{") == 413
        # A body sent in chunks announces no length: it is cut off once past 1 MB.
        body = b'{"update_id": 5, "pad": "' + b"x" * 1_000_100
        chunked = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body
        assert await answer_to(port, head + chunked) == 413
        assert await services.db.inbound.highest_update_id() is None


async def answer_to(port: int, request: bytes) -> int:
    """Send raw bytes and return the status of the answer, read as soon as it comes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 2)
    finally:
        writer.close()
    return int(status.split()[1])


async def test_an_update_with_a_lower_id_is_new_and_a_repeated_one_is_not(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    sim.add_user(731201, "Lan")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            # After a week without updates Telegram picks the next id at random: lower, here.
            for update_id in (700_000, 12, 700_000, 12):
                answer = await client.post(
                    url, json=help_update(update_id, 731201, "Lan"), headers=GOOD
                )
                assert answer.status_code == 200
        await eventually(lambda: len(sim.messages(731201)) == 2)
        await asyncio.sleep(0.3)
        assert len(sim.messages(731201)) == 2


async def test_200_updates_over_8_connections_are_each_handled_once(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    people = [731300 + n for n in range(200)]
    for user_id in people:
        sim.add_user(user_id, f"Dân {user_id}")
    ids = random.Random(7).sample(range(10_000, 20_000), len(people))
    updates = [help_update(uid, user_id, "Dân") for uid, user_id in zip(ids, people, strict=True)]
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        queue = list(updates)

        async def connection() -> list[int]:
            answered = []
            async with httpx.AsyncClient() as client:
                while queue:
                    update = queue.pop()
                    answer = await client.post(url, json=update, headers=GOOD)
                    assert answer.status_code == 200
                    answered.append(update["message"]["chat"]["id"])
            return answered

        answered = [
            uid for part in await asyncio.gather(*[connection() for _ in range(8)]) for uid in part
        ]
        assert sorted(answered) == people
        await eventually(lambda: all(sim.messages(uid) for uid in people), wait=20)
        await asyncio.sleep(0.5)
        assert [len(sim.messages(uid)) for uid in people] == [1] * len(people)
        assert await services.db.inbound.unhandled_updates() == []


@pytest.mark.both_backends
async def test_ids_seen_are_remembered_for_48_hours(
    sim: BotApiSimulator, tmp_path: Path, database_url: str | None
) -> None:
    clock = FakeClock()
    async with Repository(tmp_path / "bot.db", clock=clock, url=database_url) as db:
        assert await db.inbound.store_updates([(900, "{}")]) == [900]
        # Lower than one seen: new. The same again: not.
        assert await db.inbound.store_updates([(5, "{}"), (900, "{}")]) == [5]
        assert await db.inbound.store_updates([(5, "{}")]) == []
        await db.inbound.updates_handled([5, 900])
        clock.advance(hours=49)
        assert await db.inbound.store_updates([(900, "{}"), (5, "{}")]) == [900, 5]
        # Stored in the order they arrived, whatever their ids.
        assert [uid for uid, _ in await db.inbound.unhandled_updates()] == [900, 5]


async def test_updates_stored_before_the_upgrade_are_kept_and_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        # A database of the version before: migrations up to 004_inbound.
        patch.setattr("bot.store.database.MIGRATIONS", MIGRATIONS[:4])
        async with Repository(path) as db:
            assert (await db.applied_migrations())[-1] == "004_inbound"
            async with db._write() as conn:
                await conn.executemany(
                    "INSERT INTO inbound (update_id, payload, received_at) VALUES (?, ?, 1.0)",
                    [(30, "{}"), (10, "{}"), (20, "{}")],
                )
    async with Repository(path) as db:
        assert [uid for uid, _ in await db.inbound.unhandled_updates()] == [10, 20, 30]
        # Sent again after the upgrade, they are recognised and not stored twice.
        assert await db.inbound.store_updates([(20, "{}"), (40, "{}")]) == [40]

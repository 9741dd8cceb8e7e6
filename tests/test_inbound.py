"""Updates are stored before Telegram is told they arrived: neither a crash nor a replay loses
or repeats them; webhook mode answers 200 only for a stored update with the right secret."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
from pathlib import Path

import httpx

from bot.app import build_application, running
from bot.config import WebhookConfig
from bot.sim import BotApiSimulator
from tests.conftest import FakeClock, Person, eventually, make_settings
from tests.test_restart import start_bot, stop, write_config

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
        await eventually(lambda: sim.count("sendMessage", person.id) >= 3, wait=15)
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
        second.terminate()
        try:
            await asyncio.wait_for(second.wait(), 15)
        finally:
            await stop(second)
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

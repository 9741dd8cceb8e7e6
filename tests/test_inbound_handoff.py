"""An update just stored goes straight to its lane, unless rows stored before it wait unread:
then the dispatcher reads them all in order. Handled rows are deleted after the lane moved on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_application, running
from bot.sim import BotApiSimulator
from bot.store.inbound import RUN_SIZES, runs
from tests.conftest import FakeClock, eventually
from tests.test_inbound import GOOD, help_update, webhook_settings


def start_update(update_id: int, user_id: int) -> dict[str, Any]:
    update = help_update(update_id, user_id, "Hạnh")
    update["message"]["text"] = "/start"
    update["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
    return update


async def test_an_update_just_stored_is_handled_without_reading_it_back(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.add_user(731501, "Hạnh")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        read_back = services.db.inbound.updates_after
        reads: list[int] = []

        async def nothing_stored(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # The dispatcher finds nothing: an update answered came straight from storing.
            reads.append(seq)
            return []

        monkeypatch.setattr(services.db.inbound, "updates_after", nothing_stored)
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            for update_id in (900, 901):
                update = help_update(update_id, 731501, "Hạnh")
                assert (await client.post(url, json=update, headers=GOOD)).status_code == 200
        await sim.wait_for_message(731501, contains="/myreports", timeout=10)
        await eventually(lambda: len(sim.messages(731501)) == 2)
        # Both rows are deleted once handled, beside the lanes.

        async def deleted() -> bool:
            return await read_back(0) == []

        await eventually(deleted)


async def test_a_fresh_update_waits_behind_the_rows_stored_before_it(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.add_user(731502, "Hạnh")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        read_back = services.db.inbound.updates_after
        readable = asyncio.Event()

        async def held(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # Rows stored meanwhile stay unread until the test lets the dispatcher see them.
            return await read_back(seq, limit) if readable.is_set() else []

        monkeypatch.setattr(services.db.inbound, "updates_after", held)
        # Stored by another path (as a replay at start is): not yet read by the dispatcher.
        first = help_update(910, 731502, "Hạnh")
        await services.db.inbound.store_updates([(910, json.dumps(first))], {910: 731502})
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            update = start_update(911, 731502)
            assert (await client.post(url, json=update, headers=GOOD)).status_code == 200
        # Not answered ahead of /help, which was stored first.
        await asyncio.sleep(0.5)
        assert sim.messages(731502) == []
        readable.set()
        await eventually(lambda: len(sim.messages(731502)) >= 2)
        assert "/myreports" in sim.messages(731502)[0]["text"]


async def test_new_rows_come_back_numbered_in_the_order_they_were_stored(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        inbound = app.bot_data["services"].db.inbound
        first = await inbound.keep_updates([(30, "{}"), (10, "{}"), (20, "{}")])
        assert [uid for _seq, uid in first] == [30, 10, 20]
        seqs = [seq for seq, _uid in first]
        assert seqs == list(range(seqs[0], seqs[0] + 3))
        # Seen before: not new, not numbered; the new one follows on.
        again = await inbound.keep_updates([(10, "{}"), (40, "{}")])
        assert again == [(seqs[-1] + 1, 40)]


async def test_a_chat_s_next_update_does_not_wait_for_the_last_one_s_deletion(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.add_user(731503, "Hạnh")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        inbound = app.bot_data["services"].db.inbound
        delete_many = inbound.updates_handled
        released = asyncio.Event()

        async def slow(update_ids: Any) -> None:
            # The database takes its time over deletions until the test is done.
            await released.wait()
            await delete_many(update_ids)

        monkeypatch.setattr(inbound, "updates_handled", slow)
        monkeypatch.setattr(inbound, "update_handled", lambda uid: slow([uid]))
        url = f"http://127.0.0.1:{app.bot_data['services'].webhook_port}/telegram/hook"
        try:
            async with httpx.AsyncClient() as client:
                for update_id in (920, 921):
                    update = help_update(update_id, 731503, "Hạnh")
                    answer = await client.post(url, json=update, headers=GOOD)
                    assert answer.status_code == 200
            await eventually(lambda: len(sim.messages(731503)) == 2)
        finally:
            # Stopping deletes what is left to delete: it must not wait on the test.
            released.set()

        async def deleted() -> bool:
            return await inbound.unhandled_updates() == []

        await eventually(deleted)


async def test_storing_does_not_wait_while_the_dispatcher_reads(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.add_user(731504, "Hạnh")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        read_back = services.db.inbound.updates_after
        reading, released = asyncio.Event(), asyncio.Event()

        async def slow(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # The dispatcher's sweep takes its time over a read (a backlog's page).
            reading.set()
            await released.wait()
            return await read_back(seq, limit)

        monkeypatch.setattr(services.db.inbound, "updates_after", slow)
        url = f"http://127.0.0.1:{services.webhook_port}/telegram/hook"
        try:
            await asyncio.wait_for(reading.wait(), 5)
            async with httpx.AsyncClient(timeout=3) as client:
                update = help_update(930, 731504, "Hạnh")
                # Stored and answered 200 while the read goes on.
                assert (await client.post(url, json=update, headers=GOOD)).status_code == 200
        finally:
            released.set()
        await sim.wait_for_message(731504, contains="/myreports", timeout=10)
        await asyncio.sleep(0.3)
        assert len(sim.messages(731504)) == 1


def test_a_batch_is_stored_in_runs_of_a_few_sizes_in_order() -> None:
    items = list(range(100))
    parts = list(runs(items))
    assert [len(part) for part in parts] == [64, 32, 4]
    assert [item for part in parts for item in part] == items
    assert {len(part) for n in range(1, 128) for part in runs(list(range(n)))} <= set(RUN_SIZES)
    assert list(runs([])) == []


async def test_a_batch_of_several_runs_comes_back_numbered_in_order(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        inbound = app.bot_data["services"].db.inbound
        batch = [(1000 + n, "{}") for n in range(70)] + [(1005, "{}")]
        numbered = await inbound.keep_updates(batch)
        assert [uid for _seq, uid in numbered] == [1000 + n for n in range(70)]
        seqs = [seq for seq, _uid in numbered]
        assert seqs == list(range(seqs[0], seqs[0] + 70))

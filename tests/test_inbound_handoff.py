"""An update just stored goes straight to its lane, unless rows stored before it wait unread:
then the dispatcher reads them all in order. Handled rows are deleted after the lane moved on."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_application, running
from bot.sim import BotApiSimulator
from bot.store.inbound import RUN_SIZES, runs
from tests.conftest import FakeClock, all_deleted, eventually
from tests.test_inbound import GOOD, help_update, webhook_settings


@contextlib.asynccontextmanager
async def webhook_bot(
    sim: BotApiSimulator, tmp_path: Path, person: int | None = None
) -> AsyncIterator[tuple[Any, str]]:
    """The bot on a webhook, and a person who writes to it: its services, and the URL
    Telegram posts updates to."""
    if person is not None:
        sim.add_user(person, "Hạnh")
    app = build_application(webhook_settings(sim, tmp_path), clock=FakeClock())
    async with running(app, webhook=True, webhook_port=0):
        services = app.bot_data["services"]
        yield services, f"http://127.0.0.1:{services.webhook_port}/telegram/hook"


async def post(url: str, *updates: dict[str, Any]) -> None:
    """Post updates as Telegram does; each is answered 200 once stored."""
    async with httpx.AsyncClient(timeout=3) as client:
        for update in updates:
            assert (await client.post(url, json=update, headers=GOOD)).status_code == 200


def start_update(update_id: int, user_id: int) -> dict[str, Any]:
    update = help_update(update_id, user_id, "Hạnh")
    update["message"]["text"] = "/start"
    update["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
    return update


async def test_an_update_just_stored_is_handled_without_reading_it_back(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with webhook_bot(sim, tmp_path, 731501) as (services, url):

        async def nothing_stored(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # The dispatcher finds nothing: an update answered came straight from storing.
            return []

        monkeypatch.setattr(services.db.inbound, "updates_after", nothing_stored)
        await post(url, help_update(900, 731501, "Hạnh"), help_update(901, 731501, "Hạnh"))
        await sim.wait_for_message(731501, contains="/myreports", timeout=10)
        await eventually(lambda: len(sim.messages(731501)) == 2)
        # Both rows are deleted once handled, beside the lanes (read as stored, now).
        monkeypatch.undo()
        await all_deleted(services.db.inbound)


async def test_a_fresh_update_waits_behind_the_rows_stored_before_it(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with webhook_bot(sim, tmp_path, 731502) as (services, url):
        read_back = services.db.inbound.updates_after
        readable = asyncio.Event()

        async def held(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # Rows stored meanwhile stay unread until the test lets the dispatcher see them.
            return await read_back(seq, limit) if readable.is_set() else []

        monkeypatch.setattr(services.db.inbound, "updates_after", held)
        # Stored by another path (as a replay at start is): not yet read by the dispatcher.
        first = help_update(910, 731502, "Hạnh")
        await services.db.inbound.store_updates([(910, json.dumps(first))], {910: 731502})
        await post(url, start_update(911, 731502))
        # Not answered ahead of /help, which was stored first.
        await asyncio.sleep(0.5)
        assert sim.messages(731502) == []
        readable.set()
        await eventually(lambda: len(sim.messages(731502)) >= 2)
        assert "/myreports" in sim.messages(731502)[0]["text"]


async def test_new_rows_come_back_numbered_in_the_order_they_were_stored(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    async with webhook_bot(sim, tmp_path) as (services, _url):
        inbound = services.db.inbound
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
    async with webhook_bot(sim, tmp_path, 731503) as (services, url):
        inbound = services.db.inbound
        delete_many = inbound.updates_handled
        released = asyncio.Event()

        async def slow(update_ids: Any) -> None:
            # The database takes its time over deletions until the test is done.
            await released.wait()
            await delete_many(update_ids)

        monkeypatch.setattr(inbound, "updates_handled", slow)
        monkeypatch.setattr(inbound, "update_handled", lambda uid: slow([uid]))
        try:
            await post(url, help_update(920, 731503, "Hạnh"), help_update(921, 731503, "Hạnh"))
            await eventually(lambda: len(sim.messages(731503)) == 2)
        finally:
            # Stopping deletes what is left to delete: it must not wait on the test.
            released.set()
        await all_deleted(inbound)


async def test_storing_does_not_wait_while_the_dispatcher_reads(
    sim: BotApiSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with webhook_bot(sim, tmp_path, 731504) as (services, url):
        read_back = services.db.inbound.updates_after
        reading, released = asyncio.Event(), asyncio.Event()

        async def slow(seq: int, limit: int = 500) -> list[tuple[int, int, str]]:
            # The dispatcher's sweep takes its time over a read (a backlog's page).
            reading.set()
            await released.wait()
            return await read_back(seq, limit)

        monkeypatch.setattr(services.db.inbound, "updates_after", slow)
        try:
            await asyncio.wait_for(reading.wait(), 5)
            # Stored and answered 200 while the read goes on (within the client's 3 s).
            await post(url, help_update(930, 731504, "Hạnh"))
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
    async with webhook_bot(sim, tmp_path) as (services, _url):
        batch = [(1000 + n, "{}") for n in range(70)] + [(1005, "{}")]
        numbered = await services.db.inbound.keep_updates(batch)
        assert [uid for _seq, uid in numbered] == [1000 + n for n in range(70)]
        seqs = [seq for seq, _uid in numbered]
        assert seqs == list(range(seqs[0], seqs[0] + 70))

"""Several webhook workers in one test process, on one PostgreSQL database, fed in turn."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.app import App, build_application, running
from bot.config import Settings, WebhookConfig
from bot.sim import BotApiSimulator
from bot.sim.cluster import free_port
from tests.conftest import make_settings

SECRET = "workers-secret"
# What Telegram is told; nothing routes it, so the simulator never pushes by itself: the test's
# `Telegram` below delivers the updates instead, to each worker in turn.
HOOK = "https://bot.invalid/telegram/hook"
PATH = "/telegram/hook"


def worker_settings(sim: BotApiSimulator, tmp_path: Path, url: str, **changes: Any) -> Settings:
    """Settings of a webhook worker on PostgreSQL (every worker has the same)."""
    return dataclasses.replace(
        make_settings(sim, tmp_path, url),
        webhook=WebhookConfig(url=HOOK, secret_token=SECRET, listen="127.0.0.1"),
        **changes,
    )


@dataclasses.dataclass
class Worker:
    app: App
    port: int


@asynccontextmanager
async def workers(settings: Settings, count: int) -> AsyncIterator[list[Worker]]:
    """Run `count` webhook workers, each an Application of its own with its own sessions."""
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            app = build_application(settings)
            port = free_port()
            await stack.enter_async_context(running(app, webhook=True, webhook_port=port))
            started.append(Worker(app, port))
        yield started


class Telegram:
    """Delivers the simulator's updates as Telegram does, through a round-robin balancer.

    Telegram sends a chat's next update once the previous one was answered 200, and different
    chats' updates at once; the balancer hands each request to the next worker in turn, so one
    chat's consecutive updates reach different workers.
    """

    def __init__(self, sim: BotApiSimulator, ports: list[int]) -> None:
        self.sim = sim
        self._ports = itertools.cycle(ports)
        self._queues: dict[int, list[dict[str, Any]]] = {}
        self._taken: set[int] = set()
        self._chats: dict[int, asyncio.Task[None]] = {}
        self.delivered: list[tuple[int, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(timeout=10.0)

    async def __aenter__(self) -> Telegram:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = [t for t in [self._task, *self._chats.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    def pending(self) -> int:
        """Count the updates not yet answered 200."""
        return sum(len(q) for q in self._queues.values())

    async def _run(self) -> None:
        while True:
            for update in self.sim.pending_updates:
                uid = update["update_id"]
                if uid in self._taken:
                    continue
                self._taken.add(uid)
                chat = _chat(update)
                self._queues.setdefault(chat, []).append(update)
                task = self._chats.get(chat)
                if task is None or task.done():
                    self._chats[chat] = asyncio.create_task(self._deliver(chat))
            await asyncio.sleep(0.01)

    async def _deliver(self, chat: int) -> None:
        queue = self._queues[chat]
        while queue:
            update = queue[0]
            port = next(self._ports)
            try:
                answer = await self._client.post(
                    f"http://127.0.0.1:{port}{PATH}",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                queue.pop(0)
                self.delivered.append((update["update_id"], port))
            else:
                # Telegram tries again, later.
                await asyncio.sleep(0.2)


def _chat(update: dict[str, Any]) -> int:
    for kind in ("message", "edited_message", "callback_query"):
        body = update.get(kind)
        if body is not None:
            message = body.get("message", body)
            return int(message["chat"]["id"])
    return 0

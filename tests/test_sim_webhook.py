"""The simulator delivers to a webhook as Telegram does: retried until answered 2xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Bot

from bot.sim import BotApiSimulator, webhook
from tests.conftest import eventually


class _Hook(tornado.web.RequestHandler):
    def initialize(self, seen: list[dict[str, Any]], answers: list[int]) -> None:
        self.seen = seen
        self.answers = answers

    async def post(self) -> None:
        self.seen.append(
            {
                "update": json.loads(self.request.body),
                "secret": self.request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
            }
        )
        self.set_status(self.answers.pop(0) if self.answers else 200)


async def test_updates_are_posted_with_the_secret_and_retried_until_answered_2xx(
    sim: BotApiSimulator,
) -> None:
    seen: list[dict[str, Any]] = []
    answers = [503, 500]
    app = tornado.web.Application([("/hook", _Hook, {"seen": seen, "answers": answers})])
    sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    user = sim.add_user(731010, "Mai")
    try:
        async with Bot(sim.token, base_url=sim.base_url) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="abc")
            await user.send("xin chào")
            await eventually(lambda: not sim.pending_updates, wait=10)
            # Refused twice (503, then 500), then taken: three deliveries of the same update.
            assert [s["update"]["message"]["text"] for s in seen] == ["xin chào"] * 3
            assert {s["secret"] for s in seen} == {"abc"}
            assert sim.webhook_refusals == {503: 1, 500: 1}
            # A webhook elsewhere is only recorded: nothing is posted to it.
            await bot.set_webhook("https://bot.invalid/hook")
            await user.send("lần nữa")
            assert len(seen) == 3 and len(sim.pending_updates) == 1
    finally:
        server.stop()


async def test_a_chats_next_update_waits_until_the_one_before_was_delivered(
    sim: BotApiSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refused update is sent again after a second, not 0.2 s: on a busy machine the other
    # chat's first request, sent at the same moment, could take longer than 0.2 s to arrive.
    monkeypatch.setattr(webhook, "RETRY_FIRST", 1.0)
    seen: list[dict[str, Any]] = []
    # The first request is refused: that update is sent again later, and its chat's next
    # update only after it; another chat's update goes out meanwhile.
    answers = [503]
    app = tornado.web.Application([("/hook", _Hook, {"seen": seen, "answers": answers})])
    sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    first, other = sim.add_user(731020, "Lan"), sim.add_user(731021, "Minh")
    try:
        await first.send("một")
        await first.send("hai")
        await other.send("ba")
        async with Bot(sim.token, base_url=sim.base_url) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="abc")
            await eventually(lambda: not sim.pending_updates, wait=10)
    finally:
        server.stop()
    texts = [s["update"]["message"]["text"] for s in seen]
    assert texts.count("một") == 2 and texts.count("hai") == 1 and texts.count("ba") == 1
    # "hai" was posted only once "một" was taken (its second request); "ba" did not wait.
    assert texts.index("hai") > len(texts) - 1 - texts[::-1].index("một")
    assert texts.index("ba") < texts.index("hai")

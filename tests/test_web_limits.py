"""The web pages' limits per address (in memory only) and the board's one-minute cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil

from bot.sim import BotApiSimulator
from bot.web.page import WebServices
from bot.web.security import Failures, RateLimit
from bot.web.server import make_app, web_routes
from tests.conftest import FakeClock, World, eventually
from tests.web_helpers import WebCitizen, web_world

DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định."
ADDRESS = "127.0.0.1"


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def pages(world: World, **limits: Any) -> AsyncIterator[tuple[WebServices, str]]:
    """Serve the pages of a running bot with the given limits; yield them and the address."""
    services = world.app.bot_data["services"]
    web = WebServices(
        settings=world.settings,
        db=services.db,
        translator=services.translator,
        conversation=services.conversation,
        workflow=services.workflow,
        **limits,
    )
    server = tornado.httpserver.HTTPServer(make_app(web_routes(web)))
    sockets = tornado.netutil.bind_sockets(0, address=ADDRESS)
    server.add_sockets(sockets)
    try:
        yield web, f"http://{ADDRESS}:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()
        await server.close_all_connections()


def test_rate_limit_counts_per_key_within_its_window() -> None:
    ticks = Ticks()
    limit = RateLimit(limit=2, window=60, clock=ticks)
    assert limit.allow("a") and limit.allow("a")
    assert not limit.allow("a")
    assert limit.allow("b")  # another address has its own count
    ticks.now += 59
    assert not limit.allow("a")
    ticks.now += 2
    assert limit.allow("a")


def test_failures_slow_then_lock_then_are_forgotten() -> None:
    ticks = Ticks()
    failures = Failures(slow_after=2, lock_after=5, lock_seconds=900, clock=ticks)
    delays = []
    for _ in range(5):
        assert not failures.locked("k")
        delays.append(failures.delay("k"))
        failures.fail("k")
    # Not slowed for the first failures, then slower and slower, capped.
    assert delays[:2] == [0.0, 0.0]
    assert 0 < delays[2] < delays[3] < delays[4] <= 8.0
    assert failures.locked("k") and not failures.locked("other")
    ticks.now += 899
    assert failures.locked("k")
    ticks.now += 2
    assert not failures.locked("k") and failures.delay("k") == 0.0
    failures.fail("k")
    failures.clear("k")
    assert failures.count("k") == 0


async def test_wrong_keys_are_slowed_then_locked_and_never_stored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    failures = Failures(slow_after=1, lock_after=3, lock_seconds=900, clock=ticks)
    caplog.set_level(logging.DEBUG)
    async with pages(world, failures=failures) as (_web, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            for _ in range(3):
                await citizen.get("/status")
                wrong = await citizen.post("/status", {"code": code, "key": "AAAA-BBBB-CCCC-DDDD"})
                assert wrong.status_code == 404
            # Slowed, then locked: by the code and by the address, even for the right key.
            assert failures.locked("code:" + code.replace("-", ""))
            assert failures.locked("addr:" + ADDRESS)
            await citizen.get("/status")
            locked = await citizen.post("/status", {"code": code, "key": key})
            assert locked.status_code == 429 and "15 phút" in locked.text
            assert "Hạ Long" not in locked.text
            # Another code from the same address is locked too.
            await citizen.get("/status")
            other = await citizen.post("/status", {"code": "ABCD-EFGH", "key": key})
            assert other.status_code == 429
            # The lock passes.
            ticks.now += 901
            await citizen.get("/status")
            opened = await citizen.post("/status", {"code": code, "key": key})
            assert opened.status_code == 200 and "Hạ Long" in opened.text
            assert failures.count("addr:" + ADDRESS) == 0
    # The address was held in memory only: not in the database, not in the pages' log.
    for path in world.settings.database.parent.glob(world.settings.database.name + "*"):
        assert ADDRESS.encode() not in path.read_bytes(), path
    web_records = [r for r in caplog.records if r.name.startswith(("bot.web", "tornado"))]
    assert web_records  # the pages did log their requests
    assert not any(ADDRESS in r.getMessage() for r in web_records)


async def test_submissions_and_answers_are_limited_per_address(world: World) -> None:
    ticks = Ticks()
    limits = {
        "submissions": RateLimit(limit=1, window=3600, clock=ticks),
        "answers": RateLimit(limit=1, window=3600, clock=ticks),
    }
    async with pages(world, **limits) as (_web, base):
        first, second = WebCitizen(base), WebCitizen(base)
        try:
            code, key = await first.file_report(DESCRIPTION)
            # Another browser from the same address: refused at Send, its draft kept.
            await second.fill_report(DESCRIPTION)
            refused = await second.step("review", choice="confirm")
            assert refused.status_code == 429 and "quá nhiều yêu cầu" in refused.text
            assert await world.db.reports.count_reports() == 1
            ticks.now += 3601
            await second.get("/report")
            sent = await second.step("review", choice="confirm")
            assert sent.status_code == 200 and 'id="key"' in sent.text
            assert await world.db.reports.count_reports() == 2

            await first.get("/status")
            await first.post("/status", {"code": code, "key": key})
            answer = {"code": code, "key": key, "action": "answer", "nonce": "1"}
            ok = await first.post("/status", {**answer, "text": "Lúc 9 giờ"})
            assert "quá nhiều yêu cầu" not in ok.text
            again = await first.post("/status", {**answer, "text": "Lúc 10 giờ", "nonce": "2"})
            assert "quá nhiều yêu cầu" in again.text
        finally:
            await first.close()
            await second.close()


async def test_board_figures_are_cached_for_a_minute(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock, board_min_reports=1) as (_world, base):
        async with WebCitizen(base) as citizen:
            board = await citizen.get("/board")
            assert 'id="empty"' in board.text
            await citizen.file_report(DESCRIPTION)
            # Within the minute: the figures computed before the report.
            for path in ("/board", "/board.csv"):
                cached = await citizen.get(path)
                assert "UBND phường Hạ Long" not in cached.text
            clock.advance(hours=61 / 3600)
            fresh = await citizen.get("/board")
            assert "UBND phường Hạ Long" in fresh.text
            assert "UBND phường Hạ Long" in (await citizen.get("/board.csv")).text
            # Each period has its own figures.
            assert "UBND phường Hạ Long" in (await citizen.get("/board?days=365")).text


async def test_behind_a_local_proxy_each_visitor_has_their_own_limits(world: World) -> None:
    # Addresses from the loopback block stand for visitors the proxy forwards.
    ticks = Ticks()
    failures = Failures(slow_after=5, lock_after=2, lock_seconds=900, clock=ticks)
    async with pages(world, failures=failures) as (_web, base):
        first, second = WebCitizen(base), WebCitizen(base)
        try:
            code, key = await first.file_report(DESCRIPTION)
            other, other_key = await second.file_report(DESCRIPTION + " Lần hai.")
            # The proxy appends the visitor's address; what the visitor wrote before it counts
            # for nothing.
            first.client.headers["X-Forwarded-For"] = "127.0.0.9, 127.0.0.2"
            second.client.headers["X-Forwarded-For"] = "127.0.0.3"
            for attempt in ("AAAA-BBBB-CCCC-DDDD", "EEEE-FFFF-GGGG-HHHH"):
                await first.get("/status")
                await first.post("/status", {"code": other, "key": attempt})
            assert failures.locked("addr:127.0.0.2")
            assert not failures.locked("addr:127.0.0.9") and not failures.locked("addr:127.0.0.1")
            await first.get("/status")
            locked = await first.post("/status", {"code": code, "key": key})
            assert locked.status_code == 429
            # Another visitor behind the same proxy is not locked out by the first.
            await second.get("/status")
            failures.clear("code:" + other.replace("-", ""))
            opened = await second.post("/status", {"code": other, "key": other_key})
            assert opened.status_code == 200
        finally:
            await first.close()
            await second.close()


async def test_a_malformed_request_is_logged_without_its_address(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with pages(world) as (_web, base):
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await reader.read()  # the server hangs up
        writer.close()
        await writer.wait_closed()
        await eventually(lambda: any("Malformed" in r.getMessage() for r in caplog.records))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("tornado")]
    assert any("Malformed HTTP message from a visitor" in line for line in lines)
    assert not any(ADDRESS in line for line in lines)

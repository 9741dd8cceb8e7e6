"""The test balancer in front of webhook workers: round robin, a refused worker passed over,
and 502/504 once a request was sent, as nginx answers with its defaults."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.sim.balancer import Balancer
from tests.workers_helpers import free_port


class _Echo(tornado.web.RequestHandler):
    def initialize(self, name: str, delay: float) -> None:
        self.name = name
        self.delay = delay

    async def post(self) -> None:
        await asyncio.sleep(self.delay)
        self.set_header("X-Worker", self.name)
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"got": "' + self.request.body + b'"}')


@asynccontextmanager
async def worker(name: str, delay: float = 0.0) -> AsyncIterator[int]:
    app = tornado.web.Application([(r"/hook", _Echo, {"name": name, "delay": delay})])
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
    server.add_sockets(sockets)
    try:
        yield int(sockets[0].getsockname()[1])
    finally:
        server.stop()
        await server.close_all_connections()


@asynccontextmanager
async def hangs_up() -> AsyncIterator[int]:
    """A worker that reads the request and dies before answering."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def post(balancer: Balancer, body: str = "u") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{balancer.url}/hook", content=body)


async def test_requests_go_to_each_worker_in_turn_with_their_answers() -> None:
    async with worker("a") as a, worker("b") as b, worker("c") as c:
        async with Balancer([a, b, c]) as balancer:
            answers = [await post(balancer, f"u{n}") for n in range(9)]
    assert [r.status_code for r in answers] == [200] * 9
    assert [r.json() for r in answers] == [{"got": f"u{n}"} for n in range(9)]
    assert [r.headers["X-Worker"] for r in answers] == ["a", "b", "c"] * 3
    assert answers[0].headers["Content-Type"] == "application/json"
    assert [balancer.handled_by(p) for p in (a, b, c)] == [3, 3, 3]


async def test_a_worker_that_refuses_the_connection_is_passed_over() -> None:
    down = free_port()
    async with worker("a") as a:
        async with Balancer([down, a]) as balancer:
            answers = [await post(balancer) for _ in range(6)]
    assert Counter(r.status_code for r in answers) == {200: 6}
    assert {r.headers["X-Worker"] for r in answers} == {"a"}
    # Every other request was meant for the worker that is down.
    assert balancer.passed_over[down] == 3


async def test_no_worker_up_is_a_502() -> None:
    async with Balancer([free_port(), free_port()]) as balancer:
        answer = await post(balancer)
    assert answer.status_code == 502
    assert balancer.answers == Counter()


async def test_a_worker_dying_with_the_request_is_a_502_not_a_second_try() -> None:
    async with hangs_up() as dead, worker("a") as a:
        async with Balancer([dead, a]) as balancer:
            first = await post(balancer)
            second = await post(balancer)
    # The request reached the dying worker, which may have acted on it: Telegram retries it,
    # not the balancer.
    assert first.status_code == 502
    assert second.status_code == 200
    assert balancer.answers[(dead, 0)] == 1


async def test_a_worker_too_slow_to_answer_is_a_504() -> None:
    async with worker("slow", delay=1.0) as slow:
        async with Balancer([slow], timeout=0.2) as balancer:
            answer = await post(balancer)
    assert answer.status_code == 504

"""A round-robin HTTP balancer on 127.0.0.1, as an operator puts in front of webhook workers.

It behaves as nginx does with its defaults (`proxy_next_upstream error timeout`): each request
goes to the next worker in turn; a worker that refuses the connection is passed over for the
next one, since nothing reached it; once a request was sent, a failure is answered 502 (504 if
the worker did not answer in time) instead of being sent again, since a POST may have been
acted on. Telegram then retries, as it does any answer other than 2xx. Every answer is counted
per worker, so a test can see who did the work.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web

HOST = "127.0.0.1"
# Hop-by-hop headers and those httpx sets itself are not passed on.
DROPPED = {"connection", "content-length", "host", "keep-alive", "transfer-encoding"}
# Idle connections kept open to each worker.
KEEPALIVE = 10


class Balancer:
    """Pass each request to the next of `ports` in turn, on 127.0.0.1."""

    def __init__(self, ports: list[int], *, timeout: float = 10.0) -> None:
        if not ports:
            raise ValueError("a balancer needs at least one worker")
        self.ports = list(ports)
        self.timeout = timeout
        # Answers by worker port and status (0: nothing came back from that worker).
        self.answers: Counter[tuple[int, int]] = Counter()
        # Connections refused by a worker, which passed the request on to the next one.
        self.passed_over: Counter[int] = Counter()
        self._turn = itertools.cycle(range(len(self.ports)))
        # A client per worker: httpx looks over every connection of its pool for each request,
        # so one pool for all workers costs the test process more CPU than the workers.
        self._clients: dict[int, httpx.AsyncClient] = {}
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The balancer's own address."""
        return f"http://{HOST}:{self.port}"

    async def __aenter__(self) -> Balancer:
        limits = httpx.Limits(max_keepalive_connections=KEEPALIVE)
        self._clients = {
            port: httpx.AsyncClient(timeout=self.timeout, limits=limits) for port in self.ports
        }
        app = tornado.web.Application([(r"/.*", _Forward, {"balancer": self})])
        self._server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, address=HOST)
        self._server.add_sockets(sockets)
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        for client in self._clients.values():
            await client.aclose()
        self._clients = {}

    async def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request to the next worker that takes the connection; return its answer."""
        assert self._clients
        start = next(self._turn)
        for step in range(len(self.ports)):
            port = self.ports[(start + step) % len(self.ports)]
            try:
                answer = await self._clients[port].request(
                    method, f"http://{HOST}:{port}{path}", headers=headers, content=body
                )
            except httpx.ConnectError:
                self.passed_over[port] += 1
                continue
            except httpx.TimeoutException:
                self.answers[(port, 0)] += 1
                return 504, {}, b"the worker did not answer in time\n"
            except httpx.TransportError:
                self.answers[(port, 0)] += 1
                return 502, {}, b"the worker went away\n"
            self.answers[(port, answer.status_code)] += 1
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in DROPPED}
            kept.pop("content-encoding", None)
            return answer.status_code, kept, answer.content
        return 502, {}, b"no worker is up\n"

    def handled_by(self, port: int) -> int:
        """How many requests the worker on `port` answered 2xx."""
        return sum(
            n for (p, status), n in self.answers.items() if p == port and status // 100 == 2
        )


class _Forward(tornado.web.RequestHandler):
    """Every path and method goes to a worker."""

    def initialize(self, balancer: Balancer) -> None:
        self.balancer = balancer

    async def _forward(self) -> None:
        request = self.request
        headers = {k: v for k, v in request.headers.get_all() if k.lower() not in DROPPED}
        status, answer_headers, body = await self.balancer.forward(
            request.method or "GET", request.uri or "/", headers, request.body
        )
        self.set_status(status)
        self.clear_header("Content-Type")
        for name, value in answer_headers.items():
            self.set_header(name, value)
        self.finish(body)

    async def get(self, *args: Any) -> None:
        await self._forward()

    async def post(self, *args: Any) -> None:
        await self._forward()

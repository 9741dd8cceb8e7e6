"""The web server: its routes, start and stop (the pages' frame is `bot.web.page`).

`web_routes()` returns the pages' routes; the application mounts them with the webhook's and
the operator's on one `HttpServer` (`bot.app.http_routes`). Pages are plain HTML rendered on
the server, work without JavaScript and load nothing from elsewhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.web.board import Board, BoardChart, BoardCsv
from bot.web.open311 import Open311Requests, Open311Services
from bot.web.page import Home, NotFound, StaticFiles, WebServices
from bot.web.privacy import Forget, MyData
from bot.web.receipts import ReceiptCheck
from bot.web.report import ReportForm
from bot.web.security import hide_addresses
from bot.web.status import StatusPage

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
# Forms carry evidence: ten files of 20 MB each and the fields around them.
MAX_BODY = 10 * 20_000_000 + 1_000_000


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Log a request without the visitor's address or the query (which may hold a code)."""
    if getattr(handler, "quiet", False):
        # The webhook's and the probes' requests come every few seconds and say nothing.
        return
    request = handler.request
    log.info("%s %s %d", request.method, request.path, handler.get_status())


def web_routes(services: WebServices) -> list[tornado.web.URLSpec | tuple[Any, ...]]:
    """Return the pages' routes, to mount in a tornado application."""
    hide_addresses()
    args = {"services": services}
    return [
        (r"/", Home, args),
        (r"/report", ReportForm, args),
        (r"/status", StatusPage, args),
        (r"/status/receipt", ReceiptCheck, args),
        (r"/mydata", MyData, args),
        (r"/forget", Forget, args),
        (r"/board", Board, args),
        (r"/board\.csv", BoardCsv, args),
        (r"/board\.svg", BoardChart, args),
        (r"/static/(style\.css)", StaticFiles, {"path": str(STATIC)}),
        # The open data feed (Open311 GeoReport v2), read-only.
        (r"/open311/v2/services\.json", Open311Services, args),
        (r"/open311/v2/requests\.json", Open311Requests, args),
    ]


def make_app(routes: list[Any]) -> tornado.web.Application:
    """Return a tornado application for `routes`, logging no addresses."""
    return tornado.web.Application(
        routes, log_function=_log_request, xsrf_cookies=False, default_handler_class=NotFound
    )


class HttpServer:
    """The one HTTP server of the process: the pages, the webhook and the operator's endpoints.

    The application composes its routes (`bot.app.http_routes`); this only listens and stops.
    """

    def __init__(self, routes: list[Any], listen: str, port: int) -> None:
        self.routes = routes
        self.listen = listen
        self.port = port
        self._server: tornado.httpserver.HTTPServer | None = None

    def start(self, port: int | None = None) -> int:
        """Listen on `listen:port` (or `port`, 0 for any free one); return the port."""
        server = tornado.httpserver.HTTPServer(
            make_app(self.routes), max_body_size=MAX_BODY, xheaders=False
        )
        sockets = tornado.netutil.bind_sockets(
            self.port if port is None else port, address=self.listen
        )
        server.add_sockets(sockets)
        self._server = server
        self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()
            await server.close_all_connections()


__all__ = ["HttpServer", "WebServices", "make_app", "web_routes"]

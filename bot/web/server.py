"""The web server: its routes, start and stop (the pages' frame is `bot.web.page`).

`web_routes()` returns the pages' routes, so that another endpoint (the Telegram webhook) can be
mounted on the same tornado application later. Pages are plain HTML rendered on the server,
work without JavaScript and load nothing from elsewhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from bot.web.board import Board, BoardChart, BoardCsv
from bot.web.page import Home, WebServices
from bot.web.privacy import Forget, MyData
from bot.web.report import ReportForm
from bot.web.security import hide_addresses
from bot.web.status import StatusPage

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
# Forms carry evidence: ten files of 20 MB each and the fields around them.
MAX_BODY = 10 * 20_000_000 + 1_000_000


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Log a request without the visitor's address or the query (which may hold a code)."""
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
        (r"/mydata", MyData, args),
        (r"/forget", Forget, args),
        (r"/board", Board, args),
        (r"/board\.csv", BoardCsv, args),
        (r"/board\.svg", BoardChart, args),
        (r"/static/(style\.css)", tornado.web.StaticFileHandler, {"path": str(STATIC)}),
    ]


def make_app(routes: list[Any]) -> tornado.web.Application:
    """Return a tornado application for `routes`, logging no addresses."""
    return tornado.web.Application(routes, log_function=_log_request, xsrf_cookies=False)


class WebServer:
    """The HTTP server of the web pages, started and stopped with the application."""

    def __init__(self, services: WebServices) -> None:
        self.services = services
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port: int | None = None

    def start(self, port: int | None = None) -> int:
        """Listen on `[web] listen:port` (or `port`, 0 for any free one); return the port."""
        config = self.services.settings.web
        app = make_app(web_routes(self.services))
        server = tornado.httpserver.HTTPServer(app, max_body_size=MAX_BODY, xheaders=False)
        sockets = tornado.netutil.bind_sockets(
            config.port if port is None else port, address=config.listen
        )
        server.add_sockets(sockets)
        self._server = server
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


__all__ = ["WebServer", "WebServices", "make_app", "web_routes"]

"""The Open311 GeoReport v2 feed over HTTP: GET services.json and requests.json, read-only.

No session, cookie or form: open data anyone may read (any origin may fetch it). What it may
contain is decided in `bot.figures.open311` and `bot.store.feed`.
"""

from __future__ import annotations

import tornado.web

from bot.figures import open311
from bot.i18n import Gettext
from bot.web.page import WebServices


class _Feed(tornado.web.RequestHandler):
    """What both documents share: services, language, JSON headers."""

    services: WebServices

    def initialize(self, services: WebServices) -> None:
        """Keep the application's services."""
        self.services = services

    def set_default_headers(self) -> None:
        """Send JSON with the pages' security headers; open data may be read from anywhere."""
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def _gettext(self) -> Gettext:
        lang = self.get_query_argument("lang", None)
        locale = lang if lang in ("vi", "en") else self.services.settings.default_locale
        return self.services.translator.get(locale)

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """Answer errors in Open311's format too."""
        self.finish(open311.error(status_code, self._reason))


class Open311Services(_Feed):
    """GET /open311/v2/services.json: the categories of report."""

    def get(self) -> None:
        """Send the service list."""
        self.finish(open311.dump(open311.services(self._gettext())))


class Open311Requests(_Feed):
    """GET /open311/v2/requests.json: de-identified reports, filtered and paged."""

    async def get(self) -> None:
        """Send the service requests the query selects."""
        args = {name: self.get_query_argument(name, None) for name in _PARAMETERS}
        try:
            query = open311.parse_query(args, self.services.db.clock())
        except open311.FeedError as exc:
            self.set_status(400)
            self.finish(open311.error(400, str(exc)))
            return
        rows = await self.services.db.feed.feed_rows(query)
        self.finish(open311.dump(open311.requests(rows, self._gettext())))


_PARAMETERS = (
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "page",
    "page_size",
)

"""Photos a unit sends a Zalo citizen, served at unguessable links for Zalo to fetch.

Zalo's sendPhoto takes only a URL. With `[zalo] media_url` set, a unit's photo is kept here in
memory for a day under a random name and Zalo is given its link; without it, the citizen is
told in words that a file came with the question. Nothing here is listed or guessable.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import tornado.web

# Long enough for Zalo to fetch the photo, even after an outage; short enough to keep little.
KEEP_SECONDS = 24 * 3600
KEEP_MAX = 200


class MediaShelf:
    """Photos waiting to be fetched, by random name."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self._items: dict[str, tuple[bytes, str, float]] = {}

    @property
    def enabled(self) -> bool:
        """Tell whether photos can be sent (a public address is configured)."""
        return self.base_url is not None

    def put(self, data: bytes) -> str:
        """Keep a photo; return the link Zalo fetches it from."""
        assert self.base_url is not None
        now = time.monotonic()
        self._items = {k: v for k, v in self._items.items() if v[2] > now}
        while len(self._items) >= KEEP_MAX:
            self._items.pop(next(iter(self._items)))
        name = secrets.token_urlsafe(24)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        self._items[name] = (data, kind, now + KEEP_SECONDS)
        suffix = "png" if kind == "image/png" else "jpg"
        return f"{self.base_url}/media/{name}.{suffix}"

    def get(self, name: str) -> tuple[bytes, str] | None:
        """Return a kept photo and its type, if it is still kept."""
        found = self._items.get(name)
        if found is None or found[2] <= time.monotonic():
            return None
        return found[0], found[1]


class MediaHandler(tornado.web.RequestHandler):
    """Serves a kept photo; 404 for anything else."""

    def initialize(self, shelf: MediaShelf) -> None:
        """Receive the shelf."""
        self.shelf = shelf

    def get(self, name: str, _suffix: str) -> None:
        """Send the photo's bytes."""
        found = self.shelf.get(name)
        if found is None:
            self.set_status(404)
            self.finish()
            return
        self.set_header("Content-Type", found[1])
        self.set_header("Cache-Control", "no-store")
        self.finish(found[0])

    def log_exception(self, *args: Any) -> None:
        """Nothing about the request is logged."""


def media_routes(shelf: MediaShelf, prefix: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """Return the route of the kept photos under `prefix` (the media URL's path)."""
    base = prefix.rstrip("/")
    return [(base + r"/media/([A-Za-z0-9_-]+)\.(jpg|png)", MediaHandler, {"shelf": shelf})]

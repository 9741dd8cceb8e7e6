"""The Zalo Bot API over HTTP (httpx): `POST {base_url}/bot{token}/{method}` with a JSON body,
answered `{"ok": ..., "result": ..., "error_code": ..., "description": ...}`.

Sending is paced within the configured rates (Zalo documents none: docs/channels.md). Photos
arrive as links that expire: `download` fetches one at once, refusing anything too large
before it is read whole. The token is never logged or put in an error's text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from bot.config import ZaloConfig
from bot.zalo.text import MESSAGE_LIMIT, length

log = logging.getLogger(__name__)

# A long poll asks Zalo to hold the request this long; the HTTP timeout is a little longer.
POLL_SECONDS = 30


class ZaloError(Exception):
    """Zalo refused a call, or could not be reached (`code` 0)."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Zalo error {code}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @property
    def network(self) -> bool:
        """Tell whether Zalo was not reached or did not answer (the call may have arrived)."""
        return self.code == 0

    @property
    def rate_limited(self) -> bool:
        """Tell whether Zalo asked the bot to slow down."""
        return self.code == 429 or self.retry_after is not None


class PhotoUnavailable(Exception):
    """A photo's link could not be fetched: expired, refused or unreachable."""


class PhotoTooLarge(Exception):
    """A photo is larger than the bot keeps."""


class Pace:
    """At most `per_second` sends overall, and one every `per_user` seconds to each person."""

    def __init__(self, per_second: float, per_user: float) -> None:
        self.gap = 1.0 / per_second
        self.per_user = per_user
        self._next = 0.0
        self._users: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_id: str) -> None:
        """Wait for this send's turn."""
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._users.get(chat_id, 0.0))
            self._next = start + self.gap
            self._users[chat_id] = start + self.per_user
            if len(self._users) > 10_000:
                self._users = {k: v for k, v in self._users.items() if v > now}
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class ZaloClient:
    """One bot's calls to the Zalo Bot API."""

    def __init__(self, config: ZaloConfig) -> None:
        self.config = config
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(POLL_SECONDS + 10, connect=10))
        self._pace = Pace(config.messages_per_second, config.seconds_per_user)

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def call(self, method: str, body: dict[str, Any] | None = None) -> Any:
        """Call one method; return its result or raise ZaloError."""
        url = f"{self.config.base_url}/bot{self.config.token}/{method}"
        try:
            response = await self._http.post(url, json=body or {})
        except httpx.HTTPError as exc:
            # The exception's text may hold the URL, and so the token: only its type is kept.
            raise ZaloError(0, type(exc).__name__) from None
        except RuntimeError:
            # The client was closed (the channel is stopping): tried again after the restart.
            raise ZaloError(0, "closed") from None
        try:
            data = response.json()
        except ValueError:
            raise ZaloError(response.status_code, "not JSON") from None
        if not isinstance(data, dict):
            raise ZaloError(response.status_code, "not a JSON object")
        if response.status_code == 200 and data.get("ok") is True:
            return data.get("result")
        code = data.get("error_code")
        retry = response.headers.get("Retry-After")
        params = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        retry_after = params.get("retry_after") if params else None
        if retry_after is None and retry is not None and retry.isdigit():
            retry_after = int(retry)
        raise ZaloError(
            int(code) if isinstance(code, int) else response.status_code,
            str(data.get("description") or "refused")[:200],
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def get_me(self) -> dict[str, Any]:
        """Return the bot's account (checks the token)."""
        result = await self.call("getMe")
        return result if isinstance(result, dict) else {}

    async def get_updates(self) -> Any:
        """Long-poll for the next updates; return the raw result."""
        # Zalo documents the timeout as a string of seconds.
        return await self.call("getUpdates", {"timeout": str(POLL_SECONDS)})

    async def set_webhook(self, url: str, secret_token: str) -> None:
        """Tell Zalo where to post updates, with the secret it sends back in a header."""
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        """Stop Zalo posting updates, so that getUpdates works."""
        await self.call("deleteWebhook")

    async def send_message(self, chat_id: str, text: str) -> str | None:
        """Send a text of 1 to 2,000 characters; return its message id."""
        if not text or length(text) > MESSAGE_LIMIT:
            # Messages are built to fit (bot.zalo.text.pack); this is a bug, not a retry.
            raise ValueError("a Zalo message must have 1 to 2000 characters")
        await self._pace.wait(chat_id)
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        return str(result.get("message_id")) if isinstance(result, dict) else None

    async def send_photo(self, chat_id: str, url: str, caption: str | None = None) -> str | None:
        """Send a photo Zalo fetches from `url`; return its message id."""
        body = {"chat_id": chat_id, "photo": url}
        if caption:
            body["caption"] = caption[:MESSAGE_LIMIT]
        await self._pace.wait(chat_id)
        result = await self.call("sendPhoto", body)
        return str(result.get("message_id")) if isinstance(result, dict) else None

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show "typing…" while a reply is prepared (cosmetic: failures are ignored)."""
        try:
            await self.call("sendChatAction", {"chat_id": chat_id, "action": action})
        except ZaloError as exc:
            log.info("sendChatAction failed: %s", exc.code)

    async def download(self, url: str, max_bytes: int) -> bytes:
        """Fetch a photo's bytes at once; refuse it past `max_bytes` without reading it all."""
        try:
            async with self._http.stream("GET", url, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise PhotoUnavailable(f"HTTP {response.status_code}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise PhotoTooLarge
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise PhotoTooLarge
                return bytes(data)
        except httpx.HTTPError as exc:
            raise PhotoUnavailable(type(exc).__name__) from None

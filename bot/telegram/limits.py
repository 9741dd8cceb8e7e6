"""Telegram's flood limits for every call, and patience for the replies people wait for.

Every Bot API call passes through one `AIORateLimiter` (30 messages a second overall, 20 a
minute per group). The outbox retries its own items, stored, for as long as it takes. A reply
to a person in the middle of an update has no such record: if Telegram answers 429 or fails
for a moment, the reply is tried again here, with backoff, for a bounded time, rather than
leaving the person without the next question or their answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

# Set in the outbox worker's task: its calls are retried by the outbox itself, from storage.
IN_OUTBOX: contextvars.ContextVar[bool] = contextvars.ContextVar("in_outbox", default=False)

# Calls that show a person something; other calls (polling, files, settings) are not retried.
REPLY_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendVoice",
        "sendAudio",
        "sendAnimation",
        "sendVideoNote",
        "sendMediaGroup",
        "copyMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)
# How long a reply may keep trying: long enough for a short outage or a flood wait, short
# enough that the person's later messages are not held up for long.
REPLY_PATIENCE = 30.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]


class ReplyRetryingLimiter(AIORateLimiter):
    """AIORateLimiter that also retries replies to people on 429 and passing network errors."""

    def __init__(self, *, patience: float = REPLY_PATIENCE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.patience = patience

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        """Apply the limits; retry a reply within the patience, anything else never."""
        if IN_OUTBOX.get() or endpoint not in REPLY_ENDPOINTS:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        deadline = time.monotonic() + self.patience
        backoff = FIRST_BACKOFF
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                # Telegram understood and refused: the same request would be refused again.
                raise
            except RetryAfter as exc:
                delay = exc.retry_after
                wait = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
                if time.monotonic() + wait > deadline:
                    raise
            except NetworkError:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                if time.monotonic() + wait > deadline:
                    raise
            log.info("%s to a person failed; trying again in %.1f s", endpoint, wait)
            await asyncio.sleep(wait)

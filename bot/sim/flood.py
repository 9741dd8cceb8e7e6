"""Telegram's flood limits on messages, counted for every call that sends or edits one: 30 a
second overall, 20 a minute per group and about one a second (burst of three) per person. The
simulator records each FloodViolation and, when limits are enforced, answers 429 with the
retry_after Telegram would give.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from bot.sim.protocol import CHAT_TYPES


@dataclass(frozen=True)
class FloodViolation:
    """One call that broke a Telegram flood limit."""

    method: str
    chat_id: int | None
    limit: str
    retry_after: int


class FloodControl:
    """Telegram's message limits: 30/s overall, 20/min per group, 1/s (burst 3) per person."""

    GLOBAL_PER_SECOND = 30
    GROUP_PER_MINUTE = 20
    PRIVATE_RATE = 1.0
    PRIVATE_BURST = 3.0

    def __init__(self, global_per_second: int = GLOBAL_PER_SECOND) -> None:
        # Telegram lifts the overall limit for a bot with paid broadcasts (up to 1,000/s):
        # a load test runs at such a rate to stay short.
        self.global_per_second = global_per_second
        self._global: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}
        self._private: dict[int, tuple[float, float]] = {}

    @staticmethod
    def _prune(window: deque[float], horizon: float) -> None:
        """Forget sends older than the window."""
        while window and window[0] <= horizon:
            window.popleft()

    def admit(
        self, chat_id: int | None, chat_type: str | None, now: float
    ) -> tuple[str, int] | None:
        """Take a message slot, or take none and name the limit and the seconds to wait."""
        exceeded: list[tuple[float, str]] = []
        self._prune(self._global, now - 1.0)
        if len(self._global) >= self.global_per_second:
            exceeded.append((self._global[0] + 1.0 - now, "global"))
        window: deque[float] | None = None
        tokens = 0.0
        if chat_id is not None and chat_type in CHAT_TYPES:
            window = self._groups.setdefault(chat_id, deque())
            self._prune(window, now - 60.0)
            if len(window) >= self.GROUP_PER_MINUTE:
                exceeded.append((window[0] + 60.0 - now, "group"))
        elif chat_id is not None:
            tokens, last = self._private.get(chat_id, (self.PRIVATE_BURST, now))
            tokens = min(self.PRIVATE_BURST, tokens + (now - last) * self.PRIVATE_RATE)
            if tokens < 1.0:
                exceeded.append(((1.0 - tokens) / self.PRIVATE_RATE, "private"))
        if exceeded:
            wait, limit = max(exceeded)
            return limit, max(1, math.ceil(wait))
        self._global.append(now)
        if window is not None:
            window.append(now)
        elif chat_id is not None:
            self._private[chat_id] = (tokens - 1.0, now)
        return None


def counts_as_message(method: str) -> bool:
    """Whether a call sends or edits a message, the calls Telegram's flood limits count."""
    if method == "sendChatAction":
        return False
    return method.startswith(("send", "edit")) or method in ("copyMessage", "forwardMessage")

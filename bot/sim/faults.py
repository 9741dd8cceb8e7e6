"""Planned failures: an Injection is the answer a test chose for the next calls of one Bot API
method (an error, a delay, or a success whose answer is lost), so that the bot's handling of 429s,
5xx, timeouts and migrated groups can be exercised on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sim.protocol import DEFAULT_DESCRIPTIONS, ApiError, JSONDict


@dataclass
class Injection:
    """A planned answer for the next calls of one method."""

    method: str
    status: int
    description: str | None
    retry_after: int | None
    migrate_to_chat_id: int | None
    chat_id: int | None
    times: int
    delay: float
    lose_answer: bool

    def matches(self, method: str, chat_id: Any) -> bool:
        """Whether this injection applies to a call."""
        if self.method != method.lower():
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)

    def error(self) -> ApiError:
        """The failure to answer with."""
        parameters: JSONDict = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        description = self.description
        if description is None:
            if self.migrate_to_chat_id is not None:
                description = "Bad Request: group chat was upgraded to a supergroup chat"
            elif self.status == 429:
                description = f"Too Many Requests: retry after {self.retry_after or 1}"
            else:
                description = DEFAULT_DESCRIPTIONS.get(self.status, f"Error {self.status}")
        return ApiError(self.status, description, parameters or None)

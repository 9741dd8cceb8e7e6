"""What a test, the demo or the benchmark reads from the simulated Telegram: the bot's
messages per chat, the calls it made, pending updates, its commands and files, and waits for a
message or a callback answer that re-check whenever the simulation changes instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import TypeVar

from bot.sim.core import MessageListener, SimCore
from bot.sim.flood import counts_as_message
from bot.sim.people import Predicate
from bot.sim.protocol import JSONDict

_T = TypeVar("_T")


class ReadersMixin(SimCore):
    """Reading and waiting for what the bot did."""

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded or a person sent."""
        stored = self._files.get(file_id)
        if stored is None:
            raise KeyError(f"no file {file_id!r}")
        return b"".join(stored.chunks())

    def messages(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages in a chat, oldest first, edits applied, deletions flagged."""
        return list(self._bot_messages.get(chat_id, ()))

    def count(self, method: str, chat_id: int | None = None) -> int:
        """How many calls of a method (case-insensitive) were received, optionally per chat."""
        wanted = method.lower()
        return sum(
            1
            for name, params in self.calls
            if name.lower() == wanted
            and (chat_id is None or str(params.get("chat_id")) == str(chat_id))
        )

    def message_calls(self, chat_id: int, after: int = 0) -> list[tuple[str, JSONDict]]:
        """The calls from index `after` of `calls` that sent or edited a message in a chat."""
        return [
            (name, params)
            for name, params in self.calls[after:]
            if counts_as_message(name) and str(params.get("chat_id")) == str(chat_id)
        ]

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued for the bot and not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def bot_commands(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """The commands the bot set for a scope and language."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self._commands.get(key, ()))

    def on_message(self, callback: MessageListener) -> Callable[[], None]:
        """Call callback(chat_id, message, "new" | "edit") for bot messages; returns a remover."""
        self._listeners.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return remove

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        contains: str | None = None,
        predicate: Predicate | None = None,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The first bot message in the chat at index >= after that matches, waiting for it."""
        _, message = await self._wait_for_message(chat_id, contains, predicate, after, timeout)
        return message

    async def wait_for_reply(
        self,
        chat_id: int,
        pressed: JSONDict,
        *,
        contains: str | None = None,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The bot's answer to a press: a new message at index >= after, or the pressed
        message edited since `pressed` was read (as a bot that edits a question in place
        into the next one answers); either containing `contains`."""
        edits = pressed.get("edits", 0)

        def find() -> JSONDict | None:
            messages = self._bot_messages.get(chat_id, [])
            for message in messages[after:]:
                if contains is None or contains in message["text"]:
                    return message
            current = self._store.get(chat_id, {}).get(pressed["message_id"])
            if current is not None and current.get("edits", 0) > edits:
                if contains is None or contains in current["text"]:
                    return current
            return None

        def report() -> str:
            wanted = f"containing {contains!r}" if contains is not None else ""
            current = self._store.get(chat_id, {}).get(pressed["message_id"]) or {}
            recent = [m["text"] for m in self._bot_messages.get(chat_id, [])[after:]]
            return (
                f"no answer {wanted} to a press in chat {chat_id} within {timeout:g} s; the "
                f"pressed message reads {current.get('text')!r}, new messages: {recent!r}"
            )

        return await self._wait_until(find, timeout, report)

    async def wait_for_callback_answer(
        self,
        callback_query_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-wait default is the API tests want
    ) -> JSONDict:
        """The bot's answerCallbackQuery parameters for a pressed button, waiting for them."""

        def answered() -> JSONDict | None:
            return self.callback_answers.get(callback_query_id)

        return await self._wait_until(
            answered, timeout, lambda: f"callback query {callback_query_id} was not answered"
        )

    async def _wait_for_message(
        self,
        chat_id: int,
        contains: str | None,
        predicate: Predicate | None,
        after: int,
        seconds: float,
    ) -> tuple[int, JSONDict]:
        """Wait for a matching bot message and return its index and itself."""

        def find() -> tuple[int, JSONDict] | None:
            messages = self._bot_messages.get(chat_id, [])
            for index in range(after, len(messages)):
                message = messages[index]
                if contains is not None and contains not in message["text"]:
                    continue
                if predicate is None or predicate(message):
                    return index, message
            return None

        def report() -> str:
            wanted = f"containing {contains!r}" if contains is not None else "matching"
            recent = self._bot_messages.get(chat_id, [])[-10:]
            first = len(self._bot_messages.get(chat_id, [])) - len(recent)
            lines = [f"  [{first + i}] {message['text']!r}" for i, message in enumerate(recent)]
            text = (
                f"no bot message {wanted} in chat {chat_id} at index >= {after} "
                f"within {seconds:g} s; recent bot messages:\n" + ("\n".join(lines) or "  none")
            )
            if self.internal_errors:
                text += f"\nsimulator errors: {self.internal_errors!r}"
            return text

        return await self._wait_until(find, seconds, report)

    async def _wait_until(
        self, check: Callable[[], _T | None], seconds: float, report: Callable[[], str]
    ) -> _T:
        """Re-check whenever the simulation changes until check gives a value or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = check()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(report())
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

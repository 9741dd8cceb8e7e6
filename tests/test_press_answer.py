"""A citizen's press is answered after the step's reply, and never begun while the bot stops."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from telegram import Update

from handlers.report import _answering


class Query:
    """A pressed button whose answers are written down, in order with the step's own events."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.message = None  # a message the bot can no longer edit

    async def answer(self, text: str | None = None) -> bool:
        self.events.append("answered")
        return True


def pressed(events: list[str]) -> Update:
    return cast(Update, SimpleNamespace(callback_query=Query(events)))


async def test_the_press_is_answered_after_the_reply() -> None:
    events: list[str] = []
    async with _answering(pressed(events)):
        events.append("replied")
    assert events == ["replied", "answered"]


async def test_a_step_that_fails_still_answers_the_press() -> None:
    events: list[str] = []
    with pytest.raises(ValueError, match="stored state"):
        async with _answering(pressed(events)):
            raise ValueError("stored state")
    assert events == ["answered"]


async def test_a_step_cancelled_as_the_bot_stops_begins_no_answer() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def step() -> None:
        async with _answering(pressed(events)):
            started.set()
            await asyncio.Event().wait()  # the reply on its way when the bot stops

    task = asyncio.create_task(step())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == []


async def test_a_message_not_a_press_has_nothing_to_answer() -> None:
    update: Any = SimpleNamespace(callback_query=None)
    async with _answering(update) as message:
        assert message is None

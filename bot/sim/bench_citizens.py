"""The people the benchmark plays: a Citizen walks one report to its tracking code by
answering whatever the bot's newest question is, as a person would at a person's pace, and
nudges with /report when ignored; echo_citizen sends the echo bot as many texts as a report
takes steps, for the framework's floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core.conversation import ANONYMOUS, CLEAR, CONFIRM, DONE, SKIP, TODAY, Step
from bot.sim import SimUser
from bot.sim.bench_world import CODE_RE, DESCRIPTION, PHOTO, BenchSimulator, unit_code, unit_name
from bot.telegram.callbacks import ReportAnswer


@dataclass
class Outcome:
    """What one citizen got out of one report."""

    code: str | None = None
    # When the review's Send was pressed, and how long the code took to arrive after it.
    sent_at: float | None = None
    receipt_s: float | None = None
    updates: int = 0
    nudges: int = 0
    stuck: bool = False


class Citizen:
    """A person who answers whatever the bot's newest question is, one report to its code."""

    def __init__(
        self, sim: BenchSimulator, user: SimUser, unit: int, think: float, *, photo: bool = True
    ) -> None:
        self.sim = sim
        self.user = user
        self.unit = unit
        self.think = think
        # Whether the report carries a photo; without, the evidence question is skipped.
        self.photo = photo
        self.mark = 0
        self.acted: set[tuple[int, str]] = set()
        self.event = sim.chat_event(user.id)
        self.outcome = Outcome()

    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages in this citizen's chat (the live list)."""
        return self.sim._bot_messages.get(self.user.id, [])

    async def pause(self) -> None:
        """Read and type like a person: Telegram allows about one message a second per chat."""
        await asyncio.sleep(self.think * random.uniform(0.85, 1.15))

    async def report(self, *, patience: float = 30.0, give_up: float = 120.0) -> Outcome:
        """Walk one report (with a photo, unless told not to) to its tracking code; nudge with
        /report when ignored."""
        await self._send("/start")
        started = last_progress = time.monotonic()
        while self.outcome.code is None:
            action = self._next_action()
            if self.outcome.code is not None:
                # The receipt just read ends the report: waiting for the chat's next message
                # here idled the citizen a second per report (the wait's timeout).
                break
            if action is not None:
                await self.pause()
                await action()
                last_progress = time.monotonic()
                continue
            now = time.monotonic()
            if now - started > give_up:
                self.outcome.stuck = True
                break
            if now - last_progress > patience:
                # A person who hears nothing asks again: /report resumes the step in progress,
                # or starts the report if the step that created it never got through.
                self.outcome.nudges += 1
                last_progress = now
                await self._send("/report")
                continue
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), 1.0)
        return self.outcome

    async def open_conversation(self, *, seconds: float = 120.0) -> bool:
        """Consent and stop at the first question: a report left open mid-way."""
        await self._send("/start")
        deadline = time.monotonic() + seconds
        pressed = False
        while time.monotonic() < deadline:
            for message in reversed(self.messages()[self.mark :]):
                data = _buttons(message)
                if not pressed and "consent:yes" in data:
                    await self.pause()
                    await self._press(message, "consent:yes")
                    pressed = True
                    break
                if pressed and any(_step(d) is Step.CATEGORY for d in data):
                    return True
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), 1.0)
        return False

    def _next_action(self) -> Callable[[], Any] | None:
        """The answer to the newest recognisable bot message since the last action."""
        for message in reversed(self.messages()[self.mark :]):
            text = message.get("text") or ""
            found = CODE_RE.search(text)
            if found and "/status" in text:
                self.outcome.code = found.group(1)
                if self.outcome.sent_at is not None:
                    seen = (self.user.id, int(message["message_id"]))
                    arrived = self.sim.first_seen.get(seen, time.monotonic())
                    self.outcome.receipt_s = arrived - self.outcome.sent_at
                return None
            data = _buttons(message)
            key = (int(message["message_id"]), ",".join(data))
            if key in self.acted:
                continue
            action = self._answer(message, text, data)
            if action is not None:
                self.acted.add(key)
                return action
        return None

    def _answer(
        self, message: dict[str, Any], text: str, data: list[str]
    ) -> Callable[[], Any] | None:
        answers = {d: _answer_of(d) for d in data}

        def press(step: Step | None, value: str) -> Callable[[], Any] | None:
            for wire, parsed in answers.items():
                if parsed is not None and parsed[1] == value and step in (None, parsed[0]):
                    return lambda: self._press(message, wire)
            return None

        send = press(Step.REVIEW, CONFIRM)
        if send is not None:
            return lambda: self._send_report(send)
        for step, value in (
            (Step.IDENTITY, ANONYMOUS),
            (Step.WHEN, TODAY),
            (None, SKIP),
            (Step.UNIT, unit_code(self.unit)),
            (Step.CATEGORY, "conduct"),
        ):
            action = press(step, value)
            if action is not None:
                return action
        if "consent:yes" in data:
            return lambda: self._press(message, "consent:yes")
        evidence = {
            parsed[1] for parsed in answers.values() if parsed and parsed[0] is Step.EVIDENCE
        }
        if CLEAR in evidence or (DONE in evidence and not self.photo):
            return press(Step.EVIDENCE, DONE)
        if DONE in evidence:
            return self._photo
        if any(d.startswith("ub:") or _step(d) is Step.UNIT for d in data):
            return lambda: self._send(unit_name(self.unit).lower())
        if not data and "Mô tả sự việc" in text:
            return lambda: self._send(f"{DESCRIPTION} (#{self.user.id})")
        return None

    async def _send_report(self, press: Callable[[], Any]) -> None:
        self.outcome.sent_at = time.monotonic()
        await press()

    async def _send(self, text: str) -> None:
        self.mark = len(self.messages())
        self.outcome.updates += 1
        await self.user.send(text)

    async def _photo(self) -> None:
        self.mark = len(self.messages())
        self.outcome.updates += 1
        await self.user.send_photo(content=PHOTO)

    async def _press(self, message: dict[str, Any], data: str) -> None:
        # The bot may answer by editing the pressed message into the next question, so it is
        # read again from there on (its old buttons are remembered as acted upon).
        messages = self.messages()
        self.mark = next(
            (i for i, m in enumerate(messages) if m["message_id"] == message["message_id"]),
            len(messages),
        )
        self.outcome.updates += 1
        current = self.sim._stored(message)
        await self.user.press(current, data, check_button=False)


def _answer_of(data: str) -> tuple[Step, str] | None:
    pressed = ReportAnswer.parse(data)
    if pressed is None or pressed.question is None:
        return None
    return pressed.question, pressed.value


def _step(data: str) -> Step | None:
    parsed = _answer_of(data)
    return parsed[0] if parsed else None


def _buttons(message: dict[str, Any]) -> list[str]:
    return [data for _label, data in message.get("buttons") or [] if data]


async def echo_citizen(sim: BenchSimulator, user: SimUser, think: float, steps: int) -> int:
    """Send `steps` texts, each after the echo of the previous one; return the echoes."""
    event = sim.chat_event(user.id)
    echoed = 0
    for step in range(steps):
        # The first text at once, as a citizen's /start: the load's ramp spreads the starts.
        if step:
            await asyncio.sleep(think * random.uniform(0.85, 1.15))
        text = f"tin nhắn {step} của {user.id}"
        await user.send(text)
        deadline = time.monotonic() + 60
        while not any(m.get("text") == text for m in sim._bot_messages.get(user.id, [])[-3:]):
            if time.monotonic() > deadline:
                return echoed
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 1.0)
        echoed += 1
    return echoed

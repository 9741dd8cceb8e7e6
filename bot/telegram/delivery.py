"""The outbox worker: sends what the database says is owed, until Telegram has accepted it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Hashable

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
)

from bot.config import Settings
from bot.core.outbox import (
    Deferred,
    HeldAlertsNotice,
    OutboxItem,
    OutboxKind,
    ReporterChannel,
)
from bot.i18n import Translator
from bot.store.outbox import CLAIM_SECONDS, ClaimLost
from bot.store.repository import Repository, StorageError
from bot.telegram.limits import IN_OUTBOX, PRESSING
from bot.telegram.senders import Senders, UnitChatUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
# A unit chat that is missing or refuses the bot is retried rarely: an admin has been told and
# fixing it releases the held alerts at once.
HOLD_SECONDS = 3600.0
IDLE_WAKE = 60.0
# Behind several workers, claims another worker gave back on stopping wake nobody here: look
# this often.
SHARED_IDLE_WAKE = 10.0
# On stopping, how long the items in hand may take to finish (SIGTERM ends within 10 s).
STOP_GRACE = 3.0
# How many items are sent at once. Each mostly waits, on Telegram or on the database; the
# limiter paces every chat and the whole, so more at once never sends faster than allowed.
WIDTH = 8


def _destination(item: OutboxItem) -> Hashable:
    """What an item's order matters within: its report (the alert before the edits of it, a
    citizen's notices in turn), else its chat, else its unit."""
    if item.report_id is not None:
        return ("report", item.report_id)
    if item.chat_id is not None:
        return ("chat", item.chat_id)
    if item.unit_code is not None:
        return ("unit", item.unit_code)
    return ("item", item.id)


class Delivery(Senders):
    """Delivers outbox items in order; one instance per application."""

    # Items in hand at once (each to a destination of its own).
    _width = WIDTH

    def __init__(
        self, bot: Bot, db: Repository, settings: Settings, translator: Translator
    ) -> None:
        super().__init__(bot, db, settings, translator)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[None] | None = None
        self._stopping = False
        # One sender per kind of message; the payload's type is checked once, in _attempt.
        self._senders: dict[OutboxKind, Callable[[OutboxItem], Awaitable[None]]] = {
            OutboxKind.ALERT: self._send_alert,
            OutboxKind.REFRESH: self._refresh,
            OutboxKind.STATUS_NOTICE: self._send_status_notice,
            OutboxKind.ESCALATION_NOTICE: self._send_escalation_notice,
            OutboxKind.QUESTION: self._send_question,
            OutboxKind.RECEIPT: self._send_receipt,
            OutboxKind.REMINDER: self._send_reminder,
            OutboxKind.ANSWER: self._send_answer,
            OutboxKind.DIGEST: self._send_digest,
            OutboxKind.HELD_ALERTS: self._send_held_alerts,
            OutboxKind.NOTICE: self._send_text_notice,
            OutboxKind.CONFLICT_NOTICE: self._send_conflict_notice,
            OutboxKind.PATTERN_CHECK: self._check_pattern,
        }
        assert set(self._senders) == set(OutboxKind), "every kind of message needs a sender"
        # Reporters reached through another channel (Zalo), by the channel's name: their
        # messages go through the same queue, retries and records.
        self.channels: dict[str, ReporterChannel] = {}

    def start(self) -> None:
        """Start the background loop (and, behind several workers, the claims' renewal)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="liemchinh-delivery")
        if self.db.database.shared and self._renewal is None:
            self._renewal = asyncio.create_task(self._renew(), name="liemchinh-claims")

    async def _renew(self) -> None:
        # A live worker keeps what it claimed, however long Telegram's limits make it wait;
        # only a dead worker's claims expire.
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            try:
                await self.db.outbox.renew_claims()
            except StorageError:
                log.warning("outbox claims not renewed; trying again")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Finish the items in hand (for up to `grace` seconds), then stop; the rest stays owed."""
        if self._renewal is not None:
            renewal, self._renewal = self._renewal, None
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        if self._task is not None:
            task, self._task = self._task, None
            self._stopping = True
            self._wake.set()
            # An item cut short in the middle of a send may go out twice (marked as resent)
            # after a restart; one left to finish is recorded as sent.
            await asyncio.wait({task}, timeout=grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._stopping = False
            if self.db.database.shared:
                # Another worker may send them at once, rather than once the claims expire.
                with contextlib.suppress(StorageError):
                    await self.db.outbox.release_claims()

    def wake(self) -> None:
        """Ask the loop to look at the outbox now."""
        self._wake.set()

    async def _run(self) -> None:
        # The outbox retries from storage: its calls are not retried again by the limiter.
        IN_OUTBOX.set(True)
        while not self._stopping:
            try:
                await self.deliver_due()
                due = await self.db.outbox.next_due()
            except StorageError:
                log.exception("outbox unreadable; retrying")
                due = None
            idle = SHARED_IDLE_WAKE if self.db.database.shared else IDLE_WAKE
            timeout = idle if due is None else min(idle, due - self.db.clock())
            if timeout > 0:
                # Not wait_for: on Python 3.11 it can swallow stop()'s cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Try every item that is due once; return how many were completed.

        Up to `WIDTH` items go at once, and every code due besides, each to a destination of
        its own (`_destination`):
        one after another, a code waited behind every alert and notice before it, each with
        its database records and its call to Telegram, and the citizen who had pressed Send
        with it. A destination's items still go one at a time, in order (an alert before
        the edits of it), and Telegram's pacing of each chat is the limiter's.
        """
        done = 0
        running: dict[asyncio.Task[bool], tuple[Hashable, int]] = {}
        waiting: list[OutboxItem] = []
        # Whether anything completed since the outbox was last read: when nothing did, what
        # is still due failed just now, and is read again at its next attempt's time.
        progressed = True
        try:
            while not self._stopping:
                if self._wake.is_set() or (not waiting and progressed):
                    # Anything queued from now on (wake()) is seen at the next round.
                    self._wake.clear()
                    progressed = False
                    going = {item_id for _key, item_id in running.values()}
                    # A citizen's code first: they have just pressed Send and wait for it,
                    # while an alert may take its minute. (Replies to people still go before
                    # both: the code keeps the outbox's place in Telegram's budget, at the head
                    # of the outbox's calls waiting there, bot.telegram.limits.)
                    waiting = sorted(
                        (i for i in await self.db.outbox.due() if i.id not in going),
                        key=lambda i: i.kind is not OutboxKind.RECEIPT,
                    )
                busy = {key for key, _item_id in running.values()}
                for item in list(waiting):
                    # A code needs no free place: the places may all be alerts that Telegram's
                    # pacing of their groups holds for seconds, and the person who pressed Send
                    # waits for it. Codes are one per report sent, and come first in `waiting`.
                    if len(running) >= self._width and item.kind is not OutboxKind.RECEIPT:
                        break
                    key = _destination(item)
                    if key in busy:
                        continue  # after the item before it to the same place
                    busy.add(key)
                    waiting.remove(item)
                    running[asyncio.create_task(self._attempt(item))] = (key, item.id)
                if not running:
                    break
                woken = asyncio.create_task(self._wake.wait())
                try:
                    finished, _pending = await asyncio.wait(
                        {*running, woken}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                for task in finished - {woken}:
                    del running[task]
                    if task.result():
                        done += 1
                        progressed = True
            # Stopping: the items in hand finish, as stop() allows them.
            while running:
                finished, _pending = await asyncio.wait(running)
                for task in finished:
                    del running[task]
                    done += 1 if task.result() else 0
        except BaseException:
            # A database error in one of them, or stop() out of patience: the others end too.
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            raise
        return done

    async def _attempt(self, item: OutboxItem) -> bool:
        # In the item's own task (deliver_due starts one per item), so only a code's calls press.
        PRESSING.set(item.kind is OutboxKind.RECEIPT)
        # Alerts and unit messages go to a unit's chat, which an admin must fix when it fails;
        # everything else goes to one person, who may have blocked the bot.
        unit_bound = item.kind.to_unit and item.chat_id is None
        if item.id in self._unrecorded:
            # A part went out but its record did not: write it, and read the item anew.
            await self.db.outbox.part_sent(item.id, *self._unrecorded[item.id])
            del self._unrecorded[item.id]
            return False
        try:
            if not await self._other_channel(item):
                await self._senders[item.kind](item)
        except Deferred as exc:
            await self.db.outbox.retry(item.id, exc.delay, exc.reason)
            return False
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay if isinstance(delay, int | float) else delay.total_seconds()
            await self.db.outbox.retry(item.id, float(seconds), f"RetryAfter {seconds}")
            return False
        except ChatMigrated as exc:
            await self._migrated(item, exc.new_chat_id)
            return False
        except UnitChatUnavailable as exc:
            await self._unit_chat_problem(item, str(exc), state="unset")
            return False
        except Forbidden as exc:
            if unit_bound:
                await self._unit_chat_problem(item, str(exc))
            else:
                # A citizen who blocked the bot: keep the message, stop knocking.
                await self.db.outbox.give_up(item.id, str(exc))
            return False
        except BadRequest as exc:
            if unit_bound and "chat not found" in str(exc).lower():
                await self._unit_chat_problem(item, str(exc))
            elif not unit_bound and any(s in str(exc).lower() for s in _GONE):
                # What was to be copied or answered no longer exists: retrying cannot help.
                await self.db.outbox.give_up(item.id, str(exc))
            else:
                log.error("outbox item %s refused by Telegram: %s", item.id, exc)
                await self._later(item, HOLD_SECONDS, str(exc))
            return False
        except NetworkError as exc:
            # A timeout or a dropped connection: the part may have arrived all the same.
            await self._later(item, _backoff(item.attempts), str(exc), maybe_sent=True)
            return False
        except ClaimLost:
            # This worker's claim expired and another worker took the item over.
            log.warning("outbox item %s taken over by another worker", item.id)
            return False
        except StorageError:
            raise
        except Exception as exc:
            # A bug in rendering one item must not stop the delivery of all the others.
            log.exception("outbox item %s failed", item.id)
            await self._later(item, _backoff(item.attempts), repr(exc))
            return False
        await self.db.outbox.done(item.id)
        if unit_bound and item.unit_code:
            await self.db.units.set_unit_chat_state(item.unit_code, "ok")
        return True

    async def _other_channel(self, item: OutboxItem) -> bool:
        """Deliver a reporter's message through their own channel; False if that is Telegram.

        Web reporters read theirs on the status page; a channel that is not running (Zalo
        switched off, or stopping) holds its reporters' messages rather than dropping them.
        """
        if not item.kind.to_reporter or item.report_id is None:
            return False
        channel = await self.reads.reports.reporter_channel(item.report_id)
        if channel in (None, "telegram", "web"):
            return False
        sender = self.channels.get(channel)
        if sender is None:
            raise Deferred(f"the {channel} channel is not running", HOLD_SECONDS)
        await sender.deliver(item)
        return True

    async def _later(
        self, item: OutboxItem, delay: float, error: str, *, maybe_sent: bool = False
    ) -> None:
        """Retry later; a message to one person stops after MAX_ATTEMPTS, an alert never."""
        if item.kind not in _NEVER_GIVEN_UP and item.attempts + 1 >= MAX_ATTEMPTS:
            log.error("outbox item %s given up after %d attempts", item.id, MAX_ATTEMPTS)
            await self.db.outbox.give_up(item.id, error)
        else:
            await self.db.outbox.retry(item.id, delay, error, maybe_sent=maybe_sent)

    async def _migrated(self, item: OutboxItem, new_chat_id: int) -> None:
        unit = await self.reads.units.get_unit(item.unit_code) if item.unit_code else None
        if unit is not None and unit.chat_id is not None and unit.chat_id != new_chat_id:
            await self.db.units.migrate_unit_chat(unit.chat_id, new_chat_id)
            log.info("unit %s chat migrated to a supergroup", unit.code)
            await self.db.outbox.retry(item.id, 0.0, "chat migrated")
        else:
            await self._later(item, _backoff(item.attempts), "chat migrated")

    async def _unit_chat_problem(
        self, item: OutboxItem, reason: str, *, state: str = "broken"
    ) -> None:
        await self.db.outbox.retry(item.id, HOLD_SECONDS, reason)
        if item.unit_code is None:
            return
        changed = await self.db.units.set_unit_chat_state(item.unit_code, state)
        # A broken chat is news once, when it breaks; for a unit that never had a chat each
        # newly held alert is news, at its first attempt, since the state itself never changes.
        if changed or (state == "unset" and item.attempts == 0):
            log.warning("unit %s alert chat unusable: %s", item.unit_code, reason)
            for admin in sorted(self.settings.admins | await self.reads.admin.chat_admins()):
                await self.db.outbox.add_notice(
                    admin, HeldAlertsNotice(unit=item.unit_code, reason=reason)
                )
            self.wake()


# An alert is owed to a unit however long its chat is broken, and a pattern check must run
# however often the search failed: neither is ever dropped.
_NEVER_GIVEN_UP = frozenset({OutboxKind.ALERT, OutboxKind.PATTERN_CHECK})
# Telegram's answers meaning the thing to copy or reply to is gone for good.
_GONE = ("message to copy not found", "message to reply not found", "chat not found")
# Messages to one person (not alerts, which are never dropped) stop after this many attempts:
# with the backoff capped at MAX_BACKOFF that is more than two hours of trying.
MAX_ATTEMPTS = 30


def _backoff(attempts: int) -> float:
    # Jitter keeps many held items from retrying in one burst after an outage.
    return min(MAX_BACKOFF, 2.0**attempts) * random.uniform(0.8, 1.2)

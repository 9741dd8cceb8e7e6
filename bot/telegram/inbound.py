"""Updates reach the handlers only through the database, so a crash loses none of them.

python-telegram-bot's own updater confirms a batch to Telegram (the next getUpdates offset)
before it has handled it: a crash then loses whatever was waiting in memory. Here every raw
update is read on its own and written to the `inbound` table first (one that cannot be read goes
to the `quarantine` table instead); only then is its offset confirmed (by the next getUpdates
call) or, for a webhook, is Telegram answered 200. Stored updates are handed on in the order
they arrived, one lane per chat (`bot.telegram.lanes`): in order within a chat, several chats
at once. A row is deleted once its update was handled; at start, whatever a crash left
unhandled is replayed, in the same order. Handling is therefore at least once: an update being
handled at the moment of a crash runs again, and the handlers are written to take that.

Updates just stored go straight to their lanes when nothing stored before them waits unread
(their row numbers follow the last one handed on); otherwise the dispatcher reads them back in
order, as it does at start and behind a backlog. Handled rows are deleted in batches beside the
lanes, so that a chat's next update does not wait for its predecessor's deletion. On a
PostgreSQL database several workers share, the lanes are those of `bot.telegram.owners`
instead: a chat is handled by the one worker that owns it at the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import time
from collections.abc import Hashable, Sequence
from typing import Any

from telegram import Chat, Update, User
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.core.domain import Poison
from bot.core.outbox import TextNotice
from bot.i18n import pick_locale
from bot.store.coordination import CoordinationLost
from bot.store.repository import Repository, StorageError
from bot.telegram.lanes import FloodGuard, Lanes, Verdict
from bot.telegram.owners import ChatOwners
from bot.telegram.wire import Arrival, describe, parse_stored, read, withhold_update_dumps

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10
# Beyond the long poll's own wait, how long an answer to getUpdates may take.
READ_MARGIN = 5.0
MAX_BACKOFF = 30.0
# How often stored updates are looked for even when nothing signalled them (rows written by
# another path, deletions that failed and are retried).
SWEEP_SECONDS = 1.0
# Stored updates read per query, and how many may wait in the lanes before reading stops.
PAGE = 500
# Freshly stored updates kept parsed for their handling (a few seconds' worth at most).
PARSED_MAX = 200
BACKLOG = 2000
# On stopping, how long the updates in hand may take to finish: SIGTERM must end the process
# within 10 s, and an update cut short is handled again at the next start.
STOP_GRACE = 4.0
# At most one "updates were set aside" notice to the admins per hour.
POISON_NOTICE_SECONDS = 3600.0

Item = tuple[int, Update]


class Inbound:
    """Stores updates, then hands them to the application: in order per chat, chats at once."""

    def __init__(self, app: Any, db: Repository) -> None:
        self.app = app
        self.db = db
        services = app.bot_data["services"]
        self._settings = services.settings
        self._translator = services.translator
        self._services = services
        self._lanes: Lanes[Item] = Lanes(self._handle)
        self._flood = FloodGuard(self._settings.flood_messages, self._settings.flood_seconds)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # The arrival number (`seq`) of the last stored update handed on, and whether reading
        # more stopped because the lanes hold enough.
        self._seq = 0
        self._full = False
        # Updates handled (or dropped) whose row is not deleted yet: deleted in batches beside
        # the lanes (`_forget`), and if the database refuses, retried at every sweep. They
        # must not run again meanwhile.
        self._undeleted: set[int] = set()
        self._forget_wake = asyncio.Event()
        # Held while updates are handed to the lanes, by the dispatcher or straight from
        # storing: `_seq` moves on in order, and no update is handed on twice.
        self._handing = asyncio.Lock()
        # Updates just stored, already parsed: handed on without reading their JSON again.
        self._parsed: dict[int, Update] = {}
        # People already told that the service is briefly down, so each hears it once.
        self._told: set[int] = set()
        self._poison_noticed_at = float("-inf")
        coordination = db.database.coordination
        self._owners = ChatOwners(self, coordination) if coordination is not None else None
        withhold_update_dumps()

    # -- receiving ---------------------------------------------------------------------------

    async def accept(self, raw: Sequence[Any]) -> list[Arrival]:
        """Read and store raw updates (those seen lately are ignored); wake the handling."""
        arrivals = [read(item, self.app.bot) for item in raw]
        await self._keep(arrivals)
        # A webhook request stored: Telegram reaches the bot.
        self._services.metrics.intake(self._services.clock())
        return arrivals

    async def _keep(self, arrivals: Sequence[Arrival]) -> None:
        good = [
            (a.update_id, a.payload)
            for a in arrivals
            if a.update_id is not None and a.update is not None
        ]
        bad = [(a.poison, a.payload) for a in arrivals if a.poison is not None]
        chats = {
            a.update_id: _chat(a.update)
            for a in arrivals
            if a.update_id is not None and a.update is not None
        }
        numbered = await self.db.inbound.keep_updates(good, chats)
        new = {update_id for _seq, update_id in numbered}
        if self._owners is not None and len(self._parsed) >= PARSED_MAX:
            # Updates another worker handled leave their parsed copy here: start afresh.
            self._parsed.clear()
        for arrival in arrivals:
            # Bounded: a backlog is parsed from storage as it is handled, not held here.
            if arrival.update_id in new and arrival.update and len(self._parsed) < PARSED_MAX:
                self._parsed[arrival.update_id] = arrival.update
        if bad:
            await self._set_aside(await self.db.inbound.quarantine_updates(bad))
        if self._owners is not None:
            for update_id in sorted(new):
                self._owners.offer(chats[update_id])
        elif numbered and await self._hand_on_fresh(numbered, dict(good)):
            return
        self._wake.set()

    async def _hand_on_fresh(
        self, numbered: list[tuple[int, int]], payloads: dict[int, str]
    ) -> bool:
        """Hand just-stored updates to their lanes if none stored before them waits unread."""
        if self._handing.locked():
            # The dispatcher is reading stored rows: it reads these too once woken, and the
            # poll (or the webhook's answer) does not wait for its reading meanwhile.
            return False
        async with self._handing:
            first = numbered[0][0]
            if (
                first != self._seq + 1
                or numbered[-1][0] != first + len(numbered) - 1
                or self._lanes.waiting >= BACKLOG
            ):
                # Rows before them (a backlog, a replay, a batch stored at the same moment)
                # are the dispatcher's to read, in order, with these.
                return False
            try:
                for seq, update_id in numbered:
                    await self._hand_on_row(seq, update_id, payloads[update_id])
            except StorageError:
                # Stored all the same: the dispatcher reads on from the last one handed on.
                log.warning("stored updates not handed on; the dispatcher takes them")
                return False
        return True

    # -- handing on --------------------------------------------------------------------------

    def start_polling(self) -> None:
        """Fetch updates with getUpdates in the background, storing each before confirming it."""
        self.start_handling()
        self._tasks.append(asyncio.create_task(self._poll(), name="liemchinh-poll"))

    def start_handling(self) -> None:
        """Handle stored updates in the background, those a crash left first."""
        if self._owners is not None:
            self._owners.start()
            return
        self._lanes.start()
        self._tasks.append(asyncio.create_task(self._dispatch(), name="liemchinh-dispatch"))
        self._tasks.append(asyncio.create_task(self._forget(), name="liemchinh-forget"))

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop fetching, finish the updates in hand (up to `grace` s); the rest stays stored."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owners is not None:
            await self._owners.stop(grace)
        await self._lanes.stop(grace)
        # Updates handled whose rows were not deleted yet would otherwise run again at the next
        # start, and a person would get the same reply twice.
        await self._forget_undeleted()

    async def _dispatch(self) -> None:
        while True:
            try:
                await self._dispatch_stored()
            except StorageError:
                log.warning("stored updates unreadable; retrying")
            except Exception as exc:
                # Nothing may stop the handing on of updates; the error's text may hold data.
                log.error("handing on updates failed (%s); retrying", type(exc).__name__)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the task's
            # cancellation when the event is set at the same moment, and stop() would hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SWEEP_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def _dispatch_stored(self) -> None:
        await self._forget_undeleted()
        async with self._handing:
            await self._read_on()

    async def _read_on(self) -> None:
        while True:
            if self._lanes.waiting >= BACKLOG:
                # Enough waits in memory; the lanes wake this up once they have worked it down.
                self._full = True
                return
            rows = await self.db.inbound.updates_after(self._seq, PAGE)
            if not rows:
                return
            try:
                for seq, update_id, payload in rows:
                    await self._hand_on_row(seq, update_id, payload)
            finally:
                await self._forget_undeleted()
            if len(rows) < PAGE:
                # All there was; whatever is stored from now on wakes the dispatch again.
                return

    async def _hand_on_row(self, seq: int, update_id: int, payload: str) -> None:
        """Hand one stored update on (or set it aside) and move `_seq` past it."""
        try:
            await self._hand_on(update_id, payload, self._parsed.pop(update_id, None))
        except StorageError:
            raise
        except Exception as exc:
            # Whatever fails with one update, the others go on: it is set aside.
            size = len(payload.encode("utf-8"))
            await self._quarantine(update_id, Poison(update_id, None, describe(exc), size))
        # Only now is this row done with: a failure above reads it again.
        self._seq = seq

    async def _hand_on(self, update_id: int, payload: str, parsed: Update | None = None) -> None:
        arrival = self._arrival(update_id, payload, parsed)
        if arrival.update is None:
            assert arrival.poison is not None
            await self._quarantine(update_id, arrival.poison)
        elif await self._too_fast(arrival.update):
            # Stored, and dropped as if handled: never queued for a reply.
            self._undeleted.add(update_id)
        else:
            self._lanes.submit(_lane(arrival.update), (update_id, arrival.update))

    def _arrival(self, update_id: int, payload: str, parsed: Update | None) -> Arrival:
        """Return a stored update, parsed at its arrival or read again from its row."""
        if parsed is not None:
            return Arrival(update_id, payload, parsed, None)
        return parse_stored(update_id, payload, self.app.bot)

    async def handle_owned(self, update_id: int, payload: str) -> None:
        """Handle one stored update now, in the turn of the worker that owns its chat."""
        try:
            arrival = self._arrival(update_id, payload, self._parsed.pop(update_id, None))
            if arrival.update is None:
                assert arrival.poison is not None
                await self._quarantine(update_id, arrival.poison)
                return
            if await self._too_fast(arrival.update):
                # Dropped as if handled; deleted before the chat is released.
                self._undeleted.add(update_id)
                await self.forget_undeleted()
                return
        except StorageError:
            raise
        except Exception as exc:
            size = len(payload.encode("utf-8"))
            await self._quarantine(update_id, Poison(update_id, None, describe(exc), size))
            return
        await self._process(update_id, arrival.update)
        # Deleted before the chat is released: the worker that owns it next must not find it.
        try:
            await self.db.inbound.update_handled(update_id)
        except StorageError:
            self._undeleted.add(update_id)
        except asyncio.CancelledError:
            # Stopping cut the deletion short: the update was handled and its reply sent, so
            # its row is deleted by stop() rather than left to be handled (and answered) again.
            self._undeleted.add(update_id)
            raise

    def undeleted(self, update_id: int) -> bool:
        """Tell whether an update was handled here and its row is still to be deleted."""
        return update_id in self._undeleted

    async def forget_undeleted(self) -> None:
        """Delete the rows of handled updates whose deletion the database refused earlier."""
        await self._forget_undeleted()

    async def _quarantine(self, update_id: int, poison: Poison) -> None:
        if await self.db.inbound.quarantine_stored(update_id, poison):
            await self._set_aside([poison])

    async def _forget_undeleted(self) -> None:
        # Several callers at once (the batches, a sweep, stop) may delete the same rows twice:
        # harmless, and no row is left out.
        if not self._undeleted:
            return
        done = sorted(self._undeleted)
        try:
            await self.db.inbound.updates_handled(done)
        except StorageError:
            # Kept in memory and retried at the next sweep; they never run again meanwhile.
            return
        self._undeleted.difference_update(done)

    async def _handle(self, item: Item) -> None:
        """Handle an update of a lane; its row is deleted with others, after the lane moved on."""
        update_id, update = item
        await self._process(update_id, update)
        # Not read again meanwhile: the dispatcher reads only rows after `_seq`, and stop()
        # deletes what is left to delete.
        self._undeleted.add(update_id)
        self._forget_wake.set()
        if self._full and self._lanes.waiting < BACKLOG // 2:
            self._full = False
            self._wake.set()

    async def _process(self, update_id: int, update: Update) -> None:
        started = time.monotonic()
        try:
            # process_update hands handler errors to the error handler itself; an update is
            # done once its handlers ran, whatever they concluded.
            await self.app.process_update(update)
        except Exception as exc:
            log.error("update %s could not be handled (%s)", update_id, type(exc).__name__)
        self._services.metrics.handled(update_kind(update), time.monotonic() - started)

    async def _forget(self) -> None:
        """Delete handled rows in batches: those handled while one batch goes form the next."""
        while True:
            await self._forget_wake.wait()
            self._forget_wake.clear()
            try:
                await self._forget_undeleted()
            except Exception as exc:
                # Left in memory for the next batch or sweep; the text may hold data.
                log.error("deleting handled updates failed (%s)", type(exc).__name__)

    # -- limits --------------------------------------------------------------------------------

    async def _too_fast(self, update: Update) -> bool:
        """Count a person's message; True when it is to be dropped, unread."""
        message = update.message or update.edited_message
        user = message.from_user if message is not None else None
        if message is None or user is None:
            # Button presses are not counted: officers work through pickers quickly.
            return False
        moment = (message.edit_date or message.date).timestamp()
        verdict = await self._pace(user.id, moment, message.media_group_id)
        if verdict is Verdict.READ:
            return False
        if await self._services.workflow.is_admin(user.id):
            # Administrators may run many commands in a row; they are not limited.
            self._flood.forgive(user.id)
            return False
        if verdict is Verdict.WARN and message.chat.type == Chat.PRIVATE:
            await self._tell_too_fast(user)
        return True

    async def _pace(self, user_id: int, moment: float, album: str | None) -> Verdict:
        """Judge a person's message by this process's count, or by the workers' shared one."""
        # Behind several workers a person's messages reach each of them in turn: only a count
        # they share sees them all.
        coordination = self.db.database.coordination
        if coordination is not None and self.db.database.sharing:
            flood = self._flood
            try:
                return Verdict(
                    await coordination.flood_check(
                        user_id, moment, album, flood.limit, flood.seconds, flood.pause
                    )
                )
            except CoordinationLost:
                log.warning("the shared flood count is unreachable; counting here")
        return self._flood.check(user_id, moment, album)

    async def _tell_too_fast(self, user: User) -> None:
        try:
            locale = await self.db.users.user_locale(user.id)
            _ = self._translator.get(
                locale or pick_locale(user.language_code, self._settings.default_locale)
            )
            text = _(
                "You are sending messages too fast. I will read your messages again in a"
                " minute; what you send before then is not read, so please send it again"
                " after that."
            )
            await self.db.outbox.add_notice(user.id, TextNotice(text))
        except StorageError:
            log.warning("could not queue the too-fast notice")
            return
        self._wake_delivery()

    # -- unreadable updates ------------------------------------------------------------------

    async def _set_aside(self, poisons: Sequence[Poison]) -> None:
        if not poisons:
            return
        for poison in poisons:
            # The type and the place of the error and the size only: never the content.
            log.warning(
                "update %s set aside: %s (%d bytes)", poison.update_id, poison.error, poison.size
            )
        now = self._services.clock()
        if now - self._poison_noticed_at < POISON_NOTICE_SECONDS:
            return
        self._poison_noticed_at = now
        first = poisons[0]
        try:
            for admin in await self._services.workflow.admin_ids():
                locale = await self.db.users.user_locale(admin) or self._settings.default_locale
                _ = self._translator.get(locale)
                text = _(
                    "⚠️ An update from Telegram could not be read and was set aside (update"
                    " %(update)s: %(error)s). The other updates are handled as usual."
                    " /quarantine lists the updates set aside."
                ) % {"update": first.update_id, "error": first.error}
                await self.db.outbox.add_notice(admin, TextNotice(text))
        except StorageError:
            log.warning("could not queue the notice of an update set aside")
            self._poison_noticed_at = float("-inf")
            return
        self._wake_delivery()

    def _wake_delivery(self) -> None:
        if self._services.delivery is not None:
            self._services.delivery.wake()

    # -- polling -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        # No offset at first: Telegram sends again what it holds unconfirmed, and what of it is
        # stored already is recognised by its id.
        offset: int | None = None
        failures = 0
        while True:
            try:
                raw = await self._get_updates(offset)
                self._services.metrics.intake(self._services.clock())
                if raw:
                    arrivals = [read(item, self.app.bot) for item in raw]
                    try:
                        await self._keep(arrivals)
                    except StorageError:
                        # Not stored, so not confirmed: Telegram keeps them and sends them
                        # again. The people waiting are told once that their message is safe.
                        await self._tell_unavailable([a.update for a in arrivals if a.update])
                        raise
                    self._told.clear()
                    ids = [a.update_id for a in arrivals if a.update_id is not None]
                    if not ids:
                        raise ValueError("a batch of updates without a usable update_id")
                    # Passing `offset` confirms to Telegram everything below it, and every
                    # update below it is in the database now.
                    offset = max(ids) + 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                wait = exc.retry_after
                await asyncio.sleep(
                    wait.total_seconds() if not isinstance(wait, int | float) else float(wait)
                )
            except InvalidToken:
                log.critical("Telegram refused the token; stopping the poller")
                raise
            except (Conflict, NetworkError, TimedOut, StorageError) as exc:
                # Another poller on the token (409), a network or database hiccup: wait, retry.
                failures += 1
                backoff = min(MAX_BACKOFF, 2.0**failures) * random.uniform(0.8, 1.2)
                log.warning("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
            except Exception as exc:
                # Whatever else happens, polling goes on; the error's text may hold data.
                failures += 1
                backoff = min(MAX_BACKOFF, 2.0**failures) * random.uniform(0.8, 1.2)
                log.error(
                    "getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, backoff
                )
                await asyncio.sleep(backoff)

    async def _get_updates(self, offset: int | None) -> list[Any]:
        """Call getUpdates and return its raw result, each update still unparsed."""
        # Bot.get_updates parses the whole batch at once, so one update it cannot read fails
        # the batch, and it then logs the raw batch. The same call, left unparsed:
        result = await self.app.bot._post(
            "getUpdates",
            {"timeout": POLL_TIMEOUT, "offset": offset, "allowed_updates": Update.ALL_TYPES},
            read_timeout=POLL_TIMEOUT + READ_MARGIN,
        )
        return result if isinstance(result, list) else []

    async def _tell_unavailable(self, updates: Sequence[Update]) -> None:
        for update in updates:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None or chat.type != chat.PRIVATE or user.id in self._told:
                continue
            self._told.add(user.id)
            _ = self._translator.get(
                pick_locale(user.language_code, self._settings.default_locale)
            )
            # A button press is left unanswered here: its handler answers it when it runs.
            with contextlib.suppress(TelegramError):
                await self.app.bot.send_message(
                    chat.id,
                    _(
                        "Sorry, the service is briefly unavailable. Your message is kept and"
                        " will be handled as soon as it is back; there is no need to send it"
                        " again."
                    ),
                )


def update_kind(update: Update) -> str:
    """Return which kind of update this is ("message", "callback_query", ...), for metrics."""
    # Update.ALL_TYPES names Telegram's kinds: a fixed set, never anything a person wrote.
    return next(
        (kind for kind in Update.ALL_TYPES if getattr(update, kind, None) is not None), "other"
    )


def _chat(update: Update) -> int:
    """The chat an update is stored under: its chat, or 0 for updates without a chat."""
    chat = update.effective_chat
    return chat.id if chat is not None else 0


def _lane(update: Update) -> Hashable:
    """The lane of an update: its chat, or the one lane of updates without a chat."""
    chat = update.effective_chat
    return chat.id if chat is not None else None


def secret_matches(expected: str, given: str | None) -> bool:
    """Compare the webhook's secret token in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())

"""The outbox worker: sends what the database says is owed, until Telegram has accepted it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from html import escape

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.config import Settings
from bot.domain import Attachment, OutboxItem
from bot.i18n import Translator
from bot.render import alert_text, evidence_caption
from bot.storage import Repository, StorageError

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
# A unit chat that is missing or refuses the bot is retried rarely: an admin has been told and
# fixing it releases the held alerts at once.
HOLD_SECONDS = 3600.0
IDLE_WAKE = 60.0

_SEND_BY_KIND = {
    "photo": "send_photo",
    "document": "send_document",
    "video": "send_video",
    "voice": "send_voice",
    "audio": "send_audio",
    "animation": "send_animation",
    "video_note": "send_video_note",
}


class UnitChatUnavailable(Exception):
    """The unit has no usable alert chat."""


class Delivery:
    """Delivers outbox items in order; one instance per application."""

    def __init__(
        self, bot: Bot, db: Repository, settings: Settings, translator: Translator
    ) -> None:
        self.bot = bot
        self.db = db
        self.settings = settings
        self.translator = translator
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="liemchinh-delivery")

    async def stop(self) -> None:
        """Stop the loop; what is still owed stays in the database for the next start."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Ask the loop to look at the outbox now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
                due = await self.db.next_outbox_due()
            except StorageError:
                log.exception("outbox unreadable; retrying")
                due = None
            timeout = IDLE_WAKE if due is None else min(IDLE_WAKE, due - self.db.clock())
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Try every item that is due once; return how many were completed."""
        done = 0
        while items := await self.db.due_outbox():
            progressed = False
            for item in items:
                if await self._attempt(item):
                    done += 1
                    progressed = True
            if not progressed:
                break
        return done

    async def _attempt(self, item: OutboxItem) -> bool:
        try:
            if item.kind == "alert":
                await self._send_alert(item)
            else:
                await self._send_notice(item)
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay if isinstance(delay, int | float) else delay.total_seconds()
            await self.db.outbox_retry(item.id, float(seconds), f"RetryAfter {seconds}")
            return False
        except ChatMigrated as exc:
            await self._migrated(item, exc.new_chat_id)
            return False
        except UnitChatUnavailable as exc:
            await self._unit_chat_problem(item, str(exc), state="unset")
            return False
        except Forbidden as exc:
            if item.kind == "alert":
                await self._unit_chat_problem(item, str(exc))
            else:
                # A citizen who blocked the bot: keep the message, stop knocking.
                await self.db.outbox_give_up(item.id, str(exc))
            return False
        except BadRequest as exc:
            if item.kind == "alert" and "chat not found" in str(exc).lower():
                await self._unit_chat_problem(item, str(exc))
            else:
                log.error("outbox item %s refused by Telegram: %s", item.id, exc)
                await self.db.outbox_retry(item.id, HOLD_SECONDS, str(exc))
            return False
        except NetworkError as exc:
            await self.db.outbox_retry(item.id, _backoff(item.attempts), str(exc))
            return False
        except StorageError:
            raise
        except Exception as exc:
            # A bug in rendering one item must not stop the delivery of all the others.
            log.exception("outbox item %s failed", item.id)
            await self.db.outbox_retry(item.id, _backoff(item.attempts), repr(exc))
            return False
        await self.db.outbox_done(item.id)
        if item.kind == "alert" and item.unit_code:
            await self.db.set_unit_chat_state(item.unit_code, "ok")
        return True

    async def _send_alert(self, item: OutboxItem) -> None:
        assert item.report_id is not None and item.unit_code is not None
        report = await self.db.get_report(item.report_id)
        unit = await self.db.get_unit(item.unit_code)
        if report is None or unit is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if unit.chat_id is None:
            raise UnitChatUnavailable("the unit has no alert chat")
        locale = self.settings.default_locale
        _ = self.translator.get(locale)
        attachments = await self.db.report_attachments(report.id)
        # Part 0 is the text, part i the i-th piece of evidence; progress is stored after each
        # part, so a retry never sends again what Telegram already accepted.
        if item.parts_done == 0:
            text = alert_text(report, unit.name, len(attachments), _, locale)
            message = await self.bot.send_message(unit.chat_id, text, parse_mode=ParseMode.HTML)
            await self.db.outbox_part_sent(item.id, 1, message.message_id)
        for index in range(max(item.parts_done, 1), len(attachments) + 1):
            caption = evidence_caption(report.code, index, len(attachments), _)
            await self._copy_evidence(unit.chat_id, attachments[index - 1], caption)
            await self.db.outbox_part_sent(item.id, index + 1)

    async def _copy_evidence(self, chat_id: int, att: Attachment, caption: str) -> None:
        try:
            # copyMessage, never forwardMessage: a copy carries no trace of the sender.
            await self.bot.copy_message(
                chat_id, att.chat_id, att.message_id, caption=caption, parse_mode=ParseMode.HTML
            )
        except BadRequest as exc:
            # The citizen deleted the original message; the file itself is still on Telegram.
            method = _SEND_BY_KIND.get(att.kind)
            if "not found" not in str(exc).lower() or method is None:
                raise
            send = getattr(self.bot, method)
            kwargs = {"caption": caption} if att.kind != "video_note" else {}
            await send(chat_id, att.file_id, parse_mode=ParseMode.HTML, **kwargs)

    async def _send_notice(self, item: OutboxItem) -> None:
        assert item.chat_id is not None
        locale = await self.db.user_locale(item.chat_id) or self.settings.default_locale
        _ = self.translator.get(locale)
        kind = item.payload.get("type")
        if kind == "unit_chat_broken":
            unit = await self.db.get_unit(str(item.payload.get("unit")))
            text = _(
                "⚠️ Alerts for %(unit)s cannot be delivered: %(reason)s. They are kept and will"
                " be sent once the unit's chat is fixed (add the bot back as an administrator"
                " or correct chat_id)."
            ) % {
                "unit": escape(unit.name if unit else str(item.payload.get("unit"))),
                "reason": escape(str(item.payload.get("reason", ""))),
            }
        else:
            text = escape(str(item.payload.get("text", "")))
        await self.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML)

    async def _migrated(self, item: OutboxItem, new_chat_id: int) -> None:
        unit = await self.db.get_unit(item.unit_code) if item.unit_code else None
        if unit is not None and unit.chat_id is not None:
            await self.db.migrate_unit_chat(unit.chat_id, new_chat_id)
            log.info("unit %s chat migrated to a supergroup", unit.code)
        await self.db.outbox_retry(item.id, 0.0, "chat migrated")

    async def _unit_chat_problem(
        self, item: OutboxItem, reason: str, *, state: str = "broken"
    ) -> None:
        await self.db.outbox_retry(item.id, HOLD_SECONDS, reason)
        if item.unit_code is None:
            return
        changed = await self.db.set_unit_chat_state(item.unit_code, state)
        # A broken chat is news once, when it breaks; for a unit that never had a chat each
        # newly held alert is news, at its first attempt, since the state itself never changes.
        if changed or (state == "unset" and item.attempts == 0):
            log.warning("unit %s alert chat unusable: %s", item.unit_code, reason)
            for admin in sorted(self.settings.admins):
                await self.db.add_notice(
                    admin, {"type": "unit_chat_broken", "unit": item.unit_code, "reason": reason}
                )
            self.wake()


def _backoff(attempts: int) -> float:
    # Jitter keeps many held items from retrying in one burst after an outage.
    return min(MAX_BACKOFF, 2.0**attempts) * random.uniform(0.8, 1.2)

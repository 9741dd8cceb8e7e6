"""The outbox worker: sends what the database says is owed, until Telegram has accepted it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import date, datetime, time

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.config import Settings
from bot.core.domain import VN_TZ, Attachment, Link, OutboxItem, Relay, Report
from bot.core.workflow import allowed_actions
from bot.figures.stats import Period, compute, render_chart, summary_text
from bot.i18n import Gettext, Translator
from bot.messages import admin as admin_texts
from bot.messages import citizen as citizen_texts
from bot.messages import unit as unit_texts
from bot.messages.labels import action_label
from bot.messages.relay import (
    answer_foot,
    answer_head,
    question_foot,
    question_head,
    relay_caption,
    relay_text,
)
from bot.messages.report import (
    HISTORY_LINES,
    alert_banner,
    alert_text,
    evidence_caption,
    history_line,
)
from bot.store.repository import Repository, StorageError

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
        self._chat_types: dict[int, str] = {}
        self._senders = {
            "alert": self._send_alert,
            "notice": self._send_notice,
            "refresh": self._refresh,
            "citizen": self._send_citizen,
            "unit": self._send_unit,
            "digest": self._send_digest,
        }

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
                due = await self.db.outbox.next_due()
            except StorageError:
                log.exception("outbox unreadable; retrying")
                due = None
            timeout = IDLE_WAKE if due is None else min(IDLE_WAKE, due - self.db.clock())
            if timeout > 0:
                # Not wait_for: on Python 3.11 it can swallow stop()'s cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Try every item that is due once; return how many were completed."""
        done = 0
        while items := await self.db.outbox.due():
            progressed = False
            for item in items:
                if await self._attempt(item):
                    done += 1
                    progressed = True
            if not progressed:
                break
        return done

    async def _attempt(self, item: OutboxItem) -> bool:
        # Alerts and unit messages go to a unit's chat, which an admin must fix when it fails;
        # everything else goes to one person, who may have blocked the bot.
        unit_bound = item.kind in ("alert", "unit", "digest") and item.chat_id is None
        try:
            await self._senders[item.kind](item)
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
            await self._later(item, _backoff(item.attempts), str(exc))
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

    @property
    def _(self) -> Gettext:
        # Units' chats are shared by many people: they get the configured default language.
        return self.translator.get(self.settings.default_locale)

    async def _send_alert(self, item: OutboxItem) -> None:
        assert item.report_id is not None
        report = await self.db.reports.get_report(item.report_id)
        if report is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if item.chat_id is not None:
            # A copy for an admin: it stands for the top of the tree, whatever the unit.
            chat_id, link_unit = item.chat_id, None
        else:
            unit = await self.db.units.get_unit(item.unit_code or "")
            if unit is None:
                raise RuntimeError(f"outbox item {item.id} points at nothing")
            if unit.chat_id is None:
                raise UnitChatUnavailable("the unit has no alert chat")
            chat_id, link_unit = unit.chat_id, unit.code
        attachments = await self.db.reports.report_attachments(report.id)
        # Part 0 is the text, part i the i-th piece of evidence; progress is stored after each
        # part, so a retry never sends again what Telegram already accepted.
        if item.parts_done == 0:
            banner: dict[str, object] = {
                k: v for k, v in item.payload.items() if k in _BANNER_KEYS
            }
            if link_unit is not None and await self._is_channel(chat_id):
                banner["channel"] = True
            link = Link(chat_id, 0, report.id, "alert", link_unit, data=banner)
            text, markup = await self.render_alert(report, link, len(attachments))
            message = await self.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
            link = Link(chat_id, message.message_id, report.id, "alert", link_unit, data=banner)
            await self.db.outbox.part_sent(item.id, 1, message.message_id, link)
        _ = self._
        for index in range(max(item.parts_done, 1), len(attachments) + 1):
            caption = evidence_caption(report.code, index, len(attachments), _)
            await self._copy_evidence(chat_id, attachments[index - 1], caption)
            await self.db.outbox.part_sent(item.id, index + 1)

    async def _is_channel(self, chat_id: int) -> bool:
        """Tell whether a unit's chat is a channel, where nobody can reply as themselves."""
        if chat_id not in self._chat_types:
            try:
                self._chat_types[chat_id] = (await self.bot.get_chat(chat_id)).type
            except TelegramError:
                return False
        return self._chat_types[chat_id] == ChatType.CHANNEL

    async def render_alert(
        self, report: Report, link: Link, evidence_count: int, *, full: bool = False
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """Return an alert's current text and the buttons its status allows."""
        _ = self._
        locale = self.settings.default_locale
        entries = await self.db.reports.audit_of(report.id)
        codes = {report.fields.unit_code or ""}
        for entry in entries:
            codes.update(c for c in (entry.from_unit, entry.to_unit, entry.note) if c)
        names = {}
        for code in codes:
            unit = await self.db.units.get_unit(code)
            if unit is not None:
                names[code] = unit.name
        unit_name = names.get(report.fields.unit_code or "", "")
        history = [history_line(e, names, _, locale) for e in entries]
        chain = await self.db.units.ancestors(report.fields.unit_code or "")
        live = link.unit_code is None or link.unit_code in chain
        banner = alert_banner(link.data, unit_name, _, live=live, top=link.unit_code is None)
        text = alert_text(
            report,
            unit_name,
            evidence_count,
            _,
            locale,
            banner=banner,
            history=history,
            history_limit=None if full else HISTORY_LINES,
            now=self.db.clock(),
            reply_hint=live and link.unit_code is not None and not link.data.get("channel"),
        )
        actions = allowed_actions(report, self.settings.sla) if live else []
        if not actions:
            return text, None
        buttons = [
            InlineKeyboardButton(action_label(a, _), callback_data=f"st:{a.value}:{report.id}")
            for a in actions
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        return text, InlineKeyboardMarkup(rows)

    async def _refresh(self, item: OutboxItem) -> None:
        """Edit every alert of the report to its current state (idempotent, so retried whole)."""
        assert item.report_id is not None
        report = await self.db.reports.get_report(item.report_id)
        if report is None:
            return
        count = len(await self.db.reports.report_attachments(report.id))
        for link in await self.db.links.alert_links(report.id):
            text, markup = await self.render_alert(report, link, count)
            try:
                try:
                    await self.bot.edit_message_text(
                        text,
                        chat_id=link.chat_id,
                        message_id=link.message_id,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                    )
                except ChatMigrated as exc:
                    # The group became a supergroup: follow it, then edit there.
                    await self.db.units.migrate_unit_chat(link.chat_id, exc.new_chat_id)
                    await self.bot.edit_message_text(
                        text,
                        chat_id=exc.new_chat_id,
                        message_id=link.message_id,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                    )
            except BadRequest as exc:
                # Unchanged, deleted or too old to edit: nothing more to do for that message.
                if not any(s in str(exc).lower() for s in _EDIT_DONE):
                    raise
            except Forbidden:
                log.info("alert of report %s no longer reachable in its chat", report.id)

    async def _send_citizen(self, item: OutboxItem) -> None:
        """Tell the reporter about their report, in their language, without naming anyone."""
        assert item.report_id is not None
        report = await self.db.reports.get_report(item.report_id)
        chat_id = await self.db.reports.reporter_chat(item.report_id)
        if report is None or chat_id is None:
            # The reporter's link was erased: there is nobody to tell.
            return
        locale = await self.db.users.user_locale(chat_id) or report.locale
        _ = self.translator.get(locale)
        kind = item.payload.get("type")
        if kind == "question":
            await self._relay_question(item, report, chat_id, _)
            return
        text, markup = await self._citizen_text(item, report, _, locale)
        if text:
            await self.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )

    async def _citizen_text(
        self, item: OutboxItem, report: Report, _: Gettext, locale: str
    ) -> tuple[str | None, InlineKeyboardMarkup | None]:
        if item.payload.get("type") == "escalated":
            target = item.payload.get("to")
            unit = await self._unit_name(report.fields.unit_code)
            parent = await self._unit_name(str(target)) if target else None
            return citizen_texts.escalation_notice(report.code, unit, parent, _), None
        entry = await self.db.reports.get_audit(int(item.payload.get("audit_id", 0)))
        if entry is None:
            return None, None
        text = citizen_texts.status_notice(
            entry.action,
            report,
            await self._unit_name(entry.to_unit or entry.from_unit),
            await self._unit_name(entry.from_unit),
            entry.note,
            _,
            locale,
        )
        if text is None:
            return None, None
        markup = None
        if entry.action == "resolved":
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            _("👍 Yes, resolved"), callback_data=f"fb:yes:{report.id}"
                        ),
                        InlineKeyboardButton(
                            _("👎 No, not resolved"), callback_data=f"fb:no:{report.id}"
                        ),
                    ]
                ]
            )
        return text, markup

    async def _relay_question(
        self, item: OutboxItem, report: Report, chat_id: int, _: Gettext
    ) -> None:
        relay = await self.db.links.get_relay(int(item.payload.get("relay_id", 0)))
        if relay is None or item.parts_done:
            return
        asking = str(item.payload.get("unit") or report.fields.unit_code or "")
        head = question_head(await self._unit_name(asking), report.code, _)
        foot = question_foot(_)
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("✍️ Answer"), callback_data=f"ans:{report.id}")]]
        )
        message_id = await self._relay(chat_id, relay, head, foot, markup)
        link = Link(chat_id, message_id, report.id, "question", asking)
        await self.db.outbox.part_sent(item.id, 1, message_id, link)

    async def _send_unit(self, item: OutboxItem) -> None:
        """Post a reminder or a reporter's answer in the unit's chat."""
        assert item.report_id is not None
        report = await self.db.reports.get_report(item.report_id)
        unit = await self.db.units.get_unit(item.unit_code or "")
        if report is None or unit is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if unit.chat_id is None:
            raise UnitChatUnavailable("the unit has no alert chat")
        _ = self._
        anchor = await self._latest_alert(report.id, unit.chat_id)
        reply = ReplyParameters(anchor, allow_sending_without_reply=True) if anchor else None
        kind = item.payload.get("type")
        if kind == "reminder":
            # The reminder is owed for one deadline; if that deadline is gone, so is the debt.
            if not report.is_open or report.deadline_at != item.payload.get("deadline_at"):
                return
            text = unit_texts.reminder(report, _, self.settings.default_locale)
            await self.bot.send_message(
                unit.chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=reply
            )
            return
        relay = await self.db.links.get_relay(int(item.payload.get("relay_id", 0)))
        if relay is None or item.parts_done:
            return
        head = answer_head(report.code, _)
        foot = answer_foot(_)
        message_id = await self._relay(unit.chat_id, relay, head, foot, None, reply)
        link = Link(unit.chat_id, message_id, report.id, "answer", unit.code)
        await self.db.outbox.part_sent(item.id, 1, message_id, link)

    async def _send_digest(self, item: OutboxItem) -> None:
        """Send last week's figures and chart to a top unit's chat or an admin."""
        if item.chat_id is not None:
            chat_id = item.chat_id
        else:
            unit = await self.db.units.get_unit(item.unit_code or "")
            if unit is None or unit.chat_id is None:
                raise UnitChatUnavailable("the unit has no alert chat")
            chat_id = unit.chat_id
        locale = self.settings.default_locale
        _ = self._
        first = date.fromisoformat(str(item.payload["from"]))
        last = date.fromisoformat(str(item.payload["to"]))
        label = unit_texts.week_label(first, last, locale)
        period = Period(_midnight(first), _midnight(last), label)
        rows = await self.db.reports.report_rows(period.since, period.until, None)
        figures = compute(rows, period, self.db.clock())
        if item.parts_done == 0:
            text = unit_texts.digest_text(label, summary_text(figures, _, locale), _)
            await self.bot.send_message(chat_id, text[:4000], parse_mode=ParseMode.HTML)
            await self.db.outbox.part_sent(item.id, 1)
        png = await asyncio.to_thread(render_chart, figures, _, locale)
        await self.bot.send_photo(chat_id, InputFile(png, filename="liemchinh-week.png"))

    async def _relay(
        self,
        chat_id: int,
        relay: Relay,
        head: str,
        foot: str,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None = None,
    ) -> int:
        """Send a relayed message under a header; media is copied, which hides its sender."""
        if relay.kind == "text":
            message: Message = await self.bot.send_message(
                chat_id,
                relay_text(head, relay.text, foot),
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
            )
            return message.message_id
        caption = relay_caption(head, relay.text)
        copied = await self.bot.copy_message(
            chat_id,
            relay.source_chat_id,
            relay.source_message_id,
            caption=caption,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
        )
        return copied.message_id

    async def _latest_alert(self, report_id: int, chat_id: int) -> int | None:
        links = [
            link for link in await self.db.links.alert_links(report_id) if link.chat_id == chat_id
        ]
        return links[-1].message_id if links else None

    async def _unit_name(self, code: str | None) -> str:
        unit = await self.db.units.get_unit(code or "")
        return unit.name if unit else code or ""

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
        locale = await self.db.users.user_locale(item.chat_id) or self.settings.default_locale
        _ = self.translator.get(locale)
        unit = None
        if item.payload.get("type") == "unit_chat_broken":
            unit = await self.db.units.get_unit(str(item.payload.get("unit")))
        text = admin_texts.notice(item.payload, unit.name if unit else None, _)
        await self.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML)

    async def _later(self, item: OutboxItem, delay: float, error: str) -> None:
        """Retry later; a message to one person stops after MAX_ATTEMPTS, an alert never."""
        if item.kind != "alert" and item.attempts + 1 >= MAX_ATTEMPTS:
            log.error("outbox item %s given up after %d attempts", item.id, MAX_ATTEMPTS)
            await self.db.outbox.give_up(item.id, error)
        else:
            await self.db.outbox.retry(item.id, delay, error)

    async def _migrated(self, item: OutboxItem, new_chat_id: int) -> None:
        unit = await self.db.units.get_unit(item.unit_code) if item.unit_code else None
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
            for admin in sorted(self.settings.admins | await self.db.admin.chat_admins()):
                await self.db.outbox.add_notice(
                    admin, {"type": "unit_chat_broken", "unit": item.unit_code, "reason": reason}
                )
            self.wake()


# Payload keys of an alert that change its banner; kept with the message for later edits.
_BANNER_KEYS = frozenset({"overdue", "reopened", "transferred"})
# Telegram's answers to an edit that has nothing left to do.
_EDIT_DONE = ("not modified", "not found", "can't be edited", "message to edit")
# Telegram's answers meaning the thing to copy or reply to is gone for good.
_GONE = ("message to copy not found", "message to reply not found", "chat not found")
# Messages to one person (not alerts, which are never dropped) stop after this many attempts:
# with the backoff capped at MAX_BACKOFF that is more than two hours of trying.
MAX_ATTEMPTS = 30


def _midnight(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=VN_TZ).timestamp()


def _backoff(attempts: int) -> float:
    # Jitter keeps many held items from retrying in one burst after an outage.
    return min(MAX_BACKOFF, 2.0**attempts) * random.uniform(0.8, 1.2)

"""What each kind of outbox message looks like on Telegram: one sender per kind.

The outbox worker (`bot.telegram.delivery`) chooses the sender by the item's kind and handles
what Telegram answers; a sender builds the message from the stored report with the texts of
`bot.messages` and sends it, recording each part the moment Telegram accepts it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time
from typing import TypeVar

from telegram import (
    Bot,
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
    TelegramError,
)

from bot.config import Settings
from bot.core.domain import VN_TZ, Attachment, Link, Relay, Report, Unit
from bot.core.integrity import PATTERN_DAYS, matching, subject_unit
from bot.core.outbox import (
    AlertPayload,
    AnswerPayload,
    ConflictNotice,
    DigestPayload,
    EscalationNotice,
    HeldAlertsNotice,
    OutboxItem,
    Payload,
    QuestionPayload,
    ReminderPayload,
    StatusNotice,
    TextNotice,
)
from bot.core.parsing import format_code
from bot.core.workflow import Workflow, allowed_actions
from bot.figures.chart_process import draw_chart
from bot.figures.stats import Period, chart_of, stats_of, summary_text
from bot.i18n import Gettext, Translator
from bot.messages import admin as admin_texts
from bot.messages import citizen as citizen_texts
from bot.messages import integrity as integrity_texts
from bot.messages import questions as questions_texts
from bot.messages import unit as unit_texts
from bot.messages.limits import CAPTION_LIMIT, TEXT_LIMIT
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
    channel_banner,
    continuation,
    evidence_caption,
    fits_caption,
    history_line,
    resent_mark,
)
from bot.store.repository import Repository, StorageError
from bot.telegram.albums import (
    CAPTIONED,
    SEND_BY_KIND,
    albums,
    send_album,
    send_captioned,
    upload_name,
)
from bot.telegram.evidence import CleanedImage, clean_image_file
from bot.telegram.keyboards import (
    alert_keyboard,
    answer_keyboard,
    receipt_keyboard,
    verdict_keyboard,
)

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Payload)


class UnitChatUnavailable(Exception):
    """The unit has no usable alert chat."""


class Senders:
    """The senders of every outbox kind, and what they share."""

    def __init__(
        self, bot: Bot, db: Repository, settings: Settings, translator: Translator
    ) -> None:
        self.bot = bot
        self.db = db
        # Every read: committed data on the read-only connection (Database.snapshot), never the
        # one lock a citizen's step waits for (its p99); writes go through `db`.
        self.reads = db.committed
        self.settings = settings
        self.translator = translator
        self._chat_types: dict[int, str] = {}
        # Images sent as documents, once cleaned of metadata: the clean copy's file id on
        # Telegram and the original's SHA-256, by attachment id (a restart cleans them again).
        self._cleaned: dict[int, tuple[str, str]] = {}
        # Documents read once and found not to be images: copied as they are from then on.
        self._not_images: set[int] = set()
        # Decides patterns after a report is stored (a step of the workflow, no message).
        self.workflow = Workflow(db, settings)
        # Parts Telegram accepted whose record the database refused for a while, by item.
        self._unrecorded: dict[int, tuple[int, int | None, Link | None]] = {}

    @property
    def _(self) -> Gettext:
        # Units' chats are shared by many people: they get the configured default language.
        return self.translator.get(self.settings.default_locale)

    async def _send_alert(self, item: OutboxItem) -> None:
        assert item.report_id is not None
        report = await self.reads.reports.get_report(item.report_id)
        if report is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if item.chat_id is not None:
            # A copy for an admin: it stands for the top of the tree, whatever the unit.
            chat_id, link_unit = item.chat_id, None
        else:
            unit = await self.reads.units.get_unit(item.unit_code or "")
            if unit is None:
                raise RuntimeError(f"outbox item {item.id} points at nothing")
            if unit.chat_id is None:
                raise UnitChatUnavailable("the unit has no alert chat")
            chat_id, link_unit = unit.chat_id, unit.code
        attachments = await self.reads.reports.report_attachments(report.id)
        # Part 1 is the text, part i + 1 the i-th piece of evidence, then come the replies
        # holding the rest of a description too long for the alert (rarely any); progress is
        # recorded after each message, so a retry sends again only what never came back. A
        # group's 20 messages a minute go far: an alert with one photo is that photo's caption
        # (parts 1 and 2 at once), and several files go as albums.
        payload = _payload(item, AlertPayload)
        alert_id = item.message_id
        _ = self._
        rest = continuation(report, _)
        done = item.parts_done
        # Only files a citizen sent on Telegram go by file id as they are (photos and videos
        # carry no metadata there); documents, whose images are cleaned first, and files from
        # other channels, held as bytes with their own notes, go one by one as before.
        telegram = await self.reads.reports.reporter_channel(report.id) == "telegram"
        kinds = [a.kind if telegram else "stored" for a in attachments]
        if done == 0:
            resent = await self._begin_part(item, 1)
            banner: dict[str, object] = {
                k: v for k, v in payload.to_json().items() if k in _BANNER_KEYS and v
            }
            if link_unit is not None and await self._is_channel(chat_id):
                banner["channel"] = True
            link = Link(chat_id, 0, report.id, "alert", link_unit, data=banner)
            text, markup = await self.render_alert(report, link, len(attachments), resent=resent)
            single = attachments[0] if len(attachments) == 1 else None
            if single is not None and kinds[0] in CAPTIONED and not rest and fits_caption(text):
                # The same text: with ALERT_STATE to spare, a caption's limit cuts nothing.
                banner["caption"] = True
                alert_id = await send_captioned(self.bot, chat_id, single, text, markup)
                done = 2
            else:
                message = await self.bot.send_message(
                    chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                )
                alert_id, done = message.message_id, 1
            link = Link(chat_id, alert_id, report.id, "alert", link_unit, data=banner)
            await self._record(item, done, alert_id, link)
        for group in albums(kinds, max(done, 1)):
            captions = [evidence_caption(report.code, i, len(attachments), _) for i in group]
            if await self._begin_part(item, group[0] + 1):
                captions = [resent_mark(caption, _) for caption in captions]
            if len(group) == 1:
                await self._copy_evidence(chat_id, attachments[group[0] - 1], captions[0])
            else:
                files = [attachments[i - 1] for i in group]
                await send_album(self.bot, chat_id, files, captions)
            await self._record(item, group[-1] + 1)
        first = len(attachments) + 1
        anchor = ReplyParameters(alert_id, allow_sending_without_reply=True) if alert_id else None
        for index in range(max(item.parts_done, first), first + len(rest)):
            text = rest[index - first]
            if await self._begin_part(item, index + 1):
                text = resent_mark(text, _)
            await self.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=anchor
            )
            await self._record(item, index + 1)

    async def _begin_part(self, item: OutboxItem, part: int) -> bool:
        """Mark `part` (1-based) as being sent; True if an earlier attempt may have sent it."""
        if item.in_flight == part:
            return True
        await self.db.outbox.start_part(item.id, part)
        return False

    async def _record(
        self,
        item: OutboxItem,
        parts_done: int,
        message_id: int | None = None,
        link: Link | None = None,
    ) -> None:
        """Record a part Telegram accepted; a busy database is waited for, never resent to."""
        for delay in RECORD_RETRIES:
            try:
                await self.db.outbox.part_sent(item.id, parts_done, message_id, link)
                return
            except StorageError:
                log.warning("outbox item %s: part %d sent, not yet recorded", item.id, parts_done)
                await asyncio.sleep(delay)
        try:
            await self.db.outbox.part_sent(item.id, parts_done, message_id, link)
        except StorageError:
            # Kept in memory: the next round records it before anything else is sent.
            self._unrecorded[item.id] = (parts_done, message_id, link)
            raise

    async def _is_channel(self, chat_id: int) -> bool:
        """Tell whether a unit's chat is a channel, where nobody can reply as themselves."""
        if chat_id not in self._chat_types:
            try:
                self._chat_types[chat_id] = (await self.bot.get_chat(chat_id)).type
            except TelegramError:
                return False
        return self._chat_types[chat_id] == ChatType.CHANNEL

    async def render_alert(
        self,
        report: Report,
        link: Link,
        evidence_count: int,
        *,
        full: bool = False,
        resent: bool = False,
        limit: int = TEXT_LIMIT,
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """Return an alert's current text and the buttons its status allows."""
        _ = self._
        locale = self.settings.default_locale
        entries = await self.reads.reports.audit_of(report.id)
        codes = {report.fields.unit_code or ""}
        for entry in entries:
            codes.update(c for c in (entry.from_unit, entry.to_unit, entry.note) if c)
        names = {}
        for code in codes:
            unit = await self.reads.units.get_unit(code)
            if unit is not None:
                names[code] = unit.name
        unit_name = names.get(report.fields.unit_code or "", "")
        history = [history_line(e, names, _, locale) for e in entries]
        chain = await self.reads.units.ancestors(report.fields.unit_code or "")
        live = link.unit_code is None or link.unit_code in chain
        banner = alert_banner(link.data, unit_name, _, live=live, top=link.unit_code is None)
        extra = await self._integrity_lines(report, link)
        via = channel_banner(await self.reads.reports.reporter_channel(report.id), _)
        banner = "\n".join(line for line in (banner, via, *extra) if line) or None
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
            resent=resent,
            limit=limit,
        )
        actions = allowed_actions(report, self.settings.sla) if live else []
        return text, alert_keyboard(report.id, actions, _)

    async def _integrity_lines(self, report: Report, link: Link) -> list[str]:
        """Return the alert's lines on conflicts and patterns; patterns only above the unit."""
        _ = self._
        lines = []
        if report.conflict and report.concerned_unit:
            concerned = await self._unit_name(report.concerned_unit)
            lines.append(integrity_texts.conflict_banner(report.conflict, concerned, _))
        if link.data.get("pattern"):
            lines.append(integrity_texts.pattern_escalated(int(str(link.data["pattern"])), _))
        subject = subject_unit(report)
        if subject is None or not report.fields.official:
            return lines
        above = (await self.reads.units.ancestors(subject))[1:]
        # Never in the chat of the unit concerned: only its parents' copies and the admins'.
        if link.unit_code is not None and link.unit_code not in above:
            return lines
        since = report.created_at - PATTERN_DAYS * 86400
        found = matching(report, await self.reads.integrity.named_reports(since, subject))
        if found:
            codes = [format_code(r.code) for r in found]
            lines.append(integrity_texts.pattern_line(codes, PATTERN_DAYS, _))
        return lines

    async def _check_pattern(self, item: OutboxItem) -> None:
        """Look for a pattern around a stored report; an escalation queues its own alerts."""
        assert item.report_id is not None
        report = await self.reads.reports.get_report(item.report_id)
        if report is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        # Idempotent: a cluster is escalated once, so a retry after a failure repeats nothing.
        await self.workflow.check_pattern(report)

    async def _send_conflict_notice(self, item: OutboxItem) -> None:
        """Tell a unit that a report about it is handled above it, and nothing else."""
        unit = await self.reads.units.get_unit(item.unit_code or "")
        if unit is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if unit.chat_id is None:
            raise UnitChatUnavailable("the unit has no alert chat")
        handler = _payload(item, ConflictNotice).handler
        name = await self._unit_name(handler) if handler else None
        text = integrity_texts.conflict_notice(name, self._)
        await self.bot.send_message(unit.chat_id, text, parse_mode=ParseMode.HTML)

    async def _refresh(self, item: OutboxItem) -> None:
        """Edit every alert of the report to its current state (idempotent, so retried whole)."""
        assert item.report_id is not None
        report = await self.reads.reports.get_report(item.report_id)
        if report is None:
            return
        count = len(await self.reads.reports.report_attachments(report.id))
        for link in await self.reads.links.alert_links(report.id):
            captioned = bool(link.data.get("caption"))
            limit = CAPTION_LIMIT if captioned else TEXT_LIMIT
            text, markup = await self.render_alert(report, link, count, limit=limit)
            try:
                try:
                    await self._edit_alert(link.chat_id, link.message_id, text, markup, captioned)
                except ChatMigrated as exc:
                    # The group became a supergroup: follow it, then edit there.
                    await self.db.units.migrate_unit_chat(link.chat_id, exc.new_chat_id)
                    await self._edit_alert(
                        exc.new_chat_id, link.message_id, text, markup, captioned
                    )
            except BadRequest as exc:
                # Unchanged, deleted or too old to edit: nothing more to do for that message.
                if not any(s in str(exc).lower() for s in _EDIT_DONE):
                    raise
            except Forbidden:
                log.info("alert of report %s no longer reachable in its chat", report.id)

    async def _edit_alert(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        captioned: bool,
    ) -> None:
        """Edit an alert's text, or its caption when it is the caption of its photo."""
        if captioned:
            await self.bot.edit_message_caption(
                chat_id=chat_id,
                message_id=message_id,
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
            return
        await self.bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )

    async def _reporter(self, item: OutboxItem) -> tuple[Report, int, Gettext, str] | None:
        """Return the report, its reporter's chat and their language; None if nobody is left."""
        assert item.report_id is not None
        report = await self.reads.reports.get_report(item.report_id)
        chat_id = await self.reads.reports.reporter_chat(item.report_id)
        if report is None or chat_id is None:
            # The reporter's link was erased: there is nobody to tell.
            return None
        if await self.reads.reports.reporter_channel(item.report_id) != "telegram":
            # A web reporter reads the same texts on the report's status page.
            return None
        locale = await self.reads.users.user_locale(chat_id) or report.locale
        return report, chat_id, self.translator.get(locale), locale

    async def _send_status_notice(self, item: OutboxItem) -> None:
        """Tell the reporter of a step in the unit's handling, without naming anyone."""
        found = await self._reporter(item)
        if found is None:
            return
        report, chat_id, _, locale = found
        entry = await self.reads.reports.get_audit(_payload(item, StatusNotice).audit_id)
        if entry is None:
            return
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
            return
        markup = None
        if entry.action == "resolved":
            markup = verdict_keyboard(report.id, _)
        await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)

    async def _send_receipt(self, item: OutboxItem) -> None:
        """Give the reporter the tracking code of the report just stored."""
        found = await self._reporter(item)
        if found is None:
            return
        report, chat_id, _, _locale = found
        unit = await self._unit_name(report.fields.unit_code)
        if (
            report.conflict
            and report.concerned_unit
            and report.fields.unit_code == (report.concerned_unit)
        ):
            # Nobody above the unit: the administrators handle it.
            handler: str | None = None
            unit = _("the administrators")
        else:
            handler = unit
        text = questions_texts.received(format_code(report.code), unit, _)
        if report.conflict and report.concerned_unit:
            concerned = await self._unit_name(report.concerned_unit)
            text += "\n\n" + integrity_texts.routed_line(report, concerned, handler, _)
        if item.parts_done:
            # Sent and recorded; only the item's end was not.
            return
        # Recorded as in flight first: a copy sent again after a lost answer (or after the
        # worker sending it was killed) reaches the citizen marked as such, like an alert.
        if await self._begin_part(item, 1):
            text = resent_mark(text, _)
        sent = await self.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=receipt_keyboard(report.id, _)
        )
        await self._record(item, 1, sent.message_id)

    async def _send_escalation_notice(self, item: OutboxItem) -> None:
        """Tell the reporter that the report went up a level."""
        found = await self._reporter(item)
        if found is None:
            return
        report, chat_id, _, _locale = found
        target = _payload(item, EscalationNotice).to
        unit = await self._unit_name(report.fields.unit_code)
        parent = await self._unit_name(target) if target else None
        text = citizen_texts.escalation_notice(report.code, unit, parent, _)
        await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)

    async def _send_question(self, item: OutboxItem) -> None:
        """Relay a unit's question to the reporter."""
        found = await self._reporter(item)
        if found is None:
            return
        report, chat_id, _, _locale = found
        payload = _payload(item, QuestionPayload)
        relay = await self.reads.links.get_relay(payload.relay_id)
        if relay is None or item.parts_done:
            return
        asking = payload.unit or report.fields.unit_code or ""
        if await self.reads.admin.ban_state(chat_id) is not None:
            # Banned after the question was asked: the bot would not read the answer, so the
            # question is not sent and the unit that asked is told, as it is when asking now.
            await self._tell_unit_unreachable(report, asking)
            return
        head = question_head(await self._unit_name(asking), report.code, _)
        foot = question_foot(_)
        markup = answer_keyboard(report.id, _)
        message_id = await self._relay(chat_id, relay, head, foot, markup)
        link = Link(chat_id, message_id, report.id, "question", asking)
        await self.db.outbox.part_sent(item.id, 1, message_id, link)

    async def _tell_unit_unreachable(self, report: Report, unit_code: str) -> None:
        """Tell a unit's chat that the reporter of a report can no longer be reached."""
        unit = await self.reads.units.get_unit(unit_code)
        if unit is None or unit.chat_id is None:
            return
        text = unit_texts.unreachable(report.code, self._)
        reply = await self._reply_to_alert(report, unit.chat_id)
        await self.bot.send_message(
            unit.chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=reply
        )

    async def _unit_target(self, item: OutboxItem) -> tuple[Report, Unit, int]:
        """Return the report, the unit and its chat of a message to a unit's chat."""
        assert item.report_id is not None
        report = await self.reads.reports.get_report(item.report_id)
        unit = await self.reads.units.get_unit(item.unit_code or "")
        if report is None or unit is None:
            raise RuntimeError(f"outbox item {item.id} points at nothing")
        if unit.chat_id is None:
            raise UnitChatUnavailable("the unit has no alert chat")
        return report, unit, unit.chat_id

    async def _reply_to_alert(self, report: Report, chat_id: int) -> ReplyParameters | None:
        anchor = await self._latest_alert(report.id, chat_id)
        return ReplyParameters(anchor, allow_sending_without_reply=True) if anchor else None

    async def _send_reminder(self, item: OutboxItem) -> None:
        """Remind a unit of a deadline, as a reply to its alert."""
        report, _unit, chat_id = await self._unit_target(item)
        # The reminder is owed for one deadline; if that deadline is gone, so is the debt.
        if not report.is_open or report.deadline_at != _payload(item, ReminderPayload).deadline_at:
            return
        text = unit_texts.reminder(report, self._, self.settings.default_locale)
        reply = await self._reply_to_alert(report, chat_id)
        await self.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_parameters=reply
        )

    async def _send_answer(self, item: OutboxItem) -> None:
        """Relay the reporter's answer to the unit that asked, as a reply to its alert."""
        report, unit, chat_id = await self._unit_target(item)
        relay = await self.reads.links.get_relay(_payload(item, AnswerPayload).relay_id)
        if relay is None or item.parts_done:
            return
        _ = self._
        reply = await self._reply_to_alert(report, chat_id)
        head = answer_head(report.code, _)
        if await self._begin_part(item, 1):
            head = resent_mark(head, _)
        message_id = await self._relay(chat_id, relay, head, answer_foot(_), None, reply)
        link = Link(chat_id, message_id, report.id, "answer", unit.code)
        await self._record(item, 1, message_id, link)

    async def _send_digest(self, item: OutboxItem) -> None:
        """Send last week's figures and chart to a top unit's chat or an admin."""
        if item.chat_id is not None:
            chat_id = item.chat_id
        else:
            unit = await self.reads.units.get_unit(item.unit_code or "")
            if unit is None or unit.chat_id is None:
                raise UnitChatUnavailable("the unit has no alert chat")
            chat_id = unit.chat_id
        locale = self.settings.default_locale
        _ = self._
        payload = _payload(item, DigestPayload)
        first = date.fromisoformat(payload.first)
        last = date.fromisoformat(payload.last)
        label = unit_texts.week_label(first, last, locale)
        period = Period(_midnight(first), _midnight(last), label)
        counted = await self.reads.reports.period_figures(
            period.since, period.until, None, self.db.clock()
        )
        figures = stats_of(counted, period)
        if item.parts_done == 0:
            text = unit_texts.digest_text(label, summary_text(figures, _, locale), _)
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            await self.db.outbox.part_sent(item.id, 1)
        # A ChartError leaves the item to the outbox's retries, as a failed send does.
        png = await draw_chart(chart_of(figures, _, locale))
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
        if relay.direction == "to_unit" and relay.kind == "document" and relay.file_id:
            cleaned = await clean_image_file(self.bot, relay.file_id, relay.mime_type)
            if cleaned is not None:
                return await self._relay_cleaned(chat_id, relay, head, cleaned, markup, reply)
        caption = relay_caption(head, relay.text)
        data = await self.reads.files.relay_bytes(relay.id)
        if data is not None:
            # Sent from the web pages: there is no Telegram message to copy, only the bytes.
            sent = await self._upload(chat_id, relay.kind, data, caption, markup, reply)
            return sent.message_id
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

    async def _relay_cleaned(
        self,
        chat_id: int,
        relay: Relay,
        head: str,
        cleaned: CleanedImage,
        markup: InlineKeyboardMarkup | None,
        reply: ReplyParameters | None,
    ) -> int:
        """Pass on an image a reporter answered with as a file, without its metadata."""
        _ = self._
        if cleaned.data is None:
            text = integrity_texts.evidence_withheld(f"<b>{head}</b>", _)
            message = await self.bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
            )
            return message.message_id
        note = integrity_texts.metadata_note(cleaned.original_sha256, _)
        sent = await self.bot.send_document(
            chat_id,
            InputFile(cleaned.data, filename=cleaned.filename),
            caption=relay_caption(head, relay.text, note),
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
        )
        return sent.message_id

    async def _latest_alert(self, report_id: int, chat_id: int) -> int | None:
        links = [
            link
            for link in await self.reads.links.alert_links(report_id)
            if link.chat_id == chat_id
        ]
        return links[-1].message_id if links else None

    async def _unit_name(self, code: str | None) -> str:
        unit = await self.reads.units.get_unit(code or "")
        return unit.name if unit else code or ""

    async def _upload(
        self,
        chat_id: int,
        kind: str,
        data: bytes,
        caption: str,
        markup: InlineKeyboardMarkup | None = None,
        reply: ReplyParameters | None = None,
    ) -> Message:
        """Send stored bytes as a photo, a video or a document."""
        upload = InputFile(data, filename=upload_name(kind, data))
        message: Message
        if kind == "photo":
            message = await self.bot.send_photo(
                chat_id,
                upload,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
            )
        elif kind == "video":
            message = await self.bot.send_video(
                chat_id,
                upload,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
            )
        else:
            message = await self.bot.send_document(
                chat_id,
                upload,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
            )
        return message

    async def _copy_evidence(self, chat_id: int, att: Attachment, caption: str) -> None:
        data = await self.reads.files.attachment_bytes(att.id) if att.id is not None else None
        if data is not None:
            # Uploaded on the web pages: no Telegram message to copy, the bytes are stored
            # (photos already without their metadata).
            if att.kind == "photo":
                caption = integrity_texts.metadata_removed(caption, att.sha256, self._)
            await self._upload(chat_id, att.kind, data, caption)
            return
        if (
            att.kind == "document"
            and att.id not in self._not_images
            and await self._send_cleaned(chat_id, att, caption)
        ):
            return
        try:
            # copyMessage, never forwardMessage: a copy carries no trace of the sender.
            await self.bot.copy_message(
                chat_id, att.chat_id, att.message_id, caption=caption, parse_mode=ParseMode.HTML
            )
        except BadRequest as exc:
            # The citizen deleted the original message; the file itself is still on Telegram.
            method = SEND_BY_KIND.get(att.kind)
            if "not found" not in str(exc).lower() or method is None:
                raise
            send = getattr(self.bot, method)
            kwargs = {"caption": caption} if att.kind != "video_note" else {}
            await send(chat_id, att.file_id, parse_mode=ParseMode.HTML, **kwargs)

    async def _send_cleaned(self, chat_id: int, att: Attachment, caption: str) -> bool:
        """Send an image sent as a document without its metadata; False if it is no image."""
        _ = self._
        known = self._cleaned.get(att.id) if att.id is not None else None
        if known is not None:
            # Cleaned once already: Telegram keeps the clean copy, sent again by its file id.
            file_id, digest = known
            text = integrity_texts.metadata_removed(caption, digest, _)
            await self.bot.send_document(chat_id, file_id, caption=text, parse_mode=ParseMode.HTML)
            return True
        cleaned = await clean_image_file(self.bot, att.file_id, att.mime_type)
        if cleaned is None:
            if att.id is not None:
                self._not_images.add(att.id)
            return False
        if att.sha256 is None and att.id is not None:
            # The receipt states the original's fingerprint, never the cleaned copy's.
            await self.db.drafts.set_attachment_hash(att.id, cleaned.original_sha256)
        if cleaned.data is None:
            text = integrity_texts.evidence_withheld(caption, _)
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            return True
        text = integrity_texts.metadata_removed(caption, cleaned.original_sha256, _)
        sent = await self.bot.send_document(
            chat_id,
            InputFile(cleaned.data, filename=cleaned.filename),
            caption=text,
            parse_mode=ParseMode.HTML,
        )
        if att.id is not None and sent.document is not None:
            self._cleaned[att.id] = (sent.document.file_id, cleaned.original_sha256)
        return True

    async def _send_held_alerts(self, item: OutboxItem) -> None:
        """Tell an admin, in their language, that a unit's alerts are held."""
        assert item.chat_id is not None
        locale = await self.reads.users.user_locale(item.chat_id) or self.settings.default_locale
        payload = _payload(item, HeldAlertsNotice)
        unit = await self.reads.units.get_unit(payload.unit)
        text = admin_texts.held_alerts(
            payload, unit.name if unit else None, self.translator.get(locale)
        )
        await self.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML)

    async def _send_text_notice(self, item: OutboxItem) -> None:
        """Send a queued text as it was written."""
        assert item.chat_id is not None
        text = admin_texts.text_notice(_payload(item, TextNotice))
        await self.bot.send_message(item.chat_id, text, parse_mode=ParseMode.HTML)


# Payload keys of an alert that change its banner; kept with the message for later edits.
_BANNER_KEYS = frozenset({"overdue", "reopened", "transferred", "pattern"})

# Telegram's answers to an edit that has nothing left to do.
_EDIT_DONE = ("not modified", "not found", "can't be edited", "message to edit")

# Waits between tries to record a part Telegram accepted (about a minute in all): a database
# held by another process is waited out rather than the part sent a second time.
RECORD_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def _midnight(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=VN_TZ).timestamp()


def _payload(item: OutboxItem, kind: type[P]) -> P:
    """Return the item's payload as the type its sender expects (one dispatch, one check)."""
    if not isinstance(item.payload, kind):
        raise TypeError(f"outbox item {item.id} carries {type(item.payload).__name__}")
    return item.payload

"""Questions from a unit to a reporter and answers back, with neither learning who the other is.

A reply is recognised by the bot message it answers (the `links` table): an officer replying
to an alert, a relayed answer or an "ask" prompt sends a question; a reporter replying to a
question sends an answer. These handlers run before the report conversation and stop the
update when they take it, so a reporter can answer in the middle of writing another report.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.core.domain import CITIZEN, Report
from bot.core.outbox import AnswerPayload, Outgoing, QuestionPayload
from bot.core.parsing import format_code
from bot.core.workflow import QUESTION_MAX
from bot.telegram.context import BotContext
from bot.telegram.people import actor_name, is_anonymous

log = logging.getLogger(__name__)

# What can be passed on; everything else (stickers, polls, contacts…) could identify nobody
# but means nothing to the other side either.
_MEDIA = ("photo", "document", "video", "voice", "audio")


def _too_long(message: Message) -> bool:
    return len(message.text or "") > QUESTION_MAX


def _too_long_text(context: BotContext) -> str:
    return context._("This message is too long: please send at most %(max)d characters.") % {
        "max": QUESTION_MAX
    }


def _content(message: Message) -> tuple[str, str | None] | None:
    """Return the kind and text of a message that can be relayed."""
    if message.text:
        return "text", message.text
    for kind in _MEDIA:
        if getattr(message, kind):
            return kind, (message.caption or None)
    return None


async def ask(update: Update, context: BotContext, report: Report, unit_code: str | None) -> None:
    """Pass an officer's question to the reporter, on behalf of the unit whose chat asks."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    _ = context._
    code = f"<code>{format_code(report.code)}</code>"
    if user is None or is_anonymous(user) or message.sender_chat is not None:
        await _reply(message, _("Anonymous administrators cannot act: please act as yourself."))
        return
    if not await context.workflow.may_act(user.id, report.fields.unit_code or ""):
        await _reply(message, _("Only the unit's officers can ask the reporter."))
        return
    chain = await context.db.units.ancestors(report.fields.unit_code or "")
    if unit_code is not None and unit_code not in chain:
        await _reply(
            message, _("This report has been transferred; this unit no longer handles it.")
        )
        return
    if not report.is_open:
        await _reply(
            message,
            _("Report %(code)s is closed; questions can no longer be sent.") % {"code": code},
        )
        return
    reporter = await context.db.reports.reporter_chat(report.id)
    if reporter is None or await context.db.admin.ban_state(reporter) is not None:
        # The reporter erased their data, the link expired, or an admin banned them (the bot
        # no longer reads what they send): nobody is left who could answer.
        await _reply(
            message,
            _("The reporter of %(code)s can no longer be reached through the bot.")
            % {"code": code},
        )
        return
    content = _content(message)
    if content is None:
        await _reply(message, _("Only text, photos, files, voice messages or videos can be sent."))
        return
    if _too_long(message):
        await _reply(message, _too_long_text(context))
        return
    kind, text = content
    data = None
    if kind == "photo" and await context.db.reports.reporter_channel(report.id) == "zalo":
        # Zalo cannot take a copy of a Telegram message: the photo's bytes go with the question.
        data = await _photo_bytes(message)
    relay_id = await context.db.links.add_relay(
        report.id,
        direction="to_citizen",
        kind=kind,
        text=text,
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        actor=await context.workflow.actor(user.id, actor_name(user)),
        outgoing=Outgoing(QuestionPayload(unit=unit_code or report.fields.unit_code)),
        data=data,
    )
    if relay_id is None:
        return
    context.delivery.wake()
    await _reply(
        message,
        _("✅ Question sent to the reporter of %(code)s. Their answer will appear here.")
        % {"code": code},
    )


async def answer(
    update: Update, context: BotContext, report: Report, unit_code: str | None
) -> None:
    """Pass the reporter's answer to the chat of the unit that asked."""
    message = update.effective_message
    assert message is not None
    _ = context._
    content = _content(message)
    if content is None:
        await _reply(
            message, _("Please answer with text, a photo, a file, a voice message or a video.")
        )
        return
    if _too_long(message):
        await _reply(message, _too_long_text(context))
        return
    kind, text = content
    # The unit that asked gets the answer; if it has since lost the report, the current unit.
    chain = await context.db.units.ancestors(report.fields.unit_code or "")
    target = unit_code if unit_code in chain else report.fields.unit_code
    # A document's file is kept by id: an image sent as a file is cleaned before the unit sees it.
    document = message.document
    relay_id = await context.db.links.add_relay(
        report.id,
        direction="to_unit",
        kind=kind,
        text=text,
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        actor=CITIZEN,
        outgoing=Outgoing(AnswerPayload(), target),
        file_id=document.file_id if document else None,
        mime_type=document.mime_type if document else None,
    )
    if relay_id is None:
        return
    context.delivery.wake()
    await _reply(
        message,
        _("✅ Your answer has been passed on for report %(code)s, without your identity.")
        % {"code": f"<code>{format_code(report.code)}</code>"},
    )


async def _photo_bytes(message: Message) -> bytes | None:
    """Return the largest size of a message's photo, or None if Telegram will not give it."""
    try:
        file = await message.photo[-1].get_file()
        return bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        # The question still goes, with its words; the reporter is told a file came with it.
        log.warning("an officer's photo could not be downloaded: %s", type(exc).__name__)
        return None


async def _reply(message: Message, text: str) -> None:
    await message.reply_text(text, parse_mode=ParseMode.HTML)

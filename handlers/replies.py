"""Replies to the bot's own messages about a report, routed by what the message was for.

A reply to a question is the reporter's answer, a reply to a prompt is the note an officer was
asked for, a reply to an alert or to an answer is a unit's question to the reporter.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.telegram.context import BotContext
from handlers import officer, relay


async def on_reply(update: Update, context: BotContext) -> None:
    """Route a reply to one of the bot's report messages; leave every other message alone."""
    message = update.effective_message
    if message is None or message.reply_to_message is None:
        return
    if message.text and message.text.startswith("/"):
        # A command stays a command even when typed as a reply.
        return
    original = message.reply_to_message
    if original.from_user is None or original.from_user.id != context.bot.id:
        return
    link = await context.db.links.get_link(message.chat.id, original.message_id)
    if link is None:
        return
    report = await context.db.reports.get_report(link.report_id)
    if report is None:
        return
    private = message.chat.type == ChatType.PRIVATE
    if link.purpose == "question" and private:
        user = update.effective_user
        if user is None or not await context.db.reports.is_reporter(report.id, user.id):
            return
        await relay.answer(update, context, report, link.unit_code)
    elif link.purpose == "prompt":
        await officer.prompt_answered(update, context, link, report)
    elif link.purpose in ("alert", "answer") and not private:
        await relay.ask(update, context, report, link.unit_code)
    else:
        return
    raise ApplicationHandlerStop

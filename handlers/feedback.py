"""The reporter's buttons on messages about their report: answer a question, judge, rate.

Each button names a report by id; it counts only if the person pressing it sent that report.
"""

from __future__ import annotations

import re

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from bot.context import BotContext
from bot.core.domain import Link, Report, Status
from bot.core.parsing import format_code

_ANSWER = re.compile(r"^ans:(\d{1,12})$")
_VERDICT = re.compile(r"^fb:(yes|no):(\d{1,12})$")
_RATE = re.compile(r"^rate:(\d{1,12}):([1-5])$")


async def _own_report(update: Update, context: BotContext, report_id: str) -> Report | None:
    """Return the report only if the person pressing sent it; otherwise answer and stop."""
    query = update.callback_query
    assert query is not None
    report = await context.db.reports.get_report(int(report_id))
    if report is None or not await context.db.reports.is_reporter(report.id, query.from_user.id):
        await query.answer(context._("This button is no longer active."))
        return None
    return report


async def _matched(
    update: Update, context: BotContext, pattern: re.Pattern[str]
) -> re.Match[str] | None:
    query = update.callback_query
    assert query is not None
    found = pattern.match(query.data or "")
    if found is None:
        await query.answer(context._("This button is no longer active."))
    return found


async def answer_pressed(update: Update, context: BotContext) -> None:
    """Open a reply box for answering the unit's question."""
    query = update.callback_query
    assert query is not None and query.message is not None
    found = await _matched(update, context, _ANSWER)
    report = await _own_report(update, context, found.group(1)) if found else None
    if report is None:
        return
    await query.answer()
    # The reply box answers the same unit as the question it was opened from.
    asked = await context.db.links.get_link(query.message.chat.id, query.message.message_id)
    sent = await context.bot.send_message(
        query.message.chat.id,
        context._("Type your answer about report %(code)s as a reply to this message.")
        % {"code": f"<code>{format_code(report.code)}</code>"},
        parse_mode=ParseMode.HTML,
        reply_markup=ForceReply(),
    )
    unit = asked.unit_code if asked is not None and asked.report_id == report.id else None
    await context.db.links.add_link(
        Link(query.message.chat.id, sent.message_id, report.id, "question", unit)
    )


def rating_keyboard(report_id: int) -> InlineKeyboardMarkup:
    """Return five buttons, one star to five."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("⭐" * n, callback_data=f"rate:{report_id}:{n}")
                for n in range(1, 6)
            ]
        ]
    )


async def verdict_given(update: Update, context: BotContext) -> None:
    """Record whether the report really is resolved; "no" in time reopens it."""
    query = update.callback_query
    assert query is not None
    _ = context._
    found = await _matched(update, context, _VERDICT)
    report = await _own_report(update, context, found.group(2)) if found else None
    if found is None or report is None:
        return
    if report.status != Status.RESOLVED or report.citizen_verdict is not None:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()
    await query.edit_message_reply_markup(None)
    code = f"<code>{format_code(report.code)}</code>"
    days = context.settings.sla.reopen_days
    text: str | None = None
    if found.group(1) == "yes":
        await context.workflow.confirm_resolved(report)
        text = _("Thank you for confirming that report %(code)s is resolved.") % {"code": code}
    elif context.db.clock() - (report.closed_at or 0) > days * 86400:
        text = _(
            "Report %(code)s was resolved more than %(days)d days ago, so it cannot be reopened."
            " You can send a new report about it with /report."
        ) % {"code": code, "days": days}
    elif await context.workflow.reopen(report) is None:
        text = _("This report has changed meanwhile; nothing was done.")
    # A reopened report is announced by its status notice, like every other step.
    context.delivery.wake()
    chat_id = query.from_user.id
    if text is not None:
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
    if report.rating is None:
        await context.bot.send_message(
            chat_id,
            _(
                "How would you rate the way your report was handled?"
                " (1 = very poor, 5 = very good)"
            ),
            reply_markup=rating_keyboard(report.id),
        )


async def rated(update: Update, context: BotContext) -> None:
    """Record the reporter's rating of the handling."""
    query = update.callback_query
    assert query is not None
    _ = context._
    found = await _matched(update, context, _RATE)
    report = await _own_report(update, context, found.group(1)) if found else None
    if found is None or report is None:
        return
    done = await context.workflow.rate(report, int(found.group(2)))
    if done is None:
        await query.answer(_("You have already rated this report."))
        return
    await query.answer(_("Thank you!"))
    await query.edit_message_text(
        _("Thank you: you rated the handling of report %(code)s %(stars)s.")
        % {
            "code": f"<code>{format_code(report.code)}</code>",
            "stars": "⭐" * int(found.group(2)),
        },
        parse_mode=ParseMode.HTML,
    )

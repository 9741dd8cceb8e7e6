"""The reporter's buttons on messages about their report: answer a question, judge, rate.

Each button names a report by id; it counts only if the person pressing it sent that report.
"""

from __future__ import annotations

from typing import TypeVar

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from bot.core.domain import Link, Report, Status
from bot.core.parsing import format_code
from bot.telegram.callbacks import Answer, OnReport, Rating, Verdict
from bot.telegram.context import BotContext

Pressed = TypeVar("Pressed", bound=OnReport)


async def _own_report(
    update: Update, context: BotContext, kind: type[Pressed]
) -> tuple[Pressed, Report] | None:
    """Return the press and its report only if the person pressing sent that report."""
    query = update.callback_query
    assert query is not None
    data = kind.parse(query.data)
    report = await context.db.reports.get_report(data.report_id) if data is not None else None
    if (
        data is None
        or report is None
        or not await context.db.reports.is_reporter(report.id, query.from_user.id)
    ):
        await query.answer(context._("This button is no longer active."))
        return None
    return data, report


async def answer_pressed(update: Update, context: BotContext) -> None:
    """Open a reply box for answering the unit's question."""
    query = update.callback_query
    assert query is not None and query.message is not None
    pressed = await _own_report(update, context, Answer)
    if pressed is None:
        return
    _data, report = pressed
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
                InlineKeyboardButton("⭐" * n, callback_data=Rating(report_id, n).pack())
                for n in range(1, 6)
            ]
        ]
    )


async def verdict_given(update: Update, context: BotContext) -> None:
    """Record whether the report really is resolved; "no" in time reopens it."""
    query = update.callback_query
    assert query is not None
    _ = context._
    pressed = await _own_report(update, context, Verdict)
    if pressed is None:
        return
    verdict, report = pressed
    if report.status != Status.RESOLVED or report.citizen_verdict is not None:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()
    await query.edit_message_reply_markup(None)
    code = f"<code>{format_code(report.code)}</code>"
    days = context.settings.sla.reopen_days
    text: str | None = None
    if verdict.resolved:
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
    pressed = await _own_report(update, context, Rating)
    if pressed is None:
        return
    rating, report = pressed
    done = await context.workflow.rate(report, rating.stars)
    if done is None:
        await query.answer(_("You have already rated this report."))
        return
    await query.answer(_("Thank you!"))
    await query.edit_message_text(
        _("Thank you: you rated the handling of report %(code)s %(stars)s.")
        % {
            "code": f"<code>{format_code(report.code)}</code>",
            "stars": "⭐" * rating.stars,
        },
        parse_mode=ParseMode.HTML,
    )

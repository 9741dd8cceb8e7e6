"""Officers move a report from its alert: buttons, pickers, typed notes, and unit commands.

Nothing a client sends is trusted: a press or a reply finds its report through the bot message
it touches (the `links` table), the presser must be an officer of the unit or of a unit above
it (or an admin), and the step must be allowed by the report's status at that moment.

```mermaid
stateDiagram-v2
    [*] --> new: citizen sends
    new --> acknowledged: ✅ Acknowledge
    acknowledged --> in_progress: 🔧 In progress
    acknowledged --> resolved: 🏁 Resolved + note
    in_progress --> resolved: 🏁 Resolved + note
    new --> declined: 🚫 Decline + reason + note
    acknowledged --> declined
    in_progress --> declined
    new --> new: ↪️ Transfer + unit + reason (fresh alert and clock at the new unit)
    acknowledged --> new: ↪️ Transfer
    in_progress --> new: ↪️ Transfer
    acknowledged --> acknowledged: ⏳ Extend once + days + reason
    in_progress --> in_progress: ⏳ Extend once
    resolved --> new: citizen says "not resolved" within the reopen period
    resolved --> [*]: citizen confirms
    declined --> [*]
```
"""

from __future__ import annotations

import html
import re
from functools import partial
from typing import TypeVar

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden

from bot.core.domain import DeclineReason, Link, Report
from bot.core.integrity import transfer_refused
from bot.core.outbox import Outgoing, RefreshPayload
from bot.core.parsing import format_code, normalize_code
from bot.core.workflow import NOTE_MAX, NOTE_MIN, Action, allowed_actions
from bot.messages.labels import decline_label, status_label
from bot.messages.unit import pending_lines, prompt_text
from bot.telegram.callbacks import (
    AlertAction,
    DeclineChoose,
    OnReport,
    PickerClose,
    TransferBrowse,
    TransferChoose,
)
from bot.telegram.context import BotContext
from bot.telegram.people import actor_name, is_anonymous
from bot.telegram.tree import tree_rows, unit_labels
from handlers import relay
from handlers.common import say_chunks, unit_names

PENDING_MAX = 200
_DAYS = re.compile(
    r"^\s*(\d{1,3})\b\s*(?:ngày|days?)?\s*[-:,.;]?\s*(.*)$", re.IGNORECASE | re.DOTALL
)


# -- checks shared by every press ------------------------------------------------------------


async def _refuse(query: CallbackQuery, text: str) -> None:
    await query.answer(text, show_alert=True)


Pressed = TypeVar("Pressed", bound=OnReport)


async def _pressed(
    update: Update, context: BotContext, kind: type[Pressed], purpose: str
) -> tuple[CallbackQuery, Pressed, Report, Link] | None:
    """Check a press: well-formed, on a message tied to that report, by someone who may act."""
    query = update.callback_query
    assert query is not None
    _ = context._
    data = kind.parse(query.data)
    message = query.message
    link = None
    if data is not None and message is not None:
        link = await context.db.links.get_link(message.chat.id, message.message_id)
    if data is None or link is None or link.purpose != purpose:
        await query.answer(_("This button is no longer active."))
        return None
    report = await context.db.reports.get_report(link.report_id)
    if report is None:
        await query.answer(_("This button is no longer active."))
        return None
    if is_anonymous(query.from_user):
        await _refuse(query, _("Anonymous administrators cannot act: please act as yourself."))
        return None
    # Rights come before anything about the report: someone who may not act for the unit whose
    # message this is gets one refusal, whatever the button names or the report has become.
    unit = link.unit_code or report.fields.unit_code or ""
    if not await context.workflow.may_act(query.from_user.id, unit):
        await _refuse(query, _("Only the unit's officers can do this."))
        return None
    if report.id != data.report_id:
        await query.answer(_("This button is no longer active."))
        return None
    if link.unit_code is not None and link.unit_code not in await context.db.units.ancestors(
        report.fields.unit_code or ""
    ):
        await _refuse(
            query, _("This report has been transferred; this unit no longer handles it.")
        )
        return None
    # The message's unit is the report's or one above it, so the rights hold for the report.
    return query, data, report, link


async def _changed(query: CallbackQuery, context: BotContext, report: Report) -> None:
    """Say the report moved on meanwhile, and bring its buttons up to date."""
    await query.answer(context._("This report has changed meanwhile; nothing was done."))
    await context.db.outbox.add(Outgoing(RefreshPayload(), report_id=report.id))
    context.delivery.wake()


# -- the alert's buttons ---------------------------------------------------------------------


async def action_pressed(update: Update, context: BotContext) -> None:
    """Carry out an alert button, or ask for what the step still needs."""
    checked = await _pressed(update, context, AlertAction, "alert")
    if checked is None:
        return
    query, data, report, link = checked
    _ = context._
    action = data.action
    if action not in allowed_actions(report, context.settings.sla):
        await _changed(query, context, report)
        return
    user = query.from_user
    actor = await context.workflow.actor(user.id, actor_name(user))
    if action is Action.ACKNOWLEDGE:
        done = await context.workflow.acknowledge(report, actor)
    elif action is Action.PROGRESS:
        done = await context.workflow.start_progress(report, actor)
    elif action is Action.TRANSFER:
        await _open_picker(query, context, report, link, "transfer")
        return
    elif action is Action.DECLINE:
        await _open_picker(query, context, report, link, "decline")
        return
    else:
        await _prompt(query, context, report, link, action.value, {})
        return
    if done is None:
        await _changed(query, context, report)
        return
    await query.answer(_("Done: %(status)s") % {"status": status_label(done.status, _)})
    context.delivery.wake()


async def _prompt(
    query: CallbackQuery,
    context: BotContext,
    report: Report,
    link: Link,
    action: str,
    data: dict[str, str],
) -> None:
    """Ask the officer to type what the step needs, as a reply the bot can tie to the report."""
    _ = context._
    user = query.from_user
    unit = None
    if "target" in data:
        target = await context.db.units.get_unit(data["target"])
        unit = (await unit_labels(context, [target]))[target.code] if target else data["target"]
    # The mention is Telegram's own way to name a person, so it is built here.
    mention = f'<a href="tg://user?id={user.id}">{html.escape(user.first_name)}</a>'
    text = prompt_text(
        action,
        report.code,
        mention,
        _,
        max_days=context.settings.sla.extension_max_days,
        unit=unit,
    )
    message = query.message
    assert message is not None
    # A channel has no replies from people: its officers answer in their private chat instead.
    in_channel = message.chat.type == ChatType.CHANNEL
    chat_id = user.id if in_channel else message.chat.id
    reply = None if in_channel else ReplyParameters(message.message_id)
    try:
        sent = await context.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=ForceReply(selective=True),
            reply_parameters=reply,
        )
    except Forbidden:
        await _refuse(
            query,
            _("Please open a private chat with me and press Start, then press the button again."),
        )
        return
    await context.db.links.add_link(
        Link(
            chat_id,
            sent.message_id,
            report.id,
            "prompt",
            link.unit_code,
            user.id,
            # What the report looked like when asked: a reply after it moved on does nothing.
            {"action": action, "status": report.status, "unit": report.fields.unit_code, **data},
        )
    )
    await query.answer(
        _("I sent you a private message.") if in_channel else _("Reply to my message.")
    )


# -- pickers: the unit to transfer to, the reason to decline ---------------------------------


async def _open_picker(
    query: CallbackQuery, context: BotContext, report: Report, link: Link, kind: str
) -> None:
    _ = context._
    message = query.message
    assert message is not None
    code = f"<code>{format_code(report.code)}</code>"
    if kind == "transfer":
        text = _("Choose the unit report %(code)s should go to:") % {"code": code}
        markup = await _unit_keyboard(context, report, None, 0)
    else:
        text = _("Why is report %(code)s declined?") % {"code": code}
        rows = [
            [
                InlineKeyboardButton(
                    decline_label(reason, _), callback_data=DeclineChoose(report.id, reason).pack()
                )
            ]
            for reason in DeclineReason
        ]
        close = PickerClose(report.id).pack()
        rows.append([InlineKeyboardButton(_("Cancel"), callback_data=close)])
        markup = InlineKeyboardMarkup(rows)
    sent = await context.bot.send_message(
        message.chat.id,
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        reply_parameters=ReplyParameters(message.message_id),
    )
    await context.db.links.add_link(
        Link(
            message.chat.id,
            sent.message_id,
            report.id,
            "picker",
            link.unit_code,
            query.from_user.id,
            {"kind": kind},
        )
    )
    await query.answer()


async def _unit_keyboard(
    context: BotContext, report: Report, parent: str | None, page: int
) -> InlineKeyboardMarkup:
    rows = await tree_rows(
        context,
        parent,
        page,
        browse=partial(TransferBrowse, report.id),
        choose=partial(TransferChoose, report.id),
        exclude=[c for c in (report.fields.unit_code, report.concerned_unit) if c],
    )
    close = PickerClose(report.id).pack()
    rows.append([InlineKeyboardButton(context._("Cancel"), callback_data=close)])
    return InlineKeyboardMarkup(rows)


async def transfer_browse(update: Update, context: BotContext) -> None:
    """Show another page or level of the unit tree in the picker."""
    checked = await _pressed(update, context, TransferBrowse, "picker")
    if checked is None:
        return
    query, data, report, _link = checked
    parent = data.unit
    if parent is not None and await context.db.units.get_unit(parent) is None:
        parent = None
    await query.answer()
    try:
        await query.edit_message_reply_markup(
            await _unit_keyboard(context, report, parent, data.page)
        )
    except BadRequest as exc:
        # The same page pressed twice: nothing to change.
        if "not modified" not in str(exc).lower():
            raise


async def transfer_chosen(update: Update, context: BotContext) -> None:
    """Take the chosen unit and ask for the reason of the transfer."""
    checked = await _pressed(update, context, TransferChoose, "picker")
    if checked is None:
        return
    query, data, report, link = checked
    _ = context._
    target = await context.db.units.get_unit(data.unit)
    if (
        target is None
        or target.disabled
        or target.code == report.fields.unit_code
        or transfer_refused(report, target.code)
    ):
        await query.answer(_("This button is no longer active."))
        return
    await _close_picker(query, context, link)
    await _prompt(query, context, report, link, "transfer", {"target": target.code})


async def decline_reason(update: Update, context: BotContext) -> None:
    """Take the reason for declining and ask for the note."""
    checked = await _pressed(update, context, DeclineChoose, "picker")
    if checked is None:
        return
    query, data, report, link = checked
    await _close_picker(query, context, link)
    await _prompt(query, context, report, link, "decline", {"reason": data.reason.value})


async def picker_closed(update: Update, context: BotContext) -> None:
    """Close a picker without doing anything."""
    checked = await _pressed(update, context, PickerClose, "picker")
    if checked is None:
        return
    query, _data, _report, link = checked
    await query.answer()
    await _close_picker(query, context, link)


async def _close_picker(query: CallbackQuery, context: BotContext, link: Link) -> None:
    await context.db.links.delete_link(link.chat_id, link.message_id)
    if query.message is not None:
        await query.edit_message_reply_markup(None)


# -- typed answers to a prompt ---------------------------------------------------------------


async def prompt_answered(update: Update, context: BotContext, link: Link, report: Report) -> None:
    """Complete the step a prompt asked for, with the officer's typed text."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    _ = context._
    if is_anonymous(user) or message.sender_chat is not None:
        await _answer(message, _("Anonymous administrators cannot act: please act as yourself."))
        return
    assert user is not None
    if not await context.workflow.may_act(user.id, report.fields.unit_code or ""):
        await _answer(message, _("Only the unit's officers can do this."))
        return
    code = f"<code>{format_code(report.code)}</code>"
    if (report.status, report.fields.unit_code) != (
        link.data.get("status"),
        link.data.get("unit"),
    ):
        await context.db.links.delete_link(link.chat_id, link.message_id)
        await _answer(
            message,
            _("Report %(code)s has changed meanwhile; nothing was done.") % {"code": code},
        )
        return
    action = str(link.data.get("action", ""))
    if action == "ask":
        await relay.ask(update, context, report, link.unit_code)
        return
    text = (message.text or "").strip()
    if not text:
        await _answer(message, _("Please reply with text."))
        return
    actor = await context.workflow.actor(user.id, actor_name(user))
    consume = (link.chat_id, link.message_id)
    if action == "ext":
        found = _DAYS.match(text)
        days = int(found.group(1)) if found else 0
        reason = found.group(2).strip() if found else ""
        limit = context.settings.sla.extension_max_days
        if not 1 <= days <= limit or len(reason) < NOTE_MIN:
            await _answer(
                message,
                _(
                    "Please reply with a number of days from 1 to %(max)d followed by the"
                    " reason, for example: 15 waiting for the land registry's answer"
                )
                % {"max": limit},
            )
            return
        done = await context.workflow.extend(report, actor, days, reason[:NOTE_MAX], consume)
    elif len(text) < NOTE_MIN or len(text) > NOTE_MAX:
        await _answer(
            message,
            _("Please write between %(min)d and %(max)d characters.")
            % {"min": NOTE_MIN, "max": NOTE_MAX},
        )
        return
    elif action == "res":
        done = await context.workflow.resolve(report, actor, text, consume)
    elif action == "decline":
        reason = DeclineReason(str(link.data.get("reason")))
        done = await context.workflow.decline(report, actor, reason, text, consume)
    elif action == "transfer":
        target = str(link.data.get("target"))
        done = await context.workflow.transfer(report, actor, target, text, consume)
    else:
        return
    if done is None:
        await _answer(
            message,
            _("Report %(code)s has changed meanwhile; nothing was done.") % {"code": code},
        )
        return
    context.delivery.wake()
    await _answer(
        message,
        _("Done: report %(code)s is now “%(status)s”.")
        % {"code": code, "status": html.escape(status_label(done.status, _))},
    )


async def _answer(message: Message, text: str) -> None:
    await message.reply_text(text, parse_mode=ParseMode.HTML)


# -- commands in a unit's chat ---------------------------------------------------------------


async def _chat_units(update: Update, context: BotContext) -> list[str] | None:
    """Return the units served by this chat if the sender is one of their officers."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    _ = context._
    units = await context.db.units.units_by_chat(message.chat.id)
    if not units:
        await _answer(message, _("This command works only in a unit's alert chat."))
        return None
    if is_anonymous(user) or message.sender_chat is not None:
        await _answer(message, _("Anonymous administrators cannot act: please act as yourself."))
        return None
    assert user is not None
    allowed = [u.code for u in units if await context.workflow.may_act(user.id, u.code)]
    if not allowed:
        await _answer(message, _("Only the unit's officers can do this."))
        return None
    return allowed


async def pending(update: Update, context: BotContext) -> None:
    """List the open reports of this chat's units and the units below, by deadline."""
    codes = await _chat_units(update, context)
    if codes is None:
        return
    message = update.effective_message
    assert message is not None
    _ = context._
    reports = await context.db.reports.pending_reports(codes, limit=PENDING_MAX)
    if not reports:
        await _answer(message, _("No open reports. Well done."))
        return
    names = await unit_names(context, (r.fields.unit_code for r in reports))
    now = context.db.clock()
    lines = pending_lines(reports, names, now, _, context.lang, limit=PENDING_MAX)
    # One message holds about 30 lines; a long list goes out in several.
    await say_chunks(update, lines)


async def show_report(update: Update, context: BotContext) -> None:
    """Show one report of this chat's units with its history and its buttons."""
    codes = await _chat_units(update, context)
    if codes is None:
        return
    message = update.effective_message
    assert message is not None
    _ = context._
    code = normalize_code(" ".join(context.args or [])[:40])
    report = await context.db.reports.report_by_code(code) if code else None
    # A code of another unit, one that does not exist and one that is not a code at all get the
    # same answer, word for word: the code is not repeated, so the replies cannot differ.
    if report is None or not set(codes) & set(
        await context.db.units.ancestors(report.fields.unit_code or "")
    ):
        await _answer(message, _("No report of this unit has that code."))
        return
    chain = await context.db.units.ancestors(report.fields.unit_code or "")
    link_unit = next(c for c in codes if c in chain)
    link = Link(message.chat.id, 0, report.id, "alert", link_unit)
    count = len(await context.db.reports.report_attachments(report.id))
    text, markup = await context.delivery.render_alert(report, link, count, full=True)
    sent = await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    # Shown with its buttons, the copy is an alert like the first: kept up to date, usable.
    await context.db.links.add_link(
        Link(message.chat.id, sent.message_id, report.id, "alert", link_unit)
    )

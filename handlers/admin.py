"""Admins run the system from a private chat: admins, units, officers, moderation.

Every command here answers a non-admin with one polite refusal and no data, and every change
an admin makes is appended to the administration audit log.
"""

from __future__ import annotations

import html
import logging
import shlex
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.config import UNIT_CODE_RE
from bot.core.domain import Unit
from bot.core.outbox import HeldAlertsNotice
from bot.core.parsing import format_code, normalize_code
from bot.messages.admin import admins_lines, banned_lines, officers_lines, units_lines
from bot.messages.intake import quarantine_lines
from bot.messages.integrity import conflict_marks_lines
from bot.telegram.callbacks import BindBrowse, BindChoose, CallbackData, Forget
from bot.telegram.context import BotContext
from bot.telegram.tree import tree_rows
from handlers.common import say_chunks

log = logging.getLogger(__name__)

REASON_MAX = 200

AdminCommand = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


# -- who is asking ---------------------------------------------------------------------------


async def _say(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = update.effective_message
    assert message is not None
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


def admin_only(command: AdminCommand) -> AdminCommand:
    """Run `command` only for an admin in a private chat; refuse anyone else politely."""

    async def guarded(update: Update, context: BotContext) -> None:
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None or not await context.workflow.is_admin(user.id):
            await _say(update, context._("Sorry, this command is for the administrators."))
            return
        if chat.type != ChatType.PRIVATE:
            await _say(update, context._("Please send admin commands in a private chat with me."))
            return
        await command(update, context)

    guarded.__doc__ = command.__doc__
    guarded.__name__ = command.__name__
    return guarded


def _args(context: BotContext, update: Update) -> list[str]:
    """Split the command's arguments, honouring quotes ("Tên có dấu cách").

    A quote left open gives no arguments at all, so that the command answers with its usage
    instead of acting on a guess.
    """
    message = update.effective_message
    text = (message.text or "") if message else ""
    rest = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    # Only double quotes group words: an apostrophe in a reason ("don't") is just a letter.
    lexer = shlex.shlex(rest, posix=True)
    lexer.quotes = '"'
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return []


def _target_user(update: Update, args: list[str]) -> tuple[int | None, list[str]]:
    """Return the user an admin names: a numeric id first, or the sender of a replied message."""
    if args and args[0].lstrip("-").isdigit() and len(args[0]) <= 16:
        return int(args[0]), args[1:]
    message = update.effective_message
    replied = message.reply_to_message if message else None
    if replied is not None:
        origin = replied.forward_origin
        sender = getattr(origin, "sender_user", None) if origin else None
        if sender is not None:
            return sender.id, args
        if replied.from_user is not None and not replied.from_user.is_bot:
            return replied.from_user.id, args
    return None, args


async def _log(
    context: BotContext, update: Update, action: str, target: str, details: str = ""
) -> None:
    user = update.effective_user
    assert user is not None
    await context.db.admin.log_admin(user.id, action, target, details or None)


async def _unit(update: Update, context: BotContext, code: str) -> Unit | None:
    unit = await context.db.units.get_unit(code)
    if unit is None:
        await _say(
            update,
            context._("There is no unit with the code %(code)s.") % {"code": html.escape(code)},
        )
    return unit


# -- admins ----------------------------------------------------------------------------------


@admin_only
async def admin_add(update: Update, context: BotContext) -> None:
    """Make someone an admin."""
    _ = context._
    user_id, _rest = _target_user(update, _args(context, update))
    if user_id is None:
        await _say(update, _("Usage: /admin_add USER_ID (or reply to one of their messages)"))
        return
    assert update.effective_user is not None
    added = await context.db.admin.add_admin(user_id, update.effective_user.id)
    context.services.admin_filter.add_user_ids(user_id)
    await _log(context, update, "admin_add", str(user_id))
    text = (
        _("%(user)s is now an administrator.")
        if added
        else _("%(user)s is already an administrator.")
    )
    await _say(update, text % {"user": user_id})


@admin_only
async def admin_remove(update: Update, context: BotContext) -> None:
    """Take away an admin added in chat (those in the config stay)."""
    _ = context._
    user_id, _rest = _target_user(update, _args(context, update))
    if user_id is None:
        await _say(update, _("Usage: /admin_remove USER_ID"))
        return
    if user_id in context.settings.admins:
        await _say(
            update,
            _("%(user)s is an administrator in the configuration file; remove them there.")
            % {"user": user_id},
        )
        return
    removed = await context.db.admin.remove_admin(user_id)
    context.services.admin_filter.remove_user_ids(user_id)
    await _log(context, update, "admin_remove", str(user_id))
    text = (
        _("%(user)s is no longer an administrator.")
        if removed
        else _("%(user)s was not an administrator.")
    )
    await _say(update, text % {"user": user_id})


@admin_only
async def admins(update: Update, context: BotContext) -> None:
    """List the admins."""
    added = await context.db.admin.chat_admins() - context.settings.admins
    await say_chunks(update, admins_lines(context.settings.admins, added, context._))


# -- units -----------------------------------------------------------------------------------


@admin_only
async def units(update: Update, context: BotContext) -> None:
    """Show the unit tree with each alert chat's state and the open and overdue reports."""
    everything = await context.db.units.all_units()
    counts = await context.db.reports.unit_counts(context.db.clock())
    edited = await context.db.units.unit_sources()
    qualifiers = await context.db.units.qualifiers(everything)
    lines = units_lines(everything, counts, edited, context._, qualifiers)
    lines += conflict_marks_lines(await context.db.integrity.conflicts(), context._)
    await say_chunks(update, lines)


@admin_only
async def unit_add(update: Update, context: BotContext) -> None:
    """Create a unit: /unit_add CODE "Name" [PARENT]."""
    _ = context._
    args = _args(context, update)
    if len(args) not in (2, 3):
        await _say(update, _('Usage: /unit_add CODE "Unit name" [PARENT_CODE]'))
        return
    code, name = args[0], args[1].strip()
    parent = args[2] if len(args) == 3 else None
    if not UNIT_CODE_RE.match(code) or not name or len(name) > 120:
        await _say(
            update,
            _("A code is 1–24 letters, digits, '.', '_' or '-', and a name 1–120 characters."),
        )
        return
    if parent is not None and await _unit(update, context, parent) is None:
        return
    if not await context.db.units.add_unit(code, name, parent):
        await _say(update, _("The code %(code)s is already taken.") % {"code": html.escape(code)})
        return
    await _log(context, update, "unit_add", code, f"{name} / {parent or '-'}")
    await _say(
        update,
        _(
            "Unit %(code)s created. Add the bot to its channel or group to bind it,"
            " or send /bind %(code)s there."
        )
        % {"code": html.escape(code)},
    )


@admin_only
async def unit_rename(update: Update, context: BotContext) -> None:
    """Rename a unit: /unit_rename CODE "New name"."""
    _ = context._
    args = _args(context, update)
    if len(args) != 2 or not args[1].strip() or len(args[1]) > 120:
        await _say(update, _('Usage: /unit_rename CODE "New name"'))
        return
    if await _unit(update, context, args[0]) is None:
        return
    await context.db.units.update_unit(args[0], name=args[1].strip())
    await _log(context, update, "unit_rename", args[0], args[1].strip())
    await _say(update, _("Unit %(code)s renamed.") % {"code": html.escape(args[0])})


@admin_only
async def unit_move(update: Update, context: BotContext) -> None:
    """Put a unit under another: /unit_move CODE PARENT (or - for the top level)."""
    _ = context._
    args = _args(context, update)
    if len(args) != 2:
        await _say(update, _("Usage: /unit_move CODE PARENT_CODE (or - for the top level)"))
        return
    code, parent = args[0], (None if args[1] == "-" else args[1])
    if await _unit(update, context, code) is None:
        return
    if parent is not None:
        if await _unit(update, context, parent) is None:
            return
        if code in await context.db.units.ancestors(parent):
            await _say(update, _("A unit cannot be moved under itself or one of its own units."))
            return
    await context.db.units.update_unit(code, parent=parent)
    await _log(context, update, "unit_move", code, parent or "-")
    await _say(update, _("Unit %(code)s moved.") % {"code": html.escape(code)})


async def _set_disabled(update: Update, context: BotContext, disabled: bool) -> None:
    _ = context._
    args = _args(context, update)
    if len(args) != 1:
        await _say(update, _("Usage: /unit_disable CODE or /unit_enable CODE"))
        return
    if await _unit(update, context, args[0]) is None:
        return
    await context.db.units.update_unit(args[0], disabled=int(disabled))
    await _log(context, update, "unit_disable" if disabled else "unit_enable", args[0])
    if disabled:
        text = _(
            "Unit %(code)s is disabled: citizens no longer see it. Its reports are kept and"
            " can still be handled."
        )
    else:
        text = _("Unit %(code)s is enabled again.")
    await _say(update, text % {"code": html.escape(args[0])})


@admin_only
async def unit_disable(update: Update, context: BotContext) -> None:
    """Hide a unit from citizens; it is never deleted, its reports stay."""
    await _set_disabled(update, context, True)


@admin_only
async def unit_enable(update: Update, context: BotContext) -> None:
    """Show a disabled unit to citizens again."""
    await _set_disabled(update, context, False)


# -- binding a unit to its channel or group --------------------------------------------------


async def _bind(context: BotContext, admin_id: int, code: str, chat_id: int) -> None:
    await context.db.units.update_unit(code, chat_id=chat_id, chat_state="ok")
    await context.db.admin.log_admin(admin_id, "bind", code, str(chat_id))
    # Alerts held while the unit had no chat go out now.
    await context.db.outbox.release_unit(code)
    context.delivery.wake()


async def bind(update: Update, context: BotContext) -> None:
    """Bind the group this is sent in to a unit: /bind CODE."""
    _ = context._
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or not await context.workflow.is_admin(user.id):
        await _say(update, _("Sorry, this command is for the administrators."))
        return
    if chat.type == ChatType.PRIVATE:
        await _say(update, _("Send /bind CODE in the unit's group, not here."))
        return
    args = _args(context, update)
    if len(args) != 1:
        await _say(update, _("Usage: /bind CODE"))
        return
    unit = await _unit(update, context, args[0])
    if unit is None:
        return
    await _bind(context, user.id, unit.code, chat.id)
    await _say(
        update,
        _("This chat now receives the alerts of %(unit)s.") % {"unit": html.escape(unit.name)},
    )


async def membership_changed(update: Update, context: BotContext) -> None:
    """Offer the unit tree when an admin adds the bot to a chat; note when it is removed."""
    change = update.my_chat_member
    if change is None or change.chat.type == ChatType.PRIVATE:
        return
    chat = change.chat
    new = change.new_chat_member.status
    old = change.old_chat_member.status
    gone = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    if new in gone:
        for unit in await context.db.units.units_by_chat(chat.id):
            if await context.db.units.set_unit_chat_state(unit.code, "broken"):
                log.warning("bot removed from the alert chat of unit %s", unit.code)
                for admin in await context.workflow.admin_ids():
                    await context.db.outbox.add_notice(
                        admin, HeldAlertsNotice(unit=unit.code, reason="bot removed")
                    )
        context.delivery.wake()
        return
    if old not in gone:
        return
    for unit in await context.db.units.units_by_chat(chat.id):
        await context.db.units.set_unit_chat_state(unit.code, "ok")
        await context.db.outbox.release_unit(unit.code)
    context.delivery.wake()
    adder = change.from_user
    if adder is None or not await context.workflow.is_admin(adder.id):
        if not await context.db.units.units_by_chat(chat.id):
            # Brought into a chat no unit uses by someone who cannot bind it: leave at once.
            await context.db.chats.note_chat(chat.id, "left", replace=True)
            await _leave(context, chat.id)
        return
    if not await context.db.units.units_by_chat(chat.id):
        # The admin is offered the units below; the chat itself hears nothing until bound.
        await context.db.chats.note_chat(chat.id, "told", replace=True)
    _ = context._
    title = html.escape(chat.title or str(chat.id))
    try:
        await context.bot.send_message(
            adder.id,
            _("You added me to «%(chat)s». Which unit's alerts should go there?")
            % {"chat": title},
            parse_mode=ParseMode.HTML,
            reply_markup=await bind_keyboard(context, chat.id, None, 0),
        )
    except Exception:
        log.warning("could not offer the unit tree to the admin who added the bot")


async def unbound_chat(update: Update, context: BotContext) -> None:
    """In a group or channel bound to no unit, say once how to bind it or leave; then be silent."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    if chat is None or message is None or chat.type == ChatType.PRIVATE:
        return
    if await context.db.units.units_by_chat(chat.id):
        return
    if message.migrate_from_chat_id is not None:
        # A group became this supergroup. Chats are handled side by side, so this may come
        # before the old group's own notice of it: its units move here now, whichever is first.
        await context.db.units.migrate_unit_chat(message.migrate_from_chat_id, chat.id)
        return
    admin = user is not None and await context.workflow.is_admin(user.id)
    words = (message.text or "").split(maxsplit=1)
    if admin and words and words[0].split("@")[0] == "/bind":
        return
    if await context.db.chats.chat_note(chat.id) is None and await context.db.chats.note_chat(
        chat.id, "told" if admin else "left"
    ):
        if admin:
            await _say(
                update,
                context._(
                    "No unit's alerts come to this chat yet. To choose the unit, send /bind"
                    " CODE here; /units in a private chat with me lists the codes."
                ),
            )
        else:
            await _leave(context, chat.id)
    raise ApplicationHandlerStop


async def _leave(context: BotContext, chat_id: int) -> None:
    try:
        await context.bot.leave_chat(chat_id)
    except TelegramError as exc:
        # Already gone, or Telegram is down: the note keeps the bot silent there all the same.
        log.warning("could not leave a chat that no unit uses: %s", exc)
        return
    log.info("left a chat that no unit uses")


async def bind_keyboard(
    context: BotContext, chat_id: int, parent: str | None, page: int
) -> InlineKeyboardMarkup:
    """Return one page of the unit tree, each unit a button binding it to `chat_id`."""
    rows = await tree_rows(
        context,
        parent,
        page,
        browse=partial(BindBrowse, chat_id),
        choose=partial(BindChoose, chat_id),
    )
    return InlineKeyboardMarkup(rows)


Pressed = TypeVar("Pressed", bound=CallbackData)


async def _admin_pressed(
    update: Update, context: BotContext, kind: type[Pressed]
) -> Pressed | None:
    """Return a binding press if an admin made it; otherwise answer and return None."""
    query = update.callback_query
    assert query is not None
    if not await context.workflow.is_admin(query.from_user.id):
        await query.answer(
            context._("Sorry, this command is for the administrators."), show_alert=True
        )
        return None
    data = kind.parse(query.data)
    if data is None:
        await query.answer(context._("This button is no longer active."))
    return data


async def bind_browse(update: Update, context: BotContext) -> None:
    """Show another page or level of the unit tree offered for binding, to an admin only."""
    query = update.callback_query
    assert query is not None
    data = await _admin_pressed(update, context, BindBrowse)
    if data is None:
        return
    if data.unit is not None and await context.db.units.get_unit(data.unit) is None:
        await query.answer(context._("This button is no longer active."))
        return
    await query.answer()
    await query.edit_message_reply_markup(
        await bind_keyboard(context, data.chat_id, data.unit, data.page)
    )


async def bind_chosen(update: Update, context: BotContext) -> None:
    """Bind the chosen unit to the chat the tree was offered for, for an admin only."""
    query = update.callback_query
    assert query is not None
    _ = context._
    data = await _admin_pressed(update, context, BindChoose)
    if data is None:
        return
    unit = await context.db.units.get_unit(data.unit)
    if unit is None:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()
    await _bind(context, query.from_user.id, unit.code, data.chat_id)
    await query.edit_message_text(
        _("Done: that chat now receives the alerts of %(unit)s.")
        % {"unit": html.escape(unit.name)},
        parse_mode=ParseMode.HTML,
    )


# -- officers --------------------------------------------------------------------------------


@admin_only
async def officer_add(update: Update, context: BotContext) -> None:
    """Make someone an officer of a unit: /officer_add CODE USER."""
    await _officer_change(update, context, add=True)


@admin_only
async def officer_remove(update: Update, context: BotContext) -> None:
    """Take someone off a unit's officers: /officer_remove CODE USER."""
    await _officer_change(update, context, add=False)


async def _officer_change(update: Update, context: BotContext, *, add: bool) -> None:
    _ = context._
    args = _args(context, update)
    if not args:
        await _say(update, _("Usage: /officer_add CODE USER_ID or /officer_remove CODE USER_ID"))
        return
    unit = await _unit(update, context, args[0])
    if unit is None:
        return
    user_id, _rest = _target_user(update, args[1:])
    if user_id is None:
        await _say(update, _("Usage: /officer_add CODE USER_ID or /officer_remove CODE USER_ID"))
        return
    if add:
        changed = await context.db.units.add_officer(unit.code, user_id)
        text = _("%(user)s is now an officer of %(unit)s.")
    else:
        changed = await context.db.units.remove_officer(unit.code, user_id)
        text = _("%(user)s is no longer an officer of %(unit)s.")
    await _log(
        context, update, "officer_add" if add else "officer_remove", unit.code, str(user_id)
    )
    if not changed:
        text = _("Nothing to change for %(user)s in %(unit)s.")
    await _say(update, text % {"user": user_id, "unit": html.escape(unit.name)})


@admin_only
async def officers(update: Update, context: BotContext) -> None:
    """List a unit's officers: /officers CODE."""
    _ = context._
    args = _args(context, update)
    if len(args) != 1:
        await _say(update, _("Usage: /officers CODE"))
        return
    unit = await _unit(update, context, args[0])
    if unit is None:
        return
    rows = await context.db.units.officers_of(unit.code)
    await say_chunks(update, officers_lines(unit, rows, _))


# -- moderation ------------------------------------------------------------------------------


async def _ban_target(
    update: Update, context: BotContext, args: list[str]
) -> tuple[int | None, str, list[str], str | None]:
    """Return whom a ban names, how to call them, the other arguments, and a report's code
    when that report no longer leads to its sender.

    USER is a numeric id or a reply; CODE is a report's code. A report's sender (a web
    reporter has no Telegram id to name) is found through the report's link and called "the
    sender of report CODE": the admin never learns who it is.
    """
    user_id, rest = _target_user(update, args)
    if user_id is not None:
        return user_id, str(user_id), rest, None
    code = normalize_code(args[0]) if args else None
    report = await context.db.reports.report_by_code(code) if code else None
    if report is None:
        return None, "", rest, None
    shown = f"<code>{format_code(report.code)}</code>"
    sender = await context.db.admin.reporter_of(report.id)
    label = context._("the sender of report %(code)s") % {"code": shown}
    return sender, label, args[1:], None if sender is not None else shown


@admin_only
async def ban(update: Update, context: BotContext) -> None:
    """Ban a user: /ban USER|CODE [reason]."""
    _ = context._
    args = _args(context, update)
    user_id, who, rest, gone = await _ban_target(update, context, args)
    if user_id is None:
        await _say(update, _no_target(context, gone))
        return
    if await context.workflow.is_admin(user_id):
        await _say(update, _("An administrator cannot be banned."))
        return
    reason = " ".join(rest)[:REASON_MAX] or None
    assert update.effective_user is not None
    banned = await context.db.admin.ban(user_id, reason, update.effective_user.id)
    await _log(context, update, "ban", str(user_id), reason or "")
    text = _("%(user)s is banned.") if banned else _("%(user)s was already banned.")
    await _say(update, text % {"user": who})


@admin_only
async def unban(update: Update, context: BotContext) -> None:
    """Lift a ban: /unban USER|CODE."""
    _ = context._
    user_id, who, _rest, gone = await _ban_target(update, context, _args(context, update))
    if user_id is None:
        await _say(update, _no_target(context, gone, unban=True))
        return
    lifted = await context.db.admin.unban(user_id)
    await _log(context, update, "unban", str(user_id))
    text = _("%(user)s is no longer banned.") if lifted else _("%(user)s was not banned.")
    await _say(update, text % {"user": who})


def _no_target(context: BotContext, gone: str | None, *, unban: bool = False) -> str:
    """Say how to name a user, or that a report no longer leads to its sender."""
    _ = context._
    if gone is not None:
        return _(
            "Report %(code)s is no longer linked to its sender (erased or expired): nobody"
            " can be banned or unbanned through it."
        ) % {"code": gone}
    if unban:
        return _("Usage: /unban USER_ID, or /unban CODE for the sender of a report")
    return _("Usage: /ban USER_ID [reason], or /ban CODE [reason] for the sender of a report")


@admin_only
async def banned(update: Update, context: BotContext) -> None:
    """List banned users."""
    _ = context._
    rows = await context.db.admin.banned()
    if not rows:
        await _say(update, _("Nobody is banned."))
        return
    await say_chunks(update, banned_lines(rows, _))


@admin_only
async def quarantine(update: Update, context: BotContext) -> None:
    """List the latest updates set aside because they could not be read."""
    poisons = await context.db.inbound.quarantined()
    await say_chunks(update, quarantine_lines(poisons, context._, context.lang))


@admin_only
async def spam(update: Update, context: BotContext) -> None:
    """Mark a report as spam (kept, left out of statistics): /spam CODE [off]."""
    _ = context._
    args = _args(context, update)
    code = normalize_code(args[0]) if args else None
    report = await context.db.reports.report_by_code(code) if code else None
    if report is None or len(args) > 2 or (len(args) == 2 and args[1] != "off"):
        await _say(update, _("Usage: /spam CODE, or /spam CODE off to undo"))
        return
    flag = len(args) == 1
    await context.db.admin.set_spam(report.id, flag)
    await _log(context, update, "spam" if flag else "spam_off", report.code)
    text = (
        _("Report %(code)s is marked as spam: kept, but left out of the statistics.")
        if flag
        else _("Report %(code)s is no longer marked as spam.")
    )
    await _say(update, text % {"code": f"<code>{format_code(report.code)}</code>"})


async def refuse_banned(update: Update, context: BotContext) -> None:
    """Stop every update from a banned user, with one polite refusal the first time."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    state = context.ban if context.ban_read else await context.db.admin.ban_state(user.id)
    if state is None:
        return
    # Privacy rights hold for everyone: a banned person may still see and erase their data.
    message = update.effective_message
    text = (message.text or "") if message is not None and update.callback_query is None else ""
    data = update.callback_query.data or "" if update.callback_query is not None else ""
    command = text.split("@")[0].split(" ")[0]
    if command in ("/mydata", "/forget") or Forget.parse(data) is not None:
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    if not state:
        await context.db.admin.ban_notified(user.id)
        await context.bot.send_message(
            chat.id,
            context._(
                "Sorry, you can no longer use this service. If you think this is a mistake,"
                " please contact the administrators."
            ),
        )
    raise ApplicationHandlerStop

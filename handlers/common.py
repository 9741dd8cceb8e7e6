"""Commands around the report: greeting, language, status, help, and the safety nets."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.core.parsing import normalize_code
from bot.i18n import SUPPORTED, pick_locale
from bot.messages.citizen import privacy_notice, report_status, reports_list
from bot.messages.integrity import routed_line
from bot.messages.limits import pack
from bot.store.repository import StorageError
from bot.telegram.callbacks import Language, NewReport, family
from bot.telegram.context import BotContext
from bot.telegram.questions import ask, ask_consent, pressed_message, show

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


async def remember_user(update: Update, context: BotContext) -> None:
    """Load the sender's language (creating the user on first contact in private)."""
    chat, user = update.effective_chat, update.effective_user
    if user is None or chat is None or chat.type != chat.PRIVATE:
        return
    default = pick_locale(user.language_code, context.settings.default_locale)
    try:
        # The ban is read here with the language (one query), for `admin.refuse_banned` next.
        context.locale, _consented, context.ban = await context.db.users.get_or_create_with_ban(
            user.id, default
        )
        context.ban_read = True
    except StorageError:
        # Still answer in a sensible language; the handler will meet the error itself.
        context.locale = default


async def _reply(
    update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup
    )


async def unit_names(context: BotContext, codes: Iterable[str | None]) -> dict[str, str]:
    """Return the names of the units with these codes, by code (unknown ones are left out)."""
    names = {}
    for code in set(codes):
        unit = await context.db.units.get_unit(code or "")
        if unit is not None:
            names[code or ""] = unit.name
    return names


async def say_chunks(update: Update, lines: list[str]) -> None:
    """Reply with lines in as few messages as Telegram's length limit allows."""
    message = update.effective_message
    assert message is not None
    for text in pack(lines):
        await message.reply_text(text, parse_mode=ParseMode.HTML)


async def start(update: Update, context: BotContext) -> None:
    """Greet, explain, and ask for consent or offer a new report, in one message."""
    assert update.effective_user is not None
    _ = context._
    welcome = _(
        "Hello! Liêm Chính lets you report officials who cause trouble, delay your case,"
        " shirk or pass on their work, or profit from handling your affairs.\n"
        "Your identity is protected: the unit handling your report never sees your"
        " Telegram account."
    )
    draft = await context.db.drafts.get_draft(update.effective_user.id)
    if draft is not None:
        going_on = _("You have a report in progress; let's continue.")
        header = f"{welcome}\n\n{going_on}"
        await ask(context, draft, header=header)
        return
    _locale, consented = await context.db.users.get_or_create_user(
        update.effective_user.id, context.lang
    )
    if not consented:
        await ask_consent(context, update.effective_user.id, header=welcome)
        return
    offer = _(
        "Press the button or send /report to start a report. /help lists what else I can do."
    )
    await _reply(
        update,
        context,
        f"{welcome}\n\n{offer}",
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("📝 New report"), callback_data=NewReport().pack())]]
        ),
    )


async def consent_refused(update: Update, context: BotContext) -> None:
    """Accept a refusal of consent without storing anything more."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    text = context._(
        "Understood. Without your consent we cannot take a report."
        " You can change your mind at any time with /start."
    )
    # The consent question becomes the answer to it: one call instead of two.
    await show(context, query.from_user.id, [(text, None)], pressed_message(query))


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands a citizen can use (and an admin's, to an admin)."""
    _ = context._
    assert update.effective_user is not None
    # Read before anything is sent: a database that fails after the reply went out would have
    # the person told that their message was not saved, though it was answered.
    try:
        admin = await context.workflow.is_admin(update.effective_user.id)
    except StorageError:
        log.warning("admins unreadable: /help lists the citizen's commands only")
        admin = False
    await _reply(
        update,
        context,
        _(
            "/report – start a new report\n"
            "/status CODE – the status of one of your reports\n"
            "/myreports – all your reports\n"
            "/language – change the language\n"
            "/privacy – what is stored about you, and why\n"
            "/mydata – a copy of everything stored about you\n"
            "/forget – erase your personal data\n"
            "/cancel – stop the report in progress"
        ),
    )
    if admin:
        await _reply(
            update,
            context,
            _(
                "Administrators:\n"
                "/units – the unit tree; /unit_add, /unit_rename, /unit_move, /unit_disable,"
                " /unit_enable\n"
                "/officers CODE – a unit's officers; /officer_add, /officer_remove\n"
                "/admins – administrators; /admin_add, /admin_remove\n"
                "/ban, /unban, /banned – moderation; /spam CODE – leave out of statistics\n"
                "/stats [period] [UNIT] – figures and a chart\n"
                "/export [period] [UNIT] [full] – CSV and XLSX\n"
                "/find TEXT – search reports; /report CODE – one report in full"
            ),
        )


async def privacy(update: Update, context: BotContext) -> None:
    """Explain what is stored, why, who sees it, for how long, and the citizen's rights."""
    await _reply(update, context, privacy_notice(context.settings.privacy, context._))


async def language(update: Update, context: BotContext) -> None:
    """Offer the supported languages."""
    buttons = [
        [InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=Language(code).pack())]
        for code in SUPPORTED
    ]
    await _reply(
        update, context, context._("Choose your language:"), InlineKeyboardMarkup(buttons)
    )


async def language_chosen(update: Update, context: BotContext) -> None:
    """Store the language and continue any report in it."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    chosen = Language.parse(query.data)
    await query.answer()
    # A language this bot does not speak (an old or forged button) only stops the spinner.
    if chosen is None or chosen.code not in SUPPORTED:
        return
    code = chosen.code
    await context.db.users.set_locale(update.effective_user.id, code)
    context.locale = code
    said = context._("I will speak English with you from now on.")
    # The language question becomes the answer, and the report's question under it.
    pressed = pressed_message(query)
    draft = await context.db.drafts.get_draft(update.effective_user.id)
    if draft is not None:
        await ask(context, draft, header=said, pressed=pressed)
        return
    await show(context, update.effective_user.id, [(said, None)], pressed)


async def status(update: Update, context: BotContext) -> None:
    """Show one of the sender's reports by its code."""
    assert update.effective_user is not None
    _ = context._
    args = context.args or []
    if not args:
        await _reply(
            update,
            context,
            _("Send /status followed by your tracking code, for example: /status ABCD-EFGH"),
        )
        return
    typed = " ".join(args)[:40]
    code = normalize_code(typed)
    found = (
        await context.db.reports.report_for_reporter(code, update.effective_user.id)
        if code
        else None
    )
    if found is None:
        # The same answer whether the code exists or not: codes of others reveal nothing.
        await _reply(
            update,
            context,
            _("No report with the code %(code)s was found among your reports.")
            % {"code": html.escape(typed)},
        )
        return
    unit = await context.db.units.get_unit(found.fields.unit_code or "")
    text = report_status(found, unit.name if unit else "", _, context.lang)
    if found.conflict and found.concerned_unit:
        concerned = await context.db.units.get_unit(found.concerned_unit)
        above = found.fields.unit_code != found.concerned_unit
        text += "\n\n" + routed_line(
            found,
            concerned.name if concerned else found.concerned_unit,
            (unit.name if unit else None) if above else None,
            _,
        )
    await _reply(update, context, text)


async def my_reports(update: Update, context: BotContext) -> None:
    """List the sender's reports, newest first."""
    assert update.effective_user is not None
    _ = context._
    reports = await context.db.reports.reports_of(update.effective_user.id)
    if not reports:
        await _reply(
            update, context, _("You have not sent any report yet. Send /report to start one.")
        )
        return
    await _reply(update, context, reports_list(reports, _, context.lang))


async def nothing_to_cancel(update: Update, context: BotContext) -> None:
    """Answer /cancel when no report is in progress."""
    await _reply(update, context, context._("There is no report in progress."))


async def edited_message(update: Update, context: BotContext) -> None:
    """Explain that edits to sent answers are not picked up."""
    await _reply(
        update,
        context,
        context._(
            "If you edit a message you already sent, the change is ignored. You can change any"
            " answer with the ✏️ buttons when you review the report."
        ),
    )
    raise ApplicationHandlerStop


async def group_hint(update: Update, context: BotContext) -> None:
    """Keep citizens from reporting in a group, where others would see them."""
    await _reply(
        update,
        context,
        context._("To keep your identity safe, please send reports in a private chat with me."),
    )


async def chat_migrated(update: Update, context: BotContext) -> None:
    """Follow a unit's group when Telegram upgrades it to a supergroup."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    moved = await context.db.units.migrate_unit_chat(message.chat.id, message.migrate_to_chat_id)
    if moved:
        log.info("units %s follow their group to its supergroup", ", ".join(moved))


async def check_button(update: Update, context: BotContext) -> None:
    """Stop a press whose data is not whole, or made in a chat where its button never is."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    kind = family(query.data)
    if kind is None:
        # Not one of bot.telegram.callbacks' formats: the report conversation's own buttons.
        return
    # Checked before any handler sees it: a citizen's button in a unit's chat (or an admin's
    # binding tree outside a private chat) must change nothing at all, whoever presses it.
    if not kind.fits(chat.type if chat is not None else None):
        await query.answer(context._("This button is not available here."))
        raise ApplicationHandlerStop
    # Data of a known kind that is not whole ("st:ack:1\n") is forged: no handler, even one
    # registered with a looser pattern, gets to act on it.
    if kind.parse(query.data) is None:
        await query.answer(context._("This button is no longer active."))
        raise ApplicationHandlerStop


async def expired_button(update: Update, context: BotContext) -> None:
    """Answer a press on a button whose conversation has ended."""
    query = update.callback_query
    assert query is not None
    await query.answer(context._("This button is no longer active."))


async def unknown(update: Update, context: BotContext) -> None:
    """Point a lost citizen to /help."""
    await _reply(
        update,
        context,
        context._("I did not understand that. Send /report to start a report, or /help."),
    )


# Telegram's words when a callback query is answered twice or too late.
_PRESS_TOO_OLD = "query is too old"


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure and tell the citizen that nothing they sent is lost."""
    if isinstance(context.error, BadRequest) and _PRESS_TOO_OLD in str(context.error).lower():
        # A press handled again after a restart, or after Telegram stopped waiting for its
        # answer: the step itself is stored or refused by the stored state; nothing went wrong.
        log.info("a button press could no longer be answered")
        return
    log.error("handler failed", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != update.effective_chat.PRIVATE:
        return
    if isinstance(context.error, StorageError):
        text = context._(
            "Sorry, your answer could not be saved just now. Please send it again in a moment;"
            " nothing you sent before is lost."
        )
    else:
        text = context._(
            "Sorry, something went wrong. Your answers so far are kept; please try again."
        )
    try:
        await context.bot.send_message(update.effective_chat.id, text)
    except Exception:
        log.warning("could not tell the user about an error")

"""Commands around the report: greeting, language, status, help, and the safety nets."""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext
from bot.core.domain import local_today
from bot.core.parsing import format_code, format_date, normalize_code
from bot.i18n import SUPPORTED, pick_locale
from bot.messages.render import status_label
from bot.store.repository import StorageError
from bot.telegram.callbacks import Language, NewReport, family
from handlers import report

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


async def remember_user(update: Update, context: BotContext) -> None:
    """Load the sender's language (creating the user on first contact in private)."""
    chat, user = update.effective_chat, update.effective_user
    if user is None or chat is None or chat.type != chat.PRIVATE:
        return
    default = pick_locale(user.language_code, context.settings.default_locale)
    try:
        context.locale, _consented = await context.db.get_or_create_user(user.id, default)
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


# Well under Telegram's 4096 characters per message.
CHUNK = 3500


async def say_chunks(update: Update, lines: list[str]) -> None:
    """Reply with lines in as few messages as Telegram's length limit allows."""
    message = update.effective_message
    assert message is not None
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > CHUNK:
            await message.reply_text("\n".join(chunk), parse_mode=ParseMode.HTML)
            chunk = []
        chunk.append(line)
    if chunk:
        await message.reply_text("\n".join(chunk), parse_mode=ParseMode.HTML)


async def start(update: Update, context: BotContext) -> None:
    """Greet, explain, and ask for consent or offer a new report."""
    assert update.effective_user is not None
    _ = context._
    await _reply(
        update,
        context,
        _(
            "Hello! Liêm Chính lets you report officials who cause trouble, delay your case,"
            " shirk or pass on their work, or profit from handling your affairs.\n"
            "Your identity is protected: the unit handling your report never sees your"
            " Telegram account."
        ),
    )
    draft = await context.db.get_draft(update.effective_user.id)
    if draft is not None:
        await _reply(update, context, _("You have a report in progress; let's continue."))
        await report.reprompt(update, context, draft)
        return
    _locale, consented = await context.db.get_or_create_user(
        update.effective_user.id, context.lang
    )
    if not consented:
        await report.ask_consent(update, context)
        return
    await _reply(
        update,
        context,
        _("Press the button or send /report to start a report. /help lists what else I can do."),
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("📝 New report"), callback_data=NewReport().pack())]]
        ),
    )


async def consent_refused(update: Update, context: BotContext) -> None:
    """Accept a refusal of consent without storing anything more."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_reply_markup(None)
    await _reply(
        update,
        context,
        context._(
            "Understood. Without your consent we cannot take a report."
            " You can change your mind at any time with /start."
        ),
    )


async def help_command(update: Update, context: BotContext) -> None:
    """List the commands a citizen can use."""
    _ = context._
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
    assert update.effective_user is not None
    if await context.workflow.is_admin(update.effective_user.id):
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
    _ = context._
    policy = context.settings.privacy
    if policy.reporter_link_days:
        link = _(
            "For an anonymous report, the link between you and the report is deleted"
            " %(days)d days after the report is closed."
        ) % {"days": policy.reporter_link_days}
    else:
        link = _(
            "For an anonymous report, the link between you and the report is deleted within"
            " an hour after the report is closed."
        )
    paragraphs = [
        _(
            "<b>What we store, and why</b>\n"
            "• Your Telegram account number, your language and when you gave your consent:"
            " to talk with you.\n"
            "• Your reports — your answers, your files and, only for a report with your name,"
            " your name and phone number: to forward them to the responsible unit and tell you"
            " how they are handled.\n"
            "• Which reports you sent, kept apart from the reports themselves: to send you"
            " updates and let you check them."
        ),
        _(
            "<b>Who sees it</b>\n"
            "The unit sees the report but never your Telegram account, name or phone number."
            " Only the administrators can link a report to you."
        ),
        "\n".join(
            [
                _("<b>How long</b>"),
                _(
                    "A report you cancel is deleted at once; one left unfinished is deleted"
                    " after %(days)d days without an answer."
                )
                % {"days": policy.draft_days},
                link,
                _(
                    "For a report with your name, the link and your contact details are kept"
                    " until you erase them. The reports themselves are kept as the record of"
                    " how the units handled them."
                ),
            ]
        ),
        _(
            "<b>Your rights</b>\n"
            "/mydata – a file with everything stored about you\n"
            "/forget – erase your personal data; your reports stay, without anything linking"
            " them to you"
        ),
    ]
    await _reply(update, context, "\n\n".join(paragraphs))


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
    await query.edit_message_reply_markup(None)
    await context.db.set_locale(update.effective_user.id, code)
    context.locale = code
    await _reply(update, context, context._("I will speak English with you from now on."))
    draft = await context.db.get_draft(update.effective_user.id)
    if draft is not None:
        await report.reprompt(update, context, draft)


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
    found = await context.db.report_for_reporter(code, update.effective_user.id) if code else None
    if found is None:
        # The same answer whether the code exists or not: codes of others reveal nothing.
        await _reply(
            update,
            context,
            _("No report with the code %(code)s was found among your reports.")
            % {"code": html.escape(typed)},
        )
        return
    unit = await context.db.get_unit(found.fields.unit_code or "")
    await _reply(
        update,
        context,
        _("Report %(code)s\nStatus: %(status)s\nUnit: %(unit)s\nSent on: %(date)s")
        % {
            "code": f"<code>{format_code(found.code)}</code>",
            "status": html.escape(status_label(found.status, _)),
            "unit": html.escape(unit.name if unit else ""),
            "date": format_date(local_today(found.created_at), context.lang),
        },
    )


async def my_reports(update: Update, context: BotContext) -> None:
    """List the sender's reports, newest first."""
    assert update.effective_user is not None
    _ = context._
    reports = await context.db.reports_of(update.effective_user.id)
    if not reports:
        await _reply(
            update, context, _("You have not sent any report yet. Send /report to start one.")
        )
        return
    title = _("Your reports:")
    lines = [f"<b>{title}</b>"]
    for item in reports:
        lines.append(
            f"<code>{format_code(item.code)}</code> · "
            f"{format_date(local_today(item.created_at), context.lang)} · "
            f"{html.escape(status_label(item.status, _))}"
        )
    lines.append("")
    lines.append(_("Send /status CODE for details."))
    await _reply(update, context, "\n".join(lines))


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
    moved = await context.db.migrate_unit_chat(message.chat.id, message.migrate_to_chat_id)
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


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure and tell the citizen that nothing they sent is lost."""
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

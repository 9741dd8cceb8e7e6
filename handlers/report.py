"""The citizen's report, one question at a time.

Every answer is written to the draft, with the next step, before the bot replies: a restart
(even `kill -9`) resumes at the same step with every earlier answer kept.

```mermaid
stateDiagram-v2
    [*] --> CATEGORY: /report, "New report" or consent given
    CATEGORY --> UNIT
    UNIT --> DOSSIER: delay
    DOSSIER --> SUBMITTED
    SUBMITTED --> PROMISED
    PROMISED --> OFFICIAL
    UNIT --> AMOUNT: bribe
    AMOUNT --> OFFICIAL
    UNIT --> OFFICIAL: other categories
    OFFICIAL --> WHEN
    WHEN --> WHERE
    WHERE --> DESCRIPTION
    DESCRIPTION --> EVIDENCE
    EVIDENCE --> IDENTITY: Done / Skip
    IDENTITY --> CONTACT: with my name
    IDENTITY --> REVIEW: anonymous
    CONTACT --> REVIEW
    REVIEW --> CATEGORY: edit a field (returns to REVIEW)
    REVIEW --> [*]: Send (report stored, code given)
    REVIEW --> [*]: Cancel
```
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date
from enum import IntEnum
from html import escape

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BotContext
from bot.core.domain import Category, Draft, ReportFields, local_today
from bot.core.parsing import (
    DateFormatError,
    FutureDateError,
    format_code,
    parse_amount,
    parse_date,
    parse_date_any,
    visible,
)
from bot.core.workflow import acknowledge_timers
from bot.messages.render import category_label, field_lines
from bot.store.repository import StorageError
from bot.telegram.evidence import MAX_ATTACHMENTS, attachment_from, fingerprint, too_big
from bot.telegram.keyboards import tree_rows

log = logging.getLogger(__name__)

DESCRIPTION_MIN = 20
DESCRIPTION_MAX = 3000
SHORT_TEXT_MAX = 200
PLACE_MAX = 300
DOSSIER_MAX = 100

PRIVATE = filters.ChatType.PRIVATE
TEXT = PRIVATE & filters.TEXT & ~filters.COMMAND
EVIDENCE = PRIVATE & (
    filters.PHOTO
    | filters.Document.ALL
    | filters.VIDEO
    | filters.VOICE
    | filters.AUDIO
    | filters.ANIMATION
    | filters.VIDEO_NOTE
)


class Step(IntEnum):
    """The report conversation's states, in the order they are asked."""

    CATEGORY = 1
    UNIT = 2
    DOSSIER = 3
    SUBMITTED = 4
    PROMISED = 5
    AMOUNT = 6
    OFFICIAL = 7
    WHEN = 8
    WHERE = 9
    DESCRIPTION = 10
    EVIDENCE = 11
    IDENTITY = 12
    CONTACT = 13
    REVIEW = 14


# Steps that belong to the same answer: editing the first from the review asks the others too.
FOLLOW_UPS: dict[Step, tuple[Step, ...]] = {
    Step.CATEGORY: (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED, Step.AMOUNT),
    Step.DOSSIER: (Step.SUBMITTED, Step.PROMISED),
    Step.SUBMITTED: (Step.PROMISED,),
    Step.IDENTITY: (Step.CONTACT,),
}

EDITABLE: dict[str, Step] = {
    "category": Step.CATEGORY,
    "unit": Step.UNIT,
    "dossier": Step.DOSSIER,
    "amount": Step.AMOUNT,
    "official": Step.OFFICIAL,
    "when": Step.WHEN,
    "where": Step.WHERE,
    "description": Step.DESCRIPTION,
    "evidence": Step.EVIDENCE,
    "identity": Step.IDENTITY,
}


def applies(step: Step, fields: ReportFields) -> bool:
    """Tell whether a step is asked for this report."""
    if step in (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED):
        return fields.category == Category.DELAY
    if step is Step.AMOUNT:
        return fields.category == Category.BRIBE
    if step is Step.CONTACT:
        return fields.anonymous is False
    return True


def next_step(draft: Draft, current: Step) -> Step:
    """Return the step after `current`, or the review when an edit is finished."""
    if draft.reviewing:
        for step in FOLLOW_UPS.get(current, ()):
            if step > current and applies(step, draft.fields):
                return step
        return Step.REVIEW
    for step in Step:
        if step > current and applies(step, draft.fields):
            return step
    return Step.REVIEW


# -- plumbing shared by the steps -------------------------------------------------------------


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _chat_id(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


async def _draft(update: Update, context: BotContext) -> Draft | None:
    return await context.db.drafts.get_draft(_user_id(update))


async def goto(update: Update, context: BotContext, draft: Draft, step: Step) -> Step:
    """Save the draft at `step`, ask that step's question, and return it as the new state."""
    draft.step = int(step)
    if step is Step.REVIEW:
        draft.reviewing = False
    await context.db.drafts.save_draft(draft)
    await PROMPTS[step](update, context, draft)
    return step


async def advance(update: Update, context: BotContext, draft: Draft, current: Step) -> Step:
    """Move past `current` to the next question."""
    return await goto(update, context, draft, next_step(draft, current))


async def _say(
    update: Update,
    context: BotContext,
    text: str,
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None,
) -> None:
    await context.bot.send_message(
        _chat_id(update), text, parse_mode=ParseMode.HTML, reply_markup=markup
    )


async def _close_buttons(update: Update) -> None:
    """Answer the button press and take the buttons off its message, so it can't be replayed."""
    query = update.callback_query
    if query is None:
        return
    # Both calls are cosmetic: a press handled late (after a restart or an outage) can no
    # longer be answered, and a 429 on taking buttons away must not cost the citizen's step.
    try:
        await query.answer()
        if query.message is not None and getattr(query.message, "reply_markup", None):
            await query.edit_message_reply_markup(None)
    except TelegramError as exc:
        log.info("could not close a button press: %s", exc)


def _keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def _skip(context: BotContext) -> InlineKeyboardMarkup:
    return _keyboard([[(context._("Skip"), "skip")]])


async def _vanished(update: Update, context: BotContext) -> int:
    """End a conversation whose draft is gone (cancelled elsewhere, or already sent)."""
    await _say(
        update, context, context._("There is no report in progress. Send /report to start one.")
    )
    return ConversationHandler.END


# -- prompts: the question of each step -------------------------------------------------------


async def ask_category(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask what kind of misconduct happened."""
    _ = context._
    rows = [[(_(c.label), f"cat:{c.value}")] for c in Category]
    await _say(
        update, context, _("What happened? Choose the kind of misconduct:"), _keyboard(rows)
    )


async def ask_unit(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask which unit is responsible."""
    _ = context._
    text = _(
        "Which unit or office was it? Type part of its name (for example: Hạ Long),"
        " or choose from the list:"
    )
    await _say(update, context, text, await _unit_keyboard(context, None, 0))


async def ask_dossier(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask for the procedure or dossier code."""
    text = context._(
        "What is the procedure or dossier code, as written on your receipt?"
        " If you have none, press Skip."
    )
    await _say(update, context, text, _skip(context))


async def ask_submitted(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask when the dossier was submitted."""
    text = context._(
        "On what date did you submit the dossier? Type it as dd/mm/yyyy, or press Skip."
    )
    await _say(update, context, text, _skip(context))


async def ask_promised(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask when the result was promised."""
    text = context._("On what date was the result promised? Type it as dd/mm/yyyy, or press Skip.")
    await _say(update, context, text, _skip(context))


async def ask_amount(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask how much money was asked for."""
    text = context._(
        "How much money was asked for or taken? For example: 2 triệu, 500k, 2.000.000đ."
        " Press Skip if no sum was named."
    )
    await _say(update, context, text, _skip(context))


async def ask_official(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask who the official was."""
    text = context._(
        "Who was the official? A name, a position or a desk number helps the unit."
        " Press Skip if you don't know."
    )
    await _say(update, context, text, _skip(context))


async def ask_when(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask when it happened."""
    _ = context._
    markup = _keyboard([[(_("Today"), "when:today"), (_("Yesterday"), "when:yesterday")]])
    await _say(
        update, context, _("When did it happen? Choose, or type a date as dd/mm/yyyy."), markup
    )


async def ask_where(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask where it happened."""
    text = context._(
        "Where did it happen? Type the place (for example: the one-stop desk of the ward)"
        " or send a location from Telegram. Press Skip to leave it out."
    )
    await _say(update, context, text, _skip(context))


async def ask_description(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask for the account in the citizen's words."""
    text = context._(
        "Describe what happened in your own words (%(min)d to %(max)d characters):"
        " what you needed, what the official did or asked, and what happened next."
    ) % {"min": DESCRIPTION_MIN, "max": DESCRIPTION_MAX}
    await _say(update, context, text)


async def ask_evidence(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask for photos, documents, voice or video."""
    _ = context._
    count = len(await context.db.drafts.draft_attachments(draft.user_id))
    text = _(
        "Do you have evidence? Send photos, documents, voice messages or videos"
        " (up to %(max)d files, each under 20 MB). Press Done when you have finished."
    ) % {"max": MAX_ATTACHMENTS}
    await _say(update, context, text, _evidence_keyboard(context, count))


async def ask_identity(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask whether to report anonymously or with a name."""
    _ = context._
    text = _(
        "Do you want to report anonymously or with your name?\n\n"
        "• Anonymous: nobody at the unit can learn who you are. The report is handled as"
        " feedback; without a name it cannot be handled as a formal denunciation under the"
        " Law on Denunciation 2018.\n"
        "• With your name: you share your name and phone number. The report can be handled as"
        " a denunciation, and the law requires your identity to be kept confidential."
    )
    markup = _keyboard([[(_("Anonymous"), "id:anon"), (_("With my name"), "id:named")]])
    await _say(update, context, text, markup)


async def ask_contact(update: Update, context: BotContext, draft: Draft) -> None:
    """Ask for the citizen's own contact through Telegram's button."""
    _ = context._
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_("📱 Share my phone number"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await _say(
        update,
        context,
        _("Please tap the button below to share your name and phone number from Telegram."),
        keyboard,
    )
    await _say(
        update,
        context,
        _("Changed your mind?"),
        _keyboard([[(_("Stay anonymous"), "id:anon")]]),
    )


async def show_review(update: Update, context: BotContext, draft: Draft) -> None:
    """Show every answer with buttons to edit, send or cancel."""
    _ = context._
    unit = await context.db.units.get_unit(draft.fields.unit_code or "")
    count = len(await context.db.drafts.draft_attachments(draft.user_id))
    lines = field_lines(
        draft.fields, unit.name if unit else None, count, _, context.lang, for_unit=False
    )
    title = _("Please check your report:")
    text = "\n".join([f"<b>{title}</b>", "", *lines, "", _("Is everything right?")])
    edits = [
        (_("✏️ Category"), "edit:category"),
        (_("✏️ Unit"), "edit:unit"),
    ]
    if applies(Step.DOSSIER, draft.fields):
        edits.append((_("✏️ Dossier"), "edit:dossier"))
    if applies(Step.AMOUNT, draft.fields):
        edits.append((_("✏️ Amount"), "edit:amount"))
    edits += [
        (_("✏️ Official"), "edit:official"),
        (_("✏️ When"), "edit:when"),
        (_("✏️ Place"), "edit:where"),
        (_("✏️ Description"), "edit:description"),
        (_("✏️ Evidence"), "edit:evidence"),
        (_("✏️ Identity"), "edit:identity"),
    ]
    rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
    rows.append([(_("✅ Send report"), "confirm"), (_("✖️ Cancel"), "cancel")])
    await _say(update, context, text, _keyboard(rows))


PROMPTS: dict[Step, Callable[[Update, BotContext, Draft], Awaitable[None]]] = {
    Step.CATEGORY: ask_category,
    Step.UNIT: ask_unit,
    Step.DOSSIER: ask_dossier,
    Step.SUBMITTED: ask_submitted,
    Step.PROMISED: ask_promised,
    Step.AMOUNT: ask_amount,
    Step.OFFICIAL: ask_official,
    Step.WHEN: ask_when,
    Step.WHERE: ask_where,
    Step.DESCRIPTION: ask_description,
    Step.EVIDENCE: ask_evidence,
    Step.IDENTITY: ask_identity,
    Step.CONTACT: ask_contact,
    Step.REVIEW: show_review,
}


async def reprompt(update: Update, context: BotContext, draft: Draft) -> int:
    """Ask the current step's question again and stay there."""
    step = Step(draft.step)
    await PROMPTS[step](update, context, draft)
    return step


# -- entry -----------------------------------------------------------------------------------


async def start_report(update: Update, context: BotContext) -> int:
    """Begin a report, or resume the one in progress."""
    await _close_buttons(update)
    return await _begin(update, context)


async def _begin(update: Update, context: BotContext) -> int:
    draft = await _draft(update, context)
    if draft is not None:
        await _say(update, context, context._("You have a report in progress; let's continue."))
        return await reprompt(update, context, draft)
    _locale, consented = await context.db.users.get_or_create_user(_user_id(update), context.lang)
    if not consented:
        await ask_consent(update, context)
        return ConversationHandler.END
    if await _over_daily_limit(update, context):
        return ConversationHandler.END
    draft = Draft(user_id=_user_id(update), chat_id=_chat_id(update), step=Step.CATEGORY)
    return await goto(update, context, draft, Step.CATEGORY)


async def _over_daily_limit(update: Update, context: BotContext) -> bool:
    """Tell the citizen, and return True, when they reached today's number of reports."""
    limit = context.settings.reports_per_day
    since = context.db.clock() - 86400
    if await context.db.reports.reports_sent_since(_user_id(update), since) < limit:
        return False
    await _say(
        update,
        context,
        context._(
            "You have sent %(count)d reports in the last 24 hours, the most one person may send."
            " Please try again later; anything you are writing is kept."
        )
        % {"count": limit},
    )
    return True


async def consent_given(update: Update, context: BotContext) -> int:
    """Record consent to data processing and begin the report."""
    await _close_buttons(update)
    await context.db.users.set_consent(_user_id(update), context.lang)
    await _say(update, context, context._("Thank you. Let's begin."))
    return await _begin(update, context)


async def ask_consent(update: Update, context: BotContext) -> None:
    """Ask for explicit consent before any personal data is processed."""
    _ = context._
    text = _(
        "Before your first report: to forward it to the responsible unit and follow it up, we"
        " store what you send — your answers, your files and, only if you choose, your name"
        " and phone number. Only the administrators can see who sent a report; /privacy"
        " explains how long it is kept. Do you agree to this processing of your personal data?"
    )
    markup = _keyboard([[(_("I agree"), "consent:yes"), (_("I do not agree"), "consent:no")]])
    await _say(update, context, text, markup)


# -- answers -----------------------------------------------------------------------------------


async def category_chosen(update: Update, context: BotContext) -> int:
    """Store the category and move on."""
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = await _draft(update, context)
    if draft is None:
        await _close_buttons(update)
        return await _vanished(update, context)
    try:
        category = Category(query.data.removeprefix("cat:"))
    except ValueError:
        await query.answer(context._("This button is no longer active."))
        return await reprompt(update, context, draft)
    await query.answer()
    await query.edit_message_text(
        escape(context._("Category: %(value)s") % {"value": category_label(category, context._)}),
        parse_mode=ParseMode.HTML,
    )
    fields = draft.fields
    fields.category = category.value
    # Answers that belong to another category would mislead the unit.
    if category != Category.DELAY:
        fields.dossier_code = fields.submitted_on = fields.promised_on = None
    if category != Category.BRIBE:
        fields.amount = None
    return await advance(update, context, draft, Step.CATEGORY)


async def _unit_keyboard(
    context: BotContext, parent: str | None, page: int
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(await tree_rows(context, parent, page, browse="ub", choose="unit"))


async def unit_browse(update: Update, context: BotContext) -> int:
    """Show a page of the unit tree in place."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _prefix, code, page = ([*query.data.split(":"), "", "0"])[:3]
    parent = None if code == "-" else code
    if parent is not None and await context.db.units.get_unit(parent) is None:
        parent = None
    markup = await _unit_keyboard(context, parent, int(page) if page.isdigit() else 0)
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as exc:
        # The same branch pressed twice: the page is already showing.
        if "not modified" not in str(exc).lower():
            raise
    return Step.UNIT


async def unit_chosen(update: Update, context: BotContext) -> int:
    """Store the chosen unit and move on."""
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = await _draft(update, context)
    if draft is None:
        await _close_buttons(update)
        return await _vanished(update, context)
    unit = await context.db.units.get_unit(query.data.removeprefix("unit:"))
    if unit is None or unit.disabled:
        await query.answer(context._("This button is no longer active."))
        return await reprompt(update, context, draft)
    await query.answer()
    await query.edit_message_text(
        context._("Unit: %(value)s") % {"value": escape(unit.name)}, parse_mode=ParseMode.HTML
    )
    draft.fields.unit_code = unit.code
    return await advance(update, context, draft, Step.UNIT)


async def unit_search(update: Update, context: BotContext) -> int:
    """Find units by part of their name, ignoring diacritics."""
    assert update.message is not None and update.message.text is not None
    _ = context._
    query = update.message.text.strip()[:100]
    found = await context.db.units.search_units(query)
    if not found:
        text = _("No unit matches “%(query)s”. Try another part of the name, or browse:") % {
            "query": escape(query)
        }
        await _say(update, context, text, await _unit_keyboard(context, None, 0))
        return Step.UNIT
    rows = [[(u.name, f"unit:{u.code}")] for u in found]
    rows.append([(_("Browse all units"), "ub:-:0")])
    text = _("Units matching “%(query)s” — choose one:") % {"query": escape(query)}
    await _say(update, context, text, _keyboard(rows))
    return Step.UNIT


async def _text_answer(
    update: Update, context: BotContext, limit: int
) -> tuple[Draft | None, str | None]:
    """Return the draft and the typed text, or None for the text when it was refused."""
    assert update.message is not None and update.message.text is not None
    draft = await _draft(update, context)
    text = update.message.text.strip()
    if draft is not None and len(text) > limit:
        await _say(
            update,
            context,
            context._("Please keep this to at most %(max)d characters.") % {"max": limit},
        )
        return draft, None
    return draft, text


async def dossier_given(update: Update, context: BotContext) -> int:
    """Store the dossier code."""
    draft, text = await _text_answer(update, context, DOSSIER_MAX)
    if draft is None:
        return await _vanished(update, context)
    if text is None:
        return Step.DOSSIER
    draft.fields.dossier_code = text
    return await advance(update, context, draft, Step.DOSSIER)


def _today(context: BotContext) -> date:
    return local_today(context.services.clock())


async def _date_answer(update: Update, context: BotContext, *, future_ok: bool) -> date | None:
    assert update.message is not None and update.message.text is not None
    _ = context._
    try:
        if future_ok:
            return parse_date_any(update.message.text, _today(context))
        return parse_date(update.message.text, _today(context))
    except FutureDateError:
        await _say(
            update,
            context,
            _("That date is in the future. Please give a date no later than today."),
        )
    except DateFormatError:
        await _say(
            update,
            context,
            _("I could not read that date. Please type it as dd/mm/yyyy, for example 05/03/2026."),
        )
    return None


async def submitted_given(update: Update, context: BotContext) -> int:
    """Store the submission date."""
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    when = await _date_answer(update, context, future_ok=False)
    if when is None:
        return Step.SUBMITTED
    draft.fields.submitted_on = when.isoformat()
    return await advance(update, context, draft, Step.SUBMITTED)


async def promised_given(update: Update, context: BotContext) -> int:
    """Store the promised date."""
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    when = await _date_answer(update, context, future_ok=True)
    if when is None:
        return Step.PROMISED
    submitted = draft.fields.submitted_on
    if submitted and when < date.fromisoformat(submitted):
        await _say(
            update, context, context._("The promised date cannot be before the submission date.")
        )
        return Step.PROMISED
    draft.fields.promised_on = when.isoformat()
    return await advance(update, context, draft, Step.PROMISED)


async def amount_given(update: Update, context: BotContext) -> int:
    """Store the amount asked for."""
    assert update.message is not None and update.message.text is not None
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    amount = parse_amount(update.message.text)
    if amount is None:
        await _say(
            update,
            context,
            context._(
                "I could not read that amount. Try for example: 2 triệu, 500k or 2.000.000đ."
            ),
        )
        return Step.AMOUNT
    draft.fields.amount = amount
    return await advance(update, context, draft, Step.AMOUNT)


async def official_given(update: Update, context: BotContext) -> int:
    """Store the official's name, position or desk."""
    draft, text = await _text_answer(update, context, SHORT_TEXT_MAX)
    if draft is None:
        return await _vanished(update, context)
    if text is None:
        return Step.OFFICIAL
    draft.fields.official = text
    return await advance(update, context, draft, Step.OFFICIAL)


async def when_chosen(update: Update, context: BotContext) -> int:
    """Store today or yesterday from a button."""
    query = update.callback_query
    assert query is not None
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    today = _today(context)
    day = today if query.data == "when:today" else date.fromordinal(today.toordinal() - 1)
    draft.fields.occurred_on = day.isoformat()
    return await advance(update, context, draft, Step.WHEN)


async def when_typed(update: Update, context: BotContext) -> int:
    """Store a typed date."""
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    when = await _date_answer(update, context, future_ok=False)
    if when is None:
        return Step.WHEN
    draft.fields.occurred_on = when.isoformat()
    return await advance(update, context, draft, Step.WHEN)


async def where_given(update: Update, context: BotContext) -> int:
    """Store the place, typed or as a location."""
    assert update.message is not None
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    if update.message.location is not None:
        draft.fields.location = None
        draft.fields.latitude = update.message.location.latitude
        draft.fields.longitude = update.message.location.longitude
    else:
        draft, text = await _text_answer(update, context, PLACE_MAX)
        if draft is None:
            return await _vanished(update, context)
        if text is None:
            return Step.WHERE
        draft.fields.location = text
        draft.fields.latitude = draft.fields.longitude = None
    return await advance(update, context, draft, Step.WHERE)


async def description_given(update: Update, context: BotContext) -> int:
    """Store the description if its length is within bounds."""
    assert update.message is not None and update.message.text is not None
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    text = update.message.text.strip()
    _ = context._
    # Invisible characters are kept as typed but do not count towards the minimum.
    if len(visible(text).strip()) < DESCRIPTION_MIN:
        await _say(
            update,
            context,
            _(
                "Please write at least %(min)d characters so the unit can act on it"
                " (you wrote %(count)d)."
            )
            % {"min": DESCRIPTION_MIN, "count": len(visible(text).strip())},
        )
        return Step.DESCRIPTION
    if len(text) > DESCRIPTION_MAX:
        await _say(
            update,
            context,
            _("Please keep the description to at most %(max)d characters (you wrote %(count)d).")
            % {"max": DESCRIPTION_MAX, "count": len(text)},
        )
        return Step.DESCRIPTION
    draft.fields.description = text
    return await advance(update, context, draft, Step.DESCRIPTION)


def _evidence_keyboard(context: BotContext, count: int) -> InlineKeyboardMarkup:
    _ = context._
    if count == 0:
        return _keyboard([[(_("Skip: no evidence"), "ev:done")]])
    return _keyboard([[(_("✅ Done"), "ev:done"), (_("🗑 Remove all files"), "ev:clear")]])


async def evidence_added(update: Update, context: BotContext) -> int:
    """Attach a photo, document, voice message or video to the draft."""
    assert update.message is not None
    _ = context._
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    att = attachment_from(update.message)
    if att is None:
        return Step.EVIDENCE
    count = len(await context.db.drafts.draft_attachments(draft.user_id))
    if too_big(att):
        await _say(
            update,
            context,
            _(
                "This file is over 20 MB, the most a bot can receive. Please send a smaller"
                " file or a shorter video."
            ),
            _evidence_keyboard(context, count),
        )
        return Step.EVIDENCE
    if count >= MAX_ATTACHMENTS:
        await _say(
            update,
            context,
            _("This report already has %(max)d files, the most it can carry. Press Done.")
            % {"max": MAX_ATTACHMENTS},
            _evidence_keyboard(context, count),
        )
        return Step.EVIDENCE
    attachment_id = await context.db.drafts.add_draft_attachment(draft.user_id, att)
    context.application.create_task(
        fingerprint(context.bot, context.db, attachment_id, att.file_id)
    )
    await _say(
        update,
        context,
        _("Files received so far: %(count)d. Send more, or press Done.") % {"count": count + 1},
        _evidence_keyboard(context, count + 1),
    )
    return Step.EVIDENCE


async def evidence_done(update: Update, context: BotContext) -> int:
    """Finish the evidence step."""
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    return await advance(update, context, draft, Step.EVIDENCE)


async def evidence_cleared(update: Update, context: BotContext) -> int:
    """Remove every file from the draft and ask again."""
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    await context.db.drafts.clear_draft_attachments(draft.user_id)
    await _say(update, context, context._("All files were removed from this report."))
    return await reprompt(update, context, draft)


async def identity_chosen(update: Update, context: BotContext) -> int:
    """Store anonymous or named."""
    query = update.callback_query
    assert query is not None
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    anonymous = query.data != "id:named"
    was_asking_contact = draft.step == Step.CONTACT
    draft.fields.anonymous = anonymous
    if anonymous:
        draft.fields.contact_name = draft.fields.contact_phone = None
        if was_asking_contact:
            await _say(
                update, context, context._("You will stay anonymous."), ReplyKeyboardRemove()
            )
            return await goto(update, context, draft, Step.REVIEW)
    return await advance(update, context, draft, Step.IDENTITY)


async def contact_shared(update: Update, context: BotContext) -> int:
    """Store the citizen's own name and phone number."""
    assert update.message is not None and update.message.contact is not None
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    contact = update.message.contact
    if contact.user_id != _user_id(update):
        await _say(
            update, context, context._("Please share your own contact with the button below.")
        )
        return Step.CONTACT
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    draft.fields.contact_name = name[:SHORT_TEXT_MAX]
    draft.fields.contact_phone = contact.phone_number[:32]
    await _say(
        update, context, context._("Thank you, your contact was added."), ReplyKeyboardRemove()
    )
    return await advance(update, context, draft, Step.CONTACT)


async def skipped(update: Update, context: BotContext) -> int:
    """Leave the current optional field empty and move on."""
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    step = Step(draft.step)
    fields = draft.fields
    if step is Step.DOSSIER:
        fields.dossier_code = None
    elif step is Step.SUBMITTED:
        fields.submitted_on = None
    elif step is Step.PROMISED:
        fields.promised_on = None
    elif step is Step.AMOUNT:
        fields.amount = None
    elif step is Step.OFFICIAL:
        fields.official = None
    elif step is Step.WHERE:
        fields.location = fields.latitude = fields.longitude = None
    else:
        return await reprompt(update, context, draft)
    return await advance(update, context, draft, step)


async def edit_chosen(update: Update, context: BotContext) -> int:
    """Go back to one field from the review."""
    query = update.callback_query
    assert query is not None and query.data is not None
    draft = await _draft(update, context)
    await _close_buttons(update)
    if draft is None:
        return await _vanished(update, context)
    step = EDITABLE.get(query.data.removeprefix("edit:"))
    if step is None or not applies(step, draft.fields):
        return await reprompt(update, context, draft)
    draft.reviewing = True
    return await goto(update, context, draft, step)


async def confirm(update: Update, context: BotContext) -> int:
    """Store the report, its evidence and its alert in one transaction, then give the code."""
    _ = context._
    await _close_buttons(update)
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    missing = [s for s in (Step.CATEGORY, Step.UNIT, Step.DESCRIPTION) if not _answered(s, draft)]
    if missing:
        draft.reviewing = True
        return await goto(update, context, draft, missing[0])
    if await _over_daily_limit(update, context):
        return await reprompt(update, context, draft)
    timers = acknowledge_timers(context.db.clock(), context.settings.sla)
    try:
        report = await context.db.reports.submit_draft(draft.user_id, context.lang, timers)
    except StorageError:
        # Nothing was stored; the review comes back with its Send button to try again.
        await _say(
            update,
            context,
            _(
                "Sorry, your answer could not be saved just now. Please send it again in a"
                " moment; nothing you sent before is lost."
            ),
        )
        return await reprompt(update, context, draft)
    if report is None:
        return await _vanished(update, context)
    # Only now, after the commit, does the citizen learn the code.
    context.delivery.wake()
    unit = await context.db.units.get_unit(report.fields.unit_code or "")
    code = format_code(report.code)
    text = _(
        "Your report has been received. Tracking code: %(code)s\n\n"
        "Please keep this code. %(unit)s is being alerted now. You will get a message here"
        " whenever the status changes, and you can check it at any time with /status %(plain)s."
    ) % {
        "code": f"<code>{code}</code>",
        "unit": escape(unit.name if unit else ""),
        "plain": code,
    }
    await _say(update, context, text)
    return ConversationHandler.END


def _answered(step: Step, draft: Draft) -> bool:
    fields = draft.fields
    if step is Step.CATEGORY:
        return fields.category is not None
    if step is Step.UNIT:
        return fields.unit_code is not None
    return fields.description is not None


async def cancel(update: Update, context: BotContext) -> int:
    """Drop the draft and its evidence."""
    await _close_buttons(update)
    await context.db.drafts.delete_draft(_user_id(update))
    await _say(
        update, context, context._("Report cancelled. Nothing was sent."), ReplyKeyboardRemove()
    )
    return ConversationHandler.END


async def resume(update: Update, context: BotContext) -> int:
    """Show the current question again (after /report, /start or a restart)."""
    await _close_buttons(update)
    draft = await _draft(update, context)
    if draft is None:
        return await _begin(update, context)
    return await reprompt(update, context, draft)


async def stale_button(update: Update, context: BotContext) -> int | None:
    """Answer a press on a button from an earlier step."""
    query = update.callback_query
    assert query is not None
    await query.answer(context._("This button is no longer active."))
    return None


async def off_script(update: Update, context: BotContext) -> int:
    """Say what this step expects, then ask again."""
    draft = await _draft(update, context)
    if draft is None:
        return await _vanished(update, context)
    _ = context._
    step = Step(draft.step)
    if step in (Step.CATEGORY, Step.IDENTITY, Step.REVIEW):
        hint = _("Please use the buttons.")
    elif step is Step.EVIDENCE:
        hint = _("Please send a photo, a document, a voice message or a video, or press Done.")
    elif step is Step.CONTACT:
        hint = _("Please use the button below to share your phone number.")
    elif (
        update.message is not None and update.message.text and update.message.text.startswith("/")
    ):
        hint = _("Please finish this step first, or send /cancel to stop the report.")
    else:
        hint = _("Please answer with text.")
    await _say(update, context, hint)
    return await reprompt(update, context, draft)


def conversation() -> ConversationHandler[BotContext]:
    """Build the report ConversationHandler."""
    return ConversationHandler(
        name="report",
        persistent=True,
        entry_points=[
            CommandHandler("report", start_report, filters=PRIVATE),
            CallbackQueryHandler(start_report, pattern=r"^report:new$"),
            CallbackQueryHandler(consent_given, pattern=r"^consent:yes$"),
        ],
        states={
            Step.CATEGORY: [CallbackQueryHandler(category_chosen, pattern=r"^cat:")],
            Step.UNIT: [
                CallbackQueryHandler(unit_browse, pattern=r"^ub:"),
                CallbackQueryHandler(unit_chosen, pattern=r"^unit:"),
                MessageHandler(TEXT, unit_search),
            ],
            Step.DOSSIER: [
                MessageHandler(TEXT, dossier_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.SUBMITTED: [
                MessageHandler(TEXT, submitted_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.PROMISED: [
                MessageHandler(TEXT, promised_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.AMOUNT: [
                MessageHandler(TEXT, amount_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.OFFICIAL: [
                MessageHandler(TEXT, official_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.WHEN: [
                CallbackQueryHandler(when_chosen, pattern=r"^when:(today|yesterday)$"),
                MessageHandler(TEXT, when_typed),
            ],
            Step.WHERE: [
                MessageHandler(TEXT | (PRIVATE & filters.LOCATION), where_given),
                CallbackQueryHandler(skipped, pattern=r"^skip$"),
            ],
            Step.DESCRIPTION: [MessageHandler(TEXT, description_given)],
            Step.EVIDENCE: [
                MessageHandler(EVIDENCE, evidence_added),
                CallbackQueryHandler(evidence_done, pattern=r"^ev:done$"),
                CallbackQueryHandler(evidence_cleared, pattern=r"^ev:clear$"),
            ],
            Step.IDENTITY: [CallbackQueryHandler(identity_chosen, pattern=r"^id:(anon|named)$")],
            Step.CONTACT: [
                MessageHandler(PRIVATE & filters.CONTACT, contact_shared),
                CallbackQueryHandler(identity_chosen, pattern=r"^id:anon$"),
            ],
            Step.REVIEW: [
                CallbackQueryHandler(edit_chosen, pattern=r"^edit:"),
                CallbackQueryHandler(confirm, pattern=r"^confirm$"),
            ],
        },
        # Order matters: /cancel and the cancel button win over everything; other commands
        # and stray input get a hint instead of silence.
        fallbacks=[
            CommandHandler("cancel", cancel, filters=PRIVATE),
            CallbackQueryHandler(cancel, pattern=r"^cancel$"),
            CommandHandler(["report", "start"], resume, filters=PRIVATE),
            CallbackQueryHandler(resume, pattern=r"^report:new$"),
            CallbackQueryHandler(stale_button),
            MessageHandler(PRIVATE, off_script),
        ],
        allow_reentry=False,
    )

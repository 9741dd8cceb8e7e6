"""The report's questions on Telegram: a core `Question` as inline buttons, a message as an
`Answer`. Nothing here decides what is asked or whether an answer is good."""

from __future__ import annotations

from functools import partial

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.core.conversation import (
    CANCEL,
    CONFIRM,
    Answer,
    Contact,
    Kind,
    Question,
    Step,
    question,
)
from bot.core.domain import Draft, Unit
from bot.messages import questions as texts
from bot.messages.questions import Prompt, browse_all
from bot.telegram.callbacks import Consent, ReportAnswer, UnitBrowse
from bot.telegram.context import BotContext
from bot.telegram.evidence import attachment_from
from bot.telegram.tree import tree_rows, unit_labels


def _button(step: Step, value: str, label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=ReportAnswer.of(step, value).pack())


def choice_rows(question: Question, prompt: Prompt) -> list[list[InlineKeyboardButton]]:
    """Lay out a question's choices: long labels one a row, short ones side by side."""
    buttons = [_button(question.step, value, label) for value, label in prompt.choices]
    if question.step is Step.CATEGORY:
        return [[button] for button in buttons]
    if question.kind is Kind.REVIEW:
        final = [
            b
            for (value, _label), b in zip(prompt.choices, buttons, strict=True)
            if value in (CONFIRM, CANCEL)
        ]
        edits = [b for b in buttons if b not in final]
        return [edits[i : i + 2] for i in range(0, len(edits), 2)] + [final]
    return [buttons] if buttons else []


async def question_markup(
    context: BotContext, question: Question, prompt: Prompt
) -> InlineKeyboardMarkup | None:
    """Return the inline keyboard of a question (the unit tree for the unit question)."""
    if question.kind is Kind.UNIT:
        return await unit_tree(context, None, 0)
    rows = choice_rows(question, prompt)
    return InlineKeyboardMarkup(rows) if rows else None


async def unit_tree(context: BotContext, parent: str | None, page: int) -> InlineKeyboardMarkup:
    """Return one page of the unit tree, whose units answer the unit question."""
    choose = partial(ReportAnswer, Step.UNIT.key)
    rows = await tree_rows(context, parent, page, browse=UnitBrowse, choose=choose)
    return InlineKeyboardMarkup(rows)


async def found_units_markup(context: BotContext, units: tuple[Unit, ...]) -> InlineKeyboardMarkup:
    """Return the units a search found as buttons, and a way back to the whole tree."""
    label = await unit_labels(context, units)
    rows = [[_button(Step.UNIT, unit.code, label[unit.code])] for unit in units]
    data = UnitBrowse(None, 0).pack()
    rows.append([InlineKeyboardButton(browse_all(context._), callback_data=data)])
    return InlineKeyboardMarkup(rows)


def answer_from(message: Message, user_id: int) -> Answer:
    """Read what a citizen sent as an answer to the current question."""
    if message.text is not None:
        if message.text.startswith("/"):
            return Answer(other=message.text)
        return Answer(text=message.text)
    if message.location is not None:
        return Answer(location=(message.location.latitude, message.location.longitude))
    if message.contact is not None:
        contact = message.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        return Answer(contact=Contact(name, contact.phone_number, own=contact.user_id == user_id))
    attachment = attachment_from(message)
    if attachment is not None:
        return Answer(attachment=attachment)
    return Answer(other=message.effective_attachment.__class__.__name__)


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
Pressed = Message | None


async def say(context: BotContext, chat_id: int, text: str, markup: Markup = None) -> None:
    """Send one HTML message to the citizen."""
    await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def show(
    context: BotContext,
    chat_id: int,
    messages: list[tuple[str, Markup]],
    pressed: Pressed = None,
) -> None:
    """Show messages to the citizen; the first replaces the pressed message where it can.

    Editing the message whose button was pressed turns it into the next question in one Bot
    API call, where taking its buttons off and sending the question took two. A reply keyboard
    cannot be put on an edited message, so such a question is sent anew and the pressed
    message is left as it is: its buttons are refused by the stored step.
    """
    first, rest = messages[0], messages[1:]
    text, markup = first
    if pressed is not None and (markup is None or isinstance(markup, InlineKeyboardMarkup)):
        if not await _edit(context, pressed, text, markup):
            await say(context, chat_id, text, markup)
    else:
        await say(context, chat_id, text, markup)
    for text, markup in rest:
        await say(context, chat_id, text, markup)


async def _edit(
    context: BotContext, pressed: Message, text: str, markup: InlineKeyboardMarkup | None
) -> bool:
    """Edit a pressed message in place; False if Telegram no longer lets it be edited."""
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=pressed.chat_id,
            message_id=pressed.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
    except BadRequest as exc:
        reason = str(exc).lower()
        # The same press handled twice (a replay after a restart): it already shows this.
        if "not modified" in reason:
            return True
        # Deleted, too old or not a text message: the question is sent as a new message.
        if any(s in reason for s in _CANNOT_EDIT):
            return False
        raise
    return True


# Telegram's answers to an edit of a message that cannot be edited any more.
_CANNOT_EDIT = ("not found", "can't be edited", "message to edit", "no text in the message")


def pressed_message(query: CallbackQuery | None) -> Pressed:
    """Return the message whose button was pressed, if the bot can still edit it."""
    if query is None or not isinstance(query.message, Message):
        return None
    return query.message


async def current_question(context: BotContext, draft: Draft) -> Question:
    """Return the draft's question, counting its stored files."""
    files = len(await context.db.drafts.draft_attachments(draft.user_id))
    return question(draft, files)


async def ask(
    context: BotContext,
    draft: Draft,
    asked: Question | None = None,
    *,
    header: str | None = None,
    pressed: Pressed = None,
) -> None:
    """Show the draft's current question with its buttons, under `header` if it fits."""
    asked = asked or await current_question(context, draft)
    unit_name = None
    if asked.kind is Kind.REVIEW:
        unit = await context.db.units.get_unit(draft.fields.unit_code or "")
        # Labelled as it was offered, so the citizen checks the unit they chose.
        unit_name = (await unit_labels(context, [unit]))[unit.code] if unit else None
    words = texts.prompt(asked, draft, context._, context.lang, unit_name=unit_name)
    messages: list[tuple[str, Markup]] = [(text, None) for text in words.before]
    if asked.kind is Kind.CONTACT:
        # Telegram shares a verified contact only through a reply-keyboard button; withdrawing
        # the question needs an inline button, hence a second message.
        share = KeyboardButton(texts.contact_button(context._), request_contact=True)
        keyboard = ReplyKeyboardMarkup([[share]], resize_keyboard=True, one_time_keyboard=True)
        rows = choice_rows(asked, words)
        messages.append((words.text, keyboard))
        messages.append((texts.contact_change_of_mind(context._), InlineKeyboardMarkup(rows)))
    else:
        messages.append((words.text, await question_markup(context, asked, words)))
    await show(context, draft.chat_id, _headed(header, messages), pressed)


async def ask_consent(
    context: BotContext, chat_id: int, *, header: str | None = None, pressed: Pressed = None
) -> None:
    """Ask for explicit consent before any personal data is processed."""
    words = texts.consent_text(context._)
    rows = [
        [
            InlineKeyboardButton(label, callback_data=CONSENT_DATA[value])
            for value, label in words.choices
        ]
    ]
    messages: list[tuple[str, Markup]] = [(words.text, InlineKeyboardMarkup(rows))]
    await show(context, chat_id, _headed(header, messages), pressed)


def _headed(header: str | None, messages: list[tuple[str, Markup]]) -> list[tuple[str, Markup]]:
    """Put a header above the first message, or in a message of its own if it does not fit."""
    if not header:
        return messages
    text, markup = messages[0]
    joined = texts.under(header, text)
    if joined is None:
        # Only a review near Telegram's limit: the header is not dropped, it costs a message.
        return [(header, None), *messages]
    return [(joined, markup), *messages[1:]]


CONSENT_DATA = {"yes": Consent(given=True).pack(), "no": Consent(given=False).pack()}

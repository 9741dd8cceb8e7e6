"""The citizen's report on Telegram: each update read as an answer to the core's question.

The steps, their order and their checks live in `bot.core.conversation` (its Mermaid diagram
shows them); the words in `bot.messages.questions`. The draft in the database is the only
state: every accepted answer, with the next step, is stored before the bot replies, so a
restart (even `kill -9`) resumes at the same step with every earlier answer kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from telegram import ReplyKeyboardRemove, Update
from telegram.error import BadRequest, TelegramError

from bot.core.conversation import (
    Answer,
    Effect,
    Outcome,
    Problem,
    Question,
    Step,
    new_draft,
    question,
)
from bot.core.domain import Draft
from bot.messages import questions as texts
from bot.store.repository import StorageError
from bot.telegram.callbacks import ReportAnswer, UnitBrowse
from bot.telegram.context import BotContext
from bot.telegram.evidence import fingerprint
from bot.telegram.questions import (
    Pressed,
    answer_from,
    ask,
    ask_consent,
    current_question,
    found_units_markup,
    pressed_message,
    question_markup,
    say,
    show,
    unit_tree,
)
from handlers import common

log = logging.getLogger(__name__)


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _chat_id(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


async def _answer_press(update: Update, text: str | None = None) -> Pressed:
    """Answer a press (not a message under Telegram's limits), with `text` as its notice if
    given; return its message to edit."""
    query = update.callback_query
    if query is None:
        return None
    # Cosmetic: a press handled late (after a restart or an outage) can no longer be answered,
    # and that must not cost the citizen's step.
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.info("could not answer a button press: %s", exc)
    return pressed_message(query)


@contextlib.asynccontextmanager
async def _answering(update: Update) -> AsyncIterator[Pressed]:
    """Yield the pressed message to reply in; answer the press once the reply went out.

    The answer only stops the button's spinner, and the reply replaces the button: sent
    first, the next question reaches the citizen a round trip to Telegram sooner.
    """
    try:
        yield pressed_message(update.callback_query)
    except asyncio.CancelledError:
        # The bot is stopping: no new request is begun while the client it would go through
        # may be closing (its socket would be left open). The spinner stops by itself.
        raise
    except Exception:
        await _answer_press(update)
        raise
    await _answer_press(update)


async def _close_buttons(update: Update) -> None:
    """Take the buttons off a pressed message, where nothing replaces them; answer the press."""
    async with _answering(update) as pressed:
        if pressed is None or not pressed.reply_markup:
            return
        # Cosmetic too: a 429 on taking buttons away must not cost the citizen's step.
        try:
            await pressed.edit_reply_markup(None)
        except TelegramError as exc:
            log.info("could not close a button press: %s", exc)


# -- entry -----------------------------------------------------------------------------------


async def start_report(update: Update, context: BotContext) -> None:
    """Begin a report, or ask the question of the one in progress again."""
    async with _answering(update) as pressed:
        draft = await context.db.drafts.get_draft(_user_id(update))
        if draft is not None:
            await ask(context, draft, pressed=pressed)
            return
        await begin(update, context, pressed=pressed)


async def begin(
    update: Update, context: BotContext, *, header: str | None = None, pressed: Pressed = None
) -> None:
    """Start a new draft once the citizen has consented and is within the daily limit."""
    user_id = _user_id(update)
    _locale, consented = await context.db.users.get_or_create_user(user_id, context.lang)
    if not consented:
        await ask_consent(context, _chat_id(update), header=header, pressed=pressed)
        return
    if await _over_daily_limit(update, context, header=header, pressed=pressed):
        return
    draft = new_draft(user_id, _chat_id(update))
    await context.db.drafts.save_draft(draft)
    await ask(context, draft, header=header, pressed=pressed)


async def _over_daily_limit(
    update: Update, context: BotContext, *, header: str | None = None, pressed: Pressed = None
) -> bool:
    """Tell the citizen, and return True, when they reached today's number of reports."""
    if not await context.workflow.over_daily_limit(_user_id(update)):
        return False
    text = texts.over_daily_limit(context.settings.reports_per_day, context._)
    if header:
        text = texts.under(header, text) or text
    await show(context, _chat_id(update), [(text, None)], pressed)
    return True


async def consent_given(update: Update, context: BotContext) -> None:
    """Record consent to data processing and begin the report, in the consent's message."""
    async with _answering(update) as pressed:
        await context.db.users.set_consent(_user_id(update), context.lang)
        header = texts.answered(texts.thanks_for_consent(context._))
        draft = await context.db.drafts.get_draft(_user_id(update))
        if draft is not None:
            header = f"{header}\n{texts.in_progress(context._)}"
            await ask(context, draft, header=header, pressed=pressed)
            return
        await begin(update, context, header=header, pressed=pressed)


# -- answers ---------------------------------------------------------------------------------


async def answer_pressed(update: Update, context: BotContext) -> None:
    """Take a button of the report's current question as the answer."""
    query = update.callback_query
    assert query is not None
    pressed = ReportAnswer.parse(query.data)
    draft, files = await context.db.drafts.get_draft_and_files(_user_id(update))
    if pressed is None or draft is None or pressed.question != draft.step:
        # A button of an earlier question, of a report already sent, or forged data.
        stale = await _answer_press(update, context._(texts.NOT_ACTIVE))
        if pressed is not None and draft is not None:
            # A process may have stored the answer and stopped before showing the next
            # question: the stale message becomes the current question, so the citizen is never
            # left holding only dead buttons. (A double tap edits it into what it already
            # shows, which changes nothing.)
            await ask(context, draft, pressed=stale)
        return
    await _apply(update, context, draft, Answer(choice=pressed.value), files)


async def unit_browse(update: Update, context: BotContext) -> None:
    """Show a page of the unit tree in place."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    pressed = UnitBrowse.parse(query.data)
    parent, page = (pressed.unit, pressed.page) if pressed is not None else (None, 0)
    if parent is not None and await context.db.units.get_unit(parent) is None:
        parent = None
    try:
        await query.edit_message_reply_markup(await unit_tree(context, parent, page))
    except BadRequest as exc:
        # The same branch pressed twice: the page is already showing.
        if "not modified" not in str(exc).lower():
            raise


async def message_received(update: Update, context: BotContext) -> None:
    """Take a message as the answer to the current question; without a report, point to help."""
    message = update.message
    assert message is not None
    draft, files = await context.db.drafts.get_draft_and_files(_user_id(update))
    if draft is None:
        await common.unknown(update, context)
        return
    await _apply(update, context, draft, answer_from(message, _user_id(update)), files)


async def _apply(
    update: Update, context: BotContext, draft: Draft, answer: Answer, files: int
) -> None:
    """Apply one answer through the core, store what changed, then reply.

    `files` is the draft's count of files, read with it.
    """
    if draft.answered_by == update.update_id or draft.unseen:
        # Handled before (replayed after a crash), or sent without the current question seen:
        # the question is shown (again), and what was sent is not taken as its answer.
        async with _answering(update) as pressed:
            if draft.unseen:
                draft.unseen = False
                await context.db.drafts.save_draft(draft)
            await _ask_stored(context, draft, pressed=pressed)
        return
    asked = question(draft, files)
    outcome = await context.conversation.apply(draft, answer, asked.files)
    if outcome.problem is not None:
        await _refused(update, context, draft, asked, outcome)
        return
    if outcome.effect is Effect.UNITS_FOUND:
        await say(
            context,
            draft.chat_id,
            texts.units_found(str(outcome.details["query"]), context._),
            await found_units_markup(context, outcome.units),
        )
        return
    if outcome.effect is Effect.SUBMIT:
        await _close_buttons(update)
        await _submit(update, context, draft)
        return
    if outcome.effect is Effect.CANCEL:
        async with _answering(update) as pressed:
            await _cancel(update, context, pressed)
        return
    if outcome.effect is Effect.FILE_ADDED:
        await _file_added(context, draft, answer, asked)
        return
    if outcome.effect is Effect.FILES_CLEARED:
        await context.db.drafts.clear_draft_attachments(draft.user_id)
        async with _answering(update) as pressed:
            await ask(context, draft, header=texts.files_removed(context._), pressed=pressed)
        return
    # Stored before anything is shown: a crash after this point resumes at the next step.
    draft.answered_by = update.update_id
    await context.db.drafts.save_draft(draft)
    async with _answering(update) as pressed:
        if outcome.effect is Effect.STAYED_ANONYMOUS or answer.contact is not None:
            # Only a new message takes the contact's reply keyboard away; the next question
            # then follows it rather than appearing above it in the pressed message.
            said = texts.stay_anonymous if answer.contact is None else texts.contact_added
            await say(context, draft.chat_id, said(context._), ReplyKeyboardRemove())
            pressed = None
        echo = _echo(context, outcome, answer, asked)
        # The evidence is what it was (adding or removing files is handled above), so the
        # next question is known without reading the files again.
        following = question(draft, asked.files)
        await _ask_stored(context, draft, following, header=echo, pressed=pressed)


async def _ask_stored(
    context: BotContext,
    draft: Draft,
    asked: Question | None = None,
    *,
    header: str | None = None,
    pressed: Pressed = None,
) -> None:
    """Ask the stored draft's question; if it cannot be shown, note that and re-raise."""
    try:
        await ask(context, draft, asked, header=header, pressed=pressed)
    except TelegramError:
        # Telegram kept refusing for longer than a reply waits (bot.telegram.limits).
        await context.db.drafts.save_draft(replace(draft, unseen=True))
        raise


def _echo(context: BotContext, outcome: Outcome, answer: Answer, asked: Question) -> str | None:
    """Return the answer given, shown above the next question in the pressed message."""
    if answer.choice is None or outcome.answered is None:
        return None
    if outcome.answered is Step.CATEGORY:
        return texts.answered(texts.answered_category(answer.choice, context._))
    if outcome.answered is Step.UNIT:
        if not outcome.units:
            return None
        return texts.answered(texts.answered_unit(outcome.units[0].name, context._))
    if answer.choice not in asked.choices:
        return None
    return texts.answered_choice(asked, answer.choice, context._)


async def _refused(
    update: Update, context: BotContext, draft: Draft, asked: Question, outcome: Outcome
) -> None:
    """Say what is wrong with an answer; the draft stays where it was."""
    text = texts.problem_text(asked, outcome, context._)
    query = update.callback_query
    if outcome.problem is Problem.NOT_A_CHOICE and query is not None:
        await query.answer(text)
        await ask(context, draft, asked)
        return
    if outcome.problem in (Problem.WRONG_KIND, Problem.COMMAND):
        await ask(context, draft, asked, header=text)
        return
    markup = None
    if outcome.problem is Problem.NO_UNIT_FOUND:
        markup = await unit_tree(context, None, 0)
    elif outcome.problem in (Problem.FILE_TOO_BIG, Problem.TOO_MANY_FILES):
        markup = await question_markup(
            context, asked, texts.prompt(asked, draft, context._, context.lang)
        )
    await say(context, draft.chat_id, text, markup)


async def _file_added(context: BotContext, draft: Draft, answer: Answer, asked: Question) -> None:
    """Keep a piece of evidence with the draft and fingerprint it in the background."""
    att = answer.attachment
    assert att is not None
    attachment_id = await context.db.drafts.add_draft_attachment(draft.user_id, att)
    context.application.create_task(
        fingerprint(context.bot, context.db, attachment_id, att.file_id)
    )
    now = await current_question(context, draft)
    words = texts.prompt(now, draft, context._, context.lang)
    await say(
        context,
        draft.chat_id,
        texts.files_so_far(now.files, context._),
        await question_markup(context, now, words),
    )


async def _submit(update: Update, context: BotContext, draft: Draft) -> None:
    """Hand the draft to the workflow, which stores the report and its alert in one go."""
    if await _over_daily_limit(update, context):
        await ask(context, draft)
        return
    try:
        report = await context.workflow.submit(draft.user_id, context.lang)
    except StorageError:
        # Nothing was stored; the review comes back with its Send button to try again.
        await say(context, draft.chat_id, texts.not_saved(context._))
        await ask(context, draft)
        return
    if report is not None:
        # The code and the alert were queued in the report's own transaction; the outbox
        # delivers them, after a restart too.
        context.delivery.wake()


async def _cancel(update: Update, context: BotContext, pressed: Pressed = None) -> None:
    """Drop the draft; a pressed Cancel becomes the confirmation, in one call."""
    await context.db.drafts.delete_draft(_user_id(update))
    # Cancel is pressed at the review, after any contact keyboard was taken away; a typed
    # /cancel may come while it shows, so that answer takes it away.
    markup = None if pressed is not None else ReplyKeyboardRemove()
    await show(context, _chat_id(update), [(texts.cancelled(context._), markup)], pressed)


async def cancel(update: Update, context: BotContext) -> None:
    """Drop the draft and its evidence (/cancel)."""
    if await context.db.drafts.get_draft(_user_id(update)) is None:
        await common.nothing_to_cancel(update, context)
        return
    await _cancel(update, context)

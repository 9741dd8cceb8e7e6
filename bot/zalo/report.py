"""The citizen's report on Zalo: each message read as an answer to the core's question.

As on Telegram and the web pages, the draft in the database is the only state; an accepted
answer is stored, with the next step, before the next question is shown, so a restart (even
`kill -9`) resumes at the same step. A message handled a second time (replayed after a crash)
is recognised by its arrival number and is not taken as the next question's answer.
"""

from __future__ import annotations

import hashlib
import secrets

from bot.core.conversation import (
    MAX_FILE_BYTES,
    Answer,
    Effect,
    Kind,
    Outcome,
    Problem,
    Question,
    new_draft,
    question,
)
from bot.core.domain import Attachment, Draft
from bot.messages import questions as texts
from bot.messages import zalo as words
from bot.zalo.client import PhotoTooLarge, PhotoUnavailable
from bot.zalo.render import page_of, read, show

__all__ = ["answer_photo", "answer_text", "begin", "fetch_photo", "other", "show"]
from bot.zalo.services import Talk

# Internal message ids of evidence with no Telegram message: random, like web uploads'.
_MESSAGE_ID_MAX = 2**31 - 1


async def begin(talk: Talk) -> None:
    """Start a new draft (consent given) within the daily limit, and ask its first question."""
    db = talk.services.db
    draft = await db.drafts.get_draft(talk.user_id)
    if draft is not None:
        await show(talk, draft, lead=texts.in_progress(talk._))
        return
    if await talk.services.workflow.over_daily_limit(talk.user_id):
        await talk.say(texts.over_daily_limit(talk.services.settings.reports_per_day, talk._))
        return
    draft = new_draft(talk.user_id, talk.user_id)
    draft.answered_by = talk.seq
    await db.drafts.save_draft(draft)
    await show(talk, draft)


async def answer_text(talk: Talk, draft: Draft, text: str) -> None:
    """Take a typed text as the answer to the draft's question."""
    if draft.answered_by == talk.seq:
        # Handled before a crash: the question is shown again, the text not taken twice.
        await show(talk, draft)
        return
    asked = await _asked(talk, draft)
    state = await talk.services.db.channels.get_state(talk.user_id)
    answer = read(asked, text, state)
    if answer == "more":
        page = page_of(state, asked)
        if page is None:
            await talk.say(words.pick_again(talk._))
            return
        await show(talk, draft, page=page)
        return
    if answer == "again":
        await talk.say(words.pick_again(talk._))
        return
    assert isinstance(answer, Answer)
    await _apply(talk, draft, asked, answer)


async def answer_photo(talk: Talk, draft: Draft, url: str) -> None:
    """Take a photo as evidence: fetched at once (its link expires), checked, hashed, stored."""
    if draft.answered_by == talk.seq:
        await show(talk, draft)
        return
    asked = await _asked(talk, draft)
    if asked.kind is not Kind.FILES:
        await _refused(talk, draft, asked, Outcome(Problem.WRONG_KIND))
        return
    data = await fetch_photo(talk, url)
    if data is None:
        return
    kind, mime = data[1], data[2]
    att = Attachment(
        kind=kind,
        file_id="zalo",
        file_unique_id=None,
        file_size=len(data[0]),
        chat_id=talk.user_id,
        message_id=secrets.randbelow(_MESSAGE_ID_MAX) + 1,
        mime_type=mime,
        sha256=hashlib.sha256(data[0]).hexdigest(),
    )
    outcome = await talk.services.conversation.apply(draft, Answer(attachment=att), asked.files)
    if outcome.problem is not None:
        await _refused(talk, draft, asked, outcome)
        return
    db = talk.services.db
    await db.files.add_draft_file(draft.user_id, att, data[0])
    draft.answered_by = talk.seq
    await db.drafts.save_draft(draft)
    await show(talk, draft)


async def fetch_photo(talk: Talk, url: str) -> tuple[bytes, str, str] | None:
    """Return a photo's bytes, kind and type, or None after telling the person why not."""
    try:
        data = await talk.services.client.download(url, MAX_FILE_BYTES)
    except PhotoUnavailable:
        await talk.say(words.photo_unavailable(talk._))
        return None
    except PhotoTooLarge:
        await talk.say(words.photo_refused("size", talk._))
        return None
    if data.startswith(b"\xff\xd8\xff"):
        return data, "photo", "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data, "photo", "image/png"
    await talk.say(words.photo_refused("type", talk._))
    return None


async def other(talk: Talk, draft: Draft | None) -> None:
    """Answer a sticker or an unreadable message with a hint, and the question again."""
    if draft is None:
        await talk.say(words.unreadable(talk._))
        return
    await show(talk, draft, lead=words.unreadable(talk._))


async def _asked(talk: Talk, draft: Draft) -> Question:
    files = len(await talk.services.db.drafts.draft_attachments(draft.user_id))
    return question(draft, files)


async def _apply(talk: Talk, draft: Draft, asked: Question, answer: Answer) -> None:
    """Apply one answer through the core, store what changed, then show what comes next."""
    services = talk.services
    db = services.db
    outcome = await services.conversation.apply(draft, answer, asked.files)
    if outcome.problem is not None:
        await _refused(talk, draft, asked, outcome)
        return
    if outcome.effect is Effect.UNITS_FOUND:
        lead = texts.units_found(str(outcome.details["query"]), talk._)
        await show(talk, draft, found=outcome.units, lead=lead)
        return
    if outcome.effect is Effect.SUBMIT:
        await _submit(talk, draft)
        return
    if outcome.effect is Effect.CANCEL:
        await db.drafts.delete_draft(draft.user_id)
        await talk.say(texts.cancelled(talk._))
        return
    lead = ""
    if outcome.effect is Effect.FILES_CLEARED:
        await db.drafts.clear_draft_attachments(draft.user_id)
        lead = texts.files_removed(talk._)
    elif outcome.effect is Effect.STAYED_ANONYMOUS:
        lead = texts.stay_anonymous(talk._)
    # Stored before anything is shown: a crash after this point resumes at the next step.
    draft.answered_by = talk.seq
    await db.drafts.save_draft(draft)
    await show(talk, draft, lead=lead)


async def _refused(talk: Talk, draft: Draft, asked: Question, outcome: Outcome) -> None:
    """Say what is wrong with an answer, then ask the same question again."""
    _ = talk._
    if outcome.problem in (Problem.WRONG_KIND, Problem.COMMAND):
        reason = words.wrong_kind(_)
    elif outcome.problem in (Problem.BAD_PHONE, Problem.NOT_OWN_CONTACT):
        # The question under it shows how to type them.
        reason = words.bad_contact(_)
    elif outcome.problem is Problem.NOT_A_CHOICE:
        # A number of a list shown before a unit was disabled: there are no buttons here.
        reason = words.pick_again(_)
    else:
        reason = texts.problem_text(asked, outcome, _)
    await show(talk, draft, lead=reason)


async def _submit(talk: Talk, draft: Draft) -> None:
    """Store the report through the workflow; its code comes through the outbox, like the alert."""
    services = talk.services
    if await services.workflow.over_daily_limit(draft.user_id):
        await talk.say(texts.over_daily_limit(services.settings.reports_per_day, talk._))
        return
    report = await services.workflow.submit(draft.user_id, talk.locale)
    await services.db.channels.set_state(draft.user_id, {})
    if report is not None:
        services.wake()

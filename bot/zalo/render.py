"""The core's questions as numbered lines, and what a Zalo user types read as an `Answer`.

What is asked and whether an answer is good is `bot.core.conversation`'s; the words are
`bot.messages.questions`'. Choices (and units) are numbered; the person answers with the number
or the words. A long list pages with "0 = more". What was shown is stored, so that a number
means the same after a restart.
"""

from __future__ import annotations

import re
from typing import Any

from bot.core.conversation import Answer, Contact, Kind, Question, question
from bot.core.domain import Draft, Unit
from bot.messages import questions as texts
from bot.messages import zalo as words
from bot.messages.labels import unit_label
from bot.zalo.services import Talk
from bot.zalo.text import PAGE_SIZE, fold, numbered, pack, plain

# A phone number at the end of "Name, 0912 345 678".
_PHONE_AT_END = re.compile(r"(\+?\d[\d .-]{7,}\d)\s*$")


async def unit_choices(talk: Talk) -> list[tuple[str, str]]:
    """Return every enabled unit as (code, label), in tree order, deeper ones indented."""
    units = [u for u in await talk.services.db.units.all_units() if not u.disabled]
    names = [u.name for u in units]
    by_parent: dict[str | None, list[Unit]] = {}
    codes = {u.code for u in units}
    for unit in units:
        parent = unit.parent if unit.parent in codes else None
        by_parent.setdefault(parent, []).append(unit)
    parents = {u.code: u for u in units}
    out: list[tuple[str, str]] = []

    def walk(parent: str | None, depth: int) -> None:
        for unit in sorted(by_parent.get(parent, []), key=lambda u: u.name):
            above = parents.get(unit.parent or "")
            # Namesakes (communes share names) are told apart by the unit above them.
            qualifiers = [above.name] if above and names.count(unit.name) > 1 else []
            out.append((unit.code, "— " * depth + unit_label(unit, qualifiers)))
            walk(unit.code, depth + 1)

    walk(None, 0)
    return out


async def show(
    talk: Talk,
    draft: Draft,
    *,
    page: int = 0,
    found: tuple[Unit, ...] = (),
    lead: str = "",
) -> None:
    """Send the draft's question with its numbered choices; remember what the numbers mean."""
    db = talk.services.db
    _ = talk._
    files = len(await db.drafts.draft_attachments(draft.user_id))
    asked = question(draft, files)
    unit_name = None
    if asked.kind is Kind.REVIEW:
        unit = await db.units.get_unit(draft.fields.unit_code or "")
        unit_name = unit.name if unit else None
    prompt = texts.prompt(asked, draft, _, talk.locale, unit_name=unit_name)
    # Where Telegram's words name a button or a kind of message Zalo lacks, Zalo has its own.
    text = words.question_text(asked.step, _) or prompt.text
    if asked.kind is Kind.UNIT:
        tree = await unit_choices(talk)
        if found:
            # Found units by the tree's labels (namesakes told apart), without its indentation.
            labels_of = {code: label.lstrip("— ") for code, label in tree}
            choices = [(u.code, labels_of.get(u.code, u.name)) for u in found]
        else:
            choices = tree
    else:
        choices = list(prompt.choices)
    values = [value for value, _label in choices]
    labels = [label for _value, label in choices]
    await talk.services.db.channels.set_state(
        draft.user_id,
        {"step": asked.step.key, "values": values, "labels": labels, "page": page},
    )
    for before in prompt.before:
        await talk.say(before)
    await talk.say(*_question_blocks(talk, asked, text, labels, page, files, lead))


def _page_size(asked: Question, count: int) -> int:
    """Return how many choices one message shows: units page, a question's own choices not."""
    return PAGE_SIZE if asked.kind is Kind.UNIT else max(count, 1)


def _question_blocks(
    talk: Talk,
    asked: Question,
    text: str,
    labels: list[str],
    page: int,
    files: int,
    lead: str,
) -> list[str]:
    _ = talk._
    size = _page_size(asked, len(labels))
    first = page * size
    shown = labels[first : first + size]
    blocks = [lead, text] if lead else [text]
    if asked.kind is Kind.FILES and files:
        blocks.append(texts.files_so_far(files, _))
    if shown:
        lines = numbered(shown, first + 1)
        if first + size < len(labels):
            lines += f"\n0. {words.more(_)}"
        blocks.append("\n" + lines)
        blocks.append(words.unit_hint(_) if asked.kind is Kind.UNIT else words.pick_hint(_))
    return blocks


def page_of(state: dict[str, Any], asked: Question) -> int | None:
    """Return the next page of the list shown for this question, None if there is none."""
    if state.get("step") != asked.step.key:
        return None
    count = len(state.get("values", []))
    page = int(state.get("page", 0)) + 1
    return page if page * _page_size(asked, count) < count else None


# Kinds whose typed answer is never a bare number: a number off the list is a mistake.
_PICKED = (Kind.CHOICE, Kind.REVIEW, Kind.UNIT, Kind.FILES)


def read(asked: Question, text: str, state: dict[str, Any]) -> Answer | str:
    """Return the answer a typed text gives the question, or "more" / "again" for the list."""
    typed = text.strip()
    current = state.get("step") == asked.step.key
    values: list[str] = list(state.get("values", [])) if current else []
    labels: list[str] = list(state.get("labels", [])) if current else []
    if typed.isdigit() and values:
        number = int(typed)
        if number == 0:
            return "more"
        if 1 <= number <= len(values):
            return Answer(choice=values[number - 1])
        if asked.kind in _PICKED:
            return "again"
    folded = fold(typed)
    if folded:
        matches = [v for v, label in zip(values, labels, strict=False) if fold(label) == folded]
        if len(matches) == 1:
            return Answer(choice=matches[0])
    if typed.startswith("/"):
        return Answer(other=typed)
    if asked.kind is Kind.CONTACT:
        return Answer(contact=_contact(typed))
    return Answer(text=typed)


def _contact(typed: str) -> Contact:
    """Read "Name, phone" typed in one message; the core checks both."""
    found = _PHONE_AT_END.search(typed)
    if found is None:
        return Contact(typed, "", typed=True)
    name = typed[: found.start()].strip(" ,;:-\n")
    return Contact(name, found.group(1), typed=True)


def choice_lines(labels: list[str]) -> str:
    """Return a short numbered list (a verdict, a confirmation) as plain lines."""
    return numbered(labels)


def messages_of(*blocks: str) -> list[str]:
    """Return HTML blocks as the plain messages they are sent as."""
    return pack([plain(b) for b in blocks if b])

"""The citizen's report as data: its steps, their questions, validation and order.

Every channel (Telegram, a web form, a text-only messenger) asks the same questions in the same
order through this module: `question()` says what to ask a draft next, `apply()` takes one
answer, checks it and either moves the draft on or says what is wrong with it. A channel only
renders a `Question` (buttons, numbered lines, form fields) and turns what the person sent into
an `Answer`. Nothing here knows a channel, a text or SQL: problems come back as codes with
numbers, which `bot.messages.questions` turns into sentences.

```mermaid
stateDiagram-v2
    [*] --> CATEGORY: consent given, new report
    CATEGORY --> UNIT
    UNIT --> DOSSIER: delay
    DOSSIER --> SUBMITTED
    SUBMITTED --> PROMISED
    PROMISED --> OFFICIAL
    UNIT --> AMOUNT: bribe
    AMOUNT --> OFFICIAL
    UNIT --> OFFICIAL: other categories
    OFFICIAL --> HEAD: an official named
    OFFICIAL --> WHEN: skipped
    HEAD --> WHEN
    WHEN --> WHERE
    WHERE --> DESCRIPTION
    DESCRIPTION --> EVIDENCE
    EVIDENCE --> IDENTITY: done
    IDENTITY --> CONTACT: with my name
    IDENTITY --> REVIEW: anonymous
    CONTACT --> REVIEW
    REVIEW --> CATEGORY: edit a field (returns to REVIEW)
    REVIEW --> [*]: send (the workflow stores it)
    REVIEW --> [*]: cancel
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum, StrEnum
from typing import Protocol

from bot.core.domain import Attachment, Category, Draft, ReportFields, Unit
from bot.core.parsing import (
    DateFormatError,
    FutureDateError,
    parse_amount,
    parse_date,
    parse_date_any,
    parse_vn_phone,
    visible,
)

DESCRIPTION_MIN = 20
DESCRIPTION_MAX = 3000
SHORT_TEXT_MAX = 200
PLACE_MAX = 300
DOSSIER_MAX = 100
PHONE_MAX = 32
SEARCH_MAX = 100
# What a bot may download from Telegram's own server (PTB uses the same 20e6); the web form
# keeps the same bound so that every channel's evidence reaches the unit the same way.
MAX_FILE_BYTES = 20_000_000
MAX_ATTACHMENTS = 10


class Step(IntEnum):
    """The report's questions, in the order they are asked; values are stored in drafts."""

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
    # Appended: asked after OFFICIAL (see ORDER), whatever its value.
    HEAD = 15

    @property
    def key(self) -> str:
        """Return the step's language-independent name (for callback data and form fields)."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> Step | None:
        """Return the step named `key`, or None."""
        return cls.__members__.get(key.upper()) if key.islower() else None


# The order the questions are asked in; values only name steps, so a new one is placed here.
ORDER: tuple[Step, ...] = (
    Step.CATEGORY,
    Step.UNIT,
    Step.DOSSIER,
    Step.SUBMITTED,
    Step.PROMISED,
    Step.AMOUNT,
    Step.OFFICIAL,
    Step.HEAD,
    Step.WHEN,
    Step.WHERE,
    Step.DESCRIPTION,
    Step.EVIDENCE,
    Step.IDENTITY,
    Step.CONTACT,
    Step.REVIEW,
)
_RANK = {step: rank for rank, step in enumerate(ORDER)}


def after(step: Step, current: Step) -> bool:
    """Tell whether `step` is asked after `current`."""
    return _RANK[step] > _RANK[current]


class Kind(StrEnum):
    """What sort of answer a question takes; a channel picks its widget from this."""

    CHOICE = "choice"  # one of the choices
    UNIT = "unit"  # a unit: from the tree, or found by typing part of its name
    TEXT = "text"  # free text within bounds
    DATE = "date"  # a date typed as dd/mm/yyyy (some questions also offer choices)
    AMOUNT = "amount"  # a sum of money in the ways people write it
    PLACE = "place"  # a place typed, or a map location
    FILES = "files"  # any number of files up to a bound, then "done"
    CONTACT = "contact"  # the reporter's own name and phone number
    REVIEW = "review"  # every answer shown back, with edits, send and cancel


# Choice values, the same on every channel.
SKIP = "skip"
TODAY = "today"
YESTERDAY = "yesterday"
DONE = "done"
CLEAR = "clear"
ANONYMOUS = "anon"
NAMED = "named"
CONFIRM = "confirm"
# Whether the official named heads the unit (the report then goes to the unit above).
YES = "yes"
NO = "no"
UNSURE = "unsure"
CANCEL = "cancel"
EDIT_PREFIX = "edit_"

# What the review lets a citizen change, in the order the buttons appear.
EDITABLE: dict[str, Step] = {
    "category": Step.CATEGORY,
    "unit": Step.UNIT,
    "dossier": Step.DOSSIER,
    "amount": Step.AMOUNT,
    "official": Step.OFFICIAL,
    "head": Step.HEAD,
    "when": Step.WHEN,
    "where": Step.WHERE,
    "description": Step.DESCRIPTION,
    "evidence": Step.EVIDENCE,
    "identity": Step.IDENTITY,
}

# Steps that belong to the same answer: editing the first from the review asks the others too.
FOLLOW_UPS: dict[Step, tuple[Step, ...]] = {
    Step.CATEGORY: (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED, Step.AMOUNT),
    Step.DOSSIER: (Step.SUBMITTED, Step.PROMISED),
    Step.SUBMITTED: (Step.PROMISED,),
    Step.OFFICIAL: (Step.HEAD,),
    Step.IDENTITY: (Step.CONTACT,),
}

# What must be answered before a report can be sent.
REQUIRED = (Step.CATEGORY, Step.UNIT, Step.DESCRIPTION)

OPTIONAL = frozenset(
    {Step.DOSSIER, Step.SUBMITTED, Step.PROMISED, Step.AMOUNT, Step.OFFICIAL, Step.WHERE}
)


@dataclass(frozen=True)
class Question:
    """What to ask next: the step, the kind of answer, the choices and the bounds."""

    step: Step
    kind: Kind
    choices: tuple[str, ...] = ()
    # Bounds of a typed answer, where it has them.
    min_length: int | None = None
    max_length: int | None = None
    # For FILES: how many the draft has and how many it may have.
    files: int = 0
    max_files: int = MAX_ATTACHMENTS

    @property
    def skippable(self) -> bool:
        """Tell whether the question may be left unanswered."""
        return SKIP in self.choices


@dataclass(frozen=True)
class Contact:
    """A name and phone number; `own` is False when a channel knows it is someone else's."""

    name: str
    phone: str
    own: bool = True
    # Typed by hand (a web form), not shared by the channel: a name and a Vietnamese number
    # are required.
    typed: bool = False


@dataclass(frozen=True)
class Answer:
    """One thing a person sent at a step; exactly one field is set."""

    choice: str | None = None
    text: str | None = None
    location: tuple[float, float] | None = None
    contact: Contact | None = None
    attachment: Attachment | None = None
    # Anything else a channel received (a sticker, a command, a poll): the question is explained.
    other: str | None = None


class Problem(StrEnum):
    """Why an answer was not taken; the draft stays at its step."""

    NOT_A_CHOICE = "not_a_choice"  # a choice this question does not offer (stale or forged)
    WRONG_KIND = "wrong_kind"  # e.g. a photo where text is asked, text where a choice is
    COMMAND = "command"  # a command in the middle of a step
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    BAD_DATE = "bad_date"
    FUTURE_DATE = "future_date"
    PROMISED_BEFORE_SUBMITTED = "promised_before_submitted"
    BAD_AMOUNT = "bad_amount"
    NOT_OWN_CONTACT = "not_own_contact"
    BAD_PHONE = "bad_phone"
    FILE_TOO_BIG = "file_too_big"
    TOO_MANY_FILES = "too_many_files"
    NO_UNIT_FOUND = "no_unit_found"


class Effect(StrEnum):
    """What a channel must do beyond asking the next question."""

    NONE = "none"
    UNITS_FOUND = "units_found"  # show the units found by a search as the choices
    FILE_ADDED = "file_added"  # store the attachment with the draft
    FILES_CLEARED = "files_cleared"  # remove the draft's attachments
    STAYED_ANONYMOUS = "stayed_anonymous"  # the contact question was withdrawn
    SUBMIT = "submit"  # hand the draft to the workflow
    CANCEL = "cancel"  # drop the draft


@dataclass
class Outcome:
    """The result of one answer: a problem (draft unchanged) or the draft moved on."""

    problem: Problem | None = None
    # Numbers and words a problem's sentence needs (the limit, the count, the query).
    details: dict[str, int | str] = field(default_factory=dict)
    effect: Effect = Effect.NONE
    units: tuple[Unit, ...] = ()
    # The step that was answered, for channels that show the answer in place of its question.
    answered: Step | None = None

    @property
    def accepted(self) -> bool:
        """Tell whether the draft changed (and must be saved before anything is shown)."""
        return self.problem is None and self.effect is not Effect.UNITS_FOUND


class UnitDirectory(Protocol):
    """The units a citizen may choose from (the store provides it)."""

    async def get_unit(self, code: str) -> Unit | None:
        """Return the unit with this code, or None."""

    async def search_units(self, query: str, limit: int = 8) -> list[Unit]:
        """Return enabled units whose name matches `query`, ignoring diacritics."""


def applies(step: Step, fields: ReportFields) -> bool:
    """Tell whether a step is asked for this report."""
    if step in (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED):
        return fields.category == Category.DELAY
    if step is Step.AMOUNT:
        return fields.category == Category.BRIBE
    if step is Step.CONTACT:
        return fields.anonymous is False
    if step is Step.HEAD:
        return fields.official is not None
    return True


def next_step(draft: Draft, current: Step) -> Step:
    """Return the step after `current`, or the review when an edit is finished."""
    if draft.reviewing:
        for step in FOLLOW_UPS.get(current, ()):
            if after(step, current) and applies(step, draft.fields):
                return step
        return Step.REVIEW
    for step in ORDER:
        if after(step, current) and applies(step, draft.fields):
            return step
    return Step.REVIEW


def answered(step: Step, fields: ReportFields) -> bool:
    """Tell whether a required step has its answer."""
    if step is Step.CATEGORY:
        return fields.category is not None
    if step is Step.UNIT:
        return fields.unit_code is not None
    return fields.description is not None


def editable(fields: ReportFields) -> list[str]:
    """Return the fields the review offers to change, in button order."""
    return [name for name, step in EDITABLE.items() if applies(step, fields)]


def new_draft(user_id: int, chat_id: int) -> Draft:
    """Return an empty draft at the first question."""
    return Draft(user_id=user_id, chat_id=chat_id, step=Step.CATEGORY)


def move_to(draft: Draft, step: Step) -> None:
    """Put the draft at `step`; reaching the review ends an edit."""
    draft.step = int(step)
    if step is Step.REVIEW:
        draft.reviewing = False


def question(draft: Draft, files: int = 0) -> Question:
    """Return the question the draft is at; `files` is how many attachments it carries."""
    step = Step(draft.step)
    optional = (SKIP,) if step in OPTIONAL else ()
    if step is Step.CATEGORY:
        return Question(step, Kind.CHOICE, tuple(c.value for c in Category))
    if step is Step.UNIT:
        return Question(step, Kind.UNIT, max_length=SEARCH_MAX)
    if step is Step.DOSSIER:
        return Question(step, Kind.TEXT, optional, max_length=DOSSIER_MAX)
    if step in (Step.SUBMITTED, Step.PROMISED):
        return Question(step, Kind.DATE, optional)
    if step is Step.AMOUNT:
        return Question(step, Kind.AMOUNT, optional)
    if step is Step.OFFICIAL:
        return Question(step, Kind.TEXT, optional, max_length=SHORT_TEXT_MAX)
    if step is Step.HEAD:
        return Question(step, Kind.CHOICE, (YES, NO, UNSURE))
    if step is Step.WHEN:
        return Question(step, Kind.DATE, (TODAY, YESTERDAY))
    if step is Step.WHERE:
        return Question(step, Kind.PLACE, optional, max_length=PLACE_MAX)
    if step is Step.DESCRIPTION:
        return Question(step, Kind.TEXT, min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX)
    if step is Step.EVIDENCE:
        choices = (DONE,) if files == 0 else (DONE, CLEAR)
        return Question(step, Kind.FILES, choices, files=files)
    if step is Step.IDENTITY:
        return Question(step, Kind.CHOICE, (ANONYMOUS, NAMED))
    if step is Step.CONTACT:
        return Question(step, Kind.CONTACT, (ANONYMOUS,), max_length=SHORT_TEXT_MAX)
    edits = tuple(EDIT_PREFIX + name for name in editable(draft.fields))
    return Question(step, Kind.REVIEW, (*edits, CONFIRM, CANCEL), files=files)


class Conversation:
    """Applies answers to drafts: validation and order, the same for every channel."""

    def __init__(self, units: UnitDirectory, today: Callable[[], date]) -> None:
        self.units = units
        self.today = today

    async def apply(self, draft: Draft, answer: Answer, files: int = 0) -> Outcome:
        """Check one answer to the draft's current question; move the draft on if it is good.

        The draft is changed in place only when the outcome is accepted; the caller saves it
        (and stores or clears attachments as the effect says) before showing anything.
        """
        asked = question(draft, files)
        step = asked.step
        if answer.choice is not None and answer.choice not in asked.choices:
            if step is Step.UNIT:
                return await self._unit_chosen(draft, answer.choice)
            return Outcome(Problem.NOT_A_CHOICE)
        if answer.choice is not None:
            return self._choice(draft, asked, answer.choice)
        if answer.other is not None:
            command = answer.other.startswith("/")
            return Outcome(Problem.COMMAND if command else Problem.WRONG_KIND)
        handler = _TYPED.get(asked.kind)
        if handler is None:
            return Outcome(Problem.WRONG_KIND)
        return await handler(self, draft, asked, answer)

    # -- choices --------------------------------------------------------------------------------

    def _choice(self, draft: Draft, asked: Question, choice: str) -> Outcome:
        step = asked.step
        fields = draft.fields
        if choice == SKIP:
            _clear(step, fields)
            return self._advance(draft, step)
        if step is Step.CATEGORY:
            category = Category(choice)
            fields.category = category.value
            # Answers that belong to another category would mislead the unit.
            if category != Category.DELAY:
                fields.dossier_code = fields.submitted_on = fields.promised_on = None
            if category != Category.BRIBE:
                fields.amount = None
            return self._advance(draft, step)
        if step is Step.WHEN:
            today = self.today()
            day = today if choice == TODAY else today - timedelta(days=1)
            fields.occurred_on = day.isoformat()
            return self._advance(draft, step)
        if step is Step.HEAD:
            fields.official_head = choice
            return self._advance(draft, step)
        if step is Step.EVIDENCE:
            if choice == CLEAR:
                return Outcome(effect=Effect.FILES_CLEARED, answered=step)
            return self._advance(draft, step)
        if step in (Step.IDENTITY, Step.CONTACT):
            fields.anonymous = choice == ANONYMOUS
            if fields.anonymous:
                fields.contact_name = fields.contact_phone = None
                if step is Step.CONTACT:
                    move_to(draft, Step.REVIEW)
                    return Outcome(effect=Effect.STAYED_ANONYMOUS, answered=step)
            return self._advance(draft, Step.IDENTITY)
        # The review.
        if choice == CONFIRM:
            missing = [s for s in REQUIRED if not answered(s, fields)]
            if missing:
                draft.reviewing = True
                move_to(draft, missing[0])
                return Outcome(effect=Effect.NONE, answered=step)
            return Outcome(effect=Effect.SUBMIT, answered=step)
        if choice == CANCEL:
            return Outcome(effect=Effect.CANCEL, answered=step)
        target = EDITABLE[choice.removeprefix(EDIT_PREFIX)]
        draft.reviewing = True
        move_to(draft, target)
        return Outcome(effect=Effect.NONE, answered=step)

    async def _unit_chosen(self, draft: Draft, code: str) -> Outcome:
        unit = await self.units.get_unit(code)
        if unit is None or unit.disabled:
            return Outcome(Problem.NOT_A_CHOICE)
        draft.fields.unit_code = unit.code
        outcome = self._advance(draft, Step.UNIT)
        outcome.units = (unit,)
        return outcome

    def _advance(self, draft: Draft, step: Step) -> Outcome:
        move_to(draft, next_step(draft, step))
        return Outcome(answered=step, effect=Effect.NONE)

    # -- typed answers --------------------------------------------------------------------------

    async def _unit_search(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        if answer.text is None:
            return Outcome(Problem.WRONG_KIND)
        query = answer.text.strip()[:SEARCH_MAX]
        found = await self.units.search_units(query)
        if not found:
            return Outcome(Problem.NO_UNIT_FOUND, {"query": query})
        return Outcome(effect=Effect.UNITS_FOUND, units=tuple(found), details={"query": query})

    async def _text(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        if answer.text is None:
            return Outcome(Problem.WRONG_KIND)
        text = answer.text.strip()
        if asked.min_length is not None:
            # Invisible characters are kept as typed but do not count towards the minimum.
            count = len(visible(text).strip())
            if count < asked.min_length:
                return Outcome(Problem.TOO_SHORT, {"min": asked.min_length, "count": count})
        if asked.max_length is not None and len(text) > asked.max_length:
            return Outcome(Problem.TOO_LONG, {"max": asked.max_length, "count": len(text)})
        fields = draft.fields
        if asked.step is Step.DOSSIER:
            fields.dossier_code = text
        elif asked.step is Step.OFFICIAL:
            fields.official = text
        else:
            fields.description = text
        return self._advance(draft, asked.step)

    async def _date(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        if answer.text is None:
            return Outcome(Problem.WRONG_KIND)
        today = self.today()
        try:
            if asked.step is Step.PROMISED:
                when = parse_date_any(answer.text, today)
            else:
                when = parse_date(answer.text, today)
        except FutureDateError:
            return Outcome(Problem.FUTURE_DATE)
        except DateFormatError:
            return Outcome(Problem.BAD_DATE)
        fields = draft.fields
        if asked.step is Step.SUBMITTED:
            fields.submitted_on = when.isoformat()
        elif asked.step is Step.PROMISED:
            submitted = fields.submitted_on
            if submitted and when < date.fromisoformat(submitted):
                return Outcome(Problem.PROMISED_BEFORE_SUBMITTED)
            fields.promised_on = when.isoformat()
        else:
            fields.occurred_on = when.isoformat()
        return self._advance(draft, asked.step)

    async def _amount(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        if answer.text is None:
            return Outcome(Problem.WRONG_KIND)
        amount = parse_amount(answer.text)
        if amount is None:
            return Outcome(Problem.BAD_AMOUNT)
        draft.fields.amount = amount
        return self._advance(draft, asked.step)

    async def _place(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        fields = draft.fields
        if answer.location is not None:
            fields.location = None
            fields.latitude, fields.longitude = answer.location
            return self._advance(draft, asked.step)
        if answer.text is None:
            return Outcome(Problem.WRONG_KIND)
        text = answer.text.strip()
        if asked.max_length is not None and len(text) > asked.max_length:
            return Outcome(Problem.TOO_LONG, {"max": asked.max_length, "count": len(text)})
        fields.location = text
        fields.latitude = fields.longitude = None
        return self._advance(draft, asked.step)

    async def _file(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        att = answer.attachment
        if att is None:
            return Outcome(Problem.WRONG_KIND)
        if att.file_size is not None and att.file_size > MAX_FILE_BYTES:
            return Outcome(Problem.FILE_TOO_BIG, {"max_mb": MAX_FILE_BYTES // 1_000_000})
        if asked.files >= asked.max_files:
            return Outcome(Problem.TOO_MANY_FILES, {"max": asked.max_files})
        return Outcome(effect=Effect.FILE_ADDED, details={"count": asked.files + 1})

    async def _contact(self, draft: Draft, asked: Question, answer: Answer) -> Outcome:
        contact = answer.contact
        if contact is None:
            return Outcome(Problem.WRONG_KIND)
        if not contact.own:
            return Outcome(Problem.NOT_OWN_CONTACT)
        phone = contact.phone.strip()
        if contact.typed:
            parsed = parse_vn_phone(phone)
            if parsed is None or not contact.name.strip():
                return Outcome(Problem.BAD_PHONE)
            phone = parsed
        if not phone:
            return Outcome(Problem.BAD_PHONE)
        draft.fields.contact_name = contact.name.strip()[:SHORT_TEXT_MAX]
        draft.fields.contact_phone = phone[:PHONE_MAX]
        return self._advance(draft, asked.step)


_Typed = Callable[[Conversation, Draft, Question, Answer], Awaitable[Outcome]]

_TYPED: Mapping[Kind, _Typed] = {
    Kind.UNIT: Conversation._unit_search,
    Kind.TEXT: Conversation._text,
    Kind.DATE: Conversation._date,
    Kind.AMOUNT: Conversation._amount,
    Kind.PLACE: Conversation._place,
    Kind.FILES: Conversation._file,
    Kind.CONTACT: Conversation._contact,
}


def _clear(step: Step, fields: ReportFields) -> None:
    """Leave an optional field empty."""
    if step is Step.DOSSIER:
        fields.dossier_code = None
    elif step is Step.SUBMITTED:
        fields.submitted_on = None
    elif step is Step.PROMISED:
        fields.promised_on = None
    elif step is Step.AMOUNT:
        fields.amount = None
    elif step is Step.OFFICIAL:
        # Without a named official there is nobody to be the unit's head.
        fields.official = fields.official_head = None
    elif step is Step.WHERE:
        fields.location = fields.latitude = fields.longitude = None

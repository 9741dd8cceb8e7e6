"""The report conversation in the core, driven without any channel: order, checks, edits."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.conversation import (
    ANONYMOUS,
    CANCEL,
    CLEAR,
    CONFIRM,
    DESCRIPTION_MAX,
    DONE,
    MAX_ATTACHMENTS,
    MAX_FILE_BYTES,
    NAMED,
    SKIP,
    TODAY,
    YESTERDAY,
    Answer,
    Contact,
    Conversation,
    Effect,
    Kind,
    Problem,
    Step,
    new_draft,
    question,
)
from bot.core.domain import Attachment, Draft, Unit

TODAY_DATE = date(2026, 11, 30)
DESCRIPTION = "Cán bộ yêu cầu nộp thêm tiền ngoài quy định mới giải quyết hồ sơ."


def unit(code: str, name: str, *, disabled: bool = False) -> Unit:
    return Unit(code, name, None, None, "ok", disabled)


class Directory:
    """A fixed list of units standing in for the store."""

    def __init__(self) -> None:
        self.units = {
            "HL": unit("HL", "UBND phường Hạ Long"),
            "OLD": unit("OLD", "UBND xã đã sáp nhập", disabled=True),
        }

    async def get_unit(self, code: str) -> Unit | None:
        return self.units.get(code)

    async def search_units(self, query: str, limit: int = 8) -> list[Unit]:
        return [u for u in self.units.values() if query and query in u.name and not u.disabled]


@pytest.fixture
def engine() -> Conversation:
    return Conversation(Directory(), lambda: TODAY_DATE)


def photo(size: int | None = 1000) -> Attachment:
    return Attachment("photo", "file-id", "unique", size, 1, 2, mime_type="image/jpeg")


async def answer(engine: Conversation, draft: Draft, files: int = 0, **kw: object) -> Effect:
    outcome = await engine.apply(draft, Answer(**kw), files)  # type: ignore[arg-type]
    assert outcome.problem is None, outcome
    return outcome.effect


async def walk_to(engine: Conversation, draft: Draft, category: str) -> None:
    """Answer up to the description with the shortest answers."""
    await answer(engine, draft, choice=category)
    await answer(engine, draft, choice="HL")
    while Step(draft.step) in (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED, Step.AMOUNT):
        await answer(engine, draft, choice=SKIP)
    await answer(engine, draft, choice=SKIP)  # official
    await answer(engine, draft, choice=TODAY)
    await answer(engine, draft, choice=SKIP)  # where


async def test_a_full_bribe_report_in_order(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    seen = []
    for step_answer in (
        {"choice": "bribe"},
        {"text": "Hạ Long"},  # a search first: the draft stays
        {"choice": "HL"},
        {"text": "2 triệu"},
        {"text": "Cán bộ bàn số 3"},
        {"choice": "no"},
        {"text": "05/11/2026"},
        {"location": (20.95, 107.08)},
        {"text": DESCRIPTION},
        {"attachment": photo()},
        {"choice": DONE},
        {"choice": NAMED},
        {"contact": Contact("Nguyễn Văn A", "+84 912 345 678")},
    ):
        seen.append(Step(draft.step))
        await answer(engine, draft, **step_answer)
    assert seen == [
        Step.CATEGORY,
        Step.UNIT,
        Step.UNIT,
        Step.AMOUNT,
        Step.OFFICIAL,
        Step.HEAD,
        Step.WHEN,
        Step.WHERE,
        Step.DESCRIPTION,
        Step.EVIDENCE,
        Step.EVIDENCE,
        Step.IDENTITY,
        Step.CONTACT,
    ]
    assert draft.step == Step.REVIEW
    fields = draft.fields
    assert (fields.category, fields.unit_code, fields.amount) == ("bribe", "HL", 2_000_000)
    assert (fields.official, fields.occurred_on) == ("Cán bộ bàn số 3", "2026-11-05")
    assert (fields.latitude, fields.longitude, fields.location) == (20.95, 107.08, None)
    assert (fields.anonymous, fields.contact_name) == (False, "Nguyễn Văn A")
    assert (await engine.apply(draft, Answer(choice=CONFIRM))).effect is Effect.SUBMIT


async def test_a_delay_report_asks_its_three_questions(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await answer(engine, draft, choice="delay")
    await answer(engine, draft, choice="HL")
    assert draft.step == Step.DOSSIER
    await answer(engine, draft, text="HS-2026-001")
    await answer(engine, draft, text="01/10/2026")
    # The promised date may lie in the future, but not before the submission.
    refused = await engine.apply(draft, Answer(text="30/09/2026"))
    assert refused.problem is Problem.PROMISED_BEFORE_SUBMITTED and draft.step == Step.PROMISED
    await answer(engine, draft, text="15/12/2026")
    assert draft.step == Step.OFFICIAL
    assert draft.fields.promised_on == "2026-12-15"


@pytest.mark.parametrize(
    ("step_answers", "sent", "problem"),
    [
        ((), {"text": "hello"}, Problem.WRONG_KIND),  # category takes a choice
        ((), {"choice": "zzz"}, Problem.NOT_A_CHOICE),
        ((), {"other": "/weather"}, Problem.COMMAND),
        (({"choice": "other"},), {"choice": "OLD"}, Problem.NOT_A_CHOICE),  # disabled unit
        (({"choice": "other"},), {"choice": "NOPE"}, Problem.NOT_A_CHOICE),
        (({"choice": "other"},), {"text": "Móng Cái"}, Problem.NO_UNIT_FOUND),
        (({"choice": "other"}, {"choice": "HL"}), {"text": "x" * 201}, Problem.TOO_LONG),
        (({"choice": "other"}, {"choice": "HL"}), {"choice": TODAY}, Problem.NOT_A_CHOICE),
    ],
)
async def test_refused_answers_leave_the_draft_as_it_was(
    engine: Conversation,
    step_answers: tuple[dict[str, object], ...],
    sent: dict[str, object],
    problem: Problem,
) -> None:
    draft = new_draft(1, 1)
    for given in step_answers:
        await answer(engine, draft, **given)
    before = (draft.step, draft.fields.to_json(), draft.reviewing)
    outcome = await engine.apply(draft, Answer(**sent))  # type: ignore[arg-type]
    assert outcome.problem is problem
    assert not outcome.accepted
    assert (draft.step, draft.fields.to_json(), draft.reviewing) == before


async def test_dates_are_checked(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "other")
    draft.step = Step.WHEN
    assert (await engine.apply(draft, Answer(text="31/02/2026"))).problem is Problem.BAD_DATE
    assert (await engine.apply(draft, Answer(text="01/12/2026"))).problem is Problem.FUTURE_DATE
    await answer(engine, draft, choice=YESTERDAY)
    assert draft.fields.occurred_on == "2026-11-29"


async def test_description_bounds_count_visible_characters(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "conduct")
    assert draft.step == Step.DESCRIPTION
    padded = "ngắn" + "\u200b" * 40
    short = await engine.apply(draft, Answer(text=padded))
    assert short.problem is Problem.TOO_SHORT and short.details == {"min": 20, "count": 4}
    long = await engine.apply(draft, Answer(text="a" * (DESCRIPTION_MAX + 1)))
    assert long.problem is Problem.TOO_LONG and long.details["count"] == DESCRIPTION_MAX + 1
    await answer(engine, draft, text=f"  {DESCRIPTION}  ")
    assert draft.fields.description == DESCRIPTION


async def test_evidence_limits_and_clearing(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "conduct")
    await answer(engine, draft, text=DESCRIPTION)
    assert question(draft, 0).choices == (DONE,)
    assert question(draft, 2).choices == (DONE, CLEAR)
    big = await engine.apply(draft, Answer(attachment=photo(MAX_FILE_BYTES + 1)))
    assert big.problem is Problem.FILE_TOO_BIG
    full = await engine.apply(draft, Answer(attachment=photo()), MAX_ATTACHMENTS)
    assert full.problem is Problem.TOO_MANY_FILES
    added = await engine.apply(draft, Answer(attachment=photo(None)), 3)
    assert (added.effect, added.details, draft.step) == (Effect.FILE_ADDED, {"count": 4}, 11)
    assert await answer(engine, draft, 3, choice=CLEAR) is Effect.FILES_CLEARED
    assert draft.step == Step.EVIDENCE
    text = await engine.apply(draft, Answer(text="here it is"))
    assert text.problem is Problem.WRONG_KIND


async def test_only_the_reporters_own_contact_is_taken(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "conduct")
    await answer(engine, draft, text=DESCRIPTION)
    await answer(engine, draft, choice=DONE)
    await answer(engine, draft, choice=NAMED)
    someone_else = Answer(contact=Contact("Trần B", "0912000000", own=False))
    assert (await engine.apply(draft, someone_else)).problem is Problem.NOT_OWN_CONTACT
    assert (await engine.apply(draft, Answer(contact=Contact("A", " ")))).problem is (
        Problem.BAD_PHONE
    )
    # Withdrawing the question goes straight to the review, anonymous.
    assert await answer(engine, draft, choice=ANONYMOUS) is Effect.STAYED_ANONYMOUS
    assert (draft.step, draft.fields.anonymous) == (Step.REVIEW, True)


async def test_editing_from_the_review_asks_the_follow_ups_then_returns(
    engine: Conversation,
) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "bribe")
    draft.fields.amount = 500_000
    await answer(engine, draft, text=DESCRIPTION)
    await answer(engine, draft, choice=DONE)
    await answer(engine, draft, choice=ANONYMOUS)
    assert draft.step == Step.REVIEW
    review = question(draft)
    assert review.kind is Kind.REVIEW and "edit_amount" in review.choices
    assert "edit_dossier" not in review.choices
    # Changing the category to a delay asks its three questions, then comes back.
    await answer(engine, draft, choice="edit_category")
    assert (draft.step, draft.reviewing) == (Step.CATEGORY, True)
    await answer(engine, draft, choice="delay")
    assert draft.fields.amount is None, "an answer of the old category would mislead"
    for expected in (Step.DOSSIER, Step.SUBMITTED, Step.PROMISED):
        assert draft.step == expected
        await answer(engine, draft, choice=SKIP)
    assert (draft.step, draft.reviewing) == (Step.REVIEW, False)
    # An edit of a field with no follow-up returns at once.
    await answer(engine, draft, choice="edit_where")
    await answer(engine, draft, text="Bộ phận một cửa")
    assert draft.step == Step.REVIEW
    # Naming an official asks whether they head the unit, then returns.
    await answer(engine, draft, choice="edit_official")
    await answer(engine, draft, text="Phó chủ tịch")
    assert draft.step == Step.HEAD
    await answer(engine, draft, choice="yes")
    assert (draft.step, draft.fields.official_head) == (Step.REVIEW, "yes")
    assert (await engine.apply(draft, Answer(choice=CANCEL))).effect is Effect.CANCEL


async def test_confirm_sends_the_citizen_back_to_a_missing_answer(engine: Conversation) -> None:
    draft = new_draft(1, 1)
    await walk_to(engine, draft, "other")
    await answer(engine, draft, text=DESCRIPTION)
    await answer(engine, draft, choice=DONE)
    await answer(engine, draft, choice=ANONYMOUS)
    draft.fields.unit_code = None  # e.g. a draft written by an older version
    outcome = await engine.apply(draft, Answer(choice=CONFIRM))
    assert outcome.effect is not Effect.SUBMIT
    assert (draft.step, draft.reviewing) == (Step.UNIT, True)
    await answer(engine, draft, choice="HL")
    assert draft.step == Step.REVIEW


def test_step_keys_are_stable_and_reversible() -> None:
    for step in Step:
        assert Step.from_key(step.key) is step
    assert Step.from_key("REVIEW") is None and Step.from_key("nothing") is None

"""Buttons pressed after their moment: nobody is left stuck, and nobody is told of an error.

A process can store a citizen's answer and stop (kill -9, a failed machine) before it shows the
next question; the citizen then holds only the answered question's buttons. A press handled
again after a restart can no longer be answered (Telegram answers a callback query once).
"""

from __future__ import annotations

from bot.core.conversation import Answer, Step
from bot.core.domain import Category
from tests.conftest import World, eventually
from tests.test_bad_input import settled
from tests.test_report_flow import consent

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_ACTIVE = "Nút này không còn hiệu lực."
ERROR = "đã có lỗi xảy ra"


async def store_without_showing(world: World, user_id: int, answer: Answer) -> None:
    """Store an answer as a process does just before it dies: the next question is not shown."""
    services = world.app.bot_data["services"]
    draft = await world.db.drafts.get_draft(user_id)
    assert draft is not None
    outcome = await services.conversation.apply(draft, answer)
    assert outcome.problem is None
    await world.db.drafts.save_draft(draft)


async def test_a_stale_button_after_a_lost_reply_shows_the_current_question(
    world: World,
) -> None:
    an = world.person(700071, "An")
    await consent(an)
    await store_without_showing(world, an.id, Answer(choice=Category.OTHER))
    # The category question is still on screen; its buttons are stale now.
    shown = await an.press("Hối lộ", expect="đơn vị")
    assert "Chọn loại" not in shown["text"]
    assert list(world.sim.callback_answers.values())[-1].get("text") == NOT_ACTIVE
    draft = await world.db.drafts.get_draft(an.id)
    # The stale press answered nothing: the stored category stands, the unit is asked.
    assert draft is not None and draft.step == Step.UNIT
    assert draft.fields.category == Category.OTHER
    # And the question it shows now works.
    await an.say("ha long", expect="ha long")


async def test_a_press_that_can_no_longer_be_answered_costs_no_step_and_no_alarm(
    world: World,
) -> None:
    binh = world.person(700072, "Bình")
    await consent(binh)
    # A good press whose answer Telegram refuses: the step is taken all the same.
    world.sim.inject("answerCallbackQuery", status=400, description=TOO_OLD)
    await binh.press("Khác", expect="đơn vị")
    draft = await world.db.drafts.get_draft(binh.id)
    assert draft is not None and draft.step == Step.UNIT

    # A stale press replayed after a restart: the current question again, quietly.
    chi = world.person(700073, "Chi")
    await consent(chi)
    await store_without_showing(world, chi.id, Answer(choice=Category.OTHER))
    world.sim.inject("answerCallbackQuery", status=400, description=TOO_OLD)
    await chi.press("Hối lộ", expect="đơn vị")

    # A button no handler knows any more, whose answer fails: nothing said at all.
    question = chi.with_button("Quảng Ninh")
    mark = len(world.sim.messages(chi.id))
    answered = world.sim.count("answerCallbackQuery")
    world.sim.inject("answerCallbackQuery", status=400, description=TOO_OLD)
    await chi.user.press(question, "zz:1", check_button=False)
    await eventually(lambda: world.sim.count("answerCallbackQuery") > answered)
    await settled(world)
    for person in (binh, chi):
        said = [m.get("text") or "" for m in world.sim.messages(person.id)]
        assert not any(ERROR in text.lower() for text in said), said
    assert len(world.sim.messages(chi.id)) == mark

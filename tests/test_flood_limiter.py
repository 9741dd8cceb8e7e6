"""The flood limiter: replies before the outbox, the outbox never starved, each chat's limit
kept on its own, replies retried through 429s. Driven with stand-in calls, no Telegram.

The tests run on a fast-forwarded loop clock (looptime), which the limiter is given as its clock:
sleeps take no real time and every "when" below is exact loop time, so a busy machine can
neither slow these tests down nor make them fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import looptime
import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter

from bot.telegram import limits
from bot.telegram.limits import IN_OUTBOX, PRESSING, FloodLimiter
from tests.conftest import eventually

GROUP = -1001000000002
PERSON = 700001


def now() -> float:
    """Return the running loop's (fast-forwarded) time."""
    return asyncio.get_running_loop().time()


class Calls:
    """Stand-in Bot API calls that record when they ran."""

    def __init__(self) -> None:
        self.done: list[tuple[str, float]] = []

    def call(self, name: str, failures: list[Exception] | None = None) -> Any:
        async def run() -> bool:
            if failures:
                raise failures.pop(0)
            self.done.append((name, now()))
            return True

        return run


@pytest.fixture(autouse=True)
async def fast_forward() -> AsyncIterator[None]:
    """Run the test's loop on looptime's clock: sleeps take no real time, and are exact."""
    # Patching a loop switches its fast-forwarded time on; the loop ends with the test.
    looptime.patch_event_loop(asyncio.get_running_loop())  # type: ignore[arg-type]
    yield


@pytest.fixture
async def limiter() -> AsyncIterator[FloodLimiter]:
    flood = FloodLimiter(per_second=20.0, patience=3.0, clock=now)
    await flood.initialize()
    yield flood
    await flood.shutdown()


async def send(
    flood: FloodLimiter, calls: Calls, name: str, chat_id: int, *, outbox: bool = False, **kw: Any
) -> Any:
    token = IN_OUTBOX.set(outbox)
    try:
        callback = calls.call(name, kw.pop("failures", None))
        return await flood.process_request(
            callback, (), {}, kw.pop("endpoint", "sendMessage"), {"chat_id": chat_id}, None
        )
    finally:
        IN_OUTBOX.reset(token)


async def test_a_waiting_reply_overtakes_queued_outbox_calls(limiter: FloodLimiter) -> None:
    calls = Calls()
    # Thirty outbox messages to thirty people are queued: 1.5 s of the overall budget.
    outbox = [
        asyncio.create_task(send(limiter, calls, f"outbox{n}", 800000 + n, outbox=True))
        for n in range(30)
    ]
    await asyncio.sleep(0.1)
    reply = asyncio.create_task(send(limiter, calls, "reply", PERSON))
    await asyncio.gather(reply, *outbox)
    order = [name for name, _at in calls.done]
    # The reply goes at the next free slot, ahead of the outbox calls still waiting.
    assert order.index("reply") <= 4, order


async def test_the_outbox_is_not_starved_by_replies(limiter: FloodLimiter) -> None:
    calls = Calls()
    stop = asyncio.Event()

    async def busy_person(n: int) -> None:
        # Many people, each within their own chat's limit, use the whole overall budget.
        while not stop.is_set():
            await send(limiter, calls, f"reply{n}", 700100 + n)

    people = [asyncio.create_task(busy_person(n)) for n in range(40)]
    await asyncio.sleep(0.2)
    started = now()
    before = len(calls.done)
    await send(limiter, calls, "alert", GROUP, outbox=True)
    waited = now() - started
    stop.set()
    await asyncio.gather(*people)
    # Below its share of the budget, the outbox takes the first place that comes free (the
    # window is full of replies that went at once), ahead of the replies waiting for it.
    assert waited <= limits.OVERALL_WINDOW, waited
    assert calls.done[before][0] == "alert", calls.done[before]
    # The outbox keeps its share while replies ask for the whole budget.
    started = now()
    stop.clear()
    people = [asyncio.create_task(busy_person(n)) for n in range(40)]
    await asyncio.sleep(0.2)
    await asyncio.gather(
        *(send(limiter, calls, f"notice{n}", 800100 + n, outbox=True) for n in range(10))
    )
    stop.set()
    await asyncio.gather(*people)
    # Its share is 2 places of the 20 in each 1.05 s window: ten notices in five windows.
    sent = [at - started for name, at in calls.done if name.startswith("notice")]
    assert max(sent) <= 5 * limits.OVERALL_WINDOW + 0.2, sorted(sent)


async def test_the_outbox_leaves_room_for_the_replies_of_the_last_second(
    limiter: FloodLimiter,
) -> None:
    calls = Calls()
    # Sixty outbox messages to sixty people are queued, three seconds of the whole budget.
    outbox = [
        asyncio.create_task(send(limiter, calls, f"outbox{n}", 800000 + n, outbox=True))
        for n in range(60)
    ]
    waits: list[float] = []

    async def person(n: int) -> None:
        # Eight people at 8 a second in all, in bursts of two: well under the budget.
        await asyncio.sleep(0.05 + 0.25 * (n % 4))
        for step in range(4):
            asked = now()
            await send(limiter, calls, f"reply{n}.{step}", 700400 + n)
            waits.append(now() - asked)
            await asyncio.sleep(1.0)

    await asyncio.gather(*(person(n) for n in range(8)))
    await asyncio.gather(*outbox)
    # No reply waited for a place: the outbox left the reserve free.
    assert max(waits) == 0.0, waits
    # And it used what the replies and their reserve left: 20 places a window, 8 replies and 6
    # kept free, so at least 5 a second while they came (4 s), and then nearly the whole budget.
    sent = [at for name, at in calls.done if name.startswith("outbox")]
    assert len(sent) == 60
    assert sum(1 for at in sent if at < 4.0) >= 20, sorted(sent)
    assert max(sent) < 7.0, max(sent)


async def test_without_replies_the_outbox_uses_the_budget_but_a_burst_of_room(
    limiter: FloodLimiter,
) -> None:
    calls = Calls()
    started = now()
    await asyncio.gather(
        *(send(limiter, calls, f"outbox{n}", 800000 + n, outbox=True) for n in range(40))
    )
    times = sorted(at - started for _name, at in calls.done)
    # Evenly spaced at 20 a second, but REPLY_HEADROOM places of each window kept free: 17 of
    # the 20 in any 1.05 s window.
    for i, start in enumerate(times):
        held = sum(1 for t in times[i:] if t < start + limits.OVERALL_WINDOW - 1e-9)
        assert held <= 20 - limits.REPLY_HEADROOM, (i, held)
    assert times[-1] < 40 / 17 * limits.OVERALL_WINDOW + 0.2, times[-1]


async def test_the_overall_budget_is_never_exceeded(limiter: FloodLimiter) -> None:
    calls = Calls()
    await asyncio.gather(
        *(send(limiter, calls, f"m{n}", 700200 + n, outbox=n % 2 == 0) for n in range(60))
    )
    times = sorted(at for _name, at in calls.done)
    # 20 a second: no second-long window holds more than 21 (the fencepost of 20 intervals).
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0) <= 21


async def test_a_group_gets_at_most_twenty_a_minute_and_others_are_not_held_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "GROUP_WINDOW", 1.0)
    # An overall budget well above the group's, so that only the group's own limit binds.
    limiter = FloodLimiter(per_second=100.0, patience=3.0, clock=now)
    calls = Calls()
    group = [asyncio.create_task(send(limiter, calls, f"g{n}", GROUP)) for n in range(25)]
    await eventually(lambda: len(calls.done) >= 20)
    started = now()
    await send(limiter, calls, "person", PERSON)
    # The five group messages waiting for the group's window do not hold up someone else.
    assert now() - started < 0.3
    assert len(calls.done) == 21
    await asyncio.gather(*group)
    group_times = sorted(at for name, at in calls.done if name.startswith("g"))
    assert group_times[20] - group_times[0] >= 1.0
    await limiter.shutdown()


async def test_a_person_gets_a_burst_of_three_then_one_a_second(limiter: FloodLimiter) -> None:
    calls = Calls()
    started = now()
    await asyncio.gather(*(send(limiter, calls, f"p{n}", PERSON) for n in range(5)))
    times = sorted(at - started for _name, at in calls.done)
    assert times[2] < 0.5 and times[3] >= 0.9 and times[4] >= 1.9


async def test_a_reply_is_retried_after_retry_after_and_network_errors(
    limiter: FloodLimiter,
) -> None:
    calls = Calls()
    failures: list[Exception] = [RetryAfter(timedelta(seconds=1)), NetworkError("Bad Gateway")]
    started = now()
    assert await send(limiter, calls, "reply", PERSON, failures=failures) is True
    assert now() - started >= 1.0
    assert [name for name, _at in calls.done] == ["reply"]


async def test_a_reply_gives_up_after_the_patience_and_refusals_are_not_retried(
    limiter: FloodLimiter,
) -> None:
    calls = Calls()
    with pytest.raises(RetryAfter):
        await send(limiter, calls, "r", PERSON, failures=[RetryAfter(timedelta(seconds=10))])
    with pytest.raises(BadRequest):
        await send(limiter, calls, "r", PERSON + 1, failures=[BadRequest("message too long")])
    assert calls.done == []


async def test_outbox_calls_are_not_retried_here(limiter: FloodLimiter) -> None:
    calls = Calls()
    with pytest.raises(NetworkError):
        await send(
            limiter, calls, "alert", GROUP, outbox=True, failures=[NetworkError("Bad Gateway")]
        )
    assert calls.done == []


async def test_a_429_holds_that_chat_only(limiter: FloodLimiter) -> None:
    calls = Calls()
    with pytest.raises(RetryAfter):
        await send(
            limiter, calls, "a", GROUP, outbox=True, failures=[RetryAfter(timedelta(seconds=1))]
        )
    started = now()
    await send(limiter, calls, "b", PERSON, outbox=True)
    assert now() - started < 0.3
    await send(limiter, calls, "c", GROUP, outbox=True)
    assert now() - started >= 0.9


async def test_replies_go_at_once_while_the_last_second_has_room(limiter: FloodLimiter) -> None:
    calls = Calls()
    started = now()
    # No evenly spaced slots: the twenty replies the window has room for go at once, and the
    # twenty-first when the first of them leaves the window.
    await asyncio.gather(*(send(limiter, calls, f"r{n}", 700300 + n) for n in range(21)))
    times = sorted(at - started for _name, at in calls.done)
    assert times[19] == 0.0
    assert times[20] >= limits.OVERALL_WINDOW


async def test_the_outbox_alone_is_spaced_evenly(limiter: FloodLimiter) -> None:
    calls = Calls()
    started = now()
    alerts = [
        asyncio.create_task(send(limiter, calls, f"o{n}", 800100 + n, outbox=True))
        for n in range(limiter.outbox_share + 1)
    ]
    await eventually(lambda: len(calls.done) == limiter.outbox_share)
    # Its share of the budget (2 places of 20) the outbox takes at once; the next alert waits
    # for the next evenly spaced slot, while a reply does not.
    asked = now() - started
    await send(limiter, calls, "reply", PERSON)
    await asyncio.gather(*alerts)
    when = {name: at - started for name, at in calls.done}
    assert when["o0"] == when["o1"] == 0.0 and asked < limiter.interval
    assert when["reply"] == asked
    assert when["o2"] >= limiter.interval


async def test_a_code_goes_before_the_outbox_calls_waiting_but_after_the_codes(
    limiter: FloodLimiter,
) -> None:
    calls = Calls()

    async def code(n: int) -> None:
        # In a task of its own, as the outbox sends each item.
        PRESSING.set(True)
        await send(limiter, calls, f"code{n}", 700200 + n, outbox=True)

    # Eight alerts wait for the outbox's evenly spaced slots; then two codes come.
    alerts = [
        asyncio.create_task(send(limiter, calls, f"alert{n}", 800200 + n, outbox=True))
        for n in range(8)
    ]
    await asyncio.sleep(0)
    codes = [asyncio.create_task(code(n)) for n in range(2)]
    await asyncio.gather(*alerts, *codes)
    order = [name for name, _at in calls.done]
    # The alerts already let go (the outbox's share, at once) stay first; the codes, in turn,
    # come before every alert still waiting.
    first = order.index("code0")
    assert order[first : first + 2] == ["code0", "code1"], order
    assert first <= limiter.outbox_share, order
    assert sorted(order) == sorted([*(f"alert{n}" for n in range(8)), "code0", "code1"])


async def test_calls_that_send_nothing_pass_straight_through(limiter: FloodLimiter) -> None:
    calls = Calls()
    started = now()
    await asyncio.gather(
        *(send(limiter, calls, f"u{n}", PERSON, endpoint="getUpdates") for n in range(10))
    )
    assert now() - started < 0.2


async def test_chats_whose_limits_recovered_are_forgotten(
    limiter: FloodLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "FORGET_EVERY", 10)
    calls = Calls()
    people = [PERSON + n for n in range(1, 9)]
    await asyncio.gather(*(send(limiter, calls, "p", person) for person in people))
    await send(limiter, calls, "g", GROUP)
    assert limiter.tracked_chats() == len(people) + 1
    # A person's bucket is full again after three quiet seconds; a group's minute is past.
    await asyncio.sleep(limits.GROUP_WINDOW + 1)
    # The tenth chat slot forgets what recovered, then counts itself.
    await send(limiter, calls, "again", PERSON + 1)
    assert limiter.tracked_chats() == 1
    # Forgotten means as good as new: a burst of three at once.
    started = now()
    await asyncio.gather(*(send(limiter, calls, f"b{n}", PERSON + 2) for n in range(3)))
    assert max(at for name, at in calls.done if name.startswith("b")) - started < 0.5


async def test_no_second_at_telegrams_end_holds_more_than_the_budget_whatever_the_transit(
    limiter: FloodLimiter,
) -> None:
    arrived: list[float] = []

    def slow(delay: float) -> Any:
        async def run() -> bool:
            # Telegram counts the message when it gets there: here, at the end of its way.
            await asyncio.sleep(delay)
            arrived.append(now())
            return True

        return run

    async def call(n: int, delay: float) -> None:
        await limiter.process_request(slow(delay), (), {}, "sendMessage", {"chat_id": n}, None)

    # A second's worth of slow messages, then as many quick ones: counted from the moment each
    # was let go, the quick ones would land together with the slow ones.
    first = [asyncio.create_task(call(700400 + n, 0.8)) for n in range(20)]
    await asyncio.sleep(0.01)
    second = [asyncio.create_task(call(700500 + n, 0.0)) for n in range(20)]
    await asyncio.gather(*first, *second)
    arrived.sort()
    busiest = max(
        sum(1 for t in arrived[i:] if t < start + 1.0) for i, start in enumerate(arrived)
    )
    assert busiest <= 20, arrived

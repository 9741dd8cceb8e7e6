"""The lanes: in order within a key, side by side across keys; the flood guard's counting."""

from __future__ import annotations

import asyncio
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.lanes import FloodGuard, Lanes, Verdict


async def test_lanes_keep_order_within_a_key_and_run_keys_side_by_side() -> None:
    done: list[tuple[str, int]] = []
    running_now: set[str] = set()
    widest = 0

    async def work(item: tuple[str, int]) -> None:
        nonlocal widest
        key, _n = item
        assert key not in running_now, "two items of one key at once"
        running_now.add(key)
        widest = max(widest, len(running_now))
        await asyncio.sleep(0.001 if key == "slow" else 0)
        running_now.discard(key)
        done.append(item)

    lanes: Lanes[tuple[str, int]] = Lanes(work, width=4)
    lanes.start()
    try:
        for n in range(200):
            lanes.submit("slow", ("slow", n))
        for n in range(20):
            for key in ("a", "b", "c", "d", "e"):
                lanes.submit(key, (key, n))
        await asyncio.wait_for(lanes.idle(), 10)
    finally:
        await lanes.stop()
    for key in ("slow", "a", "b", "c", "d", "e"):
        assert [n for k, n in done if k == key] == list(range(200 if key == "slow" else 20))
    assert widest == 4
    # The other keys did not wait for the slow key's backlog.
    last_quick = max(i for i, (k, _) in enumerate(done) if k != "slow")
    assert last_quick < len(done) - 100


def test_the_flood_guard_counts_albums_once_and_pauses_a_minute() -> None:
    guard = FloodGuard(limit=3, seconds=10)
    assert [guard.check(1, 100.0 + n) for n in range(3)] == [Verdict.READ] * 3
    assert guard.check(2, 103.0) is Verdict.READ  # someone else is not affected
    assert guard.check(1, 103.0) is Verdict.WARN
    assert guard.check(1, 150.0) is Verdict.IGNORE
    assert guard.check(1, 163.5) is Verdict.READ
    # Ten photos of one album are one message.
    assert {guard.check(3, 200.0, album="a1") for _ in range(10)} == {Verdict.READ}
    assert guard.check(3, 200.0) is Verdict.READ and guard.check(3, 201.0) is Verdict.READ


def test_the_flood_guard_counts_a_sliding_window_and_forgets_the_quiet() -> None:
    guard = FloodGuard(limit=3, seconds=10, pause=60)
    # Three in any ten seconds, for a minute: the older ones leave the window as new ones come.
    assert {guard.check(1, 100.0 + 4 * n) for n in range(15)} == {Verdict.READ}
    assert guard.check(1, 158.5) is Verdict.READ
    assert guard.check(1, 159.0) is Verdict.WARN
    # Everyone quiet for longer than the window and the pause is forgotten at the 1,000th check.
    for person in range(2, 1000 - 16):
        guard.check(person, 160.0)
    assert len(guard._people) == 1000 - 17
    guard.check(5000, 300.0)
    assert len(guard._people) == 1


class _EveryPaceKept:
    """The flood guard's rule with a window kept for every person, to compare with."""

    def __init__(self, limit: int, seconds: float, pause: float) -> None:
        self.limit, self.seconds, self.pause = limit, seconds, pause
        self.people: dict[int, tuple[deque[tuple[float, str | None]], list[float]]] = {}

    def check(self, user_id: int, moment: float, album: str | None) -> Verdict:
        window, quiet = self.people.setdefault(user_id, (deque(), [float("-inf")]))
        if moment < quiet[0]:
            return Verdict.IGNORE
        while window and window[0][0] <= moment - self.seconds:
            window.popleft()
        if album is not None and any(seen == album for _, seen in window):
            return Verdict.READ
        if len(window) >= self.limit:
            quiet[0] = moment + self.pause
            window.clear()
            return Verdict.WARN
        window.append((moment, album))
        return Verdict.READ


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 4),
    messages=st.lists(
        st.tuples(
            st.integers(1, 3),
            st.floats(0.0, 30.0, allow_nan=False),
            st.sampled_from([None, None, "a", "b"]),
        ),
        max_size=60,
    ),
)
def test_the_flood_guard_judges_as_if_every_window_were_kept(
    limit: int, messages: list[tuple[int, float, str | None]]
) -> None:
    guard = FloodGuard(limit=limit, seconds=10, pause=20)
    model = _EveryPaceKept(limit, 10, 20)
    moment = 1000.0
    for person, gap, album in messages:
        moment += gap
        assert guard.check(person, moment, album) is model.check(person, moment, album)


def test_the_flood_guard_keeps_a_lone_message_as_its_moment() -> None:
    guard = FloodGuard(limit=3, seconds=10)
    assert guard.check(1, 100.0) is Verdict.READ
    assert guard._people[1] == 100.0
    assert guard.check(1, 101.0) is Verdict.READ
    assert not isinstance(guard._people[1], float)
    # Once the earlier one leaves the window, the moment alone is kept again.
    assert guard.check(1, 115.0) is Verdict.READ
    assert guard._people[1] == 115.0
    assert guard.check(2, 100.0, album="a") is Verdict.READ
    assert not isinstance(guard._people[2], float)

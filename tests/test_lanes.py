"""The lanes: in order within a key, side by side across keys; the flood guard's counting."""

from __future__ import annotations

import asyncio

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

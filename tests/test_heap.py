"""The heap trimmer: free pages given back once the bot is quiet after work, never under load."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.heap import QUIET_SHARE, WORK_BETWEEN_TRIMS, HeapTrimmer, malloc_trim


class Cpu:
    """A process clock moved by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def trimmer() -> tuple[HeapTrimmer, Cpu, list[int]]:
    cpu = Cpu()
    calls: list[int] = []
    return HeapTrimmer(lambda: calls.append(1), cpu), cpu, calls


def test_a_quiet_second_after_work_trims_once() -> None:
    heap, cpu, calls = trimmer()
    cpu.seconds += WORK_BETWEEN_TRIMS + 0.1  # a burst of work
    assert not heap.look(1.0)  # the burst's own second is not quiet
    assert heap.look(1.0)  # nothing used since: quiet after work
    assert not heap.look(1.0)  # staying quiet gives nothing more back
    assert not heap.look(1.0)
    assert len(calls) == 1
    assert heap.trims == 1


def test_no_trim_while_busy() -> None:
    heap, cpu, calls = trimmer()
    for _ in range(20):
        cpu.seconds += 0.3  # 30 % of a core, second after second
        assert not heap.look(1.0)
    assert calls == []


def test_quiet_without_enough_work_since_the_last_trim_does_not_trim() -> None:
    heap, cpu, calls = trimmer()
    for _ in range(int(WORK_BETWEEN_TRIMS / 0.04) - 1):
        cpu.seconds += 0.04  # quiet each second, yet under the work between trims in all
        heap.look(1.0)
    assert calls == []


def test_work_then_quiet_again_trims_again() -> None:
    heap, cpu, calls = trimmer()
    for _ in range(2):
        cpu.seconds += WORK_BETWEEN_TRIMS
        assert not heap.look(1.0)
        cpu.seconds += QUIET_SHARE / 2
        assert heap.look(1.0)
    assert len(calls) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_this_c_library_has_malloc_trim_and_it_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was given back


async def test_the_trimmer_runs_until_cancelled_and_trims_when_quiet() -> None:
    cpu = Cpu()
    calls: list[int] = []
    heap = HeapTrimmer(lambda: calls.append(1), cpu)
    cpu.seconds += WORK_BETWEEN_TRIMS * 2
    task = asyncio.create_task(heap.run(every=0.01))
    for _ in range(500):
        if calls:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == 1

"""The outbox's order: a citizen's code before the alerts queued with it; several places at
once, each place's items in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.outbox import OutboxItem, OutboxKind
from bot.store.repository import StorageError
from bot.telegram.delivery import Delivery


def item(number: int, kind: OutboxKind, report: int | None = None) -> OutboxItem:
    report = number if report is None else report
    return OutboxItem(number, kind, report, None, None, None, 0, 0, None)  # type: ignore[arg-type]


class Outbox:
    """Due items as the store returns them, oldest first; an attempted one is done."""

    def __init__(self, items: list[OutboxItem]) -> None:
        self.pending = list(items)

    async def due(self) -> list[OutboxItem]:
        return list(self.pending)


def delivery(outbox: Outbox, sent: list[int], during: dict[int, OutboxItem]) -> Delivery:
    """A Delivery whose sending records the item; sending `n` queues `during[n]` meanwhile."""
    worker: Any = Delivery.__new__(Delivery)
    worker._wake = asyncio.Event()
    worker._stopping = False
    worker.db = SimpleNamespace(outbox=outbox, database=SimpleNamespace(shared=False))

    async def attempt(done: OutboxItem) -> bool:
        sent.append(done.id)
        outbox.pending.remove(done)
        if done.id in during:
            outbox.pending.append(during[done.id])
            worker.wake()
        return True

    worker._attempt = attempt
    return worker


async def test_the_codes_of_a_batch_go_before_its_alerts() -> None:
    queued = [
        item(1, OutboxKind.ALERT),
        item(2, OutboxKind.RECEIPT),
        item(3, OutboxKind.ALERT),
        item(4, OutboxKind.RECEIPT),
        item(5, OutboxKind.STATUS_NOTICE),
    ]
    sent: list[int] = []
    assert await delivery(Outbox(queued), sent, {}).deliver_due() == 5
    assert sent == [2, 4, 1, 3, 5]


async def test_a_code_queued_meanwhile_does_not_wait_for_the_rest_of_the_batch() -> None:
    queued = [item(n, OutboxKind.ALERT) for n in range(1, 6)]
    sent: list[int] = []
    # While the first alert goes, a citizen presses Send: their code is next, not sixth.
    worker = delivery(Outbox(queued), sent, {1: item(9, OutboxKind.RECEIPT)})
    # One at a time, as when the others are busy: the code takes the next free place.
    worker._width = 1
    assert await worker.deliver_due() == 6
    assert sent == [1, 9, 2, 3, 4, 5]


def hold(worker: Delivery, held: Callable[[OutboxItem], bool]) -> tuple[asyncio.Event, list[int]]:
    """Make `worker` hold the items `held` picks until the event returned is set; the list
    returned names every item started, in order."""
    quick = worker._attempt
    release = asyncio.Event()
    started: list[int] = []

    async def attempt(done: OutboxItem) -> bool:
        started.append(done.id)
        if held(done):
            await release.wait()
        return bool(await quick(done))

    worker._attempt = attempt
    return release, started


async def settle() -> None:
    """Let the delivery's tasks run as far as they can."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_code_goes_although_every_place_is_held_by_a_paced_alert() -> None:
    # Two places, both alerts that Telegram's pacing of their groups holds for a while.
    outbox = Outbox([item(n, OutboxKind.ALERT) for n in range(1, 4)])
    sent: list[int] = []
    worker = delivery(outbox, sent, {})
    worker._width = 2
    paced, started = hold(worker, lambda done: done.kind is OutboxKind.ALERT)
    delivering = asyncio.create_task(worker.deliver_due())
    await settle()
    assert started == [1, 2]
    # A citizen presses Send meanwhile: their code goes out now, the third alert still waits.
    outbox.pending.append(item(9, OutboxKind.RECEIPT))
    worker.wake()
    await settle()
    assert sent == [9] and started == [1, 2, 9]
    paced.set()
    assert await delivering == 4
    assert sent[:1] == [9] and sorted(sent) == [1, 2, 3, 9]


async def test_a_slow_item_holds_up_its_own_place_only() -> None:
    # Report 1's alert is slow to go (Telegram paces its unit's group); its edit must wait for
    # it, but another citizen's code and another report's alert need not.
    queued = [
        item(1, OutboxKind.ALERT, report=1),
        item(2, OutboxKind.REFRESH, report=1),
        item(3, OutboxKind.ALERT, report=2),
        item(4, OutboxKind.RECEIPT, report=3),
    ]
    sent: list[int] = []
    worker = delivery(Outbox(queued), sent, {})
    slow, _started = hold(worker, lambda done: done.id == 1)
    delivering = asyncio.create_task(worker.deliver_due())
    await settle()
    assert sent == [4, 3]
    slow.set()
    assert await delivering == 4
    assert sent == [4, 3, 1, 2]


async def test_a_database_error_in_one_item_ends_the_round_and_the_others() -> None:
    outbox = Outbox([item(1, OutboxKind.ALERT), item(2, OutboxKind.ALERT)])
    worker = delivery(outbox, [], {})
    stuck = asyncio.Event()
    cancelled: list[int] = []

    async def attempt(done: OutboxItem) -> bool:
        if done.id == 2:
            raise StorageError("disk I/O error")
        try:
            await stuck.wait()
        except asyncio.CancelledError:
            cancelled.append(done.id)
            raise
        return True

    worker._attempt = attempt
    with pytest.raises(StorageError):
        await worker.deliver_due()
    assert cancelled == [1]

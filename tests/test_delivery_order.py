"""The outbox's order within a batch: a citizen's code before the alerts queued with it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.core.outbox import OutboxItem, OutboxKind
from bot.telegram.delivery import Delivery


def item(number: int, kind: OutboxKind) -> OutboxItem:
    return OutboxItem(number, kind, number, None, None, None, 0, 0, None)  # type: ignore[arg-type]


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
    assert await worker.deliver_due() == 6
    assert sent == [1, 9, 2, 3, 4, 5]

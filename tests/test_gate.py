"""The connection's gate: a transaction alone, single statements side by side, turns in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.gate import Gate
from bot.store.repository import Repository
from tests.test_storage import seeded

NO_WAIT = 5.0


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def hold(gate: Gate, exclusive: bool, log: list[str], name: str, go: asyncio.Event) -> None:
    async with gate.exclusive() if exclusive else gate.shared():
        log.append(f"{name} in")
        await go.wait()
    log.append(f"{name} out")


async def test_single_statements_hold_the_gate_together() -> None:
    gate, log, go = Gate(), [], asyncio.Event()
    tasks = [asyncio.create_task(hold(gate, False, log, n, go)) for n in ("a", "b", "c")]
    await settle()
    assert log == ["a in", "b in", "c in"] and gate.sharing == 3 and not gate.locked()
    go.set()
    await asyncio.gather(*tasks)
    assert gate.sharing == 0


async def in_line(
    gate: Gate, log: list[str], first: asyncio.Event, second: asyncio.Event, third: asyncio.Event
) -> list[asyncio.Task[None]]:
    """A statement holding the gate, a transaction waiting, then another statement asking."""
    tasks = []
    for name, exclusive, go in (
        ("statement", False, first),
        ("transaction", True, second),
        ("later", False, third),
    ):
        tasks.append(asyncio.create_task(hold(gate, exclusive, log, name, go)))
        await settle()
    return tasks


async def test_a_transaction_waits_for_the_statements_and_those_after_it_wait_for_it() -> None:
    gate, log = Gate(), []
    first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
    statement, transaction, later = await in_line(gate, log, first, second, third)
    # Asked for after the waiting transaction, the later statement does not overtake it,
    # however free the gate is for statements.
    assert log == ["statement in"]
    first.set()
    await settle()
    assert log == ["statement in", "statement out", "transaction in"] and gate.locked()
    second.set()
    third.set()
    await asyncio.gather(statement, transaction, later)
    assert log[3:] == ["transaction out", "later in", "later out"]


async def test_async_with_is_the_exclusive_turn() -> None:
    gate = Gate()
    async with gate:
        assert gate.locked()
    assert not gate.locked()


async def test_a_turn_cancelled_while_waiting_holds_up_nobody() -> None:
    gate, log, go = Gate(), [], asyncio.Event()
    statement, transaction, later = await in_line(gate, log, go, go, go)
    # The transaction gives up waiting: the statement behind it need not wait any more.
    transaction.cancel()
    await settle()
    assert log == ["statement in", "later in"]
    go.set()
    await asyncio.gather(statement, later)
    with pytest.raises(asyncio.CancelledError):
        await transaction
    assert gate.sharing == 0 and not gate.locked()


async def test_a_turn_given_then_cancelled_is_handed_on() -> None:
    gate = Gate()
    log: list[str] = []
    go = asyncio.Event()
    async with gate:
        waiting = asyncio.create_task(hold(gate, True, log, "waiting", go))
        await settle()
        after = asyncio.create_task(hold(gate, True, log, "after", go))
        await settle()
    # The turn is given to `waiting`, which is cancelled before it runs: `after` gets it.
    waiting.cancel()
    go.set()
    await after
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert log == ["after in", "after out"] and not gate.locked()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Repository]:
    async with seeded(tmp_path / "t.db") as repo:
        yield repo


async def test_a_statement_never_runs_inside_another_ones_transaction(db: Repository) -> None:
    database = db.database
    opened, release = asyncio.Event(), asyncio.Event()

    async def transaction() -> None:
        async with database.write() as conn:
            await conn.execute("INSERT INTO markers (name, value) VALUES ('in-txn', '1')")
            opened.set()
            await release.wait()
            raise RuntimeError("rolled back")

    task = asyncio.create_task(transaction())
    await opened.wait()
    statement = asyncio.create_task(
        database.write_one("INSERT INTO markers (name, value) VALUES ('alone', '1')")
    )
    await asyncio.sleep(0.05)
    # Queued in SQLite's thread now, it would have run inside the open transaction.
    assert not statement.done()
    release.set()
    with pytest.raises(RuntimeError, match="rolled back"):
        await task
    async with asyncio.timeout(NO_WAIT):
        assert await statement == 1
    async with database.read() as conn:
        rows = await conn.execute_fetchall("SELECT name FROM markers ORDER BY name")
    # The transaction's row went with its rollback; the statement's own commit stayed.
    assert [r["name"] for r in rows] == ["alone"]

"""Several webhook workers on one PostgreSQL database: each update handled once and in order,
a chat owned by one worker at a time, outbox items claimed once, the jobs run by one worker
once a period, and Telegram's limits kept by all of them together."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import UnitConfig
from bot.core.outbox import OutboxItem, Outgoing, TextNotice
from bot.jobs import once_per_period
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from bot.store.channels import ChannelStore
from bot.store.coordination import chat_lock
from bot.store.outbox import CLAIM_SECONDS, ClaimLost
from bot.store.repository import InstanceBusy, Repository
from bot.telegram import owners
from bot.telegram.delivery import Delivery
from bot.telegram.inbound import Inbound
from tests.conftest import HA_LONG_CHAT, FakeClock, Person, code_in, eventually
from tests.pgserver import PostgresServer
from tests.test_restart import read_log, shut_down, start_bot, stop, write_config
from tests.test_zalo import file_report
from tests.workers_helpers import HOOK, SECRET, Telegram, free_port, worker_settings, workers
from tests.zalo_helpers import ZaloCitizen, jpeg, zalo_config


@pytest.fixture
async def url(postgres_server: PostgresServer) -> str:
    return await postgres_server.new_database()


@pytest.fixture
async def repos(url: str, tmp_path: Path) -> AsyncIterator[list[Repository]]:
    """Three workers' repositories on one database, on one fake clock."""
    clock = FakeClock()
    repos = [Repository(tmp_path / "keys", url=url, clock=clock) for _ in range(3)]
    for repo in repos:
        await repo.open()
    try:
        yield repos
    finally:
        for repo in repos:
            await repo.close()


async def test_one_chats_updates_are_handled_once_each_in_order_by_one_worker_at_a_time(
    sim: BotApiSimulator, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, int, int, int]] = []
    handle_owned = Inbound.handle_owned

    async def recorded(self: Inbound, update_id: int, payload: str) -> None:
        chat = _chat_of(payload)
        events.append(("start", id(self), chat, update_id))
        # A pause inside the turn: the next update of the chat reaches another worker while
        # this one still holds the chat.
        await asyncio.sleep(0.02)
        await handle_owned(self, update_id, payload)
        events.append(("end", id(self), chat, update_id))

    monkeypatch.setattr(Inbound, "handle_owned", recorded)
    # No sweep after the first: every update must be taken up on the normal path, by the worker
    # that stored it or by the chat's owner reading the chat again after releasing it.
    monkeypatch.setattr(owners, "SWEEP_SECONDS", 3600.0)
    settings = worker_settings(sim, tmp_path, url, flood_messages=1000)
    people = [Person(sim, sim.add_user(760001 + n, f"Người {n}")) for n in range(3)]
    async with workers(settings, 3) as running, Telegram(sim, [w.port for w in running]) as tg:
        for _round in range(6):
            for person in people:
                await person.user.send("/help")
        await eventually(lambda: tg.pending() == 0, wait=30)
        sent = {uid for uid, _port in tg.delivered}
        await eventually(lambda: len([e for e in events if e[0] == "end"]) >= len(sent), wait=30)
        for person in people:
            await eventually(lambda p=person: len(_helps(sim, p.id)) == 6, wait=30)  # type: ignore[misc]
    # Each update reached more than one worker (the balancer's turns), was handled once...
    assert len({port for _uid, port in tg.delivered}) == 3
    handled = [uid for kind, _w, _c, uid in events if kind == "start"]
    assert sorted(handled) == sorted(sent) and len(handled) == 18
    # ... in Telegram's order within its chat ...
    for person in people:
        ids = [uid for kind, _w, chat, uid in events if kind == "start" and chat == person.id]
        assert ids == sorted(ids) and len(ids) == 6
    # ... by one worker at a time.
    active: dict[int, int] = {}
    for kind, worker, chat, _uid in events:
        if kind == "start":
            assert chat not in active
            active[chat] = worker
        else:
            assert active.pop(chat) == worker
    # Several workers took part, and nothing is left stored.
    assert len({worker for _k, worker, _c, _u in events}) >= 2
    async with Repository(tmp_path / "keys", url=url) as db:
        assert await db.inbound.unhandled_updates() == []


async def test_a_row_stored_while_another_worker_holds_the_chat_is_handled(
    repos: list[Repository],
) -> None:
    first, second, _third = repos
    assert first.database.coordination and second.database.coordination
    key = chat_lock(42)
    assert await first.database.coordination.try_lock(key)
    assert not await second.database.coordination.try_lock(key)
    await second.inbound.store_updates([(7, "{}")], {7: 42})
    # The holder releases the chat, then reads it again: the row the other worker stored
    # meanwhile is there, and the chat is free to take.
    await first.database.coordination.unlock(key)
    assert await first.inbound.chat_updates(42) == [(7, "{}")]
    assert await second.database.coordination.try_lock(key)
    # A worker's session ends (it was killed): the chats it held are free again.
    second.database.coordination._raw.terminate()  # type: ignore[union-attr]
    assert not second.database.coordination.holds(key)
    await eventually(lambda: first.database.coordination.try_lock(key), wait=5)  # type: ignore[union-attr]


async def test_workers_starting_together_seed_the_units_once(repos: list[Repository]) -> None:
    units = [
        UnitConfig("QN", "Tỉnh Quảng Ninh", chat_id=-100),
        UnitConfig("HL", "Phường Hạ Long", parent="QN", chat_id=-200, officers=(7, 8)),
    ]
    # Each finds the units missing before any of them has committed.
    await asyncio.gather(*(repo.units.seed_units(units) for repo in repos))
    seeded = await repos[0].units.all_units()
    assert sorted((u.code, u.parent, u.chat_id) for u in seeded) == [
        ("HL", "QN", -200),
        ("QN", None, -100),
    ]
    assert sorted(await repos[1].units.officers_of("HL")) == [(7, "config"), (8, "config")]


async def test_each_update_is_stored_once_whichever_workers_receive_it(
    repos: list[Repository],
) -> None:
    batches = [[(uid, f'{{"update_id": {uid}}}') for uid in range(100, 140)] for _ in repos]
    fresh = await asyncio.gather(
        *(
            repo.inbound.store_updates(batch, {})
            for repo, batch in zip(repos, batches, strict=True)
        )
    )
    stored = [uid for ids in fresh for uid in ids]
    assert sorted(stored) == list(range(100, 140))
    assert [uid for uid, _ in await repos[0].inbound.unhandled_updates()] == list(range(100, 140))


async def test_outbox_items_are_claimed_once_and_a_dead_workers_claims_are_taken_over(
    repos: list[Repository],
) -> None:
    first = repos[0]
    ids = [await first.outbox.add(Outgoing(TextNotice(f"n{n}"), chat_id=9)) for n in range(30)]

    async def drain(repo: Repository) -> list[int]:
        got = []
        while items := await repo.outbox.due():
            for item in items:
                got.append(item.id)
                await repo.outbox.start_part(item.id, 1)
                await asyncio.sleep(0)
                await repo.outbox.done(item.id)
        return got

    claimed = await asyncio.gather(*(drain(repo) for repo in repos))
    everything = [i for got in claimed for i in got]
    assert sorted(everything) == ids
    assert len(set(everything)) == len(everything)

    # A worker claims items, then dies without giving them back.
    more = [await first.outbox.add(Outgoing(TextNotice(f"m{n}"), chat_id=9)) for n in range(3)]
    dead, heir = repos[1], repos[2]
    assert [i.id for i in await dead.outbox.due()] == more
    assert await heir.outbox.due() == []
    first.clock.advance(hours=CLAIM_SECONDS / 3600 + 0.01)  # type: ignore[attr-defined]
    assert [i.id for i in await heir.outbox.due()] == more
    # The dead worker's part, were it still going, is refused: the item is the heir's now.
    with pytest.raises(ClaimLost):
        await dead.outbox.start_part(more[0], 1)
    await heir.outbox.start_part(more[0], 1)
    # A live worker renews its claims however long it takes: they never expire under it.
    for _ in range(3):
        first.clock.advance(hours=CLAIM_SECONDS / 3600 * 0.6)  # type: ignore[attr-defined]
        assert await heir.outbox.renew_claims() == 3
        assert await dead.outbox.due() == []
    # A stopping worker gives its claims back at once.
    assert await heir.outbox.release_claims() == 3
    assert [i.id for i in await dead.outbox.due()] == more


async def test_a_killed_workers_claims_are_taken_over_as_soon_as_its_session_ends(
    repos: list[Repository],
) -> None:
    first, dead, heir = repos
    ids = [await first.outbox.add(Outgoing(TextNotice(f"k{n}"), chat_id=9)) for n in range(3)]
    assert [i.id for i in await dead.outbox.due()] == ids
    # Alive, the claimer keeps them: the others wait for the claims' expiry.
    assert await heir.outbox.due() == []
    assert await heir.outbox.next_due() == pytest.approx(first.clock() + CLAIM_SECONDS)
    # The claimer is killed: the server ends its session. No time passes on the clock, and
    # the claims are the heir's all the same.
    assert dead.database._pg is not None
    dead.database._pg.raw.terminate()

    async def due_now() -> bool:
        due = await heir.outbox.next_due()
        return due is not None and due < first.clock() + 1

    # The server notices the session's end a moment later; until then the claims hold.
    await eventually(due_now, wait=10)
    assert [i.id for i in await heir.outbox.due()] == ids
    # The dead worker's part, were it still going (on a new session), is refused.
    with pytest.raises(ClaimLost):
        await dead.outbox.start_part(ids[0], 1)
    # The heir's own claims hold against the others, alive as it is.
    assert await first.outbox.due() == []


async def test_the_jobs_run_on_one_worker_once_a_period_and_another_takes_over(
    repos: list[Repository],
) -> None:
    ran: list[str] = []

    class Context:
        def __init__(self, db: Repository) -> None:
            self.db = db

    async def job(context: Any) -> None:
        ran.append(context.db.database.worker)

    tick = once_per_period("deadlines", 60.0, job)
    first, second, third = repos
    for _ in range(3):
        for repo in repos:
            await tick(Context(repo))  # type: ignore[arg-type]
    # One worker holds the jobs; the period ran once, by it.
    assert ran == [first.database.worker]
    assert first.jobs.leads() and not second.jobs.leads() and not third.jobs.leads()
    first.clock.advance(hours=1 / 60)  # type: ignore[attr-defined]
    # Its session ends (killed): at their next tick another worker takes over, and runs the
    # new period once.
    first.database.coordination._raw.terminate()  # type: ignore[union-attr]

    async def ticked() -> bool:
        # The server ends the session a moment later; until then the others find it held.
        for repo in (second, third):
            await tick(Context(repo))  # type: ignore[arg-type]
        return len(ran) > 1

    await eventually(ticked, wait=10)
    for repo in (second, third):
        await tick(Context(repo))  # type: ignore[arg-type]
    assert ran[0] == first.database.worker and len(ran) == 2
    assert ran[1] in (second.database.worker, third.database.worker)
    runs = await third.jobs.runs("deadlines")
    assert [worker for _period, worker in runs] == ran
    assert runs[1][0] == runs[0][0] + 1


async def test_a_new_leader_does_not_run_a_period_that_ran_already(
    repos: list[Repository],
) -> None:
    first, second, _third = repos
    assert await first.jobs.lead()
    assert await first.jobs.claim_period("retention", 7)
    first.database.coordination._raw.terminate()  # type: ignore[union-attr]
    await eventually(second.jobs.lead, wait=10)
    assert not await second.jobs.claim_period("retention", 7)
    assert await second.jobs.claim_period("retention", 8)


async def test_workers_sending_flat_out_together_keep_telegrams_limits(
    url: str, tmp_path: Path
) -> None:
    async with BotApiSimulator(enforce_limits=True) as sim:
        group = -100777
        sim.add_chat(group, "Tổ công tác", type="supergroup")
        people = [sim.add_user(770000 + n, f"Người {n}") for n in range(60)]
        settings = worker_settings(
            sim, tmp_path, url, messages_per_second=29.0, pace_private_chats=True
        )
        async with workers(settings, 3) as running:

            async def send(worker_index: int) -> None:
                bot = running[worker_index].app.bot
                calls = [
                    bot.send_message(person.id, f"tin {worker_index}")
                    for person in people[worker_index::3]
                ]
                # One person gets a message from every worker at once, and a group some too.
                calls += [bot.send_message(people[0].id, f"thêm {worker_index}") for _ in range(2)]
                calls += [bot.send_message(group, f"nhóm {worker_index}") for _ in range(3)]
                await asyncio.gather(*calls)

            await asyncio.gather(*(send(n) for n in range(3)))
        assert len([c for c in sim.calls if c[0] == "sendMessage"]) >= 60 + 6 + 9
        assert sim.flood_violations == 0


def _helps(sim: BotApiSimulator, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in sim.messages(chat_id) if "/myreports" in m.get("text", "")]


def _chat_of(payload: str) -> int:
    update = json.loads(payload)
    message = update.get("message") or update.get("callback_query", {}).get("message", {})
    return int(message.get("chat", {}).get("id", 0))


async def test_a_persons_pace_is_counted_across_the_workers(
    sim: BotApiSimulator, url: str, tmp_path: Path
) -> None:
    settings = worker_settings(sim, tmp_path, url, flood_messages=3, flood_seconds=60.0)
    person = Person(sim, sim.add_user(780001, "Hùng"))
    async with workers(settings, 3) as running, Telegram(sim, [w.port for w in running]) as tg:
        for _ in range(7):
            await person.user.send("/help")
        await eventually(lambda: tg.pending() == 0, wait=30)
        await sim.wait_for_message(person.id, contains="quá nhanh", timeout=15)
        async with Repository(tmp_path / "keys", url=url) as db:
            await eventually(lambda: _empty(db), wait=15)
    # Each worker saw two or three of the seven; together they read three, told the person
    # once, and dropped the rest.
    assert len({port for _uid, port in tg.delivered}) == 3
    assert len(_helps(sim, person.id)) == 3
    assert len([m for m in person.messages if "quá nhanh" in m.get("text", "")]) == 1


async def _empty(db: Repository) -> bool:
    return await db.inbound.unhandled_updates() == []


async def test_webhook_workers_share_the_database_but_never_with_a_poller(
    url: str, tmp_path: Path
) -> None:
    def worker(name: str, *, webhook: bool) -> Repository:
        repo = Repository(tmp_path / name, url=url, exclusive=True)
        repo.database.sharing = webhook
        return repo

    first, second = worker("a", webhook=True), worker("b", webhook=True)
    await first.open()
    await second.open()
    try:
        with pytest.raises(InstanceBusy):
            await worker("c", webhook=False).open()
    finally:
        await first.close()
        await second.close()
    poller = worker("d", webhook=False)
    await poller.open()
    try:
        with pytest.raises(InstanceBusy):
            await worker("e", webhook=True).open()
    finally:
        await poller.close()


async def start_webhook_worker(config: Path, log: Path, *extra: str) -> asyncio.subprocess.Process:
    """Start `liemchinh run --webhook` as each worker of a deployment is started."""
    return await start_bot(config, log, "--webhook", *extra)


def worker_config(sim: BotApiSimulator, tmp_path: Path, url: str, name: str, port: int) -> Path:
    """One worker's configuration: the same database, keys and webhook; its own port."""
    folder = tmp_path / name
    folder.mkdir()
    text = write_config(sim, folder).read_text(encoding="utf-8")
    text = text.replace(
        'database = "data/bot.db"', f'database = "{url}"\nstate_dir = "{tmp_path / "state"}"'
    )
    text += (
        f'[webhook]\nurl = "{HOOK}"\nsecret_token = "{SECRET}"\n'
        f'[web]\nlisten = "127.0.0.1"\nport = {port}\n'
    )
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_killed_worker_leaves_its_chat_to_the_others_mid_report(
    sim: BotApiSimulator, url: str, tmp_path: Path
) -> None:
    ports = [free_port() for _ in range(2)]
    configs = [worker_config(sim, tmp_path, url, f"w{n}", p) for n, p in enumerate(ports)]
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    # The second one as older deployments start their workers, with --standby: a webhook
    # worker has nothing to stand by for and works at once.
    procs = [
        await start_webhook_worker(configs[0], logs[0]),
        await start_webhook_worker(configs[1], logs[1], "--standby"),
    ]
    person = Person(sim, sim.add_user(790001, "Lan", language_code="vi"))
    try:
        async with Telegram(sim, ports):
            await person.say("/start", expect="đồng ý", wait=30)
            await person.press("Tôi đồng ý", expect="Chọn loại", wait=15)
            await person.press("thái độ", expect="đơn vị", wait=15)
            # Both work at once, and the balancer gives each of them its turn.
            await eventually(lambda: all("running (webhook)" in read_log(p) for p in logs), 30)
            procs[0].send_signal(signal.SIGKILL)
            await procs[0].wait()
            # The other worker carries the report on from the step where it was.
            await person.say("ha long", expect="ha long", wait=30)
            await person.press("UBND phường Hạ Long", expect="cán bộ", wait=15)
            await person.say("Không rõ tên", expect="lãnh đạo", wait=15)
            await person.press("Tôi không rõ", expect="khi nào", wait=15)
            await person.press("Hôm nay", expect="ở đâu", wait=15)
            await person.say("Trụ sở UBND phường", expect="Mô tả", wait=15)
            await person.say(
                "Cán bộ quát tháo người dân khi được hỏi về hồ sơ.", expect="bằng chứng", wait=15
            )
            await person.press("Bỏ qua", expect="ẩn danh", wait=15)
            await person.press("Ẩn danh", expect="kiểm tra", wait=15)
            confirmation = await person.press("Gửi phản ánh", expect="/status", wait=15)
            code = code_in(confirmation["text"])
            await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
            await asyncio.sleep(0.5)
        alerts = [m for m in sim.messages(HA_LONG_CHAT) if code in m.get("text", "")]
        assert len(alerts) == 1
        assert procs[1].returncode is None
        await shut_down(procs[1])
        assert procs[1].returncode == 0
    finally:
        for proc in procs:
            await stop(proc)


async def test_outbox_items_go_out_once_from_workers_delivering_together(
    sim: BotApiSimulator, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[tuple[int, int]] = []
    attempt = Delivery._attempt

    async def recorded(self: Delivery, item: OutboxItem) -> bool:
        attempts.append((id(self), item.id))
        return await attempt(self, item)

    monkeypatch.setattr(Delivery, "_attempt", recorded)
    person = sim.add_user(795001, "Mai")
    settings = worker_settings(sim, tmp_path, url)
    async with workers(settings, 3) as running:
        db = running[0].app.bot_data["services"].db
        for n in range(40):
            await db.outbox.add(Outgoing(TextNotice(f"thông báo số {n}."), chat_id=person.id))
        for worker in running:
            worker.app.bot_data["services"].delivery.wake()
        await eventually(lambda: _all_sent(db), wait=30)
    texts = [m.get("text", "") for m in sim.messages(person.id)]
    for n in range(40):
        assert texts.count(f"thông báo số {n}.") == 1
    # Each item was taken by one worker, once.
    items = [item for _worker, item in attempts]
    assert len(items) == len(set(items)) == 40


async def _all_sent(db: Repository) -> bool:
    return (await db.outbox.stats()).get("pending", 0) == 0


async def test_a_dead_owners_chat_is_swept_up_by_another_worker(
    sim: BotApiSimulator, url: str, tmp_path: Path
) -> None:
    person = Person(sim, sim.add_user(796001, "Thảo"))
    async with workers(worker_settings(sim, tmp_path, url), 2) as (first, second):
        holder = first.app.bot_data["services"].db.database.coordination
        # The first worker owns the chat (in the middle of a turn, as it were) ...
        assert await holder.try_lock(chat_lock(person.id))
        async with Telegram(sim, [second.port]) as tg:
            await person.user.send("/help")
            await eventually(lambda: tg.pending() == 0, wait=10)
            # ... so the second one stored the update and left it to the owner.
            await asyncio.sleep(0.3)
            assert _helps(sim, person.id) == []
            # The owner dies: its session ends, and the second worker's sweep takes the chat.
            holder._raw.terminate()
            await eventually(lambda: len(_helps(sim, person.id)) == 1, wait=15)


async def test_zalo_messages_reaching_two_workers_are_handled_once_in_order(
    sim: BotApiSimulator, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[int] = []
    inbound_handled = ChannelStore.inbound_handled

    async def recorded(self: ChannelStore, seq: int) -> None:
        handled.append(seq)
        await inbound_handled(self, seq)

    monkeypatch.setattr(ChannelStore, "inbound_handled", recorded)
    async with ZaloSimulator() as zsim:
        # Both workers poll Zalo, which hands each update to one of them; one worker handles
        # what both stored.
        settings = worker_settings(sim, tmp_path, url, zalo=zalo_config(zsim))
        async with workers(settings, 2):
            citizen = ZaloCitizen(zsim, zsim.user("Nguyễn Văn Bình"))
            code = await file_report(citizen, jpeg())
            await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
    assert len(handled) == len(set(handled)) and handled == sorted(handled)
    # One alert, and its photo once.
    texts = [m.get("text", "") for m in sim.messages(HA_LONG_CHAT) if code in m.get("text", "")]
    assert len([t for t in texts if t.startswith("🔔")]) == 1
    assert len([t for t in texts if t.startswith("Bằng chứng 1/1")]) == 1

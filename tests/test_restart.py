"""A report survives `kill -9` of the bot mid-way and resumes at the same step."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import stat
import sys
from pathlib import Path

from bot.sim import BotApiSimulator
from tests.conftest import HA_LONG_CHAT, UNITS, Person, code_in, eventually, walk_to_review

ROOT = Path(__file__).resolve().parent.parent


def write_config(sim: BotApiSimulator, tmp_path: Path) -> Path:
    lines = [
        "[telegram]",
        f'token = "{sim.token}"',
        f'base_url = "{sim.base_url}"',
        f'base_file_url = "{sim.base_file_url}"',
        "[storage]",
        'database = "data/bot.db"',
        "[bot]",
        'default_locale = "vi"',
    ]
    for unit in UNITS:
        lines += ["[[units]]", f'code = "{unit.code}"', f'name = "{unit.name}"']
        if unit.parent:
            lines.append(f'parent = "{unit.parent}"')
        if unit.chat_id is not None:
            lines.append(f"chat_id = {unit.chat_id}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def start_bot(
    config: Path, log: Path, *options: str, stderr: int | None = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """Start `liemchinh run [options]` as an operator would; its stderr is read only if asked."""
    env = {k: v for k, v in os.environ.items() if k != "LIEMCHINH_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    # The log goes to a file: an unread pipe would block a chatty bot.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *options,
        "--config",
        str(config),
        "--log-file",
        str(log),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
        env=env,
    )


def read_log(log: Path) -> str:
    """Return what the bot has logged so far ("" before it has opened its log)."""
    return log.read_text(encoding="utf-8") if log.exists() else ""


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def shut_down(proc: asyncio.subprocess.Process) -> None:
    """Stop the bot as an operator does (SIGTERM), killing it if it is not gone in 15 s."""
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    finally:
        await stop(proc)


async def test_kill_9_mid_report_then_resume(sim: BotApiSimulator, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    person = Person(sim, sim.add_user(720001, "Tuấn", language_code="vi"))
    first = await start_bot(config, log)
    try:
        await person.say("/start", expect="đồng ý", wait=30)
        await person.press("Tôi đồng ý", expect="Chọn loại")
        await person.press("hối lộ", expect="đơn vị")
        await person.say("ha long", expect="ha long")
        await person.press("UBND phường Hạ Long", expect="tiền")
        await person.say("2 triệu rưỡi", expect="cán bộ")
        await person.say("Anh Tâm, cán bộ địa chính", expect="lãnh đạo")
        await person.press("Không", expect="khi nào")
        await person.press("Hôm nay", expect="ở đâu")
        await person.say("Trụ sở UBND phường", expect="Mô tả")
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL

    second = await start_bot(config, log)
    try:
        # The next answer lands at the step where the first process died.
        await person.say(
            "Cán bộ địa chính đòi 2,5 triệu để ký xác nhận hồ sơ đất.",
            expect="bằng chứng",
            wait=30,
        )
        await person.press("Bỏ qua", expect="ẩn danh")
        review = await person.press("Ẩn danh", expect="kiểm tra")
        for part in (
            "2.500.000",
            "Anh Tâm, cán bộ địa chính",
            "Trụ sở UBND phường",
            "UBND phường Hạ Long",
        ):
            assert part in review["text"], part
        confirmation = await person.press("Gửi phản ánh", expect="/status")
        code = code_in(confirmation["text"])
        alert = await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
        assert "2.500.000" in alert["text"]
    finally:
        await shut_down(second)
    log_text = log.read_text(encoding="utf-8")
    # The token travels in every request URL; it must never reach the log, nor the citizen.
    for secret in (sim.token, "720001", "Tuấn", "Anh Tâm"):
        assert secret not in log_text, secret


def outbox_status(tmp_path: Path, kind: str) -> list[str]:
    """Read the outbox of the bot's database, as another process can while it runs."""
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "bot.db", timeout=10)) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM outbox WHERE kind = ?", (kind,))]


async def test_a_code_owed_at_a_crash_is_delivered_once_after_restart(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    person = Person(sim, sim.add_user(720002, "Hà", language_code="vi"))
    first = await start_bot(config, log)
    try:
        await eventually(lambda: sim.count("getUpdates") > 0, wait=30)
        await walk_to_review(person, "Cán bộ quát tháo người dân khi được hỏi hồ sơ.")
        # Telegram refuses every message to the citizen from now on: the report is stored and
        # alerted, but its code cannot be given before the bot dies.
        sim.inject("sendMessage", status=502, chat_id=person.id, times=1000)
        await person.user.press_button(person.with_button("Gửi phản ánh"), "Gửi phản ánh")
        alert = await sim.wait_for_message(HA_LONG_CHAT, contains="🔔", timeout=15)
        # Killed once the alert is recorded as sent (a kill between Telegram's answer and that
        # record would send it again, marked as resent: see the delivery tests).
        await eventually(lambda: outbox_status(tmp_path, "alert") == ["sent"], wait=10)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert not any("/status" in (m.get("text") or "") for m in person.messages)
    sim.clear_injections()

    second = await start_bot(config, log)
    try:
        receipt = await sim.wait_for_message(person.id, contains="/status", timeout=30)
        code = code_in(receipt["text"])
        assert code in alert["text"]
        await asyncio.sleep(1.0)
    finally:
        await shut_down(second)
    codes = [m for m in person.messages if "/status" in (m.get("text") or "")]
    assert len(codes) == 1
    alerts = [m for m in sim.messages(HA_LONG_CHAT) if "🔔" in (m.get("text") or "")]
    assert len(alerts) == 1, [a["text"][:80] for a in alerts]


async def test_a_second_instance_on_the_same_database_refuses_to_start(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "bot.log"
    person = Person(sim, sim.add_user(720101, "Tâm", language_code="vi"))
    first = await start_bot(config, log)
    try:
        await person.say("/help", expect="/myreports", wait=30)
        second = await start_bot(config, tmp_path / "second.log", stderr=asyncio.subprocess.PIPE)
        try:
            _out, err = await asyncio.wait_for(second.communicate(), 30)
        finally:
            await stop(second)
        assert second.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0], lines
        assert "data/bot.db" in lines[0]
        # The first one never noticed: no 409 from a second poller.
        assert "409" not in log.read_text(encoding="utf-8")
        await person.say("/help", expect="/myreports", wait=10)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    # The lock file of the killed process is left behind; it blocks nothing.
    lock = tmp_path / "data" / "bot.db.lock"
    assert lock.read_text().strip() == str(first.pid)
    third = await start_bot(config, log)
    try:
        await person.say("/help", expect="/myreports", wait=30)
        assert lock.read_text().strip() == str(third.pid)
    finally:
        await shut_down(third)
    assert third.returncode == 0


async def test_the_log_file_is_readable_by_its_owner_only(
    sim: BotApiSimulator, tmp_path: Path
) -> None:
    config = write_config(sim, tmp_path)
    log = tmp_path / "new.log"
    old = tmp_path / "old.log"
    old.write_text("an earlier run\n", encoding="utf-8")
    old.chmod(0o644)
    for path in (log, old):
        size = path.stat().st_size if path.exists() else 0
        proc = await start_bot(config, path)
        try:
            # Once the bot has written something, the file is the one it logs to.
            await eventually(lambda p=path, n=size: p.exists() and p.stat().st_size > n, 30)
        finally:
            await shut_down(proc)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    assert old.read_text(encoding="utf-8").startswith("an earlier run\n")

"""Two workers on one PostgreSQL database: one runs, the other waits and takes over."""

from __future__ import annotations

import signal
from pathlib import Path

from bot.sim import BotApiSimulator
from tests.conftest import HA_LONG_CHAT, Person, code_in, eventually
from tests.pgserver import PostgresServer
from tests.test_restart import read_log, shut_down, start_bot, stop, write_config


async def test_a_standby_takes_over_a_killed_worker_mid_report(
    sim: BotApiSimulator, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = await postgres_server.new_database()
    config = write_config(sim, tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        'database = "data/bot.db"', f'database = "{url}"\nstate_dir = "state"'
    )
    config.write_text(text, encoding="utf-8")
    person = Person(sim, sim.add_user(720001, "Tuấn", language_code="vi"))
    first = await start_bot(config, tmp_path / "first.log", "--standby")
    await person.say("/start", expect="đồng ý", wait=30)
    second_log = tmp_path / "second.log"
    second = await start_bot(config, second_log, "--standby")
    try:
        await person.press("Tôi đồng ý", expect="Chọn loại")
        await person.press("thái độ", expect="đơn vị")
        # The standby waits for the database, without polling (Telegram allows one poller).
        await eventually(lambda: "waiting until no other worker" in read_log(second_log), wait=15)
        assert "the database is free" not in read_log(second_log)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        # The second worker takes over at the step where the first one died.
        await person.say("ha long", expect="ha long", wait=30)
        await person.press("UBND phường Hạ Long", expect="cán bộ")
        await person.say("Không rõ tên", expect="lãnh đạo")
        await person.press("Tôi không rõ", expect="khi nào")
        await person.press("Hôm nay", expect="ở đâu")
        await person.say("Trụ sở UBND phường", expect="Mô tả")
        await person.say("Cán bộ quát tháo người dân khi được hỏi về hồ sơ.", expect="bằng chứng")
        await person.press("Bỏ qua", expect="ẩn danh")
        await person.press("Ẩn danh", expect="kiểm tra")
        confirmation = await person.press("Gửi phản ánh", expect="/status")
        code = code_in(confirmation["text"])
        await sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=15)
        assert len([m for m in sim.messages(HA_LONG_CHAT) if code in m.get("text", "")]) == 1
        assert "the database is free" in read_log(second_log)
        assert second.returncode is None
        await shut_down(second)
        assert second.returncode == 0
    finally:
        await stop(first)
        await stop(second)

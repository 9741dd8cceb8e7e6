"""The offline demo on Zalo: the real bot against the simulated Zalo (the citizen) and the
simulated Telegram (the unit's channel), in a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.app import build_application, running
from bot.config import Settings, ZaloConfig
from bot.sim import BotApiSimulator, SimUser
from bot.sim.demo import (
    ADMIN_ID,
    DEMO_UNIT,
    OFFICER_ID,
    SAMPLE_PHOTO,
    Transcript,
    demo_settings,
    read_line,
)
from bot.sim.zalo import ZaloSimulator, ZaloUser

CITIZEN_NAME = "Lan Zalo"


def zalo_demo_settings(sim: BotApiSimulator, zsim: ZaloSimulator, database: Path) -> Settings:
    """Return the example configuration with Telegram and Zalo both simulated."""
    base = demo_settings(sim, database)
    zalo = ZaloConfig(token=zsim.token, base_url=zsim.base_url, seconds_per_user=0.0)
    web = dataclasses.replace(base.web, enabled=False)
    # The script answers at once, faster than anyone types: the flood limit would stop it.
    return dataclasses.replace(base, zalo=zalo, web=web, flood_messages=1000)


class ZaloTranscript:
    """Prints what the bot sends the Zalo citizen, as it happens."""

    def __init__(self, zsim: ZaloSimulator, user: ZaloUser, out: TextIO) -> None:
        self.zsim = zsim
        self.user = user
        self.out = out
        self.printed = 0

    async def run(self) -> None:
        """Print new messages until cancelled."""
        while True:
            self.flush()
            await asyncio.sleep(0.05)

    def flush(self) -> None:
        """Print the messages not printed yet."""
        sent = self.zsim.sent(self.user.id)
        for message in sent[self.printed :]:
            text = message.get("text") or ""
            print("\n── BOT → citizen, on Zalo", file=self.out)
            print("\n".join("   " + line for line in text.splitlines()), file=self.out)
        self.printed = len(sent)
        self.out.flush()


async def run_zalo_demo(*, script: bool, out: TextIO = sys.stdout) -> int:
    """Start both simulators and the bot, then play the script or chat with the terminal."""
    with tempfile.TemporaryDirectory(prefix="liemchinh-zalo-demo-") as tmp:
        async with BotApiSimulator() as sim, ZaloSimulator() as zsim:
            settings = zalo_demo_settings(sim, zsim, Path(tmp) / "demo.db")
            for unit in settings.units:
                if unit.chat_id is not None:
                    sim.add_chat(unit.chat_id, unit.name, type="channel")
            sim.add_user(ADMIN_ID, "Admin", language_code="vi")
            officer = sim.add_user(OFFICER_ID, "Hùng", username="hung_officer")
            # Only the unit's channel and the officer are printed from Telegram.
            Transcript(sim, settings, out)
            citizen = zsim.user(CITIZEN_NAME)
            shown = ZaloTranscript(zsim, citizen, out)
            printer = asyncio.create_task(shown.run())
            try:
                async with running(build_application(settings)):
                    if script:
                        return await _play(sim, zsim, citizen, officer, settings, shown, out)
                    return await _interactive(citizen, shown, out)
            finally:
                printer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await printer
    return 0


def _said(text: str, out: TextIO, who: str = "citizen, on Zalo") -> None:
    print(f"\n── {who}\n   {text}", file=out)
    out.flush()


async def _say(zsim: ZaloSimulator, user: ZaloUser, text: str, expect: str, out: TextIO) -> str:
    """Send a text as the citizen and wait for the bot's answer containing `expect`."""
    mark = len(zsim.sent(user.id))
    _said(text, out)
    await user.send_text(text)
    return str((await zsim.wait_for(user.id, expect, after=mark))["text"])


def _number(zsim: ZaloSimulator, user: ZaloUser, label: str) -> str:
    """Return the number the latest list shows in front of `label`."""
    for message in reversed(zsim.sent(user.id)):
        for line in (message.get("text") or "").splitlines():
            number, dot, rest = line.partition(". ")
            if dot and number.isdigit() and label.lower() in rest.lower():
                return number
    raise AssertionError(f"no numbered line with {label!r}")


async def _pick(zsim: ZaloSimulator, user: ZaloUser, label: str, expect: str, out: TextIO) -> str:
    return await _say(zsim, user, _number(zsim, user, label), expect, out)


async def _officer_press(
    sim: BotApiSimulator, officer: SimUser, chat_id: int, fragment: str, out: TextIO
) -> None:
    def carries(message: dict[str, object]) -> bool:
        buttons = message.get("buttons") or []
        return any(fragment in label for label, _data in buttons)  # type: ignore[attr-defined]

    await sim.wait_for_message(chat_id, predicate=carries, timeout=10)
    alert = next(m for m in reversed(sim.messages(chat_id)) if carries(m))
    _said(f"(presses «{fragment}» on the alert)", out, "officer")
    await officer.press_button(alert, fragment)


async def _play(
    sim: BotApiSimulator,
    zsim: ZaloSimulator,
    citizen: ZaloUser,
    officer: SimUser,
    settings: Settings,
    shown: ZaloTranscript,
    out: TextIO,
) -> int:
    """Play a report on Zalo from the first message to its rating."""
    await _say(zsim, citizen, "Xin chào", "đồng ý", out)
    await _say(zsim, citizen, "1", "Chọn loại", out)
    await _pick(zsim, citizen, "hối lộ", "đơn vị", out)
    await _say(zsim, citizen, "ha long", "Hạ Long", out)
    await _pick(zsim, citizen, "UBND phường Hạ Long", "tiền", out)
    await _say(zsim, citizen, "2tr", "cán bộ", out)
    await _say(zsim, citizen, "Cán bộ bàn số 3, bộ phận một cửa", "lãnh đạo", out)
    await _pick(zsim, citizen, "Không", "khi nào", out)
    await _pick(zsim, citizen, "Hôm nay", "ở đâu", out)
    await _say(zsim, citizen, "Bộ phận một cửa UBND phường Hạ Long", "Mô tả", out)
    await _say(
        zsim,
        citizen,
        "Tôi nộp hồ sơ cấp giấy chứng nhận quyền sử dụng đất. Cán bộ nói phải đưa thêm"
        " 2 triệu thì mới nhận hồ sơ, nếu không sẽ trả lại vì thiếu giấy tờ.",
        "bằng chứng",
        out,
    )
    mark = len(zsim.sent(citizen.id))
    _said("(sends a photo)", out)
    await citizen.send_photo(SAMPLE_PHOTO)
    await zsim.wait_for(citizen.id, "Xong", after=mark)
    await _pick(zsim, citizen, "Xong", "ẩn danh", out)
    await _pick(zsim, citizen, "Ẩn danh", "kiểm tra", out)
    await _pick(zsim, citizen, "Gửi phản ánh", "/trangthai", out)
    unit = next(u for u in settings.units if u.code == DEMO_UNIT)
    assert unit.chat_id is not None
    await sim.wait_for_message(unit.chat_id, predicate=lambda m: "photo" in m, timeout=10)

    # The unit's officer, on Telegram, takes it, asks, gets the answer, and resolves it.
    await _officer_press(sim, officer, unit.chat_id, "Tiếp nhận", out)
    await zsim.wait_for(citizen.id, "Hạn giải quyết")
    await _officer_press(sim, officer, unit.chat_id, "Hỏi người phản ánh", out)
    prompt = await officer.next_message(contains="vui lòng trả lời", timeout=10)
    question = "Anh/chị có giữ giấy hẹn hoặc biên nhận hồ sơ không?"
    _said(f"(replies) {question}", out, "officer")
    await officer.send(question, reply_to=prompt)
    await zsim.wait_for(citizen.id, question)
    answer = "Có, tôi giữ giấy hẹn ngày 02/12, ảnh đã gửi kèm phản ánh."
    await _say(zsim, citizen, answer, "đã được gửi", out)
    await sim.wait_for_message(unit.chat_id, contains="giấy hẹn ngày 02/12", timeout=10)
    await _officer_press(sim, officer, unit.chat_id, "Đã giải quyết", out)
    prompt = await officer.next_message(contains="vui lòng trả lời", timeout=10)
    note = "Đã nhận hồ sơ đúng quy định, không thu thêm tiền; cán bộ bàn số 3 bị kiểm điểm."
    _said(f"(replies) {note}", out, "officer")
    await officer.send(note, reply_to=prompt)
    await zsim.wait_for(citizen.id, "thực sự được giải quyết")
    await _say(zsim, citizen, "1", "đánh giá", out)
    await _say(zsim, citizen, "5", "ghi nhận", out)
    shown.flush()

    citizen_traces = (citizen.id, CITIZEN_NAME)
    officer_traces = (str(OFFICER_ID), "Hùng", "hung_officer")
    leaked = [
        m for m in sim.messages(unit.chat_id) if any(t in str(m) for t in citizen_traces)
    ] + [m for m in zsim.sent(citizen.id) if any(t in str(m) for t in officer_traces)]
    print("\n" + "=" * 60, file=out)
    if leaked or sim.count("forwardMessage"):
        print("FAILED: a trace of the reporter or of the officer leaked.", file=out)
        return 1
    print(
        f"Done: the report made on Zalo reached «{unit.name}» on Telegram with its photo and"
        " was resolved there, with a question and an answer on the way, then confirmed and"
        " rated on Zalo; the channel shows no trace of the reporter, and the reporter no"
        " trace of the officer.",
        file=out,
    )
    return 0


async def _interactive(citizen: ZaloUser, shown: ZaloTranscript, out: TextIO) -> int:
    """Let a person chat as the Zalo citizen: text as typed, /photo sends a picture."""
    print(
        "You are a citizen chatting with the bot on a simulated Zalo: no buttons, numbered"
        " lines. Type text or a number to answer; /photo sends a picture, /sticker a sticker;"
        " /quit ends the demo.",
        file=out,
    )
    loop = asyncio.get_running_loop()
    await citizen.send_text("Xin chào")
    while True:
        await asyncio.sleep(0.3)  # let the bot's answers print before the prompt
        shown.flush()
        line = await loop.run_in_executor(None, read_line)
        if line is None or line.strip() == "/quit":
            print("\nBye.", file=out)
            return 0
        line = line.strip()
        if not line:
            continue
        if line == "/photo":
            await citizen.send_photo(SAMPLE_PHOTO)
        elif line == "/sticker":
            await citizen.send_sticker()
        else:
            await citizen.send_text(line)

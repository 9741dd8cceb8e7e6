"""The offline demo: the real bot against the built-in simulated Telegram, in a terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from bot.app import build_application, running
from bot.config import Settings, load_settings
from bot.sim import BotApiSimulator, SimUser
from bot.sim.demo_web import WebVisitor

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.toml"
CITIZEN_ID = 700001
OFFICER_ID = 700002
ADMIN_ID = 700009
DEMO_UNIT = "W_06688"  # UBND phường Hạ Long, one of the example units with a chat
# A tiny valid JPEG header is enough for the simulator; the bytes only feed the SHA-256.
SAMPLE_PHOTO = b"\xff\xd8\xff\xe0" + b"demo evidence photo" * 50 + b"\xff\xd9"


def demo_settings(sim: BotApiSimulator, database: Path) -> Settings:
    """Return the example configuration pointed at the simulator."""
    base = load_settings(EXAMPLE_CONFIG, require_token=False)
    units = tuple(
        dataclasses.replace(u, officers=(OFFICER_ID,)) if u.code == DEMO_UNIT else u
        for u in base.units
    )
    return dataclasses.replace(
        base,
        token=sim.token,
        base_url=sim.base_url,
        base_file_url=sim.base_file_url,
        database=database,
        admins=frozenset({ADMIN_ID}),
        units=units,
        # The demo plays people who answer at once; Telegram's advice of about a message a
        # second per private chat would only make them wait (the limiter's own tests check it).
        pace_private_chats=False,
        # The web pages too, on a free port of this machine only.
        web=dataclasses.replace(base.web, enabled=True, listen="127.0.0.1", board_min_reports=1),
    )


class Transcript:
    """Prints what the citizen and the units see, as it happens."""

    def __init__(self, sim: BotApiSimulator, settings: Settings, out: TextIO) -> None:
        self.out = out
        self.unit_names = {u.chat_id: u.name for u in settings.units if u.chat_id is not None}
        self.last_buttons: list[tuple[str, str]] = []
        self.last_message: dict[str, Any] | None = None
        self.seen: dict[tuple[int, int], str] = {}
        sim.on_message(self.show)

    def show(self, chat_id: int, message: dict[str, Any], kind: str) -> None:
        """Print one message the bot sent or edited."""
        text = message.get("text") or ""
        key = (chat_id, int(message.get("message_id", 0)))
        if kind != "new" and self.seen.get(key) == text:
            return  # only its buttons were taken away
        self.seen[key] = text
        if chat_id == CITIZEN_ID:
            label = "BOT → citizen" if kind == "new" else "BOT edits its message"
        elif chat_id == OFFICER_ID:
            label = "BOT → officer, in private"
        elif chat_id in self.unit_names:
            verb = "→" if kind == "new" else "edits its alert in"
            label = f"BOT {verb} unit channel «{self.unit_names[chat_id]}»"
        else:
            label = f"BOT → chat {chat_id}"
        media = next((m for m in ("photo", "document", "video", "voice") if m in message), None)
        if media:
            text = f"[{media}] {text}"
        print(f"\n── {label}\n{_indent(text)}", file=self.out)
        buttons = [b for b in message.get("buttons") or [] if b[1]]
        if chat_id == CITIZEN_ID:
            if buttons:
                self.last_buttons = buttons
                self.last_message = message
                for number, (label_text, _data) in enumerate(buttons, start=1):
                    print(f"   [{number}] {label_text}", file=self.out)
            for button in message.get("reply_keyboard") or []:
                print(f"   [keyboard] {button}  (type /contact)", file=self.out)
        self.out.flush()

    def said(self, text: str, who: str = "citizen") -> None:
        """Print what the citizen (or an officer) typed or pressed."""
        print(f"\n── {who}\n{_indent(text)}", file=self.out)
        self.out.flush()


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines()) or "   "


async def run_demo(*, script: bool, out: TextIO = sys.stdout) -> int:
    """Start the simulator and the bot, then play the script or chat with the terminal."""
    with tempfile.TemporaryDirectory(prefix="liemchinh-demo-") as tmp:
        async with BotApiSimulator() as sim:
            settings = demo_settings(sim, Path(tmp) / "demo.db")
            for unit in settings.units:
                if unit.chat_id is not None:
                    sim.add_chat(unit.chat_id, unit.name, type="channel")
            sim.add_user(ADMIN_ID, "Admin", language_code="vi")
            citizen = sim.add_user(CITIZEN_ID, "Lan", username="lan_demo", language_code="vi")
            officer = sim.add_user(OFFICER_ID, "Hùng", username="hung_officer")
            transcript = Transcript(sim, settings, out)
            app = build_application(settings)
            app.bot_data["services"].web_port = 0
            async with running(app):
                port = app.bot_data["services"].web_port
                base = f"http://127.0.0.1:{port}"
                print(f"Web pages: {base}/", file=out)
                if script:
                    return await _play_script(
                        sim, citizen, officer, transcript, settings, out, base
                    )
                unit = next(u for u in settings.units if u.code == DEMO_UNIT)
                assert unit.chat_id is not None
                desk = OfficerDesk(sim, officer, transcript, unit.chat_id, out)
                return await _interactive(sim, citizen, desk, transcript, out)
    return 0


async def _step(citizen: SimUser, transcript: Transcript, text: str) -> None:
    transcript.said(text)
    await citizen.send(text)
    await asyncio.sleep(0)


async def _press(citizen: SimUser, transcript: Transcript, fragment: str) -> None:
    """Press a button once the bot shows it: in a new message, or in one it edited."""

    def carries(message: dict[str, Any]) -> bool:
        return any(fragment.lower() in b[0].lower() for b in message.get("buttons") or [])

    deadline = asyncio.get_running_loop().time() + 10
    while not any(carries(m) for m in citizen.inbox):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no button {fragment!r} in the citizen's chat")
        await asyncio.sleep(0.02)
    message = next(m for m in reversed(citizen.inbox) if carries(m))
    transcript.said(f"(presses «{fragment}»)")
    await citizen.press_button(message, fragment)


async def _officer_press(
    sim: BotApiSimulator,
    officer: SimUser,
    transcript: Transcript,
    chat_id: int,
    fragment: str,
    code: str = "",
) -> None:
    def carries(message: dict[str, Any]) -> bool:
        if code not in (message.get("text") or ""):
            return False
        return any(fragment in label for label, _data in message.get("buttons") or [])

    await sim.wait_for_message(chat_id, predicate=carries, timeout=10)
    alert = next(m for m in reversed(sim.messages(chat_id)) if carries(m))
    transcript.said(f"(presses «{fragment}» on the alert)", who="officer")
    await officer.press_button(alert, fragment)


async def _play_script(
    sim: BotApiSimulator,
    citizen: SimUser,
    officer: SimUser,
    transcript: Transcript,
    settings: Settings,
    out: TextIO,
    base: str,
) -> int:
    """Play a bribe report from /start to its resolution, with a question and an answer; then
    a report from the web pages, whose sender answers the officer's question on the page."""
    await _step(citizen, transcript, "/start")
    await _press(citizen, transcript, "Tôi đồng ý")
    await _press(citizen, transcript, "hối lộ")
    await _step(citizen, transcript, "ha long")
    await _press(citizen, transcript, "Hạ Long")
    await _step(citizen, transcript, "2tr")
    await _step(citizen, transcript, "Cán bộ bàn số 3, bộ phận một cửa")
    await _press(citizen, transcript, "Không")
    await _press(citizen, transcript, "Hôm nay")
    await _step(citizen, transcript, "Bộ phận một cửa UBND phường Hạ Long")
    await _step(
        citizen,
        transcript,
        "Tôi nộp hồ sơ cấp giấy chứng nhận quyền sử dụng đất. Cán bộ nói phải đưa thêm"
        " 2 triệu thì mới nhận hồ sơ, nếu không sẽ trả lại vì thiếu giấy tờ.",
    )
    transcript.said("(sends a photo)")
    await citizen.send_photo(content=SAMPLE_PHOTO, caption="Ảnh giấy hẹn")
    await _press(citizen, transcript, "Xong")
    await _press(citizen, transcript, "Ẩn danh")
    await _press(citizen, transcript, "Gửi phản ánh")
    await citizen.next_message(predicate=lambda m: "/status" in (m.get("text") or ""))
    unit = next(u for u in settings.units if u.code == DEMO_UNIT)
    assert unit.chat_id is not None
    await sim.wait_for_message(unit.chat_id, timeout=10)
    await sim.wait_for_message(unit.chat_id, predicate=lambda m: "photo" in m, timeout=10)

    # The unit's officer takes it, asks a question, gets the answer, and resolves it.
    await _officer_press(sim, officer, transcript, unit.chat_id, "Tiếp nhận")
    await citizen.next_message(contains="Hạn giải quyết", timeout=10)
    await _officer_press(sim, officer, transcript, unit.chat_id, "Hỏi người phản ánh")
    prompt = await officer.next_message(contains="vui lòng trả lời", timeout=10)
    question = "Anh/chị có giữ giấy hẹn hoặc biên nhận hồ sơ không?"
    transcript.said(f"(replies) {question}", who="officer")
    await officer.send(question, reply_to=prompt)
    asked = await citizen.next_message(contains=question, timeout=10)
    answer = "Có, tôi giữ giấy hẹn ngày 02/12, ảnh đã gửi kèm phản ánh."
    transcript.said(f"(replies) {answer}")
    await citizen.send(answer, reply_to=asked)
    await sim.wait_for_message(unit.chat_id, contains="giấy hẹn ngày 02/12", timeout=10)
    await _officer_press(sim, officer, transcript, unit.chat_id, "Đã giải quyết")
    prompt = await officer.next_message(contains="vui lòng trả lời", timeout=10)
    note = "Đã nhận hồ sơ đúng quy định, không thu thêm tiền; cán bộ bàn số 3 bị kiểm điểm."
    transcript.said(f"(replies) {note}", who="officer")
    await officer.send(note, reply_to=prompt)
    await _press(citizen, transcript, "Đã giải quyết")
    await _press(citizen, transcript, "⭐⭐⭐⭐⭐")
    await sim.wait_for_message(CITIZEN_ID, contains="bạn đã đánh giá", timeout=10)

    visitor = WebVisitor(base, transcript.said)
    try:
        web_code = await _play_web(sim, officer, transcript, unit.chat_id, visitor)
    finally:
        await visitor.close()

    citizen_traces = (str(CITIZEN_ID), "Lan", "lan_demo")
    officer_traces = (str(OFFICER_ID), "Hùng", "hung_officer")
    leaked = [
        m
        for m in sim.messages(unit.chat_id)
        if any(t in str(m.get("text")) for t in citizen_traces)
    ] + [
        m for m in sim.messages(CITIZEN_ID) if any(t in str(m.get("text")) for t in officer_traces)
    ]
    print("\n" + "=" * 60, file=out)
    if leaked or sim.count("forwardMessage"):
        print("FAILED: a trace of the reporter or of the officer leaked.", file=out)
        return 1
    print(
        f"Done: the report reached «{unit.name}» with its evidence and was resolved there,"
        " with a question and an answer on the way; the channel shows no trace of the"
        " reporter, and the reporter no trace of the officer. The web report"
        f" {web_code} reached the same channel, and its sender answered the officer's"
        " question on the page.",
        file=out,
    )
    return 0


async def _play_web(
    sim: BotApiSimulator,
    officer: SimUser,
    transcript: Transcript,
    chat_id: int,
    visitor: WebVisitor,
) -> str:
    """File a report on the pages; the officer asks in Telegram, the sender answers on the
    page, and the answer reaches the unit's channel. Return the report's code."""
    code, key = await visitor.file_report(
        DEMO_UNIT,
        "Cán bộ bộ phận một cửa hẹn trả hồ sơ ba lần nhưng lần nào cũng báo chưa có kết quả,"
        " không nói rõ lý do.",
    )
    await sim.wait_for_message(chat_id, contains=code, timeout=10)
    await _officer_press(sim, officer, transcript, chat_id, "Tiếp nhận", code)
    await _officer_press(sim, officer, transcript, chat_id, "Hỏi người phản ánh", code)
    prompt = await officer.next_message(contains="vui lòng trả lời", timeout=10)
    question = "Anh/chị nộp hồ sơ vào ngày nào, có giấy hẹn không?"
    transcript.said(f"(replies) {question}", who="officer")
    await officer.send(question, reply_to=prompt)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while question not in await visitor.open_report(code, key):
        if loop.time() > deadline:
            raise RuntimeError("the officer's question did not reach the report's page")
        await asyncio.sleep(0.1)
    transcript.said(f"(opens /status with the code and key, and reads) {question}", "web citizen")
    answer = "Tôi nộp ngày 02/12, giấy hẹn ghi trả kết quả ngày 09/12."
    await visitor.answer(code, key, answer)
    await sim.wait_for_message(chat_id, contains=answer, timeout=10)
    return code


# The officer's commands in the interactive demo and the alert's button each one presses.
OFFICER_BUTTONS = {"/ack": "Tiếp nhận", "/ask": "Hỏi người phản ánh", "/resolve": "Đã giải quyết"}


class OfficerDesk:
    """The demo unit's officer, played from the terminal: /ack, /ask TEXT, /resolve TEXT act
    on the newest report in the unit's channel that has the button (from chat or the web)."""

    def __init__(
        self,
        sim: BotApiSimulator,
        officer: SimUser,
        transcript: Transcript,
        chat_id: int,
        out: TextIO,
    ) -> None:
        self.sim, self.officer, self.transcript = sim, officer, transcript
        self.chat_id, self.out = chat_id, out

    def takes(self, line: str) -> bool:
        """Tell whether a typed line is one of the officer's commands."""
        return line.split(" ", 1)[0] in OFFICER_BUTTONS

    async def act(self, line: str) -> None:
        """Press the command's button; reply to the bot's prompt with the command's text."""
        command, _sep, text = line.partition(" ")
        text = text.strip()
        if command != "/ack" and not text:
            print(f"   {command} needs a text: {command} TEXT", file=self.out)
            return
        try:
            await _officer_press(
                self.sim, self.officer, self.transcript, self.chat_id, OFFICER_BUTTONS[command]
            )
        except AssertionError:
            print("   No report in the unit's channel has that button now.", file=self.out)
            return
        if command != "/ack":
            prompt = await self.officer.next_message(contains="vui lòng trả lời", timeout=10)
            self.transcript.said(f"(replies) {text}", who="officer")
            await self.officer.send(text, reply_to=prompt)


async def _interactive(
    sim: BotApiSimulator,
    citizen: SimUser,
    desk: OfficerDesk,
    transcript: Transcript,
    out: TextIO,
) -> int:
    """Let a person chat as the citizen: numbers press buttons, /photo sends a picture; and
    play the unit's officer with /ack, /ask and /resolve (for chat and web reports alike)."""
    print(
        "You are a citizen chatting with the bot in a simulated Telegram.\n"
        "Type text to answer; a number presses that button; /photo, /document, /location and"
        " /contact send those; /quit ends the demo.\n"
        "Or file a report on the web pages above, and act as the unit's officer here: /ack"
        " acknowledges the newest report, /ask TEXT asks its sender a question (answer it on"
        " the report's page), /resolve TEXT resolves it.",
        file=out,
    )
    loop = asyncio.get_running_loop()
    await citizen.send("/start")
    while True:
        await asyncio.sleep(0.3)  # let the bot's answers print before the prompt
        line = await loop.run_in_executor(None, read_line)
        if line is None or line.strip() == "/quit":
            print("\nBye.", file=out)
            return 0
        line = line.strip()
        if not line:
            continue
        if desk.takes(line):
            await desk.act(line)
        elif (
            line.isdigit()
            and transcript.last_message
            and 0 < int(line) <= len(transcript.last_buttons)
        ):
            _label, data = transcript.last_buttons[int(line) - 1]
            await citizen.press(transcript.last_message, data)
        elif line == "/photo":
            await citizen.send_photo(content=SAMPLE_PHOTO)
        elif line == "/document":
            await citizen.send_document("bien-nhan.pdf", content=b"%PDF-1.4 demo receipt")
        elif line == "/location":
            await citizen.send_location(20.9517, 107.0801)
        elif line == "/contact":
            await citizen.send_contact("+84900000000", "Lan")
        else:
            await citizen.send(line)


def read_line() -> str | None:
    try:
        return input("> ")
    except EOFError:
        return None

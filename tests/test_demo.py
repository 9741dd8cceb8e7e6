"""The offline demo a newcomer runs first."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.sim.demo import run_demo
from tests.conftest import CODE_RE, eventually
from tests.web_helpers import WebCitizen

ROOT = Path(__file__).resolve().parent.parent


async def test_scripted_demo_reaches_the_unit_channel() -> None:
    out = io.StringIO()
    assert await run_demo(script=True, out=out) == 0
    transcript = out.getvalue()
    code = CODE_RE.search(transcript)
    assert code is not None
    assert "unit channel «UBND phường Hạ Long»" in transcript
    assert transcript.count(code.group(1)) >= 4  # citizen, alert, evidence caption, /status hint
    assert "no trace of the reporter" in transcript and "no trace of the officer" in transcript
    assert "BOT → officer, in private" in transcript and "resolved there" in transcript
    # The web part: a report filed on the pages the demo serves reaches the same channel, the
    # officer asks in Telegram and the sender answers on the report's page.
    address = re.search(r"Web pages: (http://127\.0\.0\.1:\d+)/", transcript)
    assert address is not None
    web_code = re.search(r"The web report ([A-Z2-9]{4}-[A-Z2-9]{4}) reached", transcript)
    assert web_code is not None and web_code.group(1) != code.group(1)
    assert "── web citizen" in transcript
    channel = transcript.split("unit channel «UBND phường Hạ Long»")
    assert any(web_code.group(1) in part for part in channel[1:])
    assert "Tôi nộp ngày 02/12, giấy hẹn ghi trả kết quả ngày 09/12." in channel[-1]


async def test_interactive_demo_serves_the_pages_and_plays_the_officer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIEMCHINH_TOKEN", "LIEMCHINH_CONFIG")}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdout, stdin = proc.stdout, proc.stdin
    seen: list[str] = []

    async def until(text: str) -> str:
        async def read() -> str:
            while True:
                line = (await stdout.readline()).decode()
                assert line, "the demo ended early:\n" + "".join(seen)
                seen.append(line)
                if text in line:
                    return line

        return await asyncio.wait_for(read(), 60)

    async def type_line(line: str) -> None:
        stdin.write(line.encode() + b"\n")
        await stdin.drain()

    citizen = None
    try:
        address = re.search(r"http://127\.0\.0\.1:\d+", await until("Web pages: "))
        assert address is not None
        citizen = WebCitizen(address.group(0))
        description = "Cán bộ hẹn trả hồ sơ ba lần nhưng lần nào cũng báo chưa có kết quả."
        code, key = await citizen.file_report(description, unit="W_06688")
        await until(code)  # the alert, printed as the unit's channel shows it
        await type_line("/ack")
        await until("(presses «Tiếp nhận» on the alert)")
        question = "Anh/chị có giữ giấy hẹn không?"
        await type_line(f"/ask {question}")
        await until(f"(replies) {question}")

        async def asked() -> bool:
            await citizen.get("/status")
            page = await citizen.post("/status", {"code": code, "key": key})
            return question in page.text

        await eventually(asked, wait=20)
        answer = "Có, giấy hẹn ngày 09/12."
        await citizen.post(
            "/status", {"code": code, "key": key, "action": "answer", "text": answer}
        )
        await until(answer)  # the answer, printed as it reaches the unit's channel
        await type_line("/quit")
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if citizen is not None:
            await citizen.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_no_token_runs_the_interactive_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIEMCHINH_TOKEN", "LIEMCHINH_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no config.toml here
        input="1\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "offline demo" in proc.stdout
    assert "Xin chào" in proc.stdout and "Tôi đồng ý" in proc.stdout

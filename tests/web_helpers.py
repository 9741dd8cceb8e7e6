"""Helpers of the web tests: the bot with its web pages on, and a citizen with a browser's jar."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.app import build_application, running
from bot.config import WebConfig
from bot.sim import BotApiSimulator
from tests.conftest import (
    HA_LONG_CHAT,
    FakeClock,
    World,
    eventually,
    make_settings,
    member,
    press,
)

CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')
HL_OFFICER = 900102


@asynccontextmanager
async def web_world(
    sim: BotApiSimulator,
    tmp_path: Path,
    clock: FakeClock,
    settings_changes: dict[str, Any] | None = None,
    **web: Any,
) -> AsyncIterator[tuple[World, str]]:
    """Run the bot with `[web] enabled` on a free port of 127.0.0.1; yield it and its address."""
    settings = make_settings(sim, tmp_path)
    config = WebConfig(enabled=True, listen="127.0.0.1", port=1, **web)
    settings = dataclasses.replace(settings, web=config, **(settings_changes or {}))
    app = build_application(settings, clock=clock)
    services = app.bot_data["services"]
    services.web_port = 0
    async with running(app):
        yield World(sim, app, settings, clock), f"http://127.0.0.1:{services.web_port}"


async def officer_does(
    world: World,
    code: str,
    button: str,
    note: str | None = None,
    expect: str = "Đã cập nhật",
    *,
    officer_id: int = HL_OFFICER,
    chat_id: int = HA_LONG_CHAT,
) -> None:
    """Have a unit's officer press a button on the report's latest message with buttons in the
    unit's group, and reply to the bot's prompt with `note` when the button asks for one."""
    officer = member(world, officer_id, "Cán bộ", chat_id)

    def carrying() -> dict[str, Any] | None:
        # The alert is edited after each step: its buttons change once the step is stored.
        return next(
            (
                m
                for m in reversed(world.sim.messages(chat_id))
                if code in (m.get("text") or "")
                and any(button in label for label, _data in m.get("buttons") or [])
            ),
            None,
        )

    alert = await eventually(carrying, wait=10)
    mark = len(world.sim.messages(chat_id))
    await press(world, officer, alert, button)
    if note is None:
        return
    prompt = await world.sim.wait_for_message(
        chat_id, contains="vui lòng trả lời", after=mark, timeout=10
    )
    mark = len(world.sim.messages(chat_id))
    await officer.send(note, chat_id=chat_id, reply_to=prompt)
    await world.sim.wait_for_message(chat_id, contains=expect, after=mark, timeout=10)


class WebCitizen:
    """A citizen filling in the web pages, one form at a time."""

    def __init__(self, base: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=30)
        self.page = ""

    async def close(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> WebCitizen:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def csrf(self) -> str:
        match = CSRF_RE.search(self.page)
        assert match, self.page
        return match.group(1)

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        self.page = response.text
        return response

    async def post(
        self, path: str, data: dict[str, str], files: list[tuple[str, bytes]] | None = None
    ) -> httpx.Response:
        fields = {"csrf": self.csrf, **data}
        parts = None
        if files:
            parts = [(name, ("f", io.BytesIO(content))) for name, content in files]
        response = await self.client.post(path, data=fields, files=parts)
        if response.status_code == 303:
            # Followed by hand: a GET, as a browser sends after a form.
            response = await self.client.get(response.headers["location"])
        self.page = response.text
        return response

    @property
    def asked(self) -> str:
        """Return the step the page shown asks."""
        match = re.search(r'name="step" value="([a-z_]+)"', self.page)
        assert match, self.page
        return match.group(1)

    async def step(self, step: str, **data: str) -> httpx.Response:
        return await self.post("/report", {"step": step, **data})

    async def file_report(
        self, description: str, photo: bytes | None = None, unit: str = "HL"
    ) -> tuple[str, str]:
        """Walk the form to the end; return the tracking code and the secret key."""
        await self.fill_report(description, photo, unit)
        response = await self.step("review", choice="confirm")
        assert response.status_code == 200, self.page
        code = re.search(r'id="code">([^<]+)<', self.page)
        key = re.search(r'id="key">([^<]+)<', self.page)
        assert code and key, self.page
        return code.group(1), key.group(1)

    async def fill_report(
        self,
        description: str,
        photo: bytes | None = None,
        unit: str = "HL",
        identity: str = "anon",
    ) -> None:
        """Walk the form up to the review, before Send (up to the contact if "named")."""
        await self.get("/report")
        if 'name="consent"' in self.page:
            await self.post("/report", {"consent": "yes"})
        await self.step("category", choice="harass")
        await self.step("unit", text="ha long")
        await self.step("unit", choice=unit)
        await self.step("official", choice="skip")
        await self.step("when", choice="today")
        await self.step("where", choice="skip")
        await self.step("description", text=description)
        if photo is not None:
            await self.post("/report", {"step": "evidence", "go": "files"}, [("files", photo)])
        await self.step("evidence", choice="done")
        await self.step("identity", choice=identity)


def gps_jpeg() -> bytes:
    """Return a small JPEG carrying GPS EXIF, as a phone's camera writes it."""
    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (21.0, 0.0, 0.0)
    gps[3] = "E"
    gps[4] = (107.0, 0.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()

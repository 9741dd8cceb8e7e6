"""Helpers of the Zalo tests: the bot with `[zalo]` on the simulated Zalo, and a citizen there."""

from __future__ import annotations

import dataclasses
import io
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import ZALO_KEY, build_application, running
from bot.config import ZaloConfig
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator, ZaloUser
from bot.zalo.channel import ZaloChannel
from tests.conftest import FakeClock, World, make_settings

SECRET = "zalo-webhook-secret-1"
CODE_RE = re.compile(r"\b([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")


def zalo_config(zsim: ZaloSimulator, **kw: Any) -> ZaloConfig:
    """Return `[zalo]` pointed at the simulator, without pacing (the tests assert no timing)."""
    return ZaloConfig(
        token=zsim.token,
        base_url=zsim.base_url,
        messages_per_second=1000.0,
        seconds_per_user=0.0,
        **kw,
    )


@asynccontextmanager
async def zalo_world(
    sim: BotApiSimulator,
    zsim: ZaloSimulator,
    tmp_path: Path,
    clock: FakeClock,
    *,
    webhook: bool = False,
    media: bool = False,
    flood_messages: int = 1000,
    web_pages: bool = False,
) -> AsyncIterator[World]:
    """Run the bot with Telegram and Zalo both simulated; polling, or Zalo's webhook; with
    `web_pages`, the citizens' web pages too, on the same web server (`web_port`).

    The tests' citizens answer faster than people can type: the flood limit is lifted unless a
    test sets it.
    """
    settings = dataclasses.replace(make_settings(sim, tmp_path), flood_messages=flood_messages)
    extra: dict[str, Any] = {}
    port = free_port()
    if webhook:
        extra = {
            "mode": "webhook",
            "secret_token": SECRET,
            # Plain HTTP on 127.0.0.1: the simulated Zalo posts here (the real one needs https).
            "webhook_url": f"http://127.0.0.1:{port}/zalo/hook",
        }
    if media:
        extra["media_url"] = f"http://127.0.0.1:{port}/zalo"
    config = zalo_config(zsim, **extra)
    # Zalo's webhook and photos are served by the one web server, on a port known beforehand.
    web = dataclasses.replace(
        settings.web,
        enabled=web_pages,
        listen="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}" if web_pages else None,
    )
    settings = dataclasses.replace(settings, zalo=config, web=web)
    app = build_application(settings, clock=clock)
    async with running(app):
        yield World(sim, app, settings, clock)


def web_port(world: World) -> int:
    """Return the port of the one web server (Zalo's webhook and photos, the web pages)."""
    return world.settings.web.port


def free_port() -> int:
    """Return a port of 127.0.0.1 free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def channel_of(world: World) -> ZaloChannel:
    """Return the running Zalo channel."""
    channel = world.app.bot_data[ZALO_KEY]
    assert isinstance(channel, ZaloChannel)
    return channel


class ZaloCitizen:
    """A citizen writing to the bot on the simulated Zalo."""

    def __init__(self, zsim: ZaloSimulator, user: ZaloUser) -> None:
        self.zsim = zsim
        self.user = user
        self.id = user.id

    @property
    def count(self) -> int:
        return len(self.zsim.sent(self.id))

    async def say(self, text: str, expect: str, wait: float = 10.0) -> str:
        """Send text; return the first message after it containing `expect`."""
        mark = self.count
        await self.user.send_text(text)
        message = await self.zsim.wait_for(self.id, expect, after=mark, wait=wait)
        return str(message["text"])

    async def photo(self, data: bytes, expect: str, *, expired: bool = False) -> str:
        """Send a photo; return the first message after it containing `expect`."""
        mark = self.count
        await self.user.send_photo(data, expired=expired)
        message = await self.zsim.wait_for(self.id, expect, after=mark)
        return str(message["text"])

    def number_of(self, label: str) -> str:
        """Return the number the latest list shows in front of `label`."""
        for message in reversed(self.zsim.sent(self.id)):
            for line in (message.get("text") or "").splitlines():
                found = re.match(r"^(\d+)\. (.*)$", line.strip())
                if found and label.lower() in found.group(2).lower():
                    return found.group(1)
        raise AssertionError(f"no numbered line with {label!r}")

    async def pick(self, label: str, expect: str) -> str:
        """Answer with the number of the line showing `label`."""
        return await self.say(self.number_of(label), expect)


def jpeg(size: int = 2000) -> bytes:
    """Return a small real JPEG."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size // 40 + 8, 20), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def code_in(text: str) -> str:
    """Return the tracking code shown in a text."""
    found = CODE_RE.search(text)
    assert found, f"no tracking code in {text!r}"
    return found.group(1)

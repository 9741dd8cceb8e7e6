"""What the Zalo channel's parts share: the application's services, and one person's talk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.workflow import Workflow
from bot.i18n import Gettext, Translator
from bot.store.repository import Repository
from bot.zalo.client import ZaloClient, ZaloError
from bot.zalo.text import pack, plain

CHANNEL = "zalo"
# How long a reply keeps trying through Zalo's limits and outages, as on Telegram.
REPLY_PATIENCE = 30.0


@dataclass
class ZaloServices:
    """The services of the application the Zalo channel uses."""

    settings: Settings
    db: Repository
    translator: Translator
    conversation: Conversation
    workflow: Workflow
    client: ZaloClient
    # Asks the outbox worker to look at the queue now.
    wake: Callable[[], None]
    # The application's flood guard: "read", "warn" (the first message over the limit) or
    # "ignore", for a person's message at a moment ([bot] flood_messages, flood_seconds).
    flood: Callable[[int, float], str] | None = None


@dataclass
class Talk:
    """One Zalo user being answered: their internal id, their chat and their language."""

    services: ZaloServices
    user_id: int
    chat_id: str
    locale: str
    # The stored message being handled (its arrival number): a replay is recognised by it.
    seq: int = 0

    @property
    def _(self) -> Gettext:
        """Return the translation function of the person's language."""
        return self.services.translator.get(self.locale)

    async def say(self, *blocks: str) -> None:
        """Send HTML texts of the project as plain Zalo messages of at most 2,000 characters.

        Each message is tried again through rate limits and short outages for up to
        REPLY_PATIENCE seconds; after that the ZaloError goes up, and the message that asked
        for the reply is handled again later (its answer is not taken twice).
        """
        for message in pack([plain(block) for block in blocks if block]):
            await self._send(message)

    async def say_as_is(self, *messages: str) -> None:
        """Send texts exactly as given (no HTML read, nothing joined), each as one message,
        tried again like `say`'s; each must already fit a message."""
        for message in messages:
            await self._send(message)

    async def _send(self, message: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_PATIENCE
        delay = 0.5
        while True:
            try:
                await self.services.client.send_message(self.chat_id, message)
                return
            except ZaloError as exc:
                if not (exc.network or exc.rate_limited or exc.code >= 500):
                    raise
                wait = exc.retry_after or delay
                if loop.time() + wait > deadline:
                    raise
                await asyncio.sleep(wait)
                delay = min(delay * 2, 8.0)

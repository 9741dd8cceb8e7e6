"""What the Zalo channel's parts share: the application's services, and one person's talk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.workflow import Workflow
from bot.i18n import Gettext, Translator
from bot.store.repository import Repository
from bot.zalo.client import ZaloClient
from bot.zalo.text import pack, plain

CHANNEL = "zalo"


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
        """Send HTML texts of the project as plain Zalo messages of at most 2,000 characters."""
        for message in pack([plain(block) for block in blocks if block]):
            await self.services.client.send_message(self.chat_id, message)

"""The Zalo channel as the application starts and stops it: client, intake, chat and sender."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.workflow import Workflow
from bot.i18n import Translator
from bot.store.repository import Repository
from bot.zalo.chat import ZaloChat
from bot.zalo.client import ZaloClient, ZaloError
from bot.zalo.intake import ZaloIntake
from bot.zalo.media import MediaShelf
from bot.zalo.sender import ZaloSender
from bot.zalo.services import ZaloServices
from bot.zalo.webhook import zalo_routes

log = logging.getLogger(__name__)


class ZaloChannel:
    """Everything Zalo needs while the bot runs; `sender` joins the outbox worker."""

    def __init__(
        self,
        settings: Settings,
        db: Repository,
        translator: Translator,
        conversation: Conversation,
        workflow: Workflow,
        wake: Callable[[], None],
        flood: Callable[[int, float], str] | None = None,
    ) -> None:
        assert settings.zalo is not None
        self.config = settings.zalo
        self.client = ZaloClient(self.config)
        self.services = ZaloServices(
            settings, db, translator, conversation, workflow, self.client, wake, flood
        )
        self.chat = ZaloChat(self.services)
        self.shelf = MediaShelf(self.config.media_url)
        self.sender = ZaloSender(self.services, self.shelf)
        keep = settings.privacy.draft_days * 86400.0
        self.intake = ZaloIntake(self.client, db, self.chat.handle, keep)

    def routes(self) -> list[Any]:
        """Return the webhook's and the photos' routes, for the application's one web server."""
        return zalo_routes(self.config, self.intake, self.shelf)

    async def start(self) -> None:
        """Start taking updates: by the webhook (its route already served) or by polling."""
        if self.config.webhook:
            try:
                await self.client.set_webhook(
                    self.config.webhook_url or "", self.config.secret_token or ""
                )
            except ZaloError as exc:
                # Updates already set to come here still come; the operator sees why not others.
                log.error("Zalo setWebhook failed: %s", exc.code)
            self.intake.start_handling()
            return
        try:
            # A webhook left set would keep getUpdates empty.
            await self.client.delete_webhook()
        except ZaloError as exc:
            log.warning("Zalo deleteWebhook failed: %s", exc.code)
        self.intake.start_polling()

    async def stop(self) -> None:
        """Stop taking updates and close the connections."""
        await self.intake.stop()
        await self.client.close()

"""The typed callback context every handler receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot, filters

from bot.config import Settings
from bot.i18n import Gettext, Translator
from bot.metrics import Metrics
from bot.store.repository import Clock, Repository

if TYPE_CHECKING:
    from bot.core.conversation import Conversation
    from bot.core.workflow import Workflow
    from bot.telegram.delivery import Delivery

SERVICES_KEY = "services"


@dataclass
class Services:
    """The long-lived objects the application shares with every handler."""

    settings: Settings
    db: Repository
    translator: Translator
    clock: Clock
    workflow: Workflow
    conversation: Conversation
    # Every admin's id, config and chat alike, for handlers that only admins may reach; kept
    # current by /admin_add and /admin_remove.
    admin_filter: filters.User
    delivery: Delivery | None = None
    # The figures /metrics shows, in a registry of this application's own.
    metrics: Metrics = field(default_factory=Metrics)
    # The one web server's port (pages, webhook, operator's endpoints): None for [web] port,
    # 0 for any free one (tests); set to the real one once it listens. Both names hold it.
    webhook_port: int | None = None
    web_port: int | None = None


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with the project's services and the current user's language."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        # Set by the first handler group from the stored user; the default serves groups.
        self.locale: str | None = None
        # The sender's ban (`AdminStore.ban_state`), read with their language by the same
        # group; `ban_read` tells whether it was. One update's, never carried to the next.
        self.ban: bool | None = None
        self.ban_read = False

    @property
    def services(self) -> Services:
        """Return the shared services."""
        services: Services = self.application.bot_data[SERVICES_KEY]
        return services

    @property
    def db(self) -> Repository:
        """Return the repository."""
        return self.services.db

    @property
    def settings(self) -> Settings:
        """Return the settings."""
        return self.services.settings

    @property
    def delivery(self) -> Delivery:
        """Return the outbox worker."""
        delivery = self.services.delivery
        if delivery is None:
            raise RuntimeError("resources are not initialised")
        return delivery

    @property
    def workflow(self) -> Workflow:
        """Return the officer workflow."""
        return self.services.workflow

    @property
    def conversation(self) -> Conversation:
        """Return the report conversation (questions, checks, order)."""
        return self.services.conversation

    @property
    def lang(self) -> str:
        """Return the locale of the person this update comes from."""
        return self.locale or self.settings.default_locale

    @property
    def _(self) -> Gettext:
        """Return gettext for the current user's language."""
        return self.services.translator.get(self.lang)

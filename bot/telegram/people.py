"""Who a Telegram user is to the bot: someone who can be named in the audit log, or nobody."""

from __future__ import annotations

from telegram import User

from bot.core.workflow import ANONYMOUS_ADMIN_ID


def is_anonymous(user: User | None) -> bool:
    """Tell whether the sender says nothing about who acted (an anonymous admin, a bot)."""
    return user is None or user.is_bot or user.id == ANONYMOUS_ADMIN_ID


def actor_name(user: User) -> str:
    """Return how the audit log names a person acting on a report."""
    return user.full_name[:64]

"""What the administrators read that is built from stored data: for now the notices queued for
them, such as the one saying a unit's alerts are held; every stored name and reason is
HTML-escaped here."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from bot.i18n import Gettext


def notice(payload: Mapping[str, Any], unit_name: str | None, _: Gettext) -> str:
    """Return a queued notice to an admin (HTML): held alerts, or a plain text as it was queued.

    `unit_name` is the name of the unit a "unit_chat_broken" notice is about, None if unknown.
    """
    if payload.get("type") == "unit_chat_broken":
        return _(
            "⚠️ Alerts for %(unit)s cannot be delivered: %(reason)s. They are kept and will"
            " be sent once the unit's chat is fixed (add the bot back as an administrator"
            " or correct chat_id)."
        ) % {
            "unit": escape(unit_name if unit_name is not None else str(payload.get("unit"))),
            "reason": escape(str(payload.get("reason", ""))),
        }
    return escape(str(payload.get("text", "")))

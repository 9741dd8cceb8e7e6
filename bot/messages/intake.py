"""What the administrators read about updates set aside because they could not be read: the id,
the time, the error and the size of each, never anything the update said."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from bot.core.domain import VN_TZ, Poison
from bot.core.parsing import format_date
from bot.i18n import Gettext


def quarantine_lines(poisons: Sequence[Poison], _: Gettext, locale: str) -> list[str]:
    """Return /quarantine: the latest updates set aside, newest first (HTML)."""
    if not poisons:
        return [escape(_("No update has been set aside."))]
    title = _("Updates set aside because they could not be read (the latest %(count)s):") % {
        "count": len(poisons)
    }
    lines = [f"<b>{escape(title)}</b>"]
    for poison in poisons:
        when = datetime.fromtimestamp(poison.at, tz=VN_TZ)
        lines.append(
            _("%(when)s · update %(update)s · %(kind)s · %(error)s · %(size)s bytes")
            % {
                "when": f"{format_date(when.date(), locale)} {when:%H:%M}",
                "update": "<code>%s</code>"
                % ("?" if poison.update_id is None else poison.update_id),
                "kind": escape(poison.kind or "?"),
                "error": escape(poison.error),
                "size": poison.size,
            }
        )
    return lines

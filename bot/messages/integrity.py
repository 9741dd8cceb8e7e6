"""Texts of the integrity features: conflict-of-interest routing, repeated-misconduct patterns,
signed receipts and the admin views of them. Unit names and codes are HTML-escaped here; none
of these texts names a reporter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from bot.core.domain import Report
from bot.i18n import Gettext
from bot.messages.labels import category_label
from bot.messages.report import code_html

# How many codes a pattern line lists before "and N more" (keeps alerts within their budget).
CODES_SHOWN = 10
GROUPS_SHOWN = 25


def conflict_banner(reason: str | None, concerned: str, _: Gettext) -> str:
    """Return the line on an alert sent above the unit it is about, saying why (HTML)."""
    if reason == "head":
        return _(
            "⚖️ Sent here, above %(unit)s: the reporter says the official is its head or deputy"
            " head."
        ) % {"unit": escape(concerned)}
    return _(
        "⚖️ Sent here, above %(unit)s: an administrator marked that unit as conflicted for this"
        " category."
    ) % {"unit": escape(concerned)}


def conflict_notice(handler: str | None, _: Gettext) -> str:
    """Return what the unit a report is about is told: only that it is handled above (HTML)."""
    if handler is None:
        return _(
            "⚖️ A report concerning this unit has been received. To avoid a conflict of"
            " interest, it is handled by the administrators."
        )
    return _(
        "⚖️ A report concerning this unit has been received. To avoid a conflict of"
        " interest, it is handled by %(unit)s."
    ) % {"unit": escape(handler)}


def routed_line(report: Report, concerned: str, handler: str | None, _: Gettext) -> str:
    """Return the citizen's line saying where a report went and why (HTML), for a routed one."""
    values = {"unit": escape(concerned), "handler": escape(handler or "")}
    if report.conflict == "head":
        if handler is None:
            return (
                _(
                    "⚖️ Because it concerns the head of %(unit)s, your report goes to the"
                    " administrators, not to %(unit)s."
                )
                % values
            )
        return (
            _(
                "⚖️ Because it concerns the head of %(unit)s, your report goes to %(handler)s,"
                " the unit above, not to %(unit)s."
            )
            % values
        )
    if handler is None:
        return (
            _(
                "⚖️ To avoid a conflict of interest, reports of this kind about %(unit)s go to the"
                " administrators."
            )
            % values
        )
    return (
        _(
            "⚖️ To avoid a conflict of interest, reports of this kind about %(unit)s go to"
            " %(handler)s, the unit above."
        )
        % values
    )


def pattern_line(codes: Sequence[str], days: int, _: Gettext) -> str:
    """Return the alert line listing other reports about the same official (HTML)."""
    shown = ", ".join(code_html(c) for c in codes[:CODES_SHOWN])
    if len(codes) > CODES_SHOWN:
        shown += " " + _("and %(count)d more") % {"count": len(codes) - CODES_SHOWN}
    return _("🔁 %(count)d other reports about the same official in %(days)d days: %(codes)s") % {
        "count": len(codes),
        "days": days,
        "codes": shown,
    }


def conflict_marks_lines(marks: Mapping[str, Sequence[str]], _: Gettext) -> list[str]:
    """Return the /units lines of the conflict marks: each unit and its categories (HTML)."""
    if not marks:
        return []
    lines = [
        "",
        "<b>" + escape(_("Conflicts of interest (reports go to the unit above)")) + "</b>",
    ]
    for code, categories in sorted(marks.items()):
        labels = ", ".join(escape(category_label(c, _)) for c in categories)
        lines.append(f"⚖️ <code>{escape(code)}</code>: {labels}")
    return lines


def pattern_escalated(size: int, _: Gettext) -> str:
    """Return the banner of an alert sent above because of a pattern (HTML)."""
    return _("🔁 Escalated here: %(count)d reports about the same official at the unit below.") % {
        "count": size
    }


def receipt_caption(code: str, _: Gettext) -> str:
    """Return the caption of a signed receipt file (HTML)."""
    return _(
        "🧾 Signed receipt of report %(code)s: it proves what was sent and when, without"
        " naming you. Anyone can check it with the public key shown by /publickey."
    ) % {"code": code_html(code)}


def receipt_waiting(_: Gettext) -> str:
    """Say that some evidence could not be fingerprinted yet."""
    return _("Some evidence files could not be read yet. Please press the button again later.")


def public_key_text(key: str, _: Gettext) -> str:
    """Return /publickey: the key receipts are checked against (HTML)."""
    return _(
        "Receipts of this service are signed with the Ed25519 key below. Check a receipt"
        " with: liemchinh verify RECEIPT --key KEY\n\n%(key)s"
    ) % {"key": f"<code>{escape(key)}</code>"}


def conflict_usage(_: Gettext) -> str:
    """Explain /unit_conflict."""
    return _(
        "Usage: /unit_conflict CODE CATEGORY [off]\n"
        "Reports of that category about that unit then always go to the unit above.\n"
        "Categories: %(categories)s"
    ) % {"categories": "delay, harass, bribe, shirk, discipline, conduct, other"}


def conflict_set(unit: str, category: str, on: bool, _: Gettext) -> str:
    """Confirm a conflict mark set or removed (HTML)."""
    values = {"unit": escape(unit), "category": escape(category_label(category, _))}
    if on:
        return _("⚖️ Reports of “%(category)s” about %(unit)s now go to the unit above.") % values
    return _("Reports of “%(category)s” about %(unit)s go to the unit itself again.") % values


def patterns_text(
    groups: Sequence[Sequence[Report]], names: Mapping[str, str], days: int, _: Gettext
) -> str:
    """Return /patterns: each cluster's unit, size and codes, largest first (HTML)."""
    title = _("Reports about the same official in the last %(days)d days:") % {"days": days}
    if not groups:
        return _("No two reports about the same official in the last %(days)d days.") % {
            "days": days
        }
    lines = [f"<b>{escape(title)}</b>"]
    # The largest clusters first, as many as one message holds.
    for group in groups[:GROUPS_SHOWN]:
        unit = group[0].concerned_unit or group[0].fields.unit_code or ""
        codes = ", ".join(code_html(r.code) for r in group[:CODES_SHOWN])
        lines.append(
            _("• %(unit)s: %(count)d reports: %(codes)s")
            % {"unit": escape(names.get(unit, unit)), "count": len(group), "codes": codes}
        )
    return "\n".join(lines)


def metadata_note(original_sha256: str | None, _: Gettext) -> str:
    """Return the note that an image's metadata was removed, with the original's hash (HTML)."""
    note = _("🧹 The bot removed this image's metadata (EXIF, GPS, camera) before sending it.")
    if original_sha256:
        note += " " + _("SHA-256 of the original, as in the reporter's receipt: %(hash)s") % {
            "hash": f"<code>{escape(original_sha256)}</code>"
        }
    return note


def metadata_removed(caption: str, original_sha256: str | None, _: Gettext) -> str:
    """Return an evidence caption with the note that the image's metadata was removed (HTML)."""
    return f"{caption}\n{metadata_note(original_sha256, _)}"


def evidence_withheld(caption: str, _: Gettext) -> str:
    """Return what stands in for an image whose metadata could not be removed (HTML)."""
    return "{caption}\n{note}".format(
        caption=caption,
        note=_(
            "🧹 This image file could not be read to remove its metadata (which may show where"
            " and by whom it was taken), so it is not passed on. Ask the reporter for a photo."
        ),
    )


def open311_usage(_: Gettext) -> str:
    """Return the usage of /export open311 (plain text)."""
    return _(
        "Usage: /export open311 [period], for example /export open311 30d: the Open311 feed"
        " of the reports sent in the period."
    )


def open311_caption(count: int, period: str, _: Gettext) -> str:
    """Return the caption of the Open311 feed file (plain text)."""
    return _(
        "Open311 GeoReport v2 feed: %(count)d reports (%(period)s), without descriptions,"
        " places, officials or reporters."
    ) % {"count": count, "period": period}


def receipt_check_words(_: Gettext) -> dict[str, str]:
    """Return the words of the web page that checks a receipt, by name (plain text)."""
    return {
        "title": _("Check a receipt"),
        "intro": _(
            "A signed receipt proves what was sent and when, without saying who sent it. Choose"
            " the receipt file (receipt-XXXX-XXXX.json) or paste its text."
        ),
        "file": _("Receipt file"),
        "text": _("Or paste the receipt's text"),
        "check": _("Check the receipt"),
        "link": _("Have a signed receipt? Check it"),
        "public_key": _("This service's public key (Ed25519): %(key)s"),
        "download": _("Download the signed receipt"),
        "download_hint": _(
            "The signed receipt proves what you sent and when, without naming you: keep the"
            " file, anyone can check it on this site or with the public key."
        ),
    }


def receipt_verdict(code: str, _: Gettext, fields: Sequence[str] = ()) -> str:
    """Return what the check of a receipt found, for a verdict code (plain text)."""
    if code == "valid":
        return _(
            "Valid: signed by this service's key, and it matches the report as stored: nothing"
            " in it has changed."
        )
    if code == "unreadable":
        return _("This is not a receipt of this service: it cannot be read.")
    if code == "changed":
        return _("Not valid: the receipt was changed after it was signed.")
    if code == "key":
        return _(
            "Not valid: it was not signed with this service's key, or its content was changed."
        )
    if code == "missing":
        return _("The signature is this service's, but no report with this code is stored.")
    if code == "mismatch":
        return _(
            "The signature is this service's, but the stored report no longer matches it in:"
            " %(fields)s."
        ) % {"fields": ", ".join(fields)}
    return _("Please choose a receipt file or paste its text.")

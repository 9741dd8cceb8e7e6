"""Texts built from stored data; every user-supplied value is HTML-escaped here."""

from __future__ import annotations

from datetime import date
from html import escape

from bot.domain import Category, Report, ReportFields, Status
from bot.i18n import Gettext
from bot.parsing import format_amount, format_code, format_date

# Telegram counts a message's length after entity parsing; staying well under 4096 leaves room
# for the labels around a long description.
DESCRIPTION_CUT = 3000


def category_label(value: str | None, _: Gettext) -> str:
    """Return the translated label of a stored category value."""
    try:
        return _(Category(value or "").label)
    except ValueError:
        return _("Other")


def status_label(value: str, _: Gettext) -> str:
    """Return the translated label of a stored status value."""
    try:
        return _(Status(value).label)
    except ValueError:
        return value


def _day(value: str | None, locale: str) -> str:
    if not value:
        return ""
    return format_date(date.fromisoformat(value), locale)


def field_lines(
    fields: ReportFields,
    unit_name: str | None,
    evidence_count: int,
    _: Gettext,
    locale: str,
    *,
    for_unit: bool,
) -> list[str]:
    """Describe a report's answers, one labelled line each (HTML)."""
    not_given = _("not given")
    lines = [
        _("Category: %(value)s") % {"value": escape(category_label(fields.category, _))},
        _("Unit: %(value)s") % {"value": escape(unit_name or not_given)},
    ]
    if fields.category == Category.DELAY:
        lines.append(
            _("Dossier or procedure: %(value)s") % {"value": escape(fields.dossier_code or "-")}
        )
        lines.append(
            _("Submitted on: %(value)s")
            % {"value": _day(fields.submitted_on, locale) or not_given}
        )
        lines.append(
            _("Promised for: %(value)s") % {"value": _day(fields.promised_on, locale) or not_given}
        )
    if fields.category == Category.BRIBE:
        amount = format_amount(fields.amount, locale) if fields.amount else not_given
        lines.append(_("Amount asked or taken: %(value)s") % {"value": escape(amount)})
    lines.append(_("Official involved: %(value)s") % {"value": escape(fields.official or "-")})
    lines.append(_("When: %(value)s") % {"value": _day(fields.occurred_on, locale) or not_given})
    if fields.location:
        where = escape(fields.location)
    elif fields.latitude is not None and fields.longitude is not None:
        where = _("map location %(lat).5f, %(lon).5f") % {
            "lat": fields.latitude,
            "lon": fields.longitude,
        }
    else:
        where = "-"
    lines.append(_("Where: %(value)s") % {"value": where})
    lines.append(_("Evidence files: %(count)d") % {"count": evidence_count})
    if for_unit:
        # Units never learn who reported; a named reporter's contact stays with the admins,
        # who can hand it over through a formal, audited channel.
        if fields.anonymous is False:
            lines.append(_("Reporter: named (contact details are held by the administrators)"))
        else:
            lines.append(_("Reporter: anonymous"))
    elif fields.anonymous is False:
        lines.append(
            _("Reporter: %(name)s, %(phone)s")
            % {
                "name": escape(fields.contact_name or ""),
                "phone": escape(fields.contact_phone or ""),
            }
        )
    else:
        lines.append(_("Reporter: anonymous"))
    description = (fields.description or "")[:DESCRIPTION_CUT]
    lines.append("")
    lines.append(_("Description:"))
    lines.append(escape(description))
    return lines


def alert_text(
    report: Report, unit_name: str, evidence_count: int, _: Gettext, locale: str
) -> str:
    """Return the alert a unit receives for a new report (HTML)."""
    head = _("🔔 New report %(code)s") % {"code": f"<code>{format_code(report.code)}</code>"}
    lines = [f"<b>{head}</b>", ""]
    lines += field_lines(report.fields, unit_name, evidence_count, _, locale, for_unit=True)
    if evidence_count:
        lines.append("")
        lines.append(_("The evidence follows in the next messages."))
    return "\n".join(lines)


def evidence_caption(code: str, index: int, total: int, _: Gettext) -> str:
    """Return the caption placed on a copied piece of evidence (HTML)."""
    return _("Evidence %(index)d/%(total)d for report %(code)s") % {
        "index": index,
        "total": total,
        "code": f"<code>{format_code(code)}</code>",
    }

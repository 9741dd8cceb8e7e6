"""Inline keyboards shared by several messages: the unit tree (for citizens choosing a unit,
officers transferring a report, admins binding a chat), an alert's buttons, and the buttons on
the messages a reporter receives. Every button's data comes from bot.telegram.callbacks."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.context import BotContext
from bot.core.workflow import Action
from bot.i18n import Gettext
from bot.messages.labels import action_label
from bot.telegram.callbacks import AlertAction, Answer, TreeBrowse, TreeChoose, Verdict

UNITS_PER_PAGE = 8


async def tree_rows(
    context: BotContext,
    parent: str | None,
    page: int,
    *,
    browse: TreeBrowse,
    choose: TreeChoose,
    exclude: str | None = None,
) -> list[list[InlineKeyboardButton]]:
    """Return the button rows for one page of `parent`'s children (the top level for None).

    A branch opens with `browse(code, 0)`, a unit is taken with `choose(code)`; the unit being
    browsed can be taken too. `exclude` (the report's own unit) is never offered.
    """
    _ = context._
    units = await context.db.units.child_units(parent)
    branches = await context.db.units.has_children([u.code for u in units])
    pages = max(1, -(-len(units) // UNITS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    rows: list[list[InlineKeyboardButton]] = []
    current = await context.db.units.get_unit(parent) if parent is not None else None

    def opens(unit: str | None, at: int) -> str:
        return browse(unit, at).pack()

    def take(code: str, label: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(label, callback_data=choose(code).pack())]

    if current is not None and current.code != exclude:
        rows.append(take(current.code, _("✅ %(unit)s") % {"unit": current.name}))
    for unit in units[page * UNITS_PER_PAGE : (page + 1) * UNITS_PER_PAGE]:
        if unit.code in branches:
            data = opens(unit.code, 0)
            rows.append([InlineKeyboardButton(f"{unit.name} ›", callback_data=data)])
        elif unit.code != exclude:
            rows.append(take(unit.code, unit.name))
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(InlineKeyboardButton(_("‹ Previous"), callback_data=opens(parent, page - 1)))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(_("Next ›"), callback_data=opens(parent, page + 1)))
    if current is not None:
        up = opens(current.parent, 0)
        nav.append(InlineKeyboardButton(_("⬆️ Up one level"), callback_data=up))
    if nav:
        rows.append(nav)
    return rows


def alert_keyboard(
    report_id: int, actions: Sequence[Action], _: Gettext
) -> InlineKeyboardMarkup | None:
    """Return an alert's buttons, two a row, for the steps its report's status allows."""
    if not actions:
        return None
    buttons = [
        InlineKeyboardButton(action_label(a, _), callback_data=AlertAction(a, report_id).pack())
        for a in actions
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def verdict_keyboard(report_id: int, _: Gettext) -> InlineKeyboardMarkup:
    """Return the reporter's two buttons on a resolution: really resolved, or not."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("👍 Yes, resolved"), callback_data=Verdict(True, report_id).pack()
                ),
                InlineKeyboardButton(
                    _("👎 No, not resolved"), callback_data=Verdict(False, report_id).pack()
                ),
            ]
        ]
    )


def answer_keyboard(report_id: int, _: Gettext) -> InlineKeyboardMarkup:
    """Return the button under a unit's question that opens the reporter's reply box."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(_("✍️ Answer"), callback_data=Answer(report_id).pack())]]
    )

"""One page of the unit tree as buttons: for citizens choosing a unit, officers transferring a
report, admins binding a chat. Only the callback-data formats differ between them. Every unit
offered is labelled so that two of the same name can be told apart."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from telegram import InlineKeyboardButton

from bot.core.domain import Unit
from bot.messages.labels import unit_label
from bot.telegram.callbacks import TreeBrowse, TreeChoose
from bot.telegram.context import BotContext

UNITS_PER_PAGE = 8


async def unit_labels(context: BotContext, units: Iterable[Unit]) -> dict[str, str]:
    """Return the label of each unit by code: its name, qualified when another shares it."""
    units = list(units)
    qualifiers = await context.db.units.qualifiers(units)
    return {u.code: unit_label(u, qualifiers.get(u.code, ())) for u in units}


async def tree_rows(
    context: BotContext,
    parent: str | None,
    page: int,
    *,
    browse: TreeBrowse,
    choose: TreeChoose,
    exclude: Collection[str] = (),
) -> list[list[InlineKeyboardButton]]:
    """Return the button rows for one page of `parent`'s children (the top level for None).

    A branch opens with `browse(code, 0)`, a unit is taken with `choose(code)`; the unit being
    browsed can be taken too. `exclude` (the report's own unit, the unit it concerns) is never
    offered.
    """
    _ = context._
    units = await context.db.units.child_units(parent)
    branches = await context.db.units.has_children([u.code for u in units])
    pages = max(1, -(-len(units) // UNITS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    rows: list[list[InlineKeyboardButton]] = []
    current = await context.db.units.get_unit(parent) if parent is not None else None
    shown = units[page * UNITS_PER_PAGE : (page + 1) * UNITS_PER_PAGE]
    label = await unit_labels(context, [*shown, *([current] if current else [])])

    def opens(unit: str | None, at: int) -> str:
        return browse(unit, at).pack()

    def take(code: str, label: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(label, callback_data=choose(code).pack())]

    if current is not None and current.code not in exclude:
        rows.append(take(current.code, _("✅ %(unit)s") % {"unit": label[current.code]}))
    for unit in shown:
        if unit.code in branches:
            data = opens(unit.code, 0)
            rows.append([InlineKeyboardButton(f"{label[unit.code]} ›", callback_data=data)])
        elif unit.code not in exclude:
            rows.append(take(unit.code, label[unit.code]))
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

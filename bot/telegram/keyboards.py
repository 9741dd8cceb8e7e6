"""Inline keyboards of the messages the outbox delivers: an alert's buttons and the buttons on
the messages a reporter receives. Every button's data comes from bot.telegram.callbacks; the
unit tree, which reads the store, is in bot.telegram.tree."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.domain import Action
from bot.i18n import Gettext
from bot.messages.labels import action_label
from bot.telegram.callbacks import AlertAction, Answer, ReceiptRequest, Verdict


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


def receipt_keyboard(report_id: int, _: Gettext) -> InlineKeyboardMarkup:
    """Return the button under a tracking code that asks for a signed receipt."""
    label = _("🧾 Signed receipt")
    data = ReceiptRequest(report_id).pack()
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])


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

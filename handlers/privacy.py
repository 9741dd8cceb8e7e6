"""The citizen's rights over their data: a copy of it (/mydata) and its erasure (/forget).

Both work only in a private chat and only on the sender's own data; they are registered before
the report conversation, so they also work in the middle of writing a report.
"""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode

from bot.messages.privacy import EXPORT_FILENAME, export_bytes, personal_data
from bot.telegram.callbacks import Forget
from bot.telegram.context import BotContext

log = logging.getLogger(__name__)


async def my_data(update: Update, context: BotContext) -> None:
    """Send the sender everything stored about them as one JSON file."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    _ = context._
    document = await personal_data(context.db, user.id, _)
    await context.bot.send_document(
        chat.id,
        InputFile(export_bytes(document), filename=EXPORT_FILENAME),
        caption=_(
            "Everything we store about you is in this file (JSON). /privacy explains why and"
            " for how long; /forget erases it."
        ),
    )


async def forget(update: Update, context: BotContext) -> None:
    """Say exactly what erasure removes and keeps, and ask for confirmation."""
    chat = update.effective_chat
    assert chat is not None
    _ = context._
    text = _(
        "Do you want us to erase your personal data?\n\n"
        "<b>Erased:</b> your language and your consent, a report you have not sent yet, the"
        " link between you and each report you sent, and the name and phone number given in"
        " reports sent with your name.\n"
        "<b>Kept:</b> the reports themselves — what you wrote, your files and the messages"
        " exchanged with the unit — without anything linking them to you, so that the units"
        " can still handle them. A ban, if there is one, is kept too, and so, for 24 hours,"
        " is the count of the reports you sent, under a code that does not reveal who you are"
        " (for the daily limit on new reports).\n\n"
        "Afterwards you will no longer receive updates on your reports and cannot check them"
        " with /status. This cannot be undone; /mydata gives you a copy first."
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("🗑 Yes, erase my data"), callback_data=Forget(True).pack()),
                InlineKeyboardButton(_("✖️ No, keep it"), callback_data=Forget(False).pack()),
            ]
        ]
    )
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def forget_pressed(update: Update, context: BotContext) -> None:
    """Erase the sender's personal data on "yes"; change nothing on "no"."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    _ = context._
    # Pressed anywhere but a private chat, the button is stopped before it gets here.
    pressed = Forget.parse(query.data)
    if chat is None or pressed is None:
        await query.answer(_("This button is no longer active."))
        return
    await query.answer()
    # The buttons go first, so the question cannot be answered twice.
    await query.edit_message_reply_markup(None)
    if not pressed.erase:
        await context.bot.send_message(chat.id, _("Nothing was erased."))
        return
    # Whoever pressed, in their own private chat: the button cannot reach anyone else's data.
    count = await context.db.privacy.forget_user(query.from_user.id)
    log.info("a citizen's personal data was erased; %d reports de-identified", count)
    await context.bot.send_message(
        chat.id,
        _(
            "Your personal data has been erased. Your reports stay with the units, without"
            " anything linking them to you. If you write to me again, I will treat you as a"
            " new user."
        ),
        # A half-written report may have left the "share my phone number" keyboard open.
        reply_markup=ReplyKeyboardRemove(),
    )

"""Every handler of the bot, registered in one place and in an order that matters."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram import callbacks as cb
from bot.telegram.context import BotContext


def register(app: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
    """Register the handlers on `app`."""
    from handlers import (
        admin,
        common,
        feedback,
        figures,
        integrity,
        officer,
        privacy,
        replies,
        report,
    )

    private = filters.ChatType.PRIVATE
    admins = app.bot_data["services"].admin_filter
    # Group -4 runs first: in a group or channel bound to no unit the bot says once how to
    # bind it (to an admin) or leaves, and nothing else runs there.
    app.add_handler(MessageHandler(~filters.ChatType.PRIVATE, admin.unbound_chat), group=-4)
    # Group -3 runs next for every update: it loads the sender's language for the others.
    app.add_handler(TypeHandler(Update, common.remember_user), group=-3)
    # Group -2: a banned user gets one polite refusal, then silence; nothing else runs.
    app.add_handler(TypeHandler(Update, admin.refuse_banned), group=-2)
    # Group -1: a group upgraded to a supergroup moves its units along. A reply to one of the
    # bot's report messages is a question or an answer to relay, or a note an officer was asked
    # for; it stops there. Any other message goes on to group 0.
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, common.chat_migrated), group=-1)
    app.add_handler(
        MessageHandler(filters.REPLY & filters.UpdateType.MESSAGE, replies.on_reply), group=-1
    )
    # Every button press is checked against its format first: in the chats the format belongs
    # in (bot/telegram/callbacks.py) and whole, or it stops here, answered and changing nothing.
    app.add_handler(CallbackQueryHandler(common.check_button), group=-1)

    # Group 0, first match wins. These come before the report conversation so that they work
    # in the middle of a report without changing its step.
    app.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, common.edited_message)
    )
    app.add_handler(CommandHandler("start", common.start, filters=private))
    app.add_handler(CommandHandler("help", common.help_command, filters=private))
    app.add_handler(CommandHandler("privacy", common.privacy, filters=private))
    app.add_handler(CommandHandler("language", common.language, filters=private))
    app.add_handler(CallbackQueryHandler(common.language_chosen, pattern=cb.Language.pattern()))
    app.add_handler(CommandHandler("status", common.status, filters=private))
    app.add_handler(CommandHandler("myreports", common.my_reports, filters=private))
    app.add_handler(CommandHandler("cancel", report.cancel, filters=private))
    app.add_handler(CommandHandler("mydata", privacy.my_data, filters=private))
    app.add_handler(CommandHandler("forget", privacy.forget, filters=private))
    app.add_handler(
        CallbackQueryHandler(common.consent_refused, pattern=cb.Consent.pattern(given=False))
    )
    app.add_handler(
        CallbackQueryHandler(report.consent_given, pattern=cb.Consent.pattern(given=True))
    )
    app.add_handler(CallbackQueryHandler(report.start_report, pattern=cb.NewReport.pattern()))
    # Buttons on alerts and on messages about a report.
    app.add_handler(CallbackQueryHandler(officer.action_pressed, pattern=cb.AlertAction.pattern()))
    app.add_handler(
        CallbackQueryHandler(officer.transfer_browse, pattern=cb.TransferBrowse.pattern())
    )
    app.add_handler(
        CallbackQueryHandler(officer.transfer_chosen, pattern=cb.TransferChoose.pattern())
    )
    app.add_handler(
        CallbackQueryHandler(officer.decline_reason, pattern=cb.DeclineChoose.pattern())
    )
    app.add_handler(CallbackQueryHandler(officer.picker_closed, pattern=cb.PickerClose.pattern()))
    app.add_handler(CallbackQueryHandler(feedback.answer_pressed, pattern=cb.Answer.pattern()))
    app.add_handler(CallbackQueryHandler(feedback.verdict_given, pattern=cb.Verdict.pattern()))
    app.add_handler(CallbackQueryHandler(feedback.rated, pattern=cb.Rating.pattern()))
    app.add_handler(CallbackQueryHandler(privacy.forget_pressed, pattern=cb.Forget.pattern()))
    app.add_handler(
        CallbackQueryHandler(integrity.receipt_pressed, pattern=cb.ReceiptRequest.pattern())
    )
    app.add_handler(CommandHandler("publickey", integrity.public_key))
    app.add_handler(CommandHandler("pending", officer.pending))
    # Admin commands refuse anyone else themselves, politely and without data.
    for name, callback in {
        "admin_add": admin.admin_add,
        "admin_remove": admin.admin_remove,
        "admins": admin.admins,
        "units": admin.units,
        "unit_add": admin.unit_add,
        "unit_rename": admin.unit_rename,
        "unit_move": admin.unit_move,
        "unit_disable": admin.unit_disable,
        "unit_enable": admin.unit_enable,
        "bind": admin.bind,
        "officer_add": admin.officer_add,
        "officer_remove": admin.officer_remove,
        "officers": admin.officers,
        "ban": admin.ban,
        "unban": admin.unban,
        "banned": admin.banned,
        "spam": admin.spam,
        "quarantine": admin.quarantine,
        "stats": figures.stats,
        "export": figures.export,
        "find": figures.find,
        "unit_conflict": integrity.unit_conflict,
        "patterns": integrity.patterns,
    }.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(admin.bind_browse, pattern=cb.BindBrowse.pattern()))
    app.add_handler(CallbackQueryHandler(admin.bind_chosen, pattern=cb.BindChoose.pattern()))
    app.add_handler(ChatMemberHandler(admin.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    # "/report CODE" from an admin in private shows the report; from anyone else in private,
    # /report starts a new one (the conversation below).
    app.add_handler(
        CommandHandler("report", figures.report, filters=private & admins, has_args=True)
    )
    # "/report CODE" in a unit's chat shows a report; a bare "/report" there is a citizen who
    # needs the hint below.
    app.add_handler(CommandHandler("report", officer.show_report, filters=~private, has_args=True))

    # The citizen's report: /report, its buttons, and any other private message, which is
    # an answer to the current question when a report is in progress. Commands handled above
    # work in the middle of a report without changing its step.
    app.add_handler(CommandHandler("report", report.start_report, filters=private))
    app.add_handler(CallbackQueryHandler(report.answer_pressed, pattern=cb.ReportAnswer.pattern()))
    app.add_handler(CallbackQueryHandler(report.unit_browse, pattern=cb.UnitBrowse.pattern()))
    app.add_handler(
        MessageHandler(private & ~filters.UpdateType.EDITED_MESSAGE, report.message_received)
    )

    # Whatever nothing above took.
    app.add_handler(CommandHandler(["start", "report"], common.group_hint, filters=~private))
    app.add_handler(CallbackQueryHandler(common.expired_button))

    app.add_error_handler(common.on_error)

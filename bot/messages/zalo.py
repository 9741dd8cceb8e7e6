"""The words only a text-only channel (Zalo) needs: numbered choices, commands typed as words,
hints for what it cannot read, and the questions that buttons ask on Telegram.

Everything else a Zalo user reads is the same text as on Telegram (`bot.messages.questions`,
`bot.messages.citizen`, `bot.messages.relay`), turned into plain text by the channel.
"""

from __future__ import annotations

from html import escape

from bot.core.conversation import MAX_ATTACHMENTS, Step
from bot.i18n import Gettext


def more(_: Gettext) -> str:
    """Return the label of the line that shows the next page of a long list."""
    return _("More…")


def pick_hint(_: Gettext) -> str:
    """Say how to answer a numbered list."""
    return _("Reply with the number of your choice, or type it in words.")


def pick_again(_: Gettext) -> str:
    """Refuse a number that is not on the list."""
    return _("That number is not on the list. Please reply with one of the numbers shown.")


def unit_hint(_: Gettext) -> str:
    """Say how to choose a unit from the numbered tree."""
    return _("Type part of the unit's name to search, or reply with a number from the list.")


def contact_hint(_: Gettext) -> str:
    """Ask for the name and phone number typed in one message."""
    return _(
        "Please type your full name and a Vietnamese phone number in one message, for example:"
        " Nguyễn Văn A, 0912345678"
    )


def bad_contact(_: Gettext) -> str:
    """Refuse a typed contact without a name or a Vietnamese phone number."""
    return _(
        "I could not read a name and a Vietnamese phone number (10 digits starting with 0, or"
        " the +84 form) in this message."
    )


def question_text(step: Step, _: Gettext) -> str | None:
    """Return Zalo's own words for a question whose Telegram words name what Zalo lacks (a
    contact button, a location, files other than photos); None where they serve as they are.
    """
    if step is Step.CONTACT:
        return contact_hint(_)
    if step is Step.WHERE:
        return _(
            "Where did it happen? Type the place (for example: the one-stop desk of the ward),"
            " or choose Skip below to leave it out."
        )
    if step is Step.EVIDENCE:
        return _(
            "Do you have evidence? Send photos one at a time (up to %(max)d, each under 20 MB),"
            " then reply with the number of your choice below."
        ) % {"max": MAX_ATTACHMENTS}
    return None


def unreadable(_: Gettext) -> str:
    """Answer a sticker or a kind of message the bot cannot read."""
    return _(
        "I cannot read stickers or this kind of message. Please type your answer as text, or"
        " send a photo when evidence is asked for."
    )


def wrong_kind(_: Gettext) -> str:
    """Say that a photo or a command came where text was expected."""
    return _(
        "Please answer the question above as text (or with a number), or send /huy to stop"
        " the report."
    )


def photo_unavailable(_: Gettext) -> str:
    """Say that a photo's link could not be fetched (it expired, or Zalo refused it)."""
    return _(
        "I could not fetch this photo: its link may have expired. Please send the photo again."
    )


def photo_refused(reason: str, _: Gettext) -> str:
    """Say why a photo was not taken as evidence."""
    if reason == "size":
        return _("This photo is too large to keep. Please send a smaller photo.")
    return _("This does not look like a JPEG or PNG photo. Please send another photo.")


def help_text(_: Gettext) -> str:
    """List the commands typed as words (HTML, like every text of the channel)."""
    return escape(
        _(
            "Commands (Vietnamese or English):\n"
            "/baocao or /report: start a report\n"
            "/trangthai CODE or /status CODE: the status of one of your reports\n"
            "/bienlai CODE or /receipt CODE: the signed receipt of one of your reports\n"
            "/cuatoi or /myreports: all your reports\n"
            "/ngonngu or /language: Vietnamese or English\n"
            "/huy or /cancel: stop the report in progress\n"
            "/riengtu or /privacy: what is stored about you\n"
            "/dulieu or /mydata: a copy of your data\n"
            "/xoadulieu or /forget: erase your personal data"
        )
    )


def receipt_tail(code: str, _: Gettext) -> str:
    """Say how to follow a report on Zalo and get its signed receipt, under its tracking code."""
    return _(
        "On Zalo, send /trangthai %(code)s to see its status, and /bienlai %(code)s for a"
        " signed receipt proving what you sent and when, without naming you."
    ) % {"code": code}


def receipt_usage(_: Gettext) -> str:
    """Explain /bienlai without a code."""
    return _("Send /bienlai followed by the tracking code, for example: /bienlai ABCD-EFGH")


def receipt_waiting(code: str, _: Gettext) -> str:
    """Say that some evidence could not be fingerprinted yet, so no receipt can be made."""
    return _(
        "Some evidence of this report could not be read yet. Please send /bienlai %(code)s"
        " again later."
    ) % {"code": code}


def receipt_intro(code: str, parts: int, key: str, page: str | None, _: Gettext) -> str:
    """Introduce the signed receipt sent as text after it: what it proves, how to keep it and
    how to check it (HTML)."""
    values = {"code": escape(code), "parts": parts, "key": escape(key)}
    if parts > 1:
        head = _(
            "🧾 Signed receipt of report %(code)s: it proves what was sent and when, without"
            " naming you. It is too long for one message and follows in %(parts)d messages:"
            " keep them all exactly as they are, and paste them one after another, in order."
        )
    else:
        head = _(
            "🧾 Signed receipt of report %(code)s: it proves what was sent and when, without"
            " naming you. Keep the next message exactly as it is: copy it whole, change nothing."
        )
    lines = [head % values]
    if page:
        lines.append(
            # The address ends the line: a link read with a full stop after it would break.
            _("Anyone can check it by pasting it on this page:\n%(page)s") % {"page": escape(page)}
        )
    lines.append(
        _(
            "It can also be checked offline with: liemchinh verify RECEIPT --key %(key)s (the"
            " public key of this service)."
        )
        % values
    )
    return "\n".join(lines)


def question_tail(_: Gettext) -> str:
    """Say how to answer a unit's question on Zalo."""
    return _("Write your answer here (text or a photo); it goes to the unit, without your name.")


def which_report(_: Gettext) -> str:
    """Ask which report an answer is for, when several questions are open."""
    return _("Units are waiting for your answer on several reports. Which report is it for?")


def answer_sent(code: str, _: Gettext) -> str:
    """Confirm that an answer went to the unit."""
    return _("Your answer was sent to the unit handling report %(code)s.") % {"code": code}


def verdict_choices(_: Gettext) -> tuple[str, str]:
    """Return the labels of the two answers to the verdict."""
    return _("Yes, it is resolved"), _("No, it is not resolved")


def rating_question(code: str, _: Gettext) -> str:
    """Ask for a rating of the handling of a report."""
    return _(
        "How well did the unit handle report %(code)s? Reply with a number from 1 (very"
        " poorly) to 5 (very well)."
    ) % {"code": code}


def verdict_saved(_: Gettext) -> str:
    """Thank the citizen for a verdict or a rating."""
    return _("Thank you, your answer was recorded.")


def verdict_late(_: Gettext) -> str:
    """Say that the time to reopen a report has passed."""
    return _("The time to say a report is not resolved has passed; it can no longer be reopened.")


def nothing_open(_: Gettext) -> str:
    """Answer a message when no report is in progress and nothing waits for an answer."""
    return _("There is no report in progress. Send /baocao to start one, or /trogiup for help.")


def status_usage(_: Gettext) -> str:
    """Explain /trangthai without a code."""
    return _("Send /trangthai followed by the tracking code, for example: /trangthai ABCD-EFGH")


def not_yours(_: Gettext) -> str:
    """Answer a code that is not one of the sender's reports (or does not exist)."""
    return _("You have no report with this code.")


def no_reports(_: Gettext) -> str:
    """Say that the sender has sent no report."""
    return _("You have not sent any report yet.")


def forget_question(_: Gettext) -> str:
    """Ask for confirmation before erasing, saying what goes and what stays."""
    return _(
        "Do you want us to erase your personal data?\n\n"
        "Erased: your consent, a report you have not sent yet, the link between you and each"
        " report you sent, and the name and phone number given in reports sent with your"
        " name.\n"
        "Kept: the reports themselves, without anything linking them to you, so that the units"
        " can still handle them.\n\n"
        "Afterwards you will no longer receive updates on your reports. This cannot be undone."
    )


def forget_choices(_: Gettext) -> tuple[str, str]:
    """Return the labels of the two answers to the erasure question."""
    return _("Yes, erase my data"), _("No, keep it")


def forgotten(_: Gettext) -> str:
    """Confirm the erasure."""
    return _(
        "Your personal data has been erased. Your reports stay with the units, without"
        " anything linking them to you."
    )


def kept(_: Gettext) -> str:
    """Confirm that nothing was erased."""
    return _("Nothing was erased.")


def mydata_intro(parts: int, _: Gettext) -> str:
    """Introduce the copy of a person's data, sent as text in numbered parts."""
    return _("Everything we store about you follows as JSON text, in %(parts)d message(s).") % {
        "parts": parts
    }


def photo_from_unit(_: Gettext) -> str:
    """Stand for a photo or file a unit sent, which Zalo cannot carry from Telegram."""
    return _("[The unit also sent a file, which cannot be shown on Zalo.]")


# Each language named in itself, in the order of bot.i18n.SUPPORTED.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def choose_language(_: Gettext) -> str:
    """Ask for a language."""
    return _("Choose your language:")


def language_set(_: Gettext) -> str:
    """Confirm the language chosen, in it."""
    return _("I will speak English with you from now on.")


def too_fast(_: Gettext) -> str:
    """Tell someone sending too many messages that they are not read for a minute."""
    return _(
        "You are sending messages too fast. I will read your messages again in a"
        " minute; what you send before then is not read, so please send it again"
        " after that."
    )

"""The words of the report conversation: each question, each choice, each refusal.

`bot.core.conversation` decides what is asked and whether an answer is good; this module says
it in the citizen's language. Every channel shows these same texts (HTML, with user-supplied
values escaped); a channel adds only its widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.core.conversation import (
    ANONYMOUS,
    CANCEL,
    CLEAR,
    CONFIRM,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    DONE,
    EDIT_PREFIX,
    MAX_ATTACHMENTS,
    NAMED,
    NO,
    SKIP,
    TODAY,
    UNSURE,
    YES,
    YESTERDAY,
    Outcome,
    Problem,
    Question,
    Step,
)
from bot.core.domain import Draft, ReportFields
from bot.i18n import N_, Gettext
from bot.messages.labels import category_label
from bot.messages.limits import SEARCH, TEXT_LIMIT, UNIT_NAME, pieces, shown, visible_length
from bot.messages.report import field_lines

NOT_ACTIVE = N_("This button is no longer active.")

# The review's edit buttons, by field.
EDIT_LABELS: dict[str, str] = {
    "category": N_("✏️ Category"),
    "unit": N_("✏️ Unit"),
    "dossier": N_("✏️ Dossier"),
    "amount": N_("✏️ Amount"),
    "official": N_("✏️ Official"),
    "head": N_("✏️ Head of unit?"),
    "when": N_("✏️ When"),
    "where": N_("✏️ Place"),
    "description": N_("✏️ Description"),
    "evidence": N_("✏️ Evidence"),
    "identity": N_("✏️ Identity"),
}

CHOICE_LABELS: dict[str, str] = {
    SKIP: N_("Skip"),
    TODAY: N_("Today"),
    YESTERDAY: N_("Yesterday"),
    ANONYMOUS: N_("Anonymous"),
    NAMED: N_("With my name"),
    CONFIRM: N_("✅ Send report"),
    CANCEL: N_("✖️ Cancel"),
    CLEAR: N_("🗑 Remove all files"),
    YES: N_("Yes"),
    NO: N_("No"),
    UNSURE: N_("I don't know"),
}


@dataclass(frozen=True)
class Prompt:
    """A question in words: the text (HTML) and each choice's label, in order.

    `before` holds messages (HTML) to send ahead of the question, in order: a review whose
    description would make it too long for one message sends the description there.
    """

    text: str
    choices: tuple[tuple[str, str], ...]  # (value, label)
    before: tuple[str, ...] = ()


def choice_label(question: Question, value: str, _: Gettext) -> str:
    """Return the label of one of a question's choices."""
    if question.step is Step.CATEGORY:
        return category_label(value, _)
    if question.step is Step.CONTACT and value == ANONYMOUS:
        return _("Stay anonymous")
    if value == DONE:
        return _("Skip: no evidence") if question.files == 0 else _("✅ Done")
    if value.startswith(EDIT_PREFIX):
        return _(EDIT_LABELS[value.removeprefix(EDIT_PREFIX)])
    return _(CHOICE_LABELS[value])


def prompt(
    question: Question,
    draft: Draft,
    _: Gettext,
    locale: str,
    *,
    unit_name: str | None = None,
) -> Prompt:
    """Return the words of `question` for this draft (`unit_name` is needed at the review)."""
    choices = tuple((value, choice_label(question, value, _)) for value in question.choices)
    if question.step is Step.REVIEW:
        *before, text = review_texts(draft.fields, unit_name, question.files, _, locale)
        return Prompt(text, choices, tuple(before))
    return Prompt(QUESTION_TEXTS[question.step](_), choices)


# The review, in UTF-16 units for the longer language: its title (40), the answers' lines
# (field_lines, with every answer at its display budget: labels 300, category 87, unit 120,
# dossier 200, official 400, place 600, name 400, phone 64) and the question under them (70)
# take under 2,300, even with every answer made of emoji. A description that leaves the
# whole within 4,096 is shown in it; a longer one goes ahead of the review in a message of its
# own, in pieces of REVIEW_PAGE under a heading of at most 25, so that the citizen reads every
# word they wrote before sending it, and the review says where the description is.
REVIEW_PAGE = TEXT_LIMIT - 100


def review_texts(
    fields: ReportFields, unit_name: str | None, files: int, _: Gettext, locale: str
) -> list[str]:
    """Return every answer of a draft, for the citizen to check before sending (HTML).

    One message, or, for a long description, the description's message(s) then the review.
    """
    lines = field_lines(fields, unit_name, files, _, locale, for_unit=False)
    heading = _("Please check your report:")
    title = f"<b>{heading}</b>"
    question = _("Is everything right?")
    description = fields.description or ""
    whole = "\n".join(
        [title, "", *lines, "", _("Description:"), escape(description), "", question]
    )
    if visible_length(whole) <= TEXT_LIMIT:
        return [whole]
    parts = pieces(description, REVIEW_PAGE)
    texts = []
    for number, piece in enumerate(parts, start=1):
        if len(parts) == 1:
            head = _("📝 Your description:")
        else:
            head = _("📝 Your description (%(part)d/%(parts)d):") % {
                "part": number,
                "parts": len(parts),
            }
        texts.append(f"<b>{head}</b>\n\n{escape(piece)}")
    where = _("Description: in the message above.")
    texts.append("\n".join([title, "", *lines, "", where, "", question]))
    return texts


def _ask_category(_: Gettext) -> str:
    return _("What happened? Choose the kind of misconduct:")


def _ask_unit(_: Gettext) -> str:
    return _(
        "Which unit or office was it? Type part of its name (for example: Hạ Long),"
        " or choose from the list:"
    )


def _ask_dossier(_: Gettext) -> str:
    return _(
        "What is the procedure or dossier code, as written on your receipt?"
        " If you have none, press Skip."
    )


def _ask_submitted(_: Gettext) -> str:
    return _("On what date did you submit the dossier? Type it as dd/mm/yyyy, or press Skip.")


def _ask_promised(_: Gettext) -> str:
    return _("On what date was the result promised? Type it as dd/mm/yyyy, or press Skip.")


def _ask_amount(_: Gettext) -> str:
    return _(
        "How much money was asked for or taken? For example: 2 triệu, 500k, 2.000.000đ."
        " Press Skip if no sum was named."
    )


def _ask_official(_: Gettext) -> str:
    return _(
        "Who was the official? A name, a position or a desk number helps the unit."
        " Press Skip if you don't know."
    )


def _ask_head(_: Gettext) -> str:
    return _(
        "Is this person the head or deputy head of the unit? If so, your report goes to the"
        " unit above, so that nobody handles a report about themselves."
    )


def _ask_when(_: Gettext) -> str:
    return _("When did it happen? Choose, or type a date as dd/mm/yyyy.")


def _ask_where(_: Gettext) -> str:
    return _(
        "Where did it happen? Type the place (for example: the one-stop desk of the ward)"
        " or send a location from Telegram. Press Skip to leave it out."
    )


def _ask_description(_: Gettext) -> str:
    return _(
        "Describe what happened in your own words (%(min)d to %(max)d characters):"
        " what you needed, what the official did or asked, and what happened next."
    ) % {"min": DESCRIPTION_MIN, "max": DESCRIPTION_MAX}


def _ask_evidence(_: Gettext) -> str:
    return _(
        "Do you have evidence? Send photos, documents, voice messages or videos"
        " (up to %(max)d files, each under 20 MB). Press Done when you have finished."
    ) % {"max": MAX_ATTACHMENTS}


def _ask_identity(_: Gettext) -> str:
    return _(
        "Do you want to report anonymously or with your name?\n\n"
        "• Anonymous: nobody at the unit can learn who you are. The report is handled as"
        " feedback; without a name it cannot be handled as a formal denunciation under the"
        " Law on Denunciation 2018.\n"
        "• With your name: you share your name and phone number. The report can be handled as"
        " a denunciation, and the law requires your identity to be kept confidential."
    )


def _ask_contact(_: Gettext) -> str:
    return _("Please tap the button below to share your name and phone number from Telegram.")


QUESTION_TEXTS = {
    Step.CATEGORY: _ask_category,
    Step.UNIT: _ask_unit,
    Step.DOSSIER: _ask_dossier,
    Step.SUBMITTED: _ask_submitted,
    Step.PROMISED: _ask_promised,
    Step.AMOUNT: _ask_amount,
    Step.OFFICIAL: _ask_official,
    Step.HEAD: _ask_head,
    Step.WHEN: _ask_when,
    Step.WHERE: _ask_where,
    Step.DESCRIPTION: _ask_description,
    Step.EVIDENCE: _ask_evidence,
    Step.IDENTITY: _ask_identity,
    Step.CONTACT: _ask_contact,
}


def contact_button(_: Gettext) -> str:
    """Return the label of the button that shares the citizen's own contact."""
    return _("📱 Share my phone number")


def contact_change_of_mind(_: Gettext) -> str:
    """Return the line above the button that withdraws the contact question."""
    return _("Changed your mind?")


def consent_text(_: Gettext) -> Prompt:
    """Return the request for consent, asked before a first report (Decree 13/2023)."""
    text = _(
        "Before your first report: to forward it to the responsible unit and follow it up, we"
        " store what you send — your answers, your files and, only if you choose, your name"
        " and phone number. Only the administrators can see who sent a report; /privacy"
        " explains how long it is kept. Do you agree to this processing of your personal data?"
    )
    return Prompt(text, (("yes", _("I agree")), ("no", _("I do not agree"))))


def problem_text(question: Question, outcome: Outcome, _: Gettext) -> str:
    """Return what is wrong with an answer, in a sentence."""
    problem = outcome.problem
    details = outcome.details
    step = question.step
    if problem is Problem.NOT_A_CHOICE:
        return _(NOT_ACTIVE)
    if problem in (Problem.WRONG_KIND, Problem.COMMAND):
        return hint(step, command=problem is Problem.COMMAND, _=_)
    if problem is Problem.TOO_SHORT:
        return _(
            "Please write at least %(min)d characters so the unit can act on it"
            " (you wrote %(count)d)."
        ) % {"min": details["min"], "count": details["count"]}
    if problem is Problem.TOO_LONG and step is Step.DESCRIPTION:
        return _(
            "Please keep the description to at most %(max)d characters (you wrote %(count)d)."
        ) % {"max": details["max"], "count": details["count"]}
    if problem is Problem.TOO_LONG:
        return _("Please keep this to at most %(max)d characters.") % {"max": details["max"]}
    if problem is Problem.FUTURE_DATE:
        return _("That date is in the future. Please give a date no later than today.")
    if problem is Problem.BAD_DATE:
        return _(
            "I could not read that date. Please type it as dd/mm/yyyy, for example 05/03/2026."
        )
    if problem is Problem.PROMISED_BEFORE_SUBMITTED:
        return _("The promised date cannot be before the submission date.")
    if problem is Problem.BAD_AMOUNT:
        return _("I could not read that amount. Try for example: 2 triệu, 500k or 2.000.000đ.")
    if problem is Problem.NOT_OWN_CONTACT:
        return _("Please share your own contact with the button below.")
    if problem is Problem.BAD_PHONE:
        return _("Please give a phone number where you can be reached.")
    if problem is Problem.FILE_TOO_BIG:
        return _(
            "This file is over 20 MB, the most a bot can receive. Please send a smaller"
            " file or a shorter video."
        )
    if problem is Problem.TOO_MANY_FILES:
        return _("This report already has %(max)d files, the most it can carry. Choose Done.") % {
            "max": details["max"]
        }
    # NO_UNIT_FOUND
    return _("No unit matches “%(query)s”. Try another part of the name, or browse:") % {
        "query": shown(str(details["query"]), SEARCH)
    }


def hint(step: Step, *, command: bool, _: Gettext) -> str:
    """Say what a step expects, for an answer of the wrong kind."""
    if step in (Step.CATEGORY, Step.IDENTITY, Step.REVIEW):
        return _("Please use the buttons.")
    if step is Step.EVIDENCE:
        return _("Please send a photo, a document, a voice message or a video, or press Done.")
    if step is Step.CONTACT:
        return _("Please use the button below to share your phone number.")
    if command:
        return _("Please finish this step first, or send /cancel to stop the report.")
    return _("Please answer with text.")


def units_found(query: str, _: Gettext) -> str:
    """Introduce the units a search found."""
    return _("Units matching “%(query)s” — choose one:") % {"query": shown(query, SEARCH)}


def browse_all(_: Gettext) -> str:
    """Return the label of the button that shows the whole unit tree."""
    return _("Browse all units")


def files_so_far(count: int, _: Gettext) -> str:
    """Acknowledge a file added to the evidence."""
    return _("Files received so far: %(count)d. Send more, or choose Done.") % {"count": count}


def files_removed(_: Gettext) -> str:
    """Confirm that every file was removed."""
    return _("All files were removed from this report.")


def stay_anonymous(_: Gettext) -> str:
    """Confirm that the contact question was withdrawn."""
    return _("You will stay anonymous.")


def contact_added(_: Gettext) -> str:
    """Thank the citizen for their contact."""
    return _("Thank you, your contact was added.")


def answered_category(value: str, _: Gettext) -> str:
    """Show the chosen category in place of its question (HTML)."""
    return escape(_("Category: %(value)s") % {"value": category_label(value, _)})


def answered_unit(name: str, _: Gettext) -> str:
    """Show the chosen unit in place of its question (HTML)."""
    return _("Unit: %(value)s") % {"value": shown(name, UNIT_NAME)}


def answered(label: str) -> str:
    """Show a pressed choice above the next question (`label` is HTML)."""
    return f"✔ {label}"


def answered_choice(question: Question, value: str, _: Gettext) -> str:
    """Show the label of the choice pressed (HTML)."""
    return answered(escape(choice_label(question, value, _)))


def under(header: str, text: str) -> str | None:
    """Return a header (HTML) above a message, or None when both do not fit in one."""
    joined = f"{header}\n\n{text}"
    return joined if visible_length(joined) <= TEXT_LIMIT else None


def in_progress(_: Gettext) -> str:
    """Say that a report is under way and will go on."""
    return _("You have a report in progress; let's continue.")


def no_draft(_: Gettext) -> str:
    """Say that there is nothing to go on with."""
    return _("There is no report in progress. Send /report to start one.")


def cancelled(_: Gettext) -> str:
    """Confirm that the report was dropped."""
    return _("Report cancelled. Nothing was sent.")


def over_daily_limit(limit: int, _: Gettext) -> str:
    """Say that the citizen reached today's number of reports."""
    return _(
        "You have sent %(count)d reports in the last 24 hours, the most one person may send."
        " Please try again later; anything you are writing is kept."
    ) % {"count": limit}


def not_saved(_: Gettext) -> str:
    """Say that an answer could not be stored (the database refused a write)."""
    return _(
        "Sorry, your answer could not be saved just now. Please send it again in a"
        " moment; nothing you sent before is lost."
    )


def received(code: str, unit_name: str, _: Gettext) -> str:
    """Give the tracking code of a report just stored (HTML)."""
    return _(
        "Your report has been received. Tracking code: %(code)s\n\n"
        "Please keep this code. %(unit)s is being alerted now. You will get a message here"
        " whenever the status changes, and you can check it at any time with /status %(plain)s."
    ) % {"code": f"<code>{code}</code>", "unit": shown(unit_name, UNIT_NAME), "plain": code}


def thanks_for_consent(_: Gettext) -> str:
    """Thank the citizen for consenting."""
    return _("Thank you. Let's begin.")

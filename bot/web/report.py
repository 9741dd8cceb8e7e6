"""/report: the citizen's report as a web form, one question of the core's at a time.

What is asked, in what order and whether an answer is good is `bot.core.conversation`'s: this
page renders `question(draft)` and turns the posted form into an `Answer` for
`Conversation.apply`, as the Telegram channel does with messages and buttons.
"""

from __future__ import annotations

import asyncio
import secrets
from html import escape

from bot.core.conversation import (
    Answer,
    Contact,
    Effect,
    Kind,
    Outcome,
    Problem,
    Question,
    new_draft,
    question,
)
from bot.core.domain import Attachment, Draft, Unit
from bot.core.parsing import format_code
from bot.messages import questions as texts
from bot.messages import web as words
from bot.messages.web_privacy import banned
from bot.web.forms import question_fields
from bot.web.page import Page
from bot.web.receipts import routed_html
from bot.web.security import hash_key, new_receipt_key
from bot.web.uploads import RefusedFile, prepare, sniff

# Internal message ids of uploaded files: random, so no two uploads of a draft collide.
_MESSAGE_ID_MAX = 2**31 - 1


class ReportForm(Page):
    """GET shows the current question; POST answers it."""

    async def get(self) -> None:
        """Show the consent, or the question the draft is at (starting one if needed)."""
        db = self.services.db
        if await self.is_banned():
            self.refuse(banned(self._), 403)
            return
        user_id = await self.web_user()
        consented = (
            user_id is not None
            and (await db.users.get_or_create_user(user_id, self.locale_code))[1]
        )
        if user_id is None or not consented:
            self._consent()
            return
        draft = await db.drafts.get_draft(user_id)
        if draft is None:
            if await self.services.workflow.over_daily_limit(user_id):
                limit = self.services.settings.reports_per_day
                self.refuse(texts.over_daily_limit(limit, self._), 429)
                return
            draft = new_draft(user_id, user_id)
            await db.drafts.save_draft(draft)
        await self._show(draft)

    async def post(self) -> None:
        """Take one answer to the current question."""
        if not self.form_ok():
            self.refuse(words.expired_form(self._), 403)
            return
        if await self.is_banned():
            self.refuse(banned(self._), 403)
            return
        db = self.services.db
        if self.get_body_argument("consent", None) is not None:
            if self.get_body_argument("consent") != "yes":
                self.refuse(words.consent_refused(self._), 200)
                return
            user_id = await self.web_user(create=True)
            assert user_id is not None
            await db.users.set_consent(user_id, self.locale_code)
            self.redirect("/report", status=303)
            return
        user_id = await self.web_user()
        draft = await db.drafts.get_draft(user_id) if user_id is not None else None
        if draft is None:
            if self.get_body_argument("choice", None) == "confirm":
                # The same Send pressed twice, or the page reloaded: one report only.
                self.refuse(words.already_sent(self._), 200)
            else:
                self.redirect("/report", status=303)
            return
        files = len(await db.drafts.draft_attachments(draft.user_id))
        asked = question(draft, files)
        if self.get_body_argument("step", "") != asked.step.key:
            # A form of an earlier question (sent twice, or the back button): ask this one.
            await self._show(draft)
            return
        if asked.kind is Kind.FILES and self.request.files.get("files") and not self._choice():
            await self._upload(draft, asked)
            return
        outcome = await self.services.conversation.apply(draft, self._answer(asked), files)
        await self._outcome(draft, asked, outcome)

    def _choice(self) -> str | None:
        return self.get_body_argument("choice", None)

    def _answer(self, asked: Question) -> Answer:
        choice = self._choice()
        if choice is not None:
            return Answer(choice=choice)
        if asked.kind is Kind.CONTACT:
            name = self.get_body_argument("name", "")
            phone = self.get_body_argument("phone", "")
            return Answer(contact=Contact(name, phone, typed=True))
        if asked.kind is Kind.FILES:
            return Answer(other="")
        return Answer(text=self.get_body_argument("text", ""))

    async def _outcome(self, draft: Draft, asked: Question, outcome: Outcome) -> None:
        db = self.services.db
        if outcome.problem is not None:
            await self._show(draft, error=self._problem(asked, outcome))
            return
        if outcome.effect is Effect.UNITS_FOUND:
            await self._show(draft, found=outcome.units)
            return
        if outcome.effect is Effect.SUBMIT:
            await self._submit(draft)
            return
        if outcome.effect is Effect.CANCEL:
            await db.drafts.delete_draft(draft.user_id)
            self.page(self._("Report"), f'<p class="ok">{escape(texts.cancelled(self._))}</p>')
            return
        if outcome.effect is Effect.FILES_CLEARED:
            await db.drafts.clear_draft_attachments(draft.user_id)
        else:
            await db.drafts.save_draft(draft)
        self.redirect("/report", status=303)

    def _problem(self, asked: Question, outcome: Outcome) -> str:
        if outcome.problem is Problem.BAD_PHONE:
            return escape(words.bad_contact(self._))
        return texts.problem_text(asked, outcome, self._)

    async def _upload(self, draft: Draft, asked: Question) -> None:
        """Take each uploaded file as one answer; keep every file that passes.

        A file refused for its type or size is skipped and said next to the field; the files
        sent with it are still taken, so none has to be chosen again. Past the most a report
        may carry, the rest are refused.
        """
        db = self.services.db
        files = asked.files
        refusals: list[str] = []
        for upload in self.request.files["files"]:
            data = upload.body
            found = sniff(data)
            if found is None:
                refusals.append(escape(words.file_refused("type", self._)))
                continue
            kind, mime = found
            att = Attachment(
                kind=kind,
                file_id="web",
                file_unique_id=None,
                file_size=len(data),
                chat_id=draft.user_id,
                message_id=secrets.randbelow(_MESSAGE_ID_MAX) + 1,
                mime_type=mime,
            )
            now = question(draft, files)
            outcome = await self.services.conversation.apply(draft, Answer(attachment=att), files)
            if outcome.problem is Problem.TOO_MANY_FILES:
                refusals.append(self._problem(now, outcome))
                break
            if outcome.problem is not None:
                refusals.append(self._problem(now, outcome))
                continue
            try:
                checked = await asyncio.to_thread(prepare, data)
            except RefusedFile as exc:
                refusals.append(escape(words.file_refused(exc.reason, self._)))
                continue
            stored = Attachment(
                kind=checked.kind,
                file_id=att.file_id,
                file_unique_id=None,
                file_size=checked.size,
                chat_id=att.chat_id,
                message_id=att.message_id,
                mime_type=checked.mime_type,
                sha256=checked.sha256,
            )
            await db.files.add_draft_file(draft.user_id, stored, checked.data)
            files += 1
        if refusals:
            # Each reason once, however many files it refused.
            await self._show(draft, error="<br>".join(dict.fromkeys(refusals)))
            return
        self.redirect("/report", status=303)

    async def _submit(self, draft: Draft) -> None:
        """Store the report through the workflow; show its code and key once."""
        _ = self._
        if not self.services.submissions.allow(self.address):
            self.refuse(words.too_many(_), 429)
            return
        if await self.services.workflow.over_daily_limit(draft.user_id):
            limit = self.services.settings.reports_per_day
            await self._show(draft, error=escape(texts.over_daily_limit(limit, _)))
            return
        key = new_receipt_key()
        receipt = await asyncio.to_thread(hash_key, key)
        report = await self.services.workflow.submit(
            draft.user_id, self.locale_code, receipt=receipt
        )
        if report is None:
            self.refuse(words.already_sent(_), 200)
            return
        self.services.wake()
        label = words.labels(_)
        body = (
            f'<p class="ok">{escape(words.report_sent(_))}</p>'
            f'<p>{escape(label["code"])}</p><p class="secret" id="code">'
            f"{escape(format_code(report.code))}</p>"
            f'<p>{escape(label["key"])}</p><p class="secret" id="key">{escape(key)}</p>'
            f"{await routed_html(self.services, report, _)}"
            f'<p><a class="button" href="/status">{escape(words.nav(_)["/status"])}</a></p>'
        )
        self.page(_("Report"), body)

    def _consent(self) -> None:
        """Ask for consent before a first report, with the chat's words."""
        consent = texts.consent_text(self._)
        choices = [("yes", consent.choices[0][1]), ("no", consent.choices[1][1])]
        buttons = "".join(
            f'<button type="submit" name="consent" value="{v}"{css}>{escape(label)}</button>'
            for (v, label), css in zip(choices, ("", ' class="secondary"'), strict=True)
        )
        body = (
            f'<p class="prompt">{consent.text}</p><form method="post" action="/report">'
            f"{self.csrf_field()}{buttons}</form>"
        )
        self.page(self._("Report"), body)

    async def _show(
        self, draft: Draft, *, error: str | None = None, found: tuple[Unit, ...] = ()
    ) -> None:
        """Render the draft's question as a form, with a refusal and what was typed."""
        db = self.services.db
        _ = self._
        files = len(await db.drafts.draft_attachments(draft.user_id))
        asked = question(draft, files)
        unit = await db.units.get_unit(draft.fields.unit_code or "")
        words_of = texts.prompt(
            asked, draft, _, self.locale_code, unit_name=unit.name if unit else None
        )
        kept = {k: self.get_body_argument(k, "") for k in ("text", "name", "phone")}
        if self.request.method != "POST":
            kept = {}
        units = await db.units.all_units() if asked.kind is Kind.UNIT else []
        prompt_text = words_of.text
        if asked.kind is Kind.CONTACT:
            prompt_text = escape(words.bad_contact(_))
        if asked.kind is Kind.FILES and files:
            prompt_text += "\n\n" + escape(texts.files_so_far(files, _))
        css = "review" if asked.kind is Kind.REVIEW else "prompt"
        fields = question_fields(
            asked, words_of, _, error=error, kept=kept, found=found, units=units
        )
        body = (
            f'<div class="{css}">{prompt_text}</div>'
            '<form method="post" action="/report" enctype="multipart/form-data">'
            f'{self.csrf_field()}<input type="hidden" name="step" value="{asked.step.key}">'
            f"{fields}</form>"
        )
        self.set_status(400 if error else 200)
        self.page(_("Report"), body, 400 if error else 200)

"""/status: a report opened with its code and secret key; answers, verdict and rating.

A wrong code, a wrong key and a missing report get the same answer (`bot.web.lookup`). A
banned reporter, recognised by the report's link or by this browser, is refused.
"""

from __future__ import annotations

import asyncio
import secrets
from html import escape

from bot.core.conversation import MAX_ATTACHMENTS, MAX_FILE_BYTES
from bot.core.domain import CITIZEN, Report, Status, local_today
from bot.core.outbox import AnswerPayload, Outgoing
from bot.core.parsing import format_code, format_date
from bot.core.workflow import QUESTION_MAX
from bot.messages import citizen as notices
from bot.messages import integrity
from bot.messages import web as words
from bot.messages.report import deadline_date
from bot.messages.web_privacy import banned
from bot.web.lookup import code_and_key_fields, open_posted
from bot.web.page import Page
from bot.web.receipts import routed_html
from bot.web.uploads import ACCEPT, RefusedFile, prepare

# At most as many files in one answer as a report's evidence may have.
MAX_ANSWER_FILES = MAX_ATTACHMENTS
# Each answer's parts (its text, then each file) are told apart under the form's number.
_PARTS = 16


class StatusPage(Page):
    """GET asks for the code and key; POST opens the report or acts on it."""

    def get(self) -> None:
        """Show the look-up form."""
        self._lookup()

    def _lookup(self, error: str | None = None, status: int = 200) -> None:
        label = words.labels(self._)
        check = integrity.receipt_check_words(self._)["link"]
        err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
        body = (
            f'<form method="post" action="/status">{self.csrf_field()}{err}'
            f"{code_and_key_fields(self._)}"
            f'<button type="submit" name="action" value="open">{escape(label["open"])}</button>'
            "</form>"
            # A signed receipt is checked on a page of its own.
            f'<p><a href="/status/receipt">{escape(check)}</a></p>'
        )
        self.page(words.nav(self._)["/status"], body, status)

    async def _open(self) -> Report | None:
        """Return the report the posted code and key open, or None (after answering)."""
        report_id, refusal, status = await open_posted(self)
        if report_id is None:
            self._lookup(refusal, status)
            return None
        if await self.is_banned(report_id):
            self.refuse(banned(self._), 403)
            return None
        return await self.services.db.reports.get_report(report_id)

    async def post(self) -> None:
        """Open the report, or take an answer, a verdict or a rating."""
        if not self.form_ok():
            self.refuse(words.expired_form(self._), 403)
            return
        report = await self._open()
        if report is None:
            return
        action = self.get_body_argument("action", "open")
        if action == "receipt":
            await self._receipt(report)
            return
        notice = refused = None
        if action == "answer":
            refused = await self._answer(report)
            if refused is None:
                notice = words.answer_sent(self._)
        elif action in ("resolved", "reopen", "rate"):
            notice = await self._verdict(report, action)
        fresh = await self.services.db.reports.get_report(report.id)
        assert fresh is not None
        await self._show(fresh, notice, refused)

    def _question(self) -> int | None:
        """Return the id of the question a posted answer replies to, if the form names one."""
        try:
            return int(self.get_body_argument("question", ""))
        except ValueError:
            return None

    async def _answer(self, report: Report) -> str | None:
        """Relay the citizen's answer (a text and files) to the unit, as chat answers are.

        The text and each file are one answer each, as separate chat messages would be. Every
        file is checked before anything is stored: a refusal stores nothing, and the page shows
        it next to the field with the text kept. Returns the refusal, None once relayed.
        """
        _ = self._
        if not self.services.answers.allow(self.address):
            return words.too_many(_)
        text = self.get_body_argument("text", "").strip()[:QUESTION_MAX] or None
        uploads = [u.body for u in self.request.files.get("file") or [] if u.body]
        if len(uploads) > MAX_ANSWER_FILES:
            return words.too_many_files(MAX_ANSWER_FILES, _)
        files: list[tuple[str, bytes]] = []
        for data in uploads:
            if len(data) > MAX_FILE_BYTES:
                return words.file_refused("size", _)
            try:
                checked = await asyncio.to_thread(prepare, data)
            except RefusedFile as exc:
                return words.file_refused(exc.reason, _)
            files.append((checked.kind, checked.data))
        if text is None and not files:
            return words.answer_empty(_)
        # Each form carries its own number: the same form posted twice is one answer. Its
        # parts are told apart below it, the text first and then each file.
        try:
            nonce = int(self.get_body_argument("nonce", "0"))
        except ValueError:
            nonce = 0
        if not 0 < nonce < 2**31:
            nonce = secrets.randbelow(2**31 - 1) + 1
        # The answer goes to the unit that asked the question it replies to, as a reply to a
        # question does in chat (or, from a form naming none, to the unit that asked last),
        # while that unit still handles the report (it or a unit above it); otherwise to the
        # unit that has it now.
        links = self.services.db.links
        question = self._question()
        asking = (await links.asking_units(report.id)).get(question or 0)
        if asking is None:
            asking = await links.last_asking_unit(report.id)
        chain = await self.services.db.units.ancestors(report.fields.unit_code or "")
        target = asking if asking in chain else report.fields.unit_code
        parts: list[tuple[str, str | None, bytes | None]] = [("text", text, None)] if text else []
        parts += [(kind, None, content) for kind, content in files]
        for index, (kind, part_text, content) in enumerate(parts):
            await self.services.db.files.add_answer(
                report.id,
                kind=kind,
                text=part_text,
                source=(-report.id, nonce * _PARTS + index),
                data=content,
                actor=CITIZEN,
                outgoing=Outgoing(AnswerPayload(), target),
            )
        self.services.wake()
        return None

    async def _verdict(self, report: Report, action: str) -> str:
        workflow = self.services.workflow
        if action == "resolved":
            done = await workflow.confirm_resolved(report)
        elif action == "reopen":
            done = await workflow.reopen(report)
            if done is None and report.status == Status.RESOLVED:
                return words.verdict_late(self._)
        else:
            try:
                stars = int(self.get_body_argument("stars", "0"))
            except ValueError:
                stars = 0
            done = await workflow.rate(report, stars)
        if done is not None:
            self.services.wake()
        return words.verdict_saved(self._)

    def _hidden(self, report: Report) -> str:
        code = escape(format_code(report.code))
        key = escape(self.get_body_argument("key", ""))
        return (
            f'{self.csrf_field()}<input type="hidden" name="code" value="{code}">'
            f'<input type="hidden" name="key" value="{key}">'
        )

    async def _show(self, report: Report, notice: str | None, refused: str | None = None) -> None:
        """Render the report's page; a refused answer is shown at its form, its text kept."""
        _ = self._
        db = self.services.db
        locale = self.locale_code
        label = words.labels(_)
        unit = await db.units.get_unit(report.fields.unit_code or "")
        unit_name = unit.name if unit else report.fields.unit_code or ""
        parts = []
        if notice:
            parts.append(f'<p class="ok" role="status">{escape(notice)}</p>')
        summary = notices.report_status(report, unit_name, _, locale)
        parts.append(f'<p class="notice">{summary}</p>')
        parts.append(await routed_html(self.services, report, _))
        if report.is_open and report.deadline_at:
            parts.append(
                f"<p>{escape(label['deadline'])}: {escape(deadline_date(report, locale))}</p>"
            )
        history = []
        for entry in await db.reports.audit_of(report.id):
            to_unit = await db.units.get_unit(entry.to_unit or entry.from_unit or "")
            from_unit = await db.units.get_unit(entry.from_unit or "")
            text = notices.status_notice(
                entry.action,
                report,
                to_unit.name if to_unit else "",
                from_unit.name if from_unit else "",
                entry.note,
                _,
                locale,
                history=True,
            )
            if text:
                day = format_date(local_today(entry.at), locale)
                history.append(f'<li class="notice">{escape(day)}: {text}</li>')
        if history:
            parts.append(f"<h2>{escape(label['history'])}</h2><ul>{''.join(history)}</ul>")
        questions = await self._relays(report, refused)
        if refused and not questions:
            # No question to show it at (an answer posted without one): said at the top.
            parts.insert(0, f'<p class="error" role="alert">{escape(refused)}</p>')
        parts.append(questions)
        parts.append(self._verdict_forms(report))
        receipt = integrity.receipt_check_words(_)
        parts.append(
            f'<form method="post" action="/status">{self._hidden(report)}'
            f"<p><small>{escape(receipt['download_hint'])}</small></p>"
            f'<button type="submit" class="secondary" name="action" value="receipt">'
            f"🧾 {escape(receipt['download'])}</button></form>"
        )
        # Shown again with the latest state, without typing the code and key again.
        parts.append(
            f'<form method="post" action="/status">{self._hidden(report)}'
            f'<button type="submit" class="secondary" name="action" value="open">'
            f"{escape(label['open'])}</button></form>"
        )
        self.page(_("Report %(code)s") % {"code": format_code(report.code)}, "".join(parts))

    async def _receipt(self, report: Report) -> None:
        """Send the signed receipt of the report as a file, as the chat's 🧾 button does."""
        data = await self.services.workflow.signed_receipt(report)
        if data is None:
            await self._show(report, integrity.receipt_waiting(self._))
            return
        name = f"receipt-{format_code(report.code)}.json"
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(data)

    async def _relays(self, report: Report, refused: str | None) -> str:
        """Return the unit's questions, each with its own reply form, and the answers given."""
        _ = self._
        label = words.labels(_)
        relays = await self.services.db.links.relays_of(report.id)
        if not any(r.direction == "to_citizen" for r in relays):
            return ""
        unit = await self.services.db.units.get_unit(report.fields.unit_code or "")
        # The form a refused answer came from shows the refusal and what was typed.
        replied = self._question()
        if refused and replied not in {r.id for r in relays if r.direction == "to_citizen"}:
            replied = max(r.id for r in relays if r.direction == "to_citizen")
        items = []
        for relay in relays:
            asked = relay.direction == "to_citizen"
            head = (
                words.asked(escape(unit.name if unit else ""), _) if asked else words.answered(_)
            )
            body = escape(relay.text or "") or escape(f"[{relay.kind}]")
            reply = self._reply_form(report, relay.id, refused if relay.id == replied else None)
            items.append(
                f'<li><p><b>{head}</b></p><p class="notice">{body}</p>'
                f"{reply if asked else ''}</li>"
            )
        return f"<h2>{escape(label['questions'])}</h2><ul>{''.join(items)}</ul>"

    def _reply_form(self, report: Report, question: int, refused: str | None) -> str:
        """Return the form answering one question: a text and files."""
        label = words.labels(self._)
        nonce = secrets.randbelow(2**31 - 1) + 1
        kept = escape(self.get_body_argument("text", "")) if refused else ""
        described = f' aria-describedby="err-{question}"' if refused else ""
        error = (
            f'<p class="error" role="alert" id="err-{question}">{escape(refused)}</p>'
            if refused
            else ""
        )
        return (
            '<form method="post" action="/status" enctype="multipart/form-data">'
            f'{self._hidden(report)}<input type="hidden" name="nonce" value="{nonce}">'
            f'<input type="hidden" name="question" value="{question}">'
            f'<label for="answer-{question}">{escape(label["answer"])}</label>'
            f'<textarea id="answer-{question}" name="text"{described}>{kept}</textarea>'
            f'<label for="file-{question}">{escape(label["files"])}</label>'
            f'<input id="file-{question}" type="file" name="file" multiple accept="{ACCEPT}"'
            f"{described}>{error}"
            f'<button type="submit" name="action" value="answer">'
            f"{escape(label['send_answer'])}</button></form>"
        )

    def _verdict_forms(self, report: Report) -> str:
        _ = self._
        label = words.labels(_)
        parts = []
        if report.status == Status.RESOLVED and report.citizen_verdict is None:
            parts.append(
                f'<h2>{escape(label["resolved_q"])}</h2><form method="post" action="/status">'
                f"{self._hidden(report)}"
                f'<button type="submit" name="action" value="resolved">{escape(label["yes"])}'
                '</button><button type="submit" class="secondary" name="action" value="reopen">'
                f"{escape(label['no'])}</button></form>"
            )
        closed = report.status in (Status.RESOLVED, Status.DECLINED) or report.citizen_verdict
        if closed and report.rating is None:
            stars = "".join(
                f'<button type="submit" class="secondary" name="stars" value="{n}">'
                f"{'★' * n}</button>"
                for n in range(1, 6)
            )
            parts.append(
                f'<h2>{escape(label["rate"])}</h2><form method="post" action="/status">'
                f'{self._hidden(report)}<input type="hidden" name="action" value="rate">'
                f"{stars}</form>"
            )
        elif report.rating is not None:
            parts.append(f"<p>{escape(words.rated(report.rating, _))}</p>")
        return "".join(parts)

"""/status/receipt: a citizen uploads or pastes a signed receipt and learns whether it holds.

It holds when it is signed with this deployment's key (`bot.core.receipts.verify`, the check
`liemchinh verify` runs) and still matches the report as stored. The signature is checked
before anything is looked up, so the page cannot be used to probe which codes exist.

Also what a web reporter is given about their own report: its signed receipt, made as the chat
makes it, and the line saying where it went when a conflict of interest sent it above.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

from bot.core.domain import Report, local_today
from bot.core.parsing import format_code, format_date
from bot.core.receipts import (
    key_path,
    load_or_create_key,
    mismatches,
    public_bytes,
    public_text,
    receipt_document,
    verify,
)
from bot.i18n import Gettext
from bot.messages import integrity as texts
from bot.messages import web as words
from bot.messages.labels import category_label
from bot.web.page import Page, WebServices

# A receipt is a few hundred bytes per piece of evidence: anything far larger is not one.
MAX_RECEIPT_BYTES = 64_000


class ReceiptCheck(Page):
    """GET shows the form; POST checks the receipt it carries."""

    def get(self) -> None:
        """Show the form."""
        self._form()

    def _form(self, verdict: str | None = None, ok: bool = False, status: int = 200) -> None:
        word = texts.receipt_check_words(self._)
        key = load_or_create_key(key_path(self.services.settings.database))
        shown = ""
        if verdict:
            css, role = ("ok", "status") if ok else ("error", "alert")
            shown = f'<p class="{css}" role="{role}">{verdict}</p>'
        body = (
            f"{shown}<p>{escape(word['intro'])}</p>"
            '<form method="post" action="/status/receipt" enctype="multipart/form-data">'
            f"{self.csrf_field()}"
            f'<label for="receipt-file">{escape(word["file"])}</label>'
            '<input id="receipt-file" type="file" name="file" accept="application/json,.json">'
            f'<label for="receipt-text">{escape(word["text"])}</label>'
            '<textarea id="receipt-text" name="text" spellcheck="false"></textarea>'
            f'<button type="submit">{escape(word["check"])}</button></form>'
            f"<p><small>{escape(word['public_key'] % {'key': public_text(key)})}</small></p>"
        )
        self.page(word["title"], body, status)

    def _receipt(self) -> bytes | None:
        """Return the receipt posted as a file, or else as pasted text; None if neither."""
        uploads = self.request.files.get("file") or []
        if uploads and uploads[0].body:
            return uploads[0].body
        text = self.get_body_argument("text", "").strip()
        if not text:
            return None
        # A form sends a textarea's lines with CRLF and may drop the last line break: only
        # that whitespace is restored, as the file was written; every other byte counts.
        return text.replace("\r\n", "\n").encode("utf-8") + b"\n"

    async def post(self) -> None:
        """Check the posted receipt and say what was found."""
        _ = self._
        if not self.form_ok():
            self.refuse(words.expired_form(_), 403)
            return
        data = self._receipt()
        if data is None or len(data) > MAX_RECEIPT_BYTES:
            code = "empty" if data is None else "unreadable"
            self._form(escape(texts.receipt_verdict(code, _)), status=400)
            return
        key = load_or_create_key(key_path(self.services.settings.database))
        verdict = await asyncio.to_thread(verify, data, public_bytes(key))
        if not verdict.valid or verdict.document is None:
            self._form(escape(texts.receipt_verdict(verdict.code, _)), status=422)
            return
        document = verdict.document
        code = str(document.get("code") or "")
        report = await self.services.db.reports.report_by_code(code) if code else None
        if report is None:
            self._form(escape(texts.receipt_verdict("missing", _)), status=422)
            return
        different = mismatches(document, await self._stored(report))
        if different:
            self._form(escape(texts.receipt_verdict("mismatch", _, different)), status=422)
            return
        self._form(self._summary(report, document), ok=True)

    async def _stored(self, report: Report) -> dict[str, Any]:
        """Return what a receipt of the report would state now."""
        attachments = await self.services.db.reports.report_attachments(report.id)
        return receipt_document(report, "", [a.sha256 for a in attachments])

    def _summary(self, report: Report, document: Any) -> str:
        """Return the valid verdict with what the receipt proves (HTML, escaped)."""
        _ = self._
        unit = escape(str(document.get("unit_name") or document.get("unit") or ""))
        lines = [
            escape(texts.receipt_verdict("valid", _)),
            f"<b>{escape(format_code(report.code))}</b> · "
            f"{escape(format_date(local_today(report.created_at), self.locale_code))} · "
            f"{escape(category_label(report.fields.category, _))} · {unit}",
        ]
        return "<br>".join(lines)


async def routed_html(services: WebServices, report: Report, _: Gettext) -> str:
    """Return the paragraph saying where a routed report went and why (HTML), or ""."""
    if not report.conflict or not report.concerned_unit:
        return ""
    concerned = await services.db.units.get_unit(report.concerned_unit)
    handler = await services.db.units.get_unit(report.fields.unit_code or "")
    # Handled where it is about: nobody above it, so the administrators have it.
    above = report.fields.unit_code != report.concerned_unit
    line = texts.routed_line(
        report,
        concerned.name if concerned else report.concerned_unit,
        (handler.name if handler else None) if above else None,
        _,
    )
    return f'<p class="notice">{line}</p>'

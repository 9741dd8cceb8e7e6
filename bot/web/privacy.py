"""/mydata and /forget: a web reporter's copy of their data and its erasure.

The chat's /mydata and /forget for the web. A web reporter is this browser (its session, while
the cookie lasts) or whoever holds a report's code and key; each form serves one of the two.
Opening a report by its key goes through `bot.web.lookup`, with its limits. Privacy rights
hold for everyone: a banned person may still see and erase their data.
"""

from __future__ import annotations

import logging
from html import escape

from bot.core.parsing import format_code
from bot.messages import web as words
from bot.messages import web_privacy as texts
from bot.messages.privacy import export_bytes, personal_data, report_document
from bot.web.lookup import code_and_key_fields, open_posted
from bot.web.page import Page

log = logging.getLogger(__name__)


class _DataPage(Page):
    """What both pages share: the two forms, and opening a report by its key."""

    action_path = "/mydata"

    def forms(self, session_label: str, report_label: str) -> str:
        """Return the form for this browser and the form for a report's code and key."""
        return (
            f'<form method="post" action="{self.action_path}">{self.csrf_field()}'
            f'<button type="submit" name="action" value="session">{escape(session_label)}'
            f'</button></form><form method="post" action="{self.action_path}">'
            f"{self.csrf_field()}{code_and_key_fields(self._)}"
            f'<button type="submit" name="action" value="report">{escape(report_label)}'
            "</button></form>"
        )

    async def chosen(self) -> tuple[bool, int | None]:
        """Return whether the request was refused (a stale form, a wrong key) and the report
        whose key was sent; no report means the form for this browser."""
        if not self.form_ok():
            self.refuse(words.expired_form(self._), 403)
            return True, None
        if self.get_body_argument("action", "") != "report":
            return False, None
        report_id, refusal, status = await open_posted(self)
        if report_id is None:
            self.refuse(refusal, status)
            return True, None
        return False, report_id


class MyData(_DataPage):
    """GET explains; POST sends this browser's data, or a report's, as a JSON file."""

    def get(self) -> None:
        """Show the two ways to a copy, and the way to erasure."""
        _ = self._
        body = (
            f"<p>{escape(texts.mydata_intro(_))}</p>"
            f"{self.forms(texts.session_copy(_), texts.report_copy(_))}"
            f'<p><a href="/forget">{escape(texts.forget_link(_))}</a></p>'
        )
        self.page(texts.mydata_title(_), body)

    async def post(self) -> None:
        """Send the asked-for copy as a download."""
        _ = self._
        refused, report_id = await self.chosen()
        if refused:
            return
        db = self.services.db
        if report_id is not None:
            raw = await db.privacy.report_data(report_id)
            assert raw is not None
            document = report_document(raw, db.clock(), texts.export_about(_), _)
            name = texts.REPORT_FILENAME % {"code": format_code(raw["report"]["code"])}
        else:
            user_id = await self.web_user()
            if user_id is None:
                self.page(texts.mydata_title(_), f"<p>{escape(texts.nothing_stored(_))}</p>")
                return
            document = await personal_data(db, user_id, _)
            document["about"] = texts.export_about(_)
            name = texts.EXPORT_FILENAME
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(export_bytes(document))


class Forget(_DataPage):
    """GET says what goes and what stays; POST erases this browser's data or a report's link."""

    action_path = "/forget"

    def get(self) -> None:
        """Show what erasure does, with the two confirmations and the way out."""
        _ = self._
        body = (
            f"<p>{escape(texts.forget_intro(_))}</p>"
            f"{self.forms(texts.forget_session(_), texts.forget_report(_))}"
            f'<p><a class="button secondary" href="/">{escape(texts.keep_it(_))}</a></p>'
        )
        self.page(texts.forget_title(_), body)

    async def post(self) -> None:
        """Erase, in one transaction, what the chosen form names."""
        _ = self._
        refused, report_id = await self.chosen()
        if refused:
            return
        db = self.services.db
        if report_id is not None:
            await db.privacy.forget_report(report_id)
            log.info("a web reporter's link to a report was erased")
            done = texts.report_erased(_)
        else:
            user_id = await self.web_user()
            if user_id is None:
                done = texts.nothing_stored(_)
            else:
                banned = await db.admin.ban_state(user_id) is not None
                count = await db.privacy.forget_user(user_id)
                log.info("a web reporter's data was erased; %d reports de-identified", count)
                # A banned person keeps the session their ban is recognised by.
                if not banned:
                    self.new_session()
                done = texts.session_erased(count, _)
        self.page(texts.forget_title(_), f'<p class="ok" role="status">{escape(done)}</p>')

"""The frame every web page shares: services, headers, language, session, CSRF, layout."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import tornado.web

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.domain import Channel
from bot.core.workflow import Workflow
from bot.i18n import Gettext, Translator
from bot.messages import web as words
from bot.messages import web_privacy
from bot.store.repository import Repository
from bot.web.security import (
    Failures,
    RateLimit,
    csrf_ok,
    csrf_token,
    is_ip,
    new_session,
    session_identity,
)

SESSION_COOKIE = "lc_session"
LANG_COOKIE = "lc_lang"


@dataclass
class WebServices:
    """What the pages need from the application; `wake` starts delivery of what was queued."""

    settings: Settings
    db: Repository
    translator: Translator
    conversation: Conversation
    workflow: Workflow
    wake: Callable[[], None] = lambda: None
    submissions: RateLimit = field(default_factory=lambda: RateLimit(limit=10, window=3600))
    answers: RateLimit = field(default_factory=lambda: RateLimit(limit=60, window=3600))
    failures: Failures = field(default_factory=Failures)
    cache: dict[Any, tuple[float, Any]] = field(default_factory=dict)


def security_headers(handler: tornado.web.RequestHandler) -> None:
    """Set the headers every answer of the pages carries, a style sheet or a 404 too."""
    handler.set_header("Content-Security-Policy", "default-src 'self'")
    handler.set_header("Referrer-Policy", "no-referrer")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("X-Frame-Options", "DENY")


class StaticFiles(tornado.web.StaticFileHandler):
    """The style sheet, with the pages' headers (and tornado's own caching)."""

    def set_default_headers(self) -> None:
        """Send the security headers."""
        security_headers(self)


class NotFound(tornado.web.RequestHandler):
    """Any path the server does not know: a bare 404 with the pages' headers."""

    def prepare(self) -> None:
        """Answer 404 whatever the method."""
        raise tornado.web.HTTPError(404)

    def set_default_headers(self) -> None:
        """Send the security headers."""
        security_headers(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer with the status alone, as the pages' errors do."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}\n")

    def _request_summary(self) -> str:
        # Tornado's own warnings name the request with this: without the visitor's address.
        return f"{self.request.method} {self.request.path}"


class Page(tornado.web.RequestHandler):
    """The frame every page shares: headers, language, session, CSRF check, layout."""

    services: WebServices

    def initialize(self, services: WebServices) -> None:
        """Keep the application's services."""
        self.services = services

    def set_default_headers(self) -> None:
        """Send the security headers on every answer."""
        security_headers(self)
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        """Choose the language and make sure the visitor has a session."""
        lang = self.get_query_argument("lang", None)
        if lang in ("vi", "en"):
            self._cookie(LANG_COOKIE, lang)
        else:
            lang = self.get_cookie(LANG_COOKIE)
        self.locale_code = lang if lang in ("vi", "en") else "vi"
        self._: Gettext = self.services.translator.get(self.locale_code)
        session = self.get_cookie(SESSION_COOKIE)
        if not session or len(session) > 64:
            session = new_session()
            self._cookie(SESSION_COOKIE, session)
        self.session = session

    def _cookie(self, name: str, value: str) -> None:
        self.set_cookie(
            name,
            value,
            httponly=True,
            samesite="Strict",
            secure=self.services.settings.web.secure,
            path="/",
        )

    @property
    def address(self) -> str:
        """Return the visitor's address, for in-memory limits only.

        Behind a proxy on this machine (the README's setup) every request comes from a
        loopback address, so the visitor's is the last entry of X-Forwarded-For, the one the
        proxy appends; earlier entries could be written by anyone. From any other peer the
        header is ignored.
        """
        peer = self.request.remote_ip or "-"
        if not _is_loopback(peer):
            return peer
        forwarded = self.request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        return forwarded if is_ip(forwarded) else peer

    async def web_user(self, create: bool = False) -> int | None:
        """Return this browser's internal user id, allocating one only when `create`."""
        identities = self.services.db.identities
        identity = session_identity(self.session)
        if create:
            return await identities.user_id(Channel.WEB, identity)
        return await identities.find_user_id(Channel.WEB, identity)

    async def is_banned(self, report_id: int | None = None) -> bool:
        """Tell whether this browser's person, or the sender of a report, is banned.

        A web reporter is recognised by their browser's session while it lasts, and by a
        report's link to its sender while that is kept: a ban reaches them through either.
        """
        admin = self.services.db.admin
        user_id = await self.web_user()
        if user_id is not None and await admin.ban_state(user_id) is not None:
            return True
        return report_id is not None and await admin.reporter_banned(report_id)

    def new_session(self) -> None:
        """Give this browser a fresh session, unrelated to the one it had."""
        self.session = new_session()
        self._cookie(SESSION_COOKIE, self.session)

    def csrf_field(self) -> str:
        """Return the hidden fields every form carries: the token and the honeypot."""
        label = escape(words.labels(self._)["honeypot"])
        return (
            f'<input type="hidden" name="csrf" value="{csrf_token(self.session)}">'
            f'<div class="hp" aria-hidden="true"><label for="website">{label}</label>'
            '<input id="website" name="website" tabindex="-1" autocomplete="off"></div>'
        )

    def form_ok(self) -> bool:
        """Tell whether a posted form has the session's token and an empty honeypot."""
        token = self.get_body_argument("csrf", None)
        return csrf_ok(self.session, token) and not self.get_body_argument("website", "")

    def _request_summary(self) -> str:
        # Tornado's own warnings name the request with this: without the visitor's address.
        return f"{self.request.method} {self.request.path}"

    def check_xsrf_cookie(self) -> None:
        """Forms are checked by `form_ok` with the session's own token."""

    def page(self, title: str, body: str, status: int = 200) -> None:
        """Send a page in the common frame."""
        self.set_status(status)
        _ = self._
        nav = "".join(
            f'<a href="{path}">{escape(label)}</a>' for path, label in words.nav(_).items()
        )
        other = "en" if self.locale_code == "vi" else "vi"
        language = words.language_link(self.locale_code)
        switch = f'<a href="?lang={other}" lang="{other}">{language}</a>'
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            f'<!doctype html><html lang="{self.locale_code}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · Liêm Chính</title>"
            '<link rel="stylesheet" href="/static/style.css"></head><body>'
            f'<header><a class="brand" href="/">Liêm Chính</a><nav>{nav}{switch}</nav></header>'
            f"<main><h1>{escape(title)}</h1>{body}</main>"
            f'<footer><a href="/mydata">{escape(web_privacy.data_link(_))}</a></footer>'
            "</body></html>"
        )

    def refuse(self, text: str, status: int = 400) -> None:
        """Send a page that says only why the request was refused."""
        body = f'<p class="error" role="alert">{escape(text)}</p>'
        self.page("Liêm Chính", body, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer errors with a short page and no details."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}\n")


def _is_loopback(text: str) -> bool:
    return is_ip(text) and ipaddress.ip_address(text).is_loopback


class Home(Page):
    """What this is, and the three pages."""

    def get(self) -> None:
        """Show the first page."""
        _ = self._
        links = "".join(
            f'<li><a class="button" href="{path}">{escape(label)}</a></li>'
            for path, label in words.nav(_).items()
        )
        body = (
            f'<p lang="vi">{escape(words.INTRO_VI)}</p><p lang="en">{escape(words.INTRO_EN)}</p>'
            f'<ul class="menu">{links}</ul>'
        )
        self.page("Liêm Chính", body)

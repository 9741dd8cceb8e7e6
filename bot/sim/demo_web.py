"""The demo's web part: a citizen on the pages the demo serves, the unit's officer in Telegram.

The visitor fills in the same forms a browser shows (with the session cookie and each form's
token), so what the demo shows is what a person with a phone browser gets.
"""

from __future__ import annotations

import html
import re
from typing import Any, Protocol

import httpx

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
_CODE = re.compile(r'id="code">([^<]+)<')
_KEY = re.compile(r'id="key">([^<]+)<')


class Say(Protocol):
    """How the demo prints what someone did."""

    def __call__(self, text: str, who: str = ...) -> None:
        """Print one action."""


class WebVisitor:
    """A citizen's browser on the demo's pages: a cookie jar and the last page shown."""

    def __init__(self, base: str, say: Say) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=30)
        self.page = ""
        self.say = say

    async def close(self) -> None:
        """Close the browser."""
        await self.client.aclose()

    async def get(self, path: str) -> httpx.Response:
        """Open a page."""
        response = await self.client.get(path)
        self.page = response.text
        return response

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        """Send the form of the page shown, as a browser does (following a redirect)."""
        token = _CSRF.search(self.page)
        fields = {"csrf": token.group(1) if token else "", **data}
        response = await self.client.post(path, data=fields)
        if response.status_code == 303:
            response = await self.client.get(response.headers["location"])
        self.page = response.text
        return response

    async def file_report(self, unit: str, description: str) -> tuple[str, str]:
        """Fill in /report from consent to Send; return the tracking code and secret key."""
        self.say("(opens /report and agrees)", "web citizen")
        await self.get("/report")
        await self.post("/report", {"consent": "yes"})
        steps: list[tuple[str, dict[str, Any]]] = [
            ("category", {"choice": "harass"}),
            ("unit", {"choice": unit}),
            ("official", {"choice": "skip"}),
            ("when", {"choice": "today"}),
            ("where", {"choice": "skip"}),
            ("description", {"text": description}),
            ("evidence", {"choice": "done"}),
            ("identity", {"choice": "anon"}),
            ("review", {"choice": "confirm"}),
        ]
        for step, data in steps:
            await self.post("/report", {"step": step, **data})
        code, key = _CODE.search(self.page), _KEY.search(self.page)
        if code is None or key is None:
            raise RuntimeError("the web form did not show a tracking code and key")
        shown = f"(sends it; the page shows code {code.group(1)} and a secret key)"
        self.say(shown, "web citizen")
        return code.group(1), key.group(1)

    async def open_report(self, code: str, key: str) -> str:
        """Open the report on /status; return the page's text without its markup."""
        await self.get("/status")
        await self.post("/status", {"code": code, "key": key})
        return text_of(self.page)

    async def answer(self, code: str, key: str, text: str) -> None:
        """Answer the unit's question from the report's page."""
        self.say(f"(answers on /status) {text}", "web citizen")
        await self.post(
            "/status",
            {"code": code, "key": key, "action": "answer", "text": text, "nonce": "1"},
        )


def text_of(page: str) -> str:
    """Return the readable text of a page's main part."""
    main = page.split("<main>", 1)[-1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).strip())

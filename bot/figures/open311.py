"""The Open311 GeoReport v2 feed: the categories as services, reports as service requests.

Only what the feed may publish comes in (`bot.store.feed.FeedRow`): status, category, the unit
that handles the report, the day it was sent, the unit's latest step and the deadline. Nothing
a person typed goes out — no description, place finer than the unit, official's name, code or
reporter. Fields follow the GeoReport v2 specification (wiki.open311.org/GeoReport_v2); those
the feed never fills (description, address, lat/long, media_url, ...) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.domain import VN_TZ, Category, Status
from bot.i18n import Gettext
from bot.messages.labels import category_label
from bot.store.feed import FeedQuery, FeedRow

# The specification: a query may span at most 90 days, and answers at most 1,000 requests.
MAX_SPAN_DAYS = 90
MAX_PAGE_SIZE = 1000
CLOSED = frozenset({Status.RESOLVED.value, Status.DECLINED.value})
STATUSES = ("open", "closed")


class FeedError(ValueError):
    """A query the feed cannot answer: its text goes back in Open311's error format."""


def _moment(seconds: float) -> str:
    """Return a W3C date-time with its offset, as GeoReport v2 requires."""
    return datetime.fromtimestamp(seconds, tz=VN_TZ).isoformat(timespec="seconds")


def _day(seconds: float) -> str:
    """Return the start of the day (Vietnam time) a moment falls on: nothing finer."""
    moment = datetime.fromtimestamp(seconds, tz=VN_TZ)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()


def services(_: Gettext) -> list[dict[str, Any]]:
    """Return the service list: one service per category of report."""
    return [
        {
            "service_code": category.value,
            "service_name": category_label(category.value, _),
            "description": category_label(category.value, _),
            "metadata": False,
            "type": "realtime",
            "group": "liemchinh",
        }
        for category in Category
    ]


def request_of(row: FeedRow, _: Gettext) -> dict[str, Any]:
    """Return one report as a GeoReport v2 service request, de-identified."""
    closed = row.status in CLOSED
    requested = _day(row.created_at)
    return {
        "service_request_id": str(row.id),
        "status": "closed" if closed else "open",
        "status_notes": row.status,
        "service_name": category_label(row.category, _),
        "service_code": row.category,
        "agency_responsible": row.unit_name,
        "requested_datetime": requested,
        # Before the unit's first step, the day it was sent: a reporter's own steps (sending,
        # answering, reopening) have times that could point at them, so they never show.
        "updated_datetime": _moment(row.updated_at) if row.updated_at else requested,
        "expected_datetime": _moment(row.deadline_at) if row.deadline_at and not closed else None,
    }


def requests(rows: Iterable[FeedRow], _: Gettext) -> list[dict[str, Any]]:
    """Return reports as the service requests list."""
    return [request_of(row, _) for row in rows]


def dump(document: Sequence[Mapping[str, Any]]) -> bytes:
    """Return a feed document as UTF-8 JSON, as Open311 requires."""
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def error(code: int, description: str) -> bytes:
    """Return an error in Open311's format: a list of code and description."""
    return dump([{"code": code, "description": description}])


# -- the query parameters of GET requests.json ----------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page of the answer: the 1-based page number and its size."""

    number: int = 1
    size: int = MAX_PAGE_SIZE


def _when(text: str, end: bool) -> float:
    """Read a W3C date or date-time; a bare date is its day's start (or end) in Vietnam."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime(day.year, day.month, day.day, tzinfo=VN_TZ).timestamp()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FeedError(f"not a W3C date or date-time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VN_TZ)
    return moment.timestamp()


def _integer(text: str | None, name: str, default: int, top: int) -> int:
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= top:
        raise FeedError(f"{name} must be a whole number from 1 to {top}")
    return int(text)


def parse_query(args: Mapping[str, str | None], now: float) -> FeedQuery:
    """Read GET requests.json's parameters into a store query; FeedError if one is wrong.

    service_request_id (comma-separated) overrides the rest; service_code and status are
    comma-separated; start_date and end_date span at most 90 days (the last 90 by default);
    page_size (at most 1,000) and page choose a page of the answer.
    """
    page = Page(
        number=_integer(args.get("page"), "page", 1, 1_000_000),
        size=_integer(args.get("page_size"), "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE),
    )
    limit, offset = page.size, (page.number - 1) * page.size
    ids_text = (args.get("service_request_id") or "").strip()
    if ids_text:
        ids = [part.strip() for part in ids_text.split(",") if part.strip()]
        if not ids or not all(part.isdigit() and len(part) < 16 for part in ids):
            raise FeedError("service_request_id must be ids separated by commas")
        return FeedQuery(ids=sorted({int(part) for part in ids}), limit=limit, offset=offset)
    start_text, end_text = args.get("start_date"), args.get("end_date")
    until = _when(end_text, end=True) if end_text else None
    since = _when(start_text, end=False) if start_text else None
    span = MAX_SPAN_DAYS * 86400
    if since is None and until is None:
        until = now
    if since is None:
        assert until is not None
        since = until - span
    if until is None:
        until = since + span
    if until < since:
        raise FeedError("end_date is before start_date")
    if until - since > span:
        raise FeedError(f"start_date and end_date may not span more than {MAX_SPAN_DAYS} days")
    statuses = None
    if status_text := (args.get("status") or "").strip():
        wanted = {part.strip().lower() for part in status_text.split(",") if part.strip()}
        if not wanted <= set(STATUSES):
            raise FeedError("status must be open, closed or both, separated by a comma")
        statuses = set()
        for value in Status:
            if ("closed" if value.value in CLOSED else "open") in wanted:
                statuses.add(value.value)
    categories = None
    if code_text := (args.get("service_code") or "").strip():
        categories = {part.strip() for part in code_text.split(",") if part.strip()}
        known = {c.value for c in Category}
        if not categories <= known:
            raise FeedError("unknown service_code; services.json lists them")
    return FeedQuery(
        since=since,
        until=until,
        statuses=statuses,
        categories=categories,
        limit=limit,
        offset=offset,
    )

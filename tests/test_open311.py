"""The Open311 GeoReport v2 feed: the specification's fields, its query parameters, and no
trace of who reported what, whatever people typed."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.domain import (
    VN_TZ,
    Actor,
    Category,
    DeclineReason,
    Draft,
    ReportFields,
    Timers,
)
from bot.figures import open311
from bot.i18n import Translator
from bot.sim import BotApiSimulator
from bot.store.feed import FeedQuery
from bot.store.repository import Repository
from tests.conftest import ADMIN_ID, UNITS, FakeClock, Person, World
from tests.web_helpers import web_world

# GeoReport v2 (wiki.open311.org/GeoReport_v2): every field a service and a service request
# may carry, and those a response must carry.
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
SERVICE_REQUIRED = {"service_code", "service_name", "metadata", "type"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
REQUEST_REQUIRED = {"service_request_id", "status", "service_code", "requested_datetime"}
# What the feed must never carry, even empty: words, places and pictures people gave.
NEVER = {"description", "address", "address_id", "zipcode", "lat", "long", "media_url"}
# A W3C date-time with its offset (Z or ±hh:mm), as the specification requires.
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")

NOW = datetime(2026, 11, 30, 15, 47, 12, tzinfo=VN_TZ).timestamp()


def check_services(document: Any) -> None:
    """Fail unless `document` is a GeoReport v2 service list of this bot's categories."""
    assert isinstance(document, list)
    assert [s["service_code"] for s in document] == [c.value for c in Category]
    for service in document:
        assert SERVICE_REQUIRED <= set(service) <= SERVICE_FIELDS, service
        assert service["metadata"] is False and service["type"] == "realtime"
        assert isinstance(service["service_name"], str) and service["service_name"]


def check_requests(document: Any) -> None:
    """Fail unless `document` is a GeoReport v2 request list the feed may publish."""
    assert isinstance(document, list)
    codes = {c.value for c in Category}
    for request in document:
        assert REQUEST_REQUIRED <= set(request) <= REQUEST_FIELDS - NEVER, request
        assert request["status"] in ("open", "closed")
        assert request["service_code"] in codes
        assert isinstance(request["service_request_id"], str)
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            value = request.get(name)
            assert value is None or W3C.match(value), (name, value)
        # The day only: nothing finer about when someone sent it.
        assert request["requested_datetime"].endswith("T00:00:00+07:00")
        if request["status"] == "closed":
            assert request["expected_datetime"] is None


async def _store(repo: Repository, user_id: int, fields: ReportFields, deadline: float) -> int:
    await repo.drafts.save_draft(Draft(user_id, user_id + 1, 14, fields))
    timers = Timers("ack", deadline, None, deadline)
    report = await repo.reports.submit_draft(user_id, "vi", timers)
    assert report is not None
    return report.id


def test_the_feed_follows_the_specification_fields() -> None:
    _ = Translator().get("vi")
    check_services(json.loads(open311.dump(open311.services(_))))

    async def scenario(path: Path) -> list[dict[str, Any]]:
        async with Repository(path, clock=lambda: NOW) as repo:
            await repo.units.seed_units(UNITS)
            fields = ReportFields(
                category="bribe", unit_code="HL", description="x" * 30, anonymous=True
            )
            first = await _store(repo, 10, fields, NOW + 3 * 86400)
            await _store(repo, 11, replace(fields, category="delay"), NOW + 86400)
            report = await repo.reports.get_report(first)
            assert report is not None
            rows = await repo.feed.feed_rows(FeedQuery(since=NOW - 86400, until=NOW + 1))
            return open311.requests(rows, _)

    with tempfile.TemporaryDirectory() as folder:
        document = asyncio.run(scenario(Path(folder) / "bot.db"))
    check_requests(json.loads(open311.dump(document)))
    assert [r["service_code"] for r in document] == ["bribe", "delay"]
    first = document[0]
    assert first["agency_responsible"] == "UBND phường Hạ Long"
    assert first["requested_datetime"] == "2026-11-30T00:00:00+07:00"
    # Until the unit acts, the last update is the day it was sent, never the minute.
    assert first["updated_datetime"] == first["requested_datetime"]
    assert first["expected_datetime"] == "2026-12-03T15:47:12+07:00"
    assert first["status"] == "open" and first["status_notes"] == "new"


# -- no reporter data anywhere, whatever people typed -----------------------------------------


@dataclass(frozen=True)
class Typed:
    """What one person gave with a report: everything the feed must not show."""

    user_id: int
    category: str
    unit: str
    description: str
    official: str | None
    location: str | None
    dossier: str | None
    name: str | None
    phone: str | None
    latitude: float | None
    longitude: float | None


_words = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")),
    min_size=1,
    max_size=60,
)
typed = st.builds(
    Typed,
    user_id=st.integers(1, 2**53),
    category=st.sampled_from([c.value for c in Category]),
    unit=st.sampled_from([u.code for u in UNITS]),
    description=st.text(min_size=20, max_size=400).filter(lambda t: t.strip()),
    official=st.none() | _words,
    location=st.none() | _words,
    dossier=st.none() | st.from_regex(r"[A-Z0-9.\-/]{4,20}", fullmatch=True),
    name=st.none() | _words,
    phone=st.none() | st.from_regex(r"0[35789][0-9]{8}", fullmatch=True),
    latitude=st.none() | st.floats(8.0, 23.5),
    longitude=st.none() | st.floats(102.0, 110.0),
)


def _fields(item: Typed, *, blank: bool) -> ReportFields:
    """Return the report's fields; `blank` puts the same neutral words in every person's place."""
    return ReportFields(
        category=item.category,
        unit_code=item.unit,
        description="Mô tả trung tính của phản ánh." if blank else item.description,
        official=None if blank else item.official,
        official_head=None,
        location=None if blank else item.location,
        latitude=None if blank else item.latitude,
        longitude=None if blank else item.longitude,
        dossier_code=None if blank else item.dossier,
        anonymous=item.name is None,
        contact_name=None if blank else item.name,
        contact_phone=None if blank else item.phone,
    )


async def _feed(path: Path, items: list[Typed], *, blank: bool) -> tuple[bytes, bytes]:
    """Store the reports and return the whole feed of their period, as served."""
    async with Repository(path, clock=lambda: NOW) as repo:
        await repo.units.seed_units(UNITS)
        for number, item in enumerate(items):
            user = 7 + number if blank else item.user_id
            await _store(repo, user, _fields(item, blank=blank), NOW + 86400)
        query = open311.parse_query({}, NOW + 1)
        rows = await repo.feed.feed_rows(query)
    _ = Translator().get("vi")
    return open311.dump(open311.services(_)), open311.dump(open311.requests(rows, _))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(typed, min_size=1, max_size=4, unique_by=lambda t: t.user_id))
def test_no_reporter_data_or_description_reaches_the_feed(items: list[Typed]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        feed = asyncio.run(_feed(Path(folder) / "given.db", items, blank=False))
        neutral = asyncio.run(_feed(Path(folder) / "blank.db", items, blank=True))
    # The same feed whatever the people typed, and whoever they were: it depends on nothing
    # but the category, the unit, the day and the handling.
    assert feed == neutral
    check_requests(json.loads(feed[1]))
    text = b"".join(feed).decode("utf-8")
    for item in items:
        assert item.description not in text
        if item.phone:
            assert item.phone not in text


# -- over HTTP, and as an admin's file ---------------------------------------------------------


async def test_the_feed_over_http_with_its_query_parameters(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        repo = world.db
        base_fields = ReportFields(
            category="bribe",
            unit_code="HL",
            description="Cán bộ Nguyễn Văn Hùng đòi 2 triệu ở bộ phận một cửa.",
            official="Nguyễn Văn Hùng",
            location="Tổ 5, khu 3",
            anonymous=False,
            contact_name="Trần Thị Bình",
            contact_phone="0912345678",
        )
        now = world.db.clock()
        bribe = await _store(repo, 780101, base_fields, now + 86400)
        delay = await _store(repo, 780102, replace(base_fields, category="delay"), now + 86400)
        report = await repo.reports.get_report(delay)
        assert report is not None
        workflow = world.app.bot_data["services"].workflow
        assert await workflow.decline(
            report, Actor("officer", 900102, "Cán bộ"), DeclineReason.DUPLICATE, "Trùng lặp"
        )
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            services = await client.get("/open311/v2/services.json")
            assert services.status_code == 200
            assert services.headers["content-type"].startswith("application/json")
            assert "set-cookie" not in services.headers
            check_services(services.json())
            english = (await client.get("/open311/v2/services.json?lang=en")).json()
            assert english[2]["service_name"] != services.json()[2]["service_name"]

            everything = await client.get("/open311/v2/requests.json")
            check_requests(everything.json())
            assert [r["service_request_id"] for r in everything.json()] == [
                str(bribe),
                str(delay),
            ]
            for trace in ("Nguyễn Văn Hùng", "Trần Thị Bình", "0912345678", "Tổ 5", "2 triệu"):
                assert trace not in everything.text

            async def ids(query: str) -> list[str]:
                answer = await client.get("/open311/v2/requests.json?" + query)
                assert answer.status_code == 200, answer.text
                check_requests(answer.json())
                return [r["service_request_id"] for r in answer.json()]

            assert await ids("status=closed") == [str(delay)]
            assert await ids("status=open") == [str(bribe)]
            assert await ids("status=open,closed") == [str(bribe), str(delay)]
            assert await ids("service_code=bribe") == [str(bribe)]
            assert await ids(f"service_request_id={delay}") == [str(delay)]
            assert await ids("page_size=1") == [str(bribe)]
            assert await ids("page_size=1&page=2") == [str(delay)]
            day = datetime.fromtimestamp(now, tz=VN_TZ).date()
            assert await ids(f"start_date={day}&end_date={day}") == [str(bribe), str(delay)]
            assert await ids("start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z") == []

            for bad in (
                "start_date=2026-01-01&end_date=2026-06-01",  # more than 90 days
                "status=pending",
                "service_code=nope",
                "page_size=5000",
                "start_date=yesterday",
            ):
                refused = await client.get("/open311/v2/requests.json?" + bad)
                assert refused.status_code == 400, bad
                error = refused.json()
                assert error[0]["code"] == 400 and error[0]["description"]


async def test_export_open311_sends_the_same_feed_as_files(world: World) -> None:
    fields = ReportFields(
        category="harass",
        unit_code="DT",
        description="Cán bộ Lê Văn Tâm quát mắng người dân tại bộ phận một cửa.",
        official="Lê Văn Tâm",
        anonymous=True,
    )
    await _store(world.db, 781001, fields, world.db.clock() + 86400)
    admin = Person(world.sim, world.sim.user(ADMIN_ID))
    mark = len(admin.messages)
    await admin.say("/export open311 30d", expect="Open311")
    files = [m for m in admin.messages[mark:] if "document" in m]
    names = [m["document"]["file_name"] for m in files]
    assert len(names) == 2 and names[0] == "open311-services.json"
    assert names[1].startswith("open311-requests-") and names[1].endswith(".json")
    check_services(json.loads(world.sim.file_content(files[0]["document"]["file_id"])))
    data = world.sim.file_content(files[1]["document"]["file_id"])
    document = json.loads(data)
    check_requests(document)
    assert [r["agency_responsible"] for r in document] == ["UBND phường Đông Triều"]
    assert "Lê Văn Tâm" not in data.decode()
    usage = await admin.say("/export open311 whenever", expect="open311")
    assert "30d" in usage["text"]

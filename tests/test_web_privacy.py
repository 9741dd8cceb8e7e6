"""A web reporter's rights and a ban on the web: /mydata, /forget, bans, identities' retention."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.domain import FIRST_INTERNAL_ID, Channel
from bot.jobs import apply_retention
from bot.sim import BotApiSimulator
from bot.web.security import session_identity
from tests.conftest import ADMIN_ID, HA_LONG_CHAT, FakeClock, World
from tests.test_admin import ask
from tests.web_helpers import WebCitizen, officer_does, web_world

DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định."
BANNED = "không thể tiếp tục sử dụng"


def session_of(citizen: WebCitizen) -> str:
    """Return the browser's session cookie."""
    value = citizen.client.cookies.get("lc_session")
    assert value
    return str(value)


async def web_user(world: World, citizen: WebCitizen) -> int | None:
    """Return the internal user id the browser's session maps to, if any."""
    identity = session_identity(session_of(citizen))
    return await world.db.identities.find_user_id(Channel.WEB, identity)


async def test_copies_of_a_browser_and_of_a_report(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (_world, base):
        async with WebCitizen(base) as citizen:
            # Before anything is stored: nothing to give.
            await citizen.get("/mydata")
            assert 'href="/mydata"' in citizen.page and 'href="/forget"' in citizen.page
            empty = await citizen.post("/mydata", {"action": "session"})
            assert "Không có dữ liệu nào" in empty.text
            await citizen.get("/forget")
            nothing = await citizen.post("/forget", {"action": "session"})
            assert "Không có dữ liệu nào" in nothing.text

            code, key = await citizen.file_report(DESCRIPTION)
            await citizen.get("/mydata")
            copy = await citizen.post("/mydata", {"action": "session"})
            assert copy.headers["Content-Type"].startswith("application/json")
            assert "attachment" in copy.headers["Content-Disposition"]
            document = json.loads(copy.content)
            assert document["user"]["channel"] == "web" and "telegram_id" not in document["user"]
            assert document["user"]["consented_at"] is not None
            [report] = document["reports"]
            assert report["code"] == code and report["description"] == DESCRIPTION
            assert "127.0.0.1" not in copy.text

            # A report's copy, by its code and key, from a browser that never saw it.
            other = WebCitizen(base)
            try:
                await other.get("/mydata")
                one = await other.post("/mydata", {"action": "report", "code": code, "key": key})
                assert f"liemchinh-report-{code}.json" in one.headers["Content-Disposition"]
                data = json.loads(one.content)["report"]
                assert data["code"] == code and data["history"][0]["event"] == "submitted"
                await other.get("/mydata")
                wrong = await other.post(
                    "/mydata", {"action": "report", "code": code, "key": "AAAA-BBBB-CCCC-DDDD"}
                )
                assert wrong.status_code == 404 and DESCRIPTION not in wrong.text
                await other.get("/mydata")
                forged = await other.client.post(
                    "/mydata", data={"action": "session", "csrf": "0" * 64}
                )
                assert forged.status_code == 403
            finally:
                await other.close()


async def test_forgetting_a_report_by_its_key(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None
            await citizen.get("/forget")
            assert "Sẽ bị xóa" in citizen.page and "Được giữ lại" in citizen.page
            done = await citizen.post("/forget", {"action": "report", "code": code, "key": key})
            assert done.status_code == 200 and "không còn mở được" in done.text

            # The code and key open nothing now, as if the report did not exist.
            await citizen.get("/status")
            gone = await citizen.post("/status", {"code": code, "key": key})
            assert gone.status_code == 404
            assert await world.db.identities.receipt_key(code.replace("-", "")) is None
            assert await world.db.reports.reporter_channel(report.id) is None
            # The report stays with the unit, its history saying why the sender is gone.
            kept = await world.db.reports.get_report(report.id)
            assert kept is not None and kept.fields.description == DESCRIPTION
            history = [e.action for e in await world.db.reports.audit_of(report.id)]
            assert history[-1] == "forgotten"


async def test_forgetting_a_browser(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            # A second report begun and left half-way.
            await citizen.get("/report")
            await citizen.step("category", choice="harass")
            user_id = await web_user(world, citizen)
            assert user_id is not None and user_id >= FIRST_INTERNAL_ID
            assert await world.db.drafts.get_draft(user_id) is not None
            before = session_of(citizen)

            await citizen.get("/forget")
            done = await citizen.post("/forget", {"action": "session"})
            assert "1 phản ánh không còn liên kết" in done.text
            # A fresh session: the old one maps to nobody, and neither does the new one.
            assert session_of(citizen) != before
            assert await web_user(world, citizen) is None
            identity = session_identity(before)
            assert await world.db.identities.find_user_id(Channel.WEB, identity) is None
            assert await world.db.drafts.get_draft(user_id) is None
            assert (await world.db.privacy.personal_data(user_id))["user"] is None
            await citizen.get("/status")
            assert (await citizen.post("/status", {"code": code, "key": key})).status_code == 404
            # Back on the form, the browser is a newcomer asked for consent again, with an id
            # never given before: bans and limits of the erased id reach nobody else.
            await citizen.get("/report")
            assert 'name="consent"' in citizen.page
            await citizen.post("/report", {"consent": "yes"})
            fresh = await web_user(world, citizen)
            assert fresh is not None and fresh > user_id


async def test_a_ban_reaches_the_web_reporter(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        admin = sim.user(ADMIN_ID)
        citizen = WebCitizen(base)
        stranger = WebCitizen(base)
        try:
            code, key = await citizen.file_report(DESCRIPTION)
            user_id = await web_user(world, citizen)
            answer = "\n".join(await ask(world, admin, f"/ban {code} gửi tin rác", code))
            assert f"người gửi phản ánh {code}" in answer
            # The admin is never told who it is.
            assert str(user_id) not in answer

            # Recognised by this browser: no new report.
            page = await citizen.get("/report")
            assert page.status_code == 403 and BANNED in page.text
            # Recognised by the report's link, from any browser: the report is not opened.
            await stranger.get("/status")
            refused = await stranger.post("/status", {"code": code, "key": key})
            assert refused.status_code == 403 and BANNED in refused.text
            assert DESCRIPTION not in refused.text
            # A browser that shows nothing of the banned person is a stranger: it may begin a
            # report (a ban on the web holds for what can be recognised, see the README).
            assert (await stranger.get("/report")).status_code == 200
            # Privacy rights hold for everyone.
            await citizen.get("/mydata")
            copy = await citizen.post("/mydata", {"action": "session"})
            assert json.loads(copy.content)["bans"][0]["reason"] == "gửi tin rác"
            # Erasing the browser's data keeps what the ban is recognised by.
            await citizen.get("/forget")
            await citizen.post("/forget", {"action": "session"})
            assert await web_user(world, citizen) == user_id
            assert (await citizen.get("/report")).status_code == 403

            # The erased report no longer leads to anyone; unbanning by id still works.
            answer = "\n".join(await ask(world, admin, f"/unban {code}", code))
            assert "không còn liên kết" in answer
            await ask(world, admin, f"/unban {user_id}", str(user_id))
            assert (await citizen.get("/report")).status_code == 200
        finally:
            await citizen.close()
            await stranger.close()


async def test_retention_erases_idle_web_identities(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        idle, banned, reporter = WebCitizen(base), WebCitizen(base), WebCitizen(base)
        try:
            for citizen in (idle, banned):
                await citizen.get("/report")
                await citizen.post("/report", {"consent": "yes"})
                await citizen.get("/report")  # starts a draft
            await reporter.file_report(DESCRIPTION)
            idle_id, banned_id = await web_user(world, idle), await web_user(world, banned)
            reporter_id = await web_user(world, reporter)
            assert idle_id and banned_id and reporter_id
            await world.db.admin.ban(banned_id, None, ADMIN_ID)

            counts = await apply_retention(world.db, world.settings)
            assert counts["identities"] == 0
            # Past the drafts' period the drafts go, then the identities nothing holds.
            clock.advance(days=world.settings.privacy.draft_days + 1)
            counts = await apply_retention(world.db, world.settings)
            assert counts["drafts"] == 2 and counts["identities"] == 1
            assert await web_user(world, idle) is None
            assert (await world.db.privacy.personal_data(idle_id))["user"] is None
            # Kept: the banned one (its ban is recognised by it) and the one a report links.
            assert await web_user(world, banned) == banned_id
            assert await web_user(world, reporter) == reporter_id
        finally:
            for citizen in (idle, banned, reporter):
                await citizen.close()


async def test_an_expired_link_takes_the_receipt_key_with_it(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
            await officer_does(world, code, "Tiếp nhận")
            await officer_does(world, code, "Đã giải quyết", "Đã nhắc nhở cán bộ.")
            clock.advance(days=world.settings.privacy.reporter_link_days - 1)
            assert (await apply_retention(world.db, world.settings))["reporter_links"] == 0
            await citizen.get("/status")
            assert (await citizen.post("/status", {"code": code, "key": key})).status_code == 200

            clock.advance(days=2)
            assert (await apply_retention(world.db, world.settings))["reporter_links"] == 1
            assert await world.db.identities.receipt_key(code.replace("-", "")) is None
            await citizen.get("/status")
            assert (await citizen.post("/status", {"code": code, "key": key})).status_code == 404

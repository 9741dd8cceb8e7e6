"""The pages themselves: weight and labels, escaping of every field, files in answers, the
verdict's window, the daily limit, forged forms on every page, and the pages switched off."""

from __future__ import annotations

import dataclasses
import re
import socket
import sqlite3
from html import escape
from pathlib import Path

import httpx
import pytest

from bot.app import build_application, running
from bot.config import DATA_KEY_ENV, WebConfig
from bot.core.domain import Status
from bot.sim import BotApiSimulator
from tests.conftest import HA_LONG_CHAT, FakeClock, eventually, make_settings
from tests.web_helpers import WebCitizen, gps_jpeg, officer_does, web_world

DESCRIPTION = "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định."
PAGE_LIMIT = 100_000


def problems(page: str) -> list[str]:
    """Return what keeps a page from being usable by a screen reader: unlabelled fields."""
    found = []
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", page):
        if 'type="hidden"' in tag:
            continue
        field = re.search(r'id="([^"]+)"', tag)
        if field is None or field.group(1) not in labelled:
            found.append(tag)
    for button in re.findall(r"<button\b[^>]*>(.*?)</button>", page, re.S):
        if not re.sub(r"<[^>]+>", "", button).strip():
            found.append("an empty button")
    if not re.match(r'<!doctype html><html lang="(vi|en)">', page):
        found.append("no language")
    return found


async def test_every_page_is_light_labelled_and_in_both_languages(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock, board_min_reports=1) as (_world, base):
        citizen = WebCitizen(base)
        pages: dict[str, str] = {}

        async def keep(name: str, response: httpx.Response) -> None:
            assert response.headers["Content-Type"].startswith("text/html"), name
            pages[name] = response.text

        try:
            css = len((await citizen.get("/static/style.css")).content)
            for path in ("/", "/report", "/status", "/board", "/mydata", "/forget"):
                await keep(path, await citizen.get(path))
                await keep(path + " en", await citizen.get(path + "?lang=en"))
            await citizen.get("/?lang=vi")
            await citizen.get("/report")
            await keep("consent", await citizen.post("/report", {"consent": "yes"}))
            for step, data in [
                ("category", {"choice": "harass"}),
                ("unit", {"text": "ha long"}),
                ("unit", {"choice": "HL"}),
                ("official", {"choice": "skip"}),
                ("when", {"choice": "today"}),
                ("where", {"choice": "skip"}),
                ("description", {"text": DESCRIPTION}),
                ("evidence", {"choice": "done"}),
                ("identity", {"choice": "named"}),
                ("contact", {"name": "Nguyễn Văn An", "phone": "0912345678"}),
            ]:
                await keep(f"after {step} {data}", await citizen.step(step, **data))
            await keep("sent", await citizen.step("review", choice="confirm"))
            await keep("board", await citizen.get("/board?days=365"))
            for name, page in pages.items():
                # Every page with its style sheet, the only other thing it loads.
                assert len(page.encode()) + css <= PAGE_LIMIT, name
                assert problems(page) == [], name
                assert 'name="viewport" content="width=device-width' in page, name
                assert "<script" not in page and "http" not in page.replace(base, ""), name
            assert "Report" in pages["/ en"] and "Phản ánh" in pages["/"]
        finally:
            await citizen.close()


async def test_html_in_every_field_is_escaped_on_the_page_and_in_the_alert(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    official, place = "<b>Ông</b> Hùng & <i>bà</i> Lan", "<a href='x'>Bàn số 3</a>"
    description = "Cán bộ <script>alert(1)</script> đòi thêm giấy tờ <u>không</u> cần thiết."
    name = "<img src=x onerror=alert(1)>"
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.get("/report")
            await citizen.post("/report", {"consent": "yes"})
            await citizen.step("category", choice="harass")
            await citizen.step("unit", choice="HL")
            await citizen.step("official", text=official)
            if citizen.asked == "head":
                await citizen.step("head", choice="no")
            await citizen.step("when", choice="today")
            await citizen.step("where", text=place)
            await citizen.step("description", text=description)
            await citizen.step("evidence", choice="done")
            # Anonymous is the default: the first button, the one the page puts forward.
            assert citizen.asked == "identity"
            assert citizen.page.index('value="anon"') < citizen.page.index('value="named"')
            await citizen.step("identity", choice="named")
            review = await citizen.step("contact", name=name, phone="0912345678")
            assert citizen.asked == "review", review.text
            for typed in (official, place, description, name):
                assert typed not in review.text
            assert "&lt;script&gt;" in review.text and "&lt;b&gt;Ông&lt;/b&gt;" in review.text
            sent = await citizen.step("review", choice="confirm")
            code = re.search(r'id="code">([^<]+)<', sent.text)
            assert code is not None
            alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code.group(1))
            # Shown literally: the alert's HTML carried them escaped.
            for typed in (official, place, description):
                assert typed in alert["text"]
            assert name not in alert["text"]  # the unit never sees a named reporter's name


async def test_answers_carry_files_and_refuse_disguised_ones(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
            await officer_does(world, code, "Tiếp nhận")
            question = "Có ảnh giấy hẹn không?"
            await officer_does(world, code, "Hỏi người phản ánh", question, "Đã gửi")
            await citizen.get("/status")
            await citizen.post("/status", {"code": code, "key": key})
            fields = {"code": code, "key": key, "action": "answer", "nonce": "11"}
            typed = "Giấy hẹn ngày <b>5</b>, xem ảnh"
            disguised = await citizen.post(
                "/status",
                {**fields, "text": typed},
                [("file", gps_jpeg()), ("file", b"MZ\x90\x00 a program named giay-hen.jpg")],
            )
            # Refused next to the question's field, the typed text kept (escaped), and
            # nothing relayed: not the text, not the good photo before the refused file.
            form = _form_of(disguised.text, "Chỉ nhận ảnh")
            assert f"{escape(typed)}</textarea>" in form and typed not in disguised.text
            assert 'aria-describedby="err-' in form
            big = b"\xff\xd8\xff\xe0" + bytes(20_000_001)
            oversized = await citizen.post("/status", {**fields, "nonce": "13"}, [("file", big)])
            assert "20 MB" in _form_of(oversized.text, "20 MB")
            eleven = await citizen.post(
                "/status", {**fields, "nonce": "14"}, [("file", gps_jpeg())] * 11
            )
            assert "tối đa 10 tệp" in _form_of(eleven.text, "tối đa 10 tệp")
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None
            assert not [
                r for r in await world.db.links.relays_of(report.id) if r.direction == "to_unit"
            ]

            # A text and two photos: three answers, as three chat messages would be.
            mark = len(world.sim.messages(HA_LONG_CHAT))
            await citizen.post(
                "/status",
                {**fields, "nonce": "12", "text": typed},
                [("file", gps_jpeg()), ("file", gps_jpeg())],
            )
            await eventually(
                lambda: (
                    len([m for m in world.sim.messages(HA_LONG_CHAT)[mark:] if "photo" in m]) == 2
                )
            )
            await world.sim.wait_for_message(HA_LONG_CHAT, contains=typed, after=mark)
            answers = [r for r in await world.db.links.relays_of(report.id) if r.direction]
            assert [r.kind for r in answers if r.direction == "to_unit"] == [
                "text",
                "photo",
                "photo",
            ]
            # The same form sent again is the same three answers.
            await citizen.post(
                "/status",
                {**fields, "nonce": "12", "text": typed},
                [("file", gps_jpeg()), ("file", gps_jpeg())],
            )
            answers = [r for r in await world.db.links.relays_of(report.id) if r.direction]
            assert len([r for r in answers if r.direction == "to_unit"]) == 3


def _form_of(page: str, text: str) -> str:
    """Return the HTML of the one form on a page that contains `text`."""
    forms = [f for f in page.split("<form")[1:] if text in f.split("</form>")[0]]
    assert len(forms) == 1, page
    return forms[0].split("</form>")[0]


async def test_not_resolved_reopens_within_the_window_only(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            first, first_key = await citizen.file_report(DESCRIPTION)
            second, second_key = await citizen.file_report(DESCRIPTION + " Lần hai.")
            for code in (first, second):
                await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
                await officer_does(world, code, "Tiếp nhận")
                await officer_does(world, code, "Đã giải quyết", "Đã nhắc nhở cán bộ.")
            await citizen.get("/status")
            page = await citizen.post("/status", {"code": first, "key": first_key})
            assert 'value="reopen"' in page.text
            # Asked once, above its two answers; the history names no deadline that has ended.
            assert page.text.count("thực sự được giải quyết chưa?") == 1, page.text
            assert "Hạn giải quyết: -" not in page.text
            assert "của bạn đã được UBND phường Hạ Long tiếp nhận.</li>" in page.text
            mark = len(world.sim.messages(HA_LONG_CHAT))
            await citizen.post("/status", {"code": first, "key": first_key, "action": "reopen"})
            report = await world.db.reports.report_by_code(first.replace("-", ""))
            assert (
                report is not None
                and report.status == Status.NEW
                and report.citizen_verdict == "no"
            )
            await world.sim.wait_for_message(HA_LONG_CHAT, contains=first, after=mark)

            clock.advance(days=world.settings.sla.reopen_days + 1)
            await citizen.get("/status")
            fields = {"code": second, "key": second_key, "action": "reopen"}
            late = await citizen.post("/status", fields)
            assert "quá thời hạn" in late.text
            report = await world.db.reports.report_by_code(second.replace("-", ""))
            assert report is not None and report.status == Status.RESOLVED


async def test_the_daily_limit_holds_for_a_browser(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock, {"reports_per_day": 1}) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.file_report(DESCRIPTION)
            again = await citizen.get("/report")
            assert again.status_code == 429 and "1 phản ánh" in again.text
            assert await world.db.reports.count_reports() == 1


@pytest.mark.parametrize("path", ["/report", "/status", "/mydata", "/forget"])
async def test_forged_forms_change_nothing(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock, path: str
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            code, key = await citizen.file_report(DESCRIPTION)
            await citizen.get(path)
            fields = {"code": code, "key": key, "action": "report", "consent": "yes"}
            for token in ("", "0" * 64):
                forged = await citizen.client.post(path, data={**fields, "csrf": token})
                assert forged.status_code == 403 and "đã hết hạn" in forged.text
            trap = await citizen.post(path, {**fields, "website": "http://spam.example"})
            assert trap.status_code == 403
            assert await world.db.identities.receipt_key(code.replace("-", "")) is not None


async def test_switched_off_nothing_listens(sim: BotApiSimulator, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(
        make_settings(sim, tmp_path),
        web=WebConfig(enabled=False, listen="127.0.0.1", port=port),
    )
    app = build_application(settings)
    async with running(app), httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_ten_files_at_most_and_those_kept_after_a_refusal(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.get("/report")
            await citizen.post("/report", {"consent": "yes"})
            for step, data in [
                ("category", {"choice": "harass"}),
                ("unit", {"choice": "HL"}),
                ("official", {"choice": "skip"}),
                ("when", {"choice": "today"}),
                ("where", {"choice": "skip"}),
                ("description", {"text": DESCRIPTION}),
            ]:
                await citizen.step(step, **data)
            photo = gps_jpeg()
            disguised = b"MZ\x90\x00 a program named photo.jpg"
            sent = [photo, disguised, photo, photo, disguised, photo]
            first = await citizen.post(
                "/report", {"step": "evidence", "go": "files"}, [("files", f) for f in sent]
            )
            # The disguised files are refused next to the field, once; the four photos sent
            # with them are kept.
            assert first.status_code == 400 and first.text.count("Chỉ nhận ảnh") == 1
            assert "4" in first.text
            [(_chat, user_id)] = list(await world.db.drafts.draft_steps())
            assert len(await world.db.drafts.draft_attachments(user_id)) == 4
            refused = await citizen.post(
                "/report", {"step": "evidence", "go": "files"}, [("files", photo)] * 7
            )
            # The eleventh is refused next to the field; the ten before it are kept.
            assert refused.status_code == 400 and 'class="error"' in refused.text
            assert "10" in refused.text
            assert len(await world.db.drafts.draft_attachments(user_id)) == 10


async def test_a_named_web_report_is_sealed_like_a_chat_one(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv(DATA_KEY_ENV, Fernet.generate_key().decode())
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.fill_report(DESCRIPTION, identity="named")
            assert citizen.asked == "contact"
            await citizen.step("contact", name="Nguyễn Văn An", phone="0912345678")
            sent = await citizen.step("review", choice="confirm")
            code = re.search(r'id="code">([^<]+)<', sent.text)
            assert code is not None
            with sqlite3.connect(world.settings.database) as conn:
                name, phone = conn.execute(
                    "SELECT contact_name, contact_phone FROM reports WHERE code = ?",
                    (code.group(1).replace("-", ""),),
                ).fetchone()
            assert name.startswith("fernet:") and phone.startswith("fernet:")
            # Not "An": two letters turn up by chance in a token's base64 about once in 40 runs.
            assert "0912345678" not in phone and "Nguy" not in name
            report = await world.db.reports.report_by_code(code.group(1).replace("-", ""))
            assert report is not None and report.fields.contact_name == "Nguyễn Văn An"
            alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code.group(1))
            assert "0912345678" not in alert["text"] and "Nguyễn Văn An" not in alert["text"]


async def test_every_answer_carries_the_security_headers(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    headers = {
        "Content-Security-Policy": "default-src 'self'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    async with web_world(sim, tmp_path, clock, board_min_reports=1) as (_world, base):
        async with httpx.AsyncClient(base_url=base) as client:
            answers = {
                path: await client.get(path)
                for path in (
                    "/",
                    "/static/style.css",
                    "/board.csv",
                    "/board.svg",
                    "/status/receipt",
                    "/no-such-page",
                    "/static/missing.css",
                )
            }
            answers["DELETE /"] = await client.delete("/")
            answers["POST /no-such-page"] = await client.post("/no-such-page", data={"x": "1"})
        for name, answer in answers.items():
            for header, value in headers.items():
                assert answer.headers.get(header) == value, (name, header)
        assert answers["/static/style.css"].status_code == 200
        for name in ("/no-such-page", "/static/missing.css", "POST /no-such-page"):
            # Nothing about the server or the request beyond the status.
            assert answers[name].status_code == 404 and answers[name].text == "404\n", name
        assert answers["DELETE /"].status_code == 405

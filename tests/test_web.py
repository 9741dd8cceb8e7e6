"""The web pages over HTTP: every path and every refusal, against the real application."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from bot.sim import BotApiSimulator
from tests.conftest import HA_LONG_CHAT, PROVINCE_CHAT, FakeClock, eventually, member
from tests.web_helpers import WebCitizen, gps_jpeg, officer_does, web_world

DESCRIPTION = "Cán bộ <b>một cửa</b> & yêu cầu nộp thêm giấy tờ không có trong quy định."


async def test_report_status_answer_verdict_and_board(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock, board_min_reports=1) as (world, base):
        async with WebCitizen(base) as citizen:
            home = await citizen.get("/")
            assert home.headers["Content-Security-Policy"] == "default-src 'self'"
            assert home.headers["Referrer-Policy"] == "no-referrer"
            assert home.headers["X-Content-Type-Options"] == "nosniff"
            assert "Phản ánh" in home.text and "Tra cứu" in home.text
            assert "Bảng xử lý đúng hạn" in home.text
            english = await citizen.get("/?lang=en")
            for label in ("Report", "Follow a report", "Timeliness board"):
                assert f">{label}</a>" in english.text
            await citizen.get("/?lang=vi")
            assert len(home.content) < 100_000
            cookie = home.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

            photo = gps_jpeg()
            code, key = await citizen.file_report(DESCRIPTION, photo)
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None and report.fields.description == DESCRIPTION
            assert await world.db.reports.reporter_channel(report.id) == "web"

            # The unit's alert: marked as from the web, the description escaped, the photo
            # uploaded from the stored bytes without its GPS, the original's hash kept.
            alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
            assert "web" in alert["text"]
            assert "<b>một cửa</b>" in alert["text"]
            atts = await world.db.reports.report_attachments(report.id)
            assert atts[0].sha256 == hashlib.sha256(photo).hexdigest()
            stored = await world.db.files.attachment_bytes(atts[0].id or 0)
            assert stored is not None and b"Exif" not in stored and b"PhoneMaker" not in stored
            from PIL import Image

            assert not Image.open(io.BytesIO(stored)).getexif()
            await eventually(lambda: any("photo" in m for m in world.sim.messages(HA_LONG_CHAT)))

            # Status: the key opens it; the description is escaped on the page too.
            await citizen.get("/status")
            page = await citizen.post("/status", {"code": code, "key": key})
            assert page.status_code == 200 and "Hạ Long" in page.text

            # The unit's officer asks in its group; the citizen answers on the page; the
            # unit's chat gets the answer.
            await officer_does(world, code, "Tiếp nhận")
            await officer_does(
                world,
                code,
                "Hỏi người phản ánh",
                "Anh/chị <i>nộp</i> hồ sơ lúc mấy giờ?",
                "Đã gửi",
            )
            page = await citizen.post("/status", {"code": code, "key": key})
            assert "&lt;i&gt;nộp&lt;/i&gt;" in page.text
            mark = len(world.sim.messages(HA_LONG_CHAT))
            await citizen.post(
                "/status",
                {"code": code, "key": key, "action": "answer", "text": "Lúc 9 giờ", "nonce": "7"},
            )
            got = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Lúc 9 giờ", after=mark)
            assert code in got["text"]
            # The same form posted again is one answer.
            await citizen.post(
                "/status",
                {"code": code, "key": key, "action": "answer", "text": "Lúc 9 giờ", "nonce": "7"},
            )
            relays = await world.db.links.relays_of(report.id)
            assert len([r for r in relays if r.direction == "to_unit"]) == 1

            # A question from the unit above (the province): the answer goes to its chat.
            # The province's officer opens the report in the province's group with /report
            # CODE, and asks from its buttons.
            province = member(world, 900101, "Quang", PROVINCE_CHAT)
            mark = len(world.sim.messages(PROVINCE_CHAT))
            await province.send(f"/report {code}", chat_id=PROVINCE_CHAT)
            await world.sim.wait_for_message(PROVINCE_CHAT, contains=code, after=mark)
            await officer_does(
                world,
                code,
                "Hỏi người phản ánh",
                "Tỉnh hỏi thêm: có biên lai không?",
                "Đã gửi",
                officer_id=900101,
                chat_id=PROVINCE_CHAT,
            )
            province_mark = len(world.sim.messages(PROVINCE_CHAT))
            unit_mark = len(world.sim.messages(HA_LONG_CHAT))
            await citizen.post(
                "/status",
                {
                    "code": code,
                    "key": key,
                    "action": "answer",
                    "text": "Có biên lai",
                    "nonce": "8",
                },
            )
            await world.sim.wait_for_message(
                PROVINCE_CHAT, contains="Có biên lai", after=province_mark
            )
            assert not any(
                "Có biên lai" in (m.get("text") or "")
                for m in world.sim.messages(HA_LONG_CHAT)[unit_mark:]
            )
            # Each question has its own form: an answer from the form of the unit's earlier
            # question goes to the unit's chat, as a reply to that question does in chat.
            page = await citizen.post("/status", {"code": code, "key": key})
            unit_question, province_question = re.findall(
                r'name="question" value="(\d+)"', page.text
            )
            assert page.text.index("nộp") < page.text.index("biên lai")
            province_mark = len(world.sim.messages(PROVINCE_CHAT))
            unit_mark = len(world.sim.messages(HA_LONG_CHAT))
            await citizen.post(
                "/status",
                {
                    "code": code,
                    "key": key,
                    "action": "answer",
                    "text": "Nộp lúc 9 giờ 15",
                    "nonce": "9",
                    "question": unit_question,
                },
            )
            await world.sim.wait_for_message(
                HA_LONG_CHAT, contains="Nộp lúc 9 giờ 15", after=unit_mark
            )
            assert not any(
                "Nộp lúc 9 giờ 15" in (m.get("text") or "")
                for m in world.sim.messages(PROVINCE_CHAT)[province_mark:]
            )
            assert int(province_question) > int(unit_question)

            # Resolved by the unit's officer; confirmed and rated on the page.
            await officer_does(world, code, "Đã giải quyết", "Đã xử lý cán bộ.")
            page = await citizen.post("/status", {"code": code, "key": key})
            assert 'value="resolved"' in page.text
            await citizen.post("/status", {"code": code, "key": key, "action": "resolved"})
            await citizen.post(
                "/status", {"code": code, "key": key, "action": "rate", "stars": "5"}
            )
            report = await world.db.reports.get_report(report.id)
            assert report is not None and report.citizen_verdict == "yes" and report.rating == 5
            assert report.resolution_note == "Đã xử lý cán bộ."

            board = await citizen.get("/board")
            assert "UBND phường Hạ Long" in board.text
            csv = await citizen.get("/board.csv")
            assert "UBND phường Hạ Long" in csv.text and code not in csv.text
            svg = await citizen.get("/board.svg")
            assert svg.headers["Content-Type"].startswith("image/svg")


async def test_refusals(sim: BotApiSimulator, tmp_path: Path, clock: FakeClock) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.get("/report")
            # A forged or missing token changes nothing.
            bad = await citizen.client.post("/report", data={"consent": "yes", "csrf": "00"})
            assert bad.status_code == 403
            # The honeypot filled in: refused.
            await citizen.get("/report")
            trap = await citizen.post("/report", {"consent": "yes", "website": "x"})
            assert trap.status_code == 403

            code, key = await citizen.file_report("Cán bộ gây khó dễ khi tôi nộp hồ sơ đất.")
            # Send pressed again on the same form: still one report.
            await citizen.get("/report")
            again = await citizen.step("review", choice="confirm")
            assert again.status_code == 200
            assert await world.db.reports.count_reports() == 1

            # A wrong key and a missing code get the same answer.
            await citizen.get("/status")
            wrong = await citizen.post("/status", {"code": code, "key": "AAAA-AAAA-AAAA-AAAA"})
            await citizen.get("/status")
            missing = await citizen.post("/status", {"code": "ABCD-EFGH", "key": key})
            assert wrong.status_code == missing.status_code == 404
            assert _main(wrong.text) == _main(missing.text)

            # Disguised and oversized files are refused at the evidence step.
            other = WebCitizen(base)
            try:
                await other.get("/report")
                await other.post("/report", {"consent": "yes"})
                for step, data in [
                    ("category", {"choice": "harass"}),
                    ("unit", {"choice": "HL"}),
                    ("official", {"choice": "skip"}),
                    ("when", {"choice": "today"}),
                    ("where", {"choice": "skip"}),
                    ("description", {"text": "x" * 30}),
                ]:
                    await other.step(step, **data)
                disguised = await other.post(
                    "/report",
                    {"step": "evidence", "go": "files"},
                    [("files", b"MZ\x90\x00 this is an exe named photo.jpg")],
                )
                assert disguised.status_code == 400 and 'class="error"' in disguised.text
                big = b"\xff\xd8\xff\xe0" + bytes(20_000_001)
                over = await other.post(
                    "/report", {"step": "evidence", "go": "files"}, [("files", big)]
                )
                assert over.status_code == 400 and "20 MB" in over.text
                assert (
                    await world.db.drafts.draft_attachments(
                        (await world.db.drafts.draft_steps()).popitem()[0][1]
                    )
                    == []
                )
                # A named report needs a Vietnamese phone number.
                await other.step("evidence", choice="done")
                await other.step("identity", choice="named")
                refused = await other.step("contact", name="<script>x</script>", phone="12345")
                assert refused.status_code == 400
                assert "&lt;script&gt;" in refused.text and "<script>" not in refused.text
            finally:
                await other.close()


async def test_board_minimum_and_switched_off(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock, board_min_reports=2) as (_world, base):
        async with WebCitizen(base) as citizen:
            await citizen.file_report("Cán bộ gây khó dễ khi tôi nộp hồ sơ đất.")
            board = await citizen.get("/board")
            assert 'id="empty"' in board.text and "UBND phường Hạ Long" not in board.text
            english = await citizen.get("/board?lang=en")
            assert "How units handle reports" in english.text


def _main(page: str) -> str:
    return page[page.index("<main>") :]

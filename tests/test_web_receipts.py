"""/status/receipt: a signed receipt uploaded or pasted on the web is checked against this
deployment's key and the report as stored; any changed byte or another key is refused."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.core.domain import Draft, Report, ReportFields
from bot.core.receipts import (
    MATCHED_FIELDS,
    key_path,
    load_or_create_key,
    public_bytes,
    receipt_document,
    sign,
    verify,
)
from bot.sim import BotApiSimulator
from tests.conftest import FakeClock, World
from tests.web_helpers import WebCitizen, gps_jpeg, web_world

VALID = "Hợp lệ"
DESCRIPTION = "Chủ tịch phường yêu cầu nộp thêm tiền mới ký hồ sơ đất đai của tôi."


async def _stored(world: World) -> Report:
    fields = ReportFields(
        category="bribe",
        unit_code="HL",
        description="Cán bộ bộ phận một cửa đòi tiền mới nhận hồ sơ của tôi.",
        anonymous=True,
    )
    await world.db.drafts.save_draft(Draft(790001, 790001, 14, fields))
    report = await world.app.bot_data["services"].workflow.submit(790001, "vi")
    assert report is not None
    return report


def _receipt(report: Report, key: Ed25519PrivateKey, **changes: Any) -> bytes:
    """Return a receipt of the report as the bot makes it, with fields changed before signing."""
    document = receipt_document(report, "UBND phường Hạ Long", [])
    return sign({**document, **changes}, key)


async def _check(citizen: WebCitizen, *, file: bytes | None = None, text: str = "") -> str:
    await citizen.get("/status/receipt")
    files = [("file", file)] if file is not None else None
    response = await citizen.post("/status/receipt", {"text": text}, files)
    verdict = response.text.split("<main>", 1)[1].split("<form", 1)[0]
    assert (response.status_code == 200) == (VALID in verdict), (response.status_code, verdict)
    return verdict


async def test_a_receipt_is_checked_on_the_status_pages(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    async with web_world(sim, tmp_path, clock) as (world, base):
        report = await _stored(world)
        key = load_or_create_key(key_path(world.settings.database))
        good = _receipt(report, key)
        async with WebCitizen(base) as citizen:
            lookup = await citizen.get("/status")
            assert 'href="/status/receipt"' in lookup.text
            form = await citizen.get("/status/receipt")
            assert form.status_code == 200 and 'type="file"' in form.text

            # Uploaded as the file the bot sent, or pasted (a form sends CRLF line breaks).
            verdict = await _check(citizen, file=good)
            assert f"{report.code[:4]}-{report.code[4:]}" in verdict
            assert "UBND phường Hạ Long" in verdict
            assert VALID in await _check(citizen, text=good.decode().replace("\n", "\r\n"))

            # Any byte changed, wherever it is, and the receipt is refused.
            for index in range(0, len(good), max(1, len(good) // 12)):
                changed = bytearray(good)
                changed[index] = (changed[index] + 1) % 256
                assert VALID not in await _check(citizen, file=bytes(changed)), index
            forged = good.replace(b'"bribe"', b'"delay"')
            assert "thay đổi" in await _check(citizen, file=forged)
            # Signed by another key: refused, whatever it says.
            other = _receipt(report, Ed25519PrivateKey.generate())
            assert "khóa" in await _check(citizen, file=other)
            # This deployment's signature over what the stored report does not say.
            wrong = _receipt(report, key, description_sha256="0" * 64)
            assert "description_sha256" in await _check(citizen, file=wrong)
            unknown = _receipt(report, key, code="ZZZZZZZZ")
            assert "không có phản ánh" in await _check(citizen, file=unknown)
            assert "không đọc được" in await _check(citizen, text="not a receipt")
            assert "chọn tệp" in await _check(citizen)

            # Without the form's token nothing is checked.
            refused = await citizen.client.post("/status/receipt", data={"text": good.decode()})
            assert refused.status_code == 403


async def test_a_web_reporter_sees_the_routing_and_downloads_a_signed_receipt(
    sim: BotApiSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    photo = gps_jpeg()
    async with web_world(sim, tmp_path, clock) as (world, base):
        async with WebCitizen(base) as citizen:
            await citizen.get("/report")
            if 'name="consent"' in citizen.page:
                await citizen.post("/report", {"consent": "yes"})
            await citizen.step("category", choice="conduct")
            await citizen.step("unit", text="ha long")
            await citizen.step("unit", choice="HL")
            await citizen.step("official", text="Chủ tịch Trần Văn Bình")
            assert citizen.asked == "head"
            await citizen.step("head", choice="yes")
            await citizen.step("when", choice="today")
            await citizen.step("where", choice="skip")
            await citizen.step("description", text=DESCRIPTION)
            await citizen.post("/report", {"step": "evidence", "go": "files"}, [("files", photo)])
            await citizen.step("evidence", choice="done")
            await citizen.step("identity", choice="anon")
            sent = await citizen.step("review", choice="confirm")
            assert sent.status_code == 200, citizen.page
            # Where the report went and why, on the page that gives its code.
            assert "UBND tỉnh Quảng Ninh" in sent.text and "lãnh đạo" in sent.text
            code = re.search(r'id="code">([^<]+)<', sent.text)
            key = re.search(r'id="key">([^<]+)<', sent.text)
            assert code and key
            report = await world.db.reports.report_by_code(code.group(1).replace("-", ""))
            assert report is not None and report.fields.unit_code == "QN"

            await citizen.get("/status")
            shown = await citizen.post("/status", {"code": code.group(1), "key": key.group(1)})
            assert "UBND tỉnh Quảng Ninh" in shown.text and "lãnh đạo" in shown.text
            assert 'value="receipt"' in shown.text
            download = await citizen.post(
                "/status", {"code": code.group(1), "key": key.group(1), "action": "receipt"}
            )
            # A wrong key gets no receipt: the same refusal as opening the report.
            await citizen.get("/status")
            refused = await citizen.post(
                "/status", {"code": code.group(1), "key": "WRONGKEY", "action": "receipt"}
            )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert f"receipt-{code.group(1)}.json" in download.headers["content-disposition"]
    server_key = load_or_create_key(key_path(world.settings.database))
    verdict = verify(download.content, public_bytes(server_key))
    assert verdict.valid and verdict.document is not None
    document = verdict.document
    assert document["code"] == report.code and document["category"] == "conduct"
    # The unit it is about, though handled above; the original photo's hash, not the copy's.
    assert document["unit"] == "HL" and document["unit_name"] == "UBND phường Hạ Long"
    assert document["evidence_sha256"] == [hashlib.sha256(photo).hexdigest()]
    assert document["description_sha256"] == hashlib.sha256(DESCRIPTION.encode()).hexdigest()
    # Nothing else: no official, no reporter, no internal id.
    assert "Trần Văn Bình" not in download.text
    assert set(document) == set(MATCHED_FIELDS) | {"unit_name"}
    assert not refused.headers["content-type"].startswith("application/json")
    assert "signature" not in refused.text

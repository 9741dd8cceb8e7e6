"""The web pages in a real headless Chromium at phone width (390×844), end to end.

Skipped, with the reason, only when Chromium or its driver is absent; `.ci/run` installs both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bot.sim import BotApiSimulator
from tests.conftest import HA_LONG_CHAT, FakeClock
from tests.web_helpers import gps_jpeg, officer_does, web_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
# The README's screenshots are refreshed with LIEMCHINH_SCREENSHOTS=1; otherwise a test run
# leaves the repository as it was.
DOCS = Path(__file__).resolve().parent.parent / "docs" / "web"
SHOTS = (
    DOCS if os.environ.get("LIEMCHINH_SCREENSHOTS") else Path(tempfile.gettempdir()) / "lc-shots"
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver",
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=390,844",
)


# The page's overflow and its small tap targets, measured by the browser itself.
FITS = """
const width = arguments[0];
const out = [];
if (document.documentElement.scrollWidth > width) {
  out.push("page " + document.documentElement.scrollWidth + "px wide");
}
const taps = "main button, main a.button, input:not([type=hidden])";
for (const el of document.querySelectorAll(taps)) {
  const box = el.getBoundingClientRect();
  if (el.closest(".hp")) continue;
  if (box.height < 44) out.push(el.outerHTML.slice(0, 80) + " " + box.height + "px high");
}
return out;
"""


def _browser(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER or ""), options=options)
    driver.set_window_size(390, 844)
    return driver


class Phone:
    """A citizen's phone browser; every call runs in a thread so the bot keeps running."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.base + path)

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        def go() -> None:
            from selenium.common.exceptions import WebDriverException
            from selenium.webdriver.support import expected_conditions as ec
            from selenium.webdriver.support.ui import WebDriverWait

            found = WebDriverWait(self.driver, 10).until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, css))
            )
            # Every button here sends a form or follows a link: mark this document, click, and
            # wait for a complete document without the mark. Watching the old <html> node go
            # stale races with the navigation itself: chromedriver may then answer "node does
            # not belong to the document" instead of "stale", so that question is not asked.
            self.driver.execute_script("window.lcOldPage = true;")
            found.click()
            WebDriverWait(self.driver, 10, ignored_exceptions=(WebDriverException,)).until(
                lambda d: d.execute_script(
                    "return !window.lcOldPage && document.readyState === 'complete';"
                )
            )

        await self.run(go)

    async def type(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        def go() -> None:
            from selenium.webdriver.support import expected_conditions as ec
            from selenium.webdriver.support.ui import WebDriverWait

            field = WebDriverWait(self.driver, 10).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, css))
            )
            if field.get_attribute("type") != "file":
                field.clear()
            field.send_keys(text)

        await self.run(go)

    async def text(self, css: str = "main") -> str:
        from selenium.webdriver.common.by import By

        return str(await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text))

    async def fits(self, width: int) -> list[str]:
        """Return what does not fit a screen `width` pixels wide, or is too small to tap."""

        def go() -> list[str]:
            self.driver.set_window_size(width, 640)
            try:
                return list(self.driver.execute_script(FITS, width))
            finally:
                self.driver.set_window_size(390, 844)

        return list(await self.run(go))

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)

        def go() -> None:
            # The whole page at phone width: the window grows to the document's height.
            height = self.driver.execute_script("return document.body.scrollHeight")
            self.driver.set_window_size(390, max(844, min(int(height) + 120, 4000)))
            self.driver.save_screenshot(str(SHOTS / f"{name}.png"))
            self.driver.set_window_size(390, 844)

        await self.run(go)


async def test_citizen_on_a_phone(sim: BotApiSimulator, tmp_path: Path, clock: FakeClock) -> None:
    async with web_world(sim, tmp_path, clock, board_min_reports=1) as (world, base):
        profile = tempfile.mkdtemp(prefix="chromium-")
        driver = await asyncio.to_thread(_browser, profile)
        phone = Phone(driver, base)
        try:
            await phone.open("/")
            await phone.shot("home")
            await phone.click('a.button[href="/report"]')
            await phone.shot("consent")
            await phone.click('button[name="consent"][value="yes"]')
            await phone.shot("report-category")
            await phone.click('button[value="harass"]')
            await phone.type("#text", "ha long")
            await phone.click('button[name="go"]')
            await phone.shot("report-unit")
            await phone.click('button[value="HL"]')
            await phone.click('button[value="skip"]')  # official
            await phone.click('button[value="today"]')  # when
            await phone.click('button[value="skip"]')  # where
            await phone.type(
                "#text", "Cán bộ một cửa yêu cầu nộp thêm giấy tờ không có trong quy định."
            )
            await phone.click('button[name="go"]')
            photo = tmp_path / "photo.jpg"
            photo.write_bytes(gps_jpeg())
            await phone.type("#files", str(photo))
            await phone.click('button[name="go"]')
            assert "1" in await phone.text(".prompt")
            await phone.shot("report-evidence")
            await phone.click('button[value="done"]')
            await phone.click('button[value="anon"]')
            await phone.shot("report-review")
            await phone.click('button[value="confirm"]')
            code = await phone.text("#code")
            key = await phone.text("#key")
            await phone.shot("report-sent")
            alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code, timeout=10)
            assert alert

            # The unit's officer takes the report and asks a question, in the unit's group.
            await officer_does(world, code, "Tiếp nhận")
            await officer_does(
                world, code, "Hỏi người phản ánh", "Anh/chị nộp hồ sơ lúc mấy giờ?", "Đã gửi"
            )
            await phone.open("/status")
            await phone.type("#code", code)
            await phone.type("#key", key)
            await phone.click('button[value="open"]')
            assert "nộp hồ sơ lúc mấy giờ" in await phone.text()
            await phone.type('textarea[name="text"]', "Khoảng 9 giờ sáng")
            mark = len(world.sim.messages(HA_LONG_CHAT))
            await phone.click('button[value="answer"]')
            got = await world.sim.wait_for_message(
                HA_LONG_CHAT, contains="Khoảng 9 giờ sáng", after=mark, timeout=10
            )
            assert code in got["text"]
            await phone.shot("status")

            await officer_does(world, code, "Đã giải quyết", "Đã chấn chỉnh cán bộ một cửa.")
            await phone.click('button[value="open"]')
            await phone.shot("status-resolved")
            await phone.click('button[value="resolved"]')
            await phone.click('button[name="stars"][value="5"]')
            report = await world.db.reports.report_by_code(code.replace("-", ""))
            assert report is not None and report.citizen_verdict == "yes" and report.rating == 5

            await phone.open("/board?days=30")
            assert "UBND phường Hạ Long" in await phone.text()
            await phone.shot("board")
            await phone.click('footer a[href="/mydata"]')
            await phone.shot("mydata")
            await phone.click('a[href="/forget"]')
            await phone.shot("forget")

            # At 320 px, the narrowest phones: nothing wider than the screen, every button and
            # link of the forms large enough to tap.
            for path in ("/", "/report", "/status", "/board?days=365", "/mydata", "/forget"):
                await phone.open(path)
                assert await phone.fits(320) == [], path
        finally:
            await asyncio.to_thread(driver.quit)
            shutil.rmtree(profile, ignore_errors=True)

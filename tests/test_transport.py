"""The aiohttp transport of every Bot API call: fields and files arrive whole, a file is sent
again whole after a 429, and failures are PTB's errors (the bot's retries depend on which)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData

from bot.sim import BotApiSimulator
from bot.telegram.transport import AiohttpRequest
from tests.proxies import Socks5Proxy
from tests.test_operations import closed_port

CITIZEN = 750001


@pytest.fixture
async def bot(sim: BotApiSimulator) -> AsyncIterator[Bot]:
    sim.add_user(CITIZEN, "Lan", language_code="vi")
    async with Bot(
        sim.token,
        base_url=sim.base_url,
        base_file_url=sim.base_file_url,
        request=AiohttpRequest(connection_pool_size=4),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    ) as started:
        yield started


async def test_fields_arrive_as_sent(sim: BotApiSimulator, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Có", callback_data="c:1")]])
    text = "Báo cáo đã nhận & <đang xử lý> — cảm ơn anh/chị"
    sent = await bot.send_message(CITIZEN, text, reply_markup=keyboard)
    [message] = sim.messages(CITIZEN)
    assert message["text"] == sent.text == text
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "c:1"


async def test_a_file_handle_is_sent_whole_again_after_a_429(
    sim: BotApiSimulator, bot: Bot, tmp_path: Path
) -> None:
    # Larger than aiohttp's read chunk, so the file is streamed in several pieces.
    data = bytes(range(256)) * 1200
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    sim.inject("sendDocument", status=429, retry_after=1)
    with path.open("rb") as handle:
        upload = InputFile(handle, filename="export.csv", read_file_handle=False)
        with pytest.raises(RetryAfter):
            await bot.send_document(CITIZEN, upload, caption="Xuất dữ liệu")
        # The rate limiter sends the same InputFile again, its handle where the first left it.
        sent = await bot.send_document(CITIZEN, upload, caption="Xuất dữ liệu")
        assert not handle.closed
    assert sent.document is not None and sent.caption == "Xuất dữ liệu"
    assert sim.file_content(sent.document.file_id) == data
    assert sent.document.file_name == "export.csv"


async def test_bytes_upload_and_download(sim: BotApiSimulator, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    sent = await bot.send_document(CITIZEN, InputFile(png, filename="chart.png"))
    assert sent.document is not None
    downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == png == sim.file_content(sent.document.file_id)


async def test_a_file_name_cannot_break_out_of_its_header(sim: BotApiSimulator, bot: Bot) -> None:
    name = 'báo "cáo"\r\nX-Injected: 1.csv'
    sent = await bot.send_document(CITIZEN, InputFile(b"a,b\n", filename=name), caption="ok")
    assert sent.document is not None and sent.caption == "ok"
    assert sent.document.file_name == "báo %22cáo%22%0D%0AX-Injected: 1.csv"


async def test_an_answer_later_than_the_read_timeout_is_timed_out(
    sim: BotApiSimulator, bot: Bot
) -> None:
    # TimedOut, not NetworkError: the message may have been sent, which the outbox must know.
    sim.inject("sendMessage", status=200, delay=2.0, chat_id=CITIZEN)
    with pytest.raises(TimedOut):
        await bot.send_message(CITIZEN, "Câu hỏi tiếp theo", read_timeout=0.2)


async def test_a_refused_connection_is_a_network_error(sim: BotApiSimulator) -> None:
    port = closed_port()
    bot = Bot(
        sim.token,
        base_url=f"http://127.0.0.1:{port}/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(),
    )
    with pytest.raises(NetworkError) as raised:
        await bot.initialize()
    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp." in str(raised.value)
    await bot.shutdown()


async def test_a_request_before_initialize_or_after_shutdown_is_refused() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/botx/getMe", "POST", RequestData())
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/botx/getMe", "POST", RequestData())
    assert request.read_timeout == 5.0


@pytest.mark.parametrize(("scheme", "seen_by_proxy"), [("socks5h", "localhost")])
async def test_socks5h_lets_the_proxy_resolve_the_name(
    sim: BotApiSimulator, scheme: str, seen_by_proxy: str
) -> None:
    async with Socks5Proxy() as proxy:
        request = AiohttpRequest(proxy=proxy.url.replace("socks5", scheme, 1))
        base_url = sim.base_url.replace("127.0.0.1", "localhost")
        async with Bot(
            sim.token, base_url=base_url, request=request, get_updates_request=AiohttpRequest()
        ) as bot:
            assert bot.bot.id
        assert proxy.requests("getMe") == 1
        assert {host for host, _port in proxy.targets} == {seen_by_proxy}

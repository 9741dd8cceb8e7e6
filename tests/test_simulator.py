"""The simulated Bot API, exercised by real python-telegram-bot clients."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.sim import BotApiSimulator
from bot.sim.html import HtmlParseError, parse_html

GROUP_ID = -1001234567890


@pytest.fixture
async def sim() -> AsyncIterator[BotApiSimulator]:
    """A running simulator with no limits enforced."""
    async with BotApiSimulator() as simulator:
        yield simulator
    assert not simulator.internal_errors


@pytest.fixture
async def bot(sim: BotApiSimulator) -> AsyncIterator[Bot]:
    """A real PTB Bot talking to the simulator."""
    async with Bot(sim.token, base_url=sim.base_url, base_file_url=sim.base_file_url) as client:
        yield client


@pytest.fixture
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when RetryAfter is built without this opt-in; warnings are errors here."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


# -- HTML -------------------------------------------------------------------------------------


def test_html_gives_visible_text_and_utf16_entities() -> None:
    text, entities = parse_html(
        '😀 <b>Tố cáo</b> &lt;số 5&gt; &#39;x&#x27; <a href="https://a.vn/?a=1&amp;b=2">xem</a>'
        '<pre><code class="language-python">x = 1</code></pre>'
    )
    assert text == "😀 Tố cáo <số 5> 'x' xemx = 1"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 6},
        {"type": "text_link", "offset": 21, "length": 3, "url": "https://a.vn/?a=1&b=2"},
        {"type": "pre", "offset": 24, "length": 5, "language": "python"},
    ]


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>đậm", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;" at byte offset 1'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_html_is_refused_like_telegram(html: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(html)
    assert error in str(caught.value)


def test_lenient_html_keeps_unknown_entities_like_tdlib() -> None:
    assert parse_html("a&nbsp;b & c", strict=False) == ("a&nbsp;b & c", [])
    assert parse_html('<blockquote expandable>x</blockquote><span class="tg-spoiler">y</span>')[
        1
    ] == [
        {"type": "expandable_blockquote", "offset": 0, "length": 1},
        {"type": "spoiler", "offset": 1, "length": 1},
    ]


# -- A real Application ------------------------------------------------------------------------


async def test_application_polls_answers_commands_and_buttons(sim: BotApiSimulator) -> None:
    citizen = sim.add_user(1001, "Lan", username="lan")
    group = sim.add_chat(GROUP_ID, "Thanh tra tỉnh")
    group.add_member(citizen)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Gửi tố cáo", callback_data="r")]])
        await update.effective_message.reply_text("Xin chào!", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Đã nhận")
        await query.edit_message_text("Bắt đầu tố cáo")

    app = (
        ApplicationBuilder()
        .token(sim.token)
        .base_url(sim.base_url)
        .base_file_url(sim.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0)
        try:
            await citizen.send("/start")
            greeting = await citizen.next_message(contains="Xin chào")
            assert greeting["buttons"] == [("Gửi tố cáo", "r")]

            query = await citizen.press_button(greeting, "tố cáo")
            answer = await sim.wait_for_callback_answer(query["id"])
            assert answer["text"] == "Đã nhận"
            edited = await sim.wait_for_message(citizen.id, contains="Bắt đầu")
            assert edited["message_id"] == greeting["message_id"]
            assert edited["buttons"] == []

            await citizen.send("/start@liemchinh_bot", chat_id=GROUP_ID)
            await group.next_message(contains="Xin chào")
        finally:
            await app.updater.stop()
            await app.stop()
    assert [name for name, _ in sim.calls[:2]] == ["getMe", "deleteWebhook"]
    assert sim.count("forwardMessage") == 0
    assert not sim.pending_updates


async def test_every_user_action_is_an_update_ptb_parses(sim: BotApiSimulator, bot: Bot) -> None:
    citizen = sim.add_user(1001, "Lan", username="lan")
    sim.add_chat(-1002, "Kênh", "channel")
    first = await citizen.send("xin chào")
    await citizen.send("trả lời", reply_to=first)
    await citizen.send_photo(caption="ảnh")
    await citizen.send_document("don.pdf")
    await citizen.send_voice()
    await citizen.send_video()
    await citizen.send_sticker()
    await citizen.send_location(21.03, 105.85)
    await citizen.send_contact("+84901234567", "Lan")
    await citizen.send_poll("Có không?")
    await citizen.edit(first, "/trang_thai 12")
    await citizen.send("bài đăng", chat_id=-1002)

    updates = await bot.get_updates()
    assert [update.update_id for update in updates] == list(range(1, 13))
    messages = [update.effective_message for update in updates]
    assert all(message is not None for message in messages)
    assert messages[1] is not None and messages[1].reply_to_message is not None
    assert messages[1].reply_to_message.text == "xin chào"
    assert all(message and message.effective_attachment for message in messages[2:10])
    assert messages[8] is not None and messages[8].contact is not None
    assert messages[8].contact.user_id == 1001
    edited = updates[10].edited_message
    assert edited is not None and edited.text == "/trang_thai 12"
    assert list(edited.parse_entities(["bot_command"]).values()) == ["/trang_thai"]
    post = updates[11].channel_post
    assert post is not None and post.sender_chat is not None and post.from_user is None


# -- Sending and editing ---------------------------------------------------------------------


async def test_html_and_limits_are_checked_on_send(sim: BotApiSimulator, bot: Bot) -> None:
    sim.add_user(1001, "Lan")
    sent = await bot.send_message(1001, "<b>Đơn</b> &amp; <i>ảnh</i>", parse_mode=ParseMode.HTML)
    stored = sim.messages(1001)[-1]
    assert (stored["text"], stored["html"]) == ("Đơn & ảnh", "<b>Đơn</b> &amp; <i>ảnh</i>")
    assert sent.text == "Đơn & ảnh"
    assert [entity.type for entity in sent.entities] == ["bold", "italic"]

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(1001, "Dòng 1<br>Dòng 2", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(1001, "x" * 4097)
    await bot.send_message(1001, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    # Telegram counts UTF-16 code units: an emoji outside the Basic Multilingual Plane is two.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(1001, "😡" * 2049)
    await bot.send_message(1001, "😡" * 2048)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(1001, "<b> </b>", parse_mode=ParseMode.HTML)
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="đ" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(1001, "Chọn", reply_markup=too_long_data)

    contact_keyboard = ReplyKeyboardMarkup([[KeyboardButton("Chia sẻ số", request_contact=True)]])
    await bot.send_message(1001, "Số điện thoại?", reply_markup=contact_keyboard)
    assert sim.messages(1001)[-1]["reply_keyboard"] == ["Chia sẻ số [request_contact]"]
    assert sim.chat(1001).reply_keyboard == ["Chia sẻ số [request_contact]"]


async def test_edits_and_deletes_follow_telegram(sim: BotApiSimulator, bot: Bot) -> None:
    sim.add_user(1001, "Lan")
    seen: list[tuple[str, str]] = []
    sim.on_message(lambda chat_id, message, kind: seen.append((kind, message["text"])))
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Đóng", callback_data="close")]])
    sent = await bot.send_message(1001, "Hồ sơ #1", reply_markup=keyboard)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Hồ sơ #1", chat_id=1001, message_id=sent.message_id, reply_markup=keyboard
        )
    await bot.edit_message_text("Hồ sơ #1 đã đóng", chat_id=1001, message_id=sent.message_id)
    assert sim.messages(1001)[0]["buttons"] == []
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(1001, 999)
    assert await bot.delete_message(1001, sent.message_id)
    assert sim.messages(1001)[0]["deleted"] is True
    assert seen == [("new", "Hồ sơ #1"), ("edit", "Hồ sơ #1 đã đóng")]


# -- Faults ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("timedelta_periods")
async def test_injected_429_raises_retry_after(sim: BotApiSimulator, bot: Bot) -> None:
    sim.add_user(1001, "Lan")
    sim.add_user(1002, "Minh")
    sim.inject("sendMessage", status=429, retry_after=7, chat_id=1001)
    await bot.send_message(1002, "not the injected chat")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(1001, "hello")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(1001, "hello again")
    assert [m["text"] for m in sim.messages(1001)] == ["hello again"]


async def test_migrated_group_raises_chat_migrated(sim: BotApiSimulator, bot: Bot) -> None:
    sim.add_chat(-4001, "Tổ công tác", "group")
    new_group = await sim.migrate_chat(-4001, -1004001)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4001, "Báo cáo")
    assert caught.value.new_chat_id == -1004001
    await bot.send_message(new_group.id, "Báo cáo")
    kinds = [update["message"] for update in sim.pending_updates]
    assert kinds[0]["migrate_to_chat_id"] == -1004001
    assert kinds[1]["migrate_from_chat_id"] == -4001

    sim.inject("sendMessage", status=400, migrate_to_chat_id=-1009)
    with pytest.raises(ChatMigrated) as injected:
        await bot.send_message(new_group.id, "x")
    assert injected.value.new_chat_id == -1009


async def test_kicked_blocked_and_unstarted_chats_are_forbidden(
    sim: BotApiSimulator, bot: Bot
) -> None:
    citizen = sim.add_user(1001, "Lan")
    sim.add_user(1002, "Minh", started=False)
    sim.add_chat(GROUP_ID, "Thanh tra tỉnh")
    await sim.kick_bot(GROUP_ID)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP_ID, "x")
    change = sim.pending_updates[-1]["my_chat_member"]
    assert change["old_chat_member"]["status"] == "administrator"
    assert change["new_chat_member"]["status"] == "kicked"

    await sim.block_bot(1001)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1001, "x")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(1002, "x")
    await citizen.send("/start")
    await bot.send_message(1001, "Chào lại")
    updates = await bot.get_updates()
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == [
        "kicked",
        "kicked",
        "member",
    ]


async def test_outage_and_lost_answer(sim: BotApiSimulator, bot: Bot) -> None:
    sim.add_user(1001, "Lan")
    sim.set_down(True)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(1001, "x")
    sim.set_down(False)

    sim.inject("sendMessage", status=200, lose_answer=True)
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "Đơn #7 đã nhận")
    # The client saw a failure, yet Telegram delivered the message: retries must not duplicate.
    assert [m["text"] for m in sim.messages(1001)] == ["Đơn #7 đã nhận"]
    await bot.send_message(1001, "sau sự cố")


@pytest.mark.usefixtures("timedelta_periods")
async def test_flood_limits_are_counted_and_enforced() -> None:
    async with BotApiSimulator(enforce_limits=True) as sim:
        sim.add_user(1001, "Lan")
        async with Bot(sim.token, base_url=sim.base_url) as bot:
            for _ in range(3):
                await bot.send_message(1001, "ok")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(1001, "too fast")
    retry_after = caught.value.retry_after
    assert isinstance(retry_after, dtm.timedelta)
    assert retry_after >= dtm.timedelta(seconds=1)
    assert sim.flood_violations == 1
    assert sim.flood_log[0].limit == "private"

    async with BotApiSimulator() as sim:
        sim.add_chat(GROUP_ID, "Thanh tra tỉnh")
        async with Bot(sim.token, base_url=sim.base_url) as bot:
            for _ in range(21):
                await bot.send_message(GROUP_ID, "ok")
    assert len(sim.messages(GROUP_ID)) == 21
    assert [(v.limit, v.chat_id) for v in sim.flood_log] == [("group", GROUP_ID)]


# -- Files and copies --------------------------------------------------------------------------


async def test_copy_of_a_photo_is_a_photo_with_the_new_caption(
    sim: BotApiSimulator, bot: Bot
) -> None:
    citizen = sim.add_user(1001, "Lan")
    sim.add_chat(GROUP_ID, "Thanh tra tỉnh")
    photo = await citizen.send_photo(content=b"\xff\xd8 jpeg", caption="ảnh gốc")
    copied = await bot.copy_message(
        GROUP_ID, 1001, photo["message_id"], caption="<b>Tố cáo #12</b>", parse_mode="HTML"
    )
    stored = sim.messages(GROUP_ID)[-1]
    assert stored["message_id"] == copied.message_id
    assert stored["photo"][-1]["file_id"] == photo["photo"][-1]["file_id"]
    assert (stored["text"], stored["caption"]) == ("Tố cáo #12", "Tố cáo #12")
    assert stored["copied_from"] == (1001, photo["message_id"])
    assert stored["from"]["id"] == sim.bot_user["id"]
    assert "forward_origin" not in stored
    assert sim.count("forwardMessage") == 0

    forwarded = await bot.forward_message(GROUP_ID, 1001, photo["message_id"])
    assert forwarded.forward_origin is not None
    assert sim.count("forwardMessage", chat_id=GROUP_ID) == 1


async def test_files_download_and_size_limits(sim: BotApiSimulator, bot: Bot) -> None:
    citizen = sim.add_user(1001, "Lan")
    document = await citizen.send_document("don-to-cao.pdf", content=b"%PDF-1.7 noi dung")
    file = await bot.get_file(document["document"]["file_id"])
    assert file.file_path is not None
    assert file.file_path.startswith(sim.base_file_url)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.7 noi dung"
    assert sim.calls[-1] == ("getFile", {"file_id": document["document"]["file_id"]})

    video = await citizen.send_video(size=25_000_000)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(video["video"]["file_id"])

    sent = await bot.send_document(1001, b"uploaded bytes", filename="bien-ban.txt")
    assert sent.document is not None
    assert sent.document.file_name == "bien-ban.txt"
    uploaded = await bot.get_file(sent.document.file_id)
    assert bytes(await uploaded.download_as_bytearray()) == b"uploaded bytes"

    album = await bot.send_media_group(
        1001, [InputMediaPhoto(b"one"), InputMediaPhoto(b"two", caption="hai")]
    )
    assert len({message.media_group_id for message in album}) == 1
    assert sim.messages(1001)[-1]["text"] == "hai"


# -- Waiting -----------------------------------------------------------------------------------


async def test_wait_for_message_times_out_with_the_recent_texts(
    sim: BotApiSimulator, bot: Bot
) -> None:
    sim.add_user(1001, "Lan")
    await bot.send_message(1001, "Đơn đã gửi")
    with pytest.raises(AssertionError, match="Đơn đã gửi"):
        await sim.wait_for_message(1001, contains="đã duyệt", timeout=0.2)


async def test_get_updates_is_a_long_poll(sim: BotApiSimulator, bot: Bot) -> None:
    citizen = sim.add_user(1001, "Lan")
    empty = asyncio.create_task(bot.get_updates(timeout=1))
    await asyncio.sleep(0.3)
    assert not empty.done()
    assert await empty == ()

    waiting = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await citizen.send("xin chào")
    updates = await asyncio.wait_for(waiting, 2)
    assert [u.message.text for u in updates if u.message] == ["xin chào"]


async def test_stop_wakes_a_held_poll(sim: BotApiSimulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await asyncio.wait_for(sim.stop(), 3)
    assert await asyncio.wait_for(poll, 1) == ()


# -- Wire format -------------------------------------------------------------------------------


async def test_wire_format_errors_and_chat_queries(sim: BotApiSimulator, bot: Bot) -> None:
    citizen = sim.add_user(1001, "Lan")
    sim.add_chat(GROUP_ID, "Thanh tra tỉnh", bot_status="left").add_member(citizen, "creator")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim.port}") as client:
        wrong = await client.post("/bot123:wrong/getMe")
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )
        unknown = await client.post(f"/bot{sim.token}/fooBar")
        assert unknown.status_code == 404
        assert unknown.json()["description"] == "Not Found: method not found"
        me = await client.post(f"/bot{sim.token}/GETME")
        assert me.json()["result"]["username"] == "liemchinh_bot"
        form = {"chat_id": "1001", "text": "x", "reply_markup": '{"remove_keyboard": true}'}
        sent = await client.post(f"/bot{sim.token}/sendMessage", data=form)
        assert sent.json()["result"]["chat"] == {
            "id": 1001,
            "type": "private",
            "first_name": "Lan",
        }
    assert sim.calls[-1] == (
        "sendMessage",
        {"chat_id": 1001, "text": "x", "reply_markup": {"remove_keyboard": True}},
    )

    await sim.add_bot_to_chat(GROUP_ID, by_user_id=1001)
    updates = await bot.get_updates()
    assert updates[0].my_chat_member is not None
    assert updates[0].my_chat_member.new_chat_member.status == "administrator"
    assert updates[1].message is not None
    assert updates[1].message.new_chat_members[0].username == "liemchinh_bot"
    assert (await bot.get_chat(GROUP_ID)).title == "Thanh tra tỉnh"
    assert (await bot.get_chat_member(GROUP_ID, 1001)).status == "creator"
    admins = await bot.get_chat_administrators(GROUP_ID)
    assert {admin.user.id for admin in admins} == {1001, sim.bot_user["id"]}

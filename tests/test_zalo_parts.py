"""The Zalo channel's parts on their own: `[zalo]`, plain text and its bound, numbered answers,
the wire format, and the demo."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.core.conversation import ANONYMOUS, NAMED, SKIP, Kind, Question, Step
from bot.core.domain import Channel
from bot.sim import BotApiSimulator
from bot.sim.zalo import ZaloSimulator
from bot.sim.zalo_demo import run_zalo_demo
from bot.store.repository import Repository
from bot.zalo.render import read
from bot.zalo.text import MESSAGE_LIMIT, length, pack, plain
from bot.zalo.wire import BadUpdate, read_event, updates_of
from tests.conftest import FakeClock
from tests.test_config import GOOD, write
from tests.test_operations import liemchinh
from tests.test_restart import write_config
from tests.zalo_helpers import CODE_RE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_zalo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIEMCHINH_TOKEN", "LIEMCHINH_ZALO_TOKEN", "LIEMCHINH_ZALO_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_zalo_is_optional_and_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(write(tmp_path, GOOD)).zalo is None
    text = GOOD + (
        '[zalo]\ntoken = "1:file"\nmode = "webhook"\nwebhook_url = "https://x.example/zalo"\n'
        'secret_token = "abcdefgh"\nmessages_per_second = 2\n'
    )
    zalo = load_settings(write(tmp_path, text)).zalo
    assert zalo is not None and zalo.token == "1:file" and zalo.webhook
    assert zalo.base_url == "https://bot-api.zaloplatforms.com" and zalo.path == "/zalo"
    assert zalo.messages_per_second == 2.0 and zalo.seconds_per_user == 1.0
    monkeypatch.setenv("LIEMCHINH_ZALO_TOKEN", "2:env")
    monkeypatch.setenv("LIEMCHINH_ZALO_SECRET", "secret-from-env")
    zalo = load_settings(write(tmp_path, text)).zalo
    assert zalo is not None and zalo.token == "2:env" and zalo.secret_token == "secret-from-env"
    # The token alone, from the environment, turns Zalo on with polling.
    polling = load_settings(write(tmp_path, GOOD)).zalo
    assert polling is not None and not polling.webhook


@pytest.mark.parametrize(
    ("zalo", "key"),
    [
        ('mode = "polling"', "zalo.token"),
        ('token = "1:a"\nmode = "push"', "zalo.mode"),
        ('token = "1:a"\nbase_url = "ftp://x"', "zalo.base_url"),
        ('token = "1:a"\nwebhook_url = "http://x/zalo"', "zalo.webhook_url"),
        ('token = "1:a"\nsecret_token = "short"', "zalo.secret_token"),
        ('token = "1:a"\nsecret_token = "has space in it"', "zalo.secret_token"),
        ('token = "1:a"\nmode = "webhook"\nsecret_token = "abcdefgh"', "zalo.webhook_url"),
        ('token = "1:a"\nmode = "webhook"\nwebhook_url = "https://x/z"', "zalo.secret_token"),
        ('token = "1:a"\nport = 8444', "zalo.port"),
        ('token = "1:a"\nmessages_per_second = 0', "zalo.messages_per_second"),
        ('token = "1:a"\nmessages_per_second = true', "zalo.messages_per_second"),
        ('token = "1:a"\nseconds_per_user = 61', "zalo.seconds_per_user"),
        ('token = "1:a"\nmedia_url = "ftp://x"', "zalo.media_url"),
        ('token = "1:a"\ntokn = "typo"', "zalo.tokn"),
    ],
)
def test_each_zalo_mistake_is_one_line(tmp_path: Path, zalo: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD + "[zalo]\n" + zalo + "\n"))
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


def test_plain_text_and_the_2000_bound() -> None:
    assert plain("<b>Mã</b> &lt;x&gt; &amp; <code>AB</code>") == "Mã <x> & AB"
    # Emoji count twice in UTF-16, never less than the characters Zalo counts.
    assert length("😀a") == 3
    long_line = "😀" * 1500 + "x" * 10
    paragraphs = ["đầu", long_line, "\n".join(f"{n}. dòng {n}" for n in range(400)), "cuối"]
    messages = pack(paragraphs)
    assert all(0 < length(m) <= MESSAGE_LIMIT for m in messages)
    joined = "".join(messages).replace("\n", "")
    # Nothing is lost or reordered: every character is in some message, in order.
    assert joined == "".join(paragraphs).replace("\n", "")
    # Lines stay whole where they fit.
    assert all(
        line.startswith(("đầu", "😀", "x", "cuối")) or ". dòng " in line
        for m in messages
        for line in m.splitlines()
        if line
    )


def test_numbers_and_words_read_as_choices() -> None:
    asked = Question(Step.IDENTITY, Kind.CHOICE, (ANONYMOUS, NAMED))
    state = {
        "step": "identity",
        "values": [ANONYMOUS, NAMED],
        "labels": ["Ẩn danh", "Có danh tính"],
    }
    assert read(asked, "2", state).choice == NAMED  # type: ignore[union-attr]
    assert read(asked, " ẩn DANH ", state).choice == ANONYMOUS  # type: ignore[union-attr]
    assert read(asked, "3", state) == "again"
    assert read(asked, "0", state) == "more"
    # A number shown for another question means nothing here.
    assert read(asked, "1", {**state, "step": "category"}).text == "1"  # type: ignore[union-attr]
    # Where text is asked, a number off the list is the text itself (an amount, a dossier).
    amount = Question(Step.AMOUNT, Kind.AMOUNT, (SKIP,))
    skip_state = {"step": "amount", "values": [SKIP], "labels": ["Bỏ qua"]}
    assert read(amount, "1", skip_state).choice == SKIP  # type: ignore[union-attr]
    assert read(amount, "500000", skip_state).text == "500000"  # type: ignore[union-attr]
    contact = Question(Step.CONTACT, Kind.CONTACT, (ANONYMOUS,))
    typed = read(contact, "Nguyễn Văn A, 0912 345 678", {}).contact  # type: ignore[union-attr]
    assert typed is not None and typed.name == "Nguyễn Văn A" and typed.phone == "0912 345 678"
    assert typed.typed


def test_the_wire_format_is_checked() -> None:
    message = {
        "from": {"id": "u1", "display_name": "A"},
        "chat": {"id": "u1", "chat_type": "PRIVATE"},
        "message_id": "m1",
        "date": 1,
        "photo_url": "https://photo.example/x.jpg",
    }
    (update,) = updates_of(
        {"ok": True, "result": {"event_name": "message.image.received", "message": message}}
    )
    event = read_event(update)
    assert event.user_id == "u1" and event.photo_url == "https://photo.example/x.jpg"
    for broken in (
        {},
        {"message": {"from": {}, "chat": {}}},
        {"message": {**message, "message_id": True}},
    ):
        with pytest.raises(BadUpdate):
            read_event(broken)  # type: ignore[arg-type]
    assert updates_of({"ok": True, "result": None}) == []


async def test_scripted_zalo_demo_exits_0() -> None:
    out = io.StringIO()
    assert await run_zalo_demo(script=True, out=out) == 0
    transcript = out.getvalue()
    code = CODE_RE.search(transcript)
    assert code is not None and "on Zalo" in transcript
    assert "Gửi qua Zalo" in transcript and "no trace of the reporter" in transcript


def test_interactive_zalo_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIEMCHINH_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--channel", "zalo"],
        cwd=tmp_path,
        input="1\n/sticker\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "đồng ý" in proc.stdout and "Chọn loại" in proc.stdout and "nhãn dán" in proc.stdout


async def test_check_reaches_zalo_too(sim: BotApiSimulator, tmp_path: Path) -> None:
    async with ZaloSimulator() as zsim:
        config = write_config(sim, tmp_path)
        body = config.read_text(encoding="utf-8")
        zalo = f'[zalo]\ntoken = "{zsim.token}"\nbase_url = "{zsim.base_url}"\n'
        config.write_text(zalo + body, encoding="utf-8")
        code, out, err = await liemchinh("check", "--config", str(config))
        assert code == 0, err
        assert "zalo: bot.sim" in out and zsim.token not in out + err
        wrong = zalo.replace(zsim.token, "1:not-the-token")
        config.write_text(wrong + body, encoding="utf-8")
        code, out, err = await liemchinh("check", "--config", str(config))
        assert code == 1 and len(err.strip().splitlines()) == 1
        assert "refused the token" in err and zsim.base_url in err


@pytest.mark.both_backends
async def test_channel_store_keeps_order_ids_and_state_for_a_while(
    tmp_path: Path, database_url: str | None
) -> None:
    clock = FakeClock()
    async with Repository(tmp_path / "bot.db", clock=clock, url=database_url) as db:
        assert await db.channels.store_inbound("zalo", "m1", '{"n": 1}')
        assert await db.channels.store_inbound("zalo", "m2", '{"n": 2}')
        # Sent again: recognised by its id, stored once.
        assert not await db.channels.store_inbound("zalo", "m1", '{"n": 1}')
        pending = await db.channels.pending_inbound("zalo")
        assert [(m.external_id, m.payload) for m in pending] == [
            ("m1", {"n": 1}),
            ("m2", {"n": 2}),
        ]
        await db.channels.inbound_handled(pending[0].seq)
        assert [m.external_id for m in await db.channels.pending_inbound("zalo")] == ["m2"]
        # Still known after handling, so a resend within 48 hours is not handled twice.
        assert not await db.channels.store_inbound("zalo", "m1", '{"n": 1}')
        clock.advance(days=3)
        await db.channels.inbound_handled(pending[1].seq)
        assert await db.channels.store_inbound("zalo", "m1", '{"n": 1}')

        user = await db.identities.user_id(Channel.ZALO, "u1")
        await db.channels.set_state(user, {"pending": "which", "text": "câu trả lời"})
        assert await db.channels.expire_states(clock() - 86400) == 0
        clock.advance(days=2)
        assert await db.channels.expire_states(clock() - 86400) == 1
        assert await db.channels.get_state(user) == {}
        assert await db.identities.external_id(user) == (Channel.ZALO, "u1")

"""A citizen's report costs one Bot API message a step: counted by the simulated Telegram."""

from __future__ import annotations

from tests.conftest import HA_LONG_CHAT, Person, World, code_in

PHOTO = b"\xff\xd8\xff\xe0" + b"photo of the counter" * 40 + b"\xff\xd9"
DESCRIPTION = "Cán bộ bộ phận một cửa không nhận hồ sơ và bảo tôi quay lại vào tuần sau."

# What the issue allows over a whole report: at most 1.1 messages sent or edited in the
# citizen's chat for each update the citizen sends (answering a press is not a message).
BUDGET = 1.1


class Counted:
    """A person whose updates are counted, with the bot's messages in their chat."""

    def __init__(self, world: World, person: Person) -> None:
        self.world = world
        self.person = person
        self.updates = 0
        self.mark = len(world.sim.calls)

    def calls(self) -> list[str]:
        """The methods that sent or edited a message in the person's chat since the start."""
        found = self.world.sim.message_calls(self.person.id, after=self.mark)
        return [name for name, _params in found]

    async def say(self, text: str, expect: str) -> str:
        self.updates += 1
        return str((await self.person.say(text, expect=expect))["text"])

    async def press(self, label: str, expect: str) -> str:
        self.updates += 1
        return str((await self.person.press(label, expect=expect))["text"])

    async def photo(self, expect: str) -> str:
        self.updates += 1
        return str((await self.person.send_photo(PHOTO, expect=expect))["text"])


async def test_a_full_report_costs_at_most_its_budget_of_bot_api_calls(world: World) -> None:
    lan = Counted(world, world.person(760001, "Lan"))
    # Welcome and consent: one message.
    consent = await lan.say("/start", expect="đồng ý")
    assert "Liêm Chính" in consent and lan.calls() == ["sendMessage"]
    # Each pressed question becomes the next one, with the answer given above it.
    category = await lan.press("Tôi đồng ý", expect="Chọn loại")
    assert category.startswith("✔ ")
    assert lan.calls() == ["sendMessage", "editMessageText"]
    assert "✔ Loại vi phạm: Thái độ" in await lan.press("Thái độ", expect="đơn vị")
    await lan.say("ha long", expect="ha long")
    assert "UBND phường Hạ Long" in await lan.press("UBND phường Hạ Long", expect="cán bộ")
    await lan.press("Bỏ qua", expect="khi nào")
    assert "✔ Hôm nay" in await lan.press("Hôm nay", expect="ở đâu")
    await lan.press("Bỏ qua", expect="Mô tả")
    await lan.say(DESCRIPTION, expect="bằng chứng")
    await lan.photo(expect="1")
    await lan.press("Xong", expect="ẩn danh")
    review = await lan.press("Ẩn danh", expect="kiểm tra")
    assert DESCRIPTION in review and "UBND phường Hạ Long" in review
    code = code_in(await lan.press("Gửi phản ánh", expect="/status"))
    await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    calls = lan.calls()
    # Every step one message; sending takes the review's buttons off, then the code comes.
    assert len(calls) <= lan.updates + 1, calls
    assert len(calls) <= BUDGET * lan.updates, (len(calls), lan.updates, calls)
    assert world.sim.count("editMessageReplyMarkup", chat_id=lan.person.id) == 1

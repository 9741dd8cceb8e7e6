"""Alerts within a group's 20 messages a minute: one photo is the alert's own picture, several
files go as one album; counted by the simulated Telegram."""

from __future__ import annotations

from tests.conftest import (
    HA_LONG_CHAT,
    Person,
    World,
    code_in,
    current,
    eventually,
    member,
    press,
)

OFFICER_HL = 900102
DESCRIPTION = "Cán bộ một cửa bắt tôi chờ cả buổi rồi hẹn sang tuần mà không nói lý do."


def photo(number: int) -> bytes:
    """A distinct small JPEG-looking file."""
    return b"\xff\xd8\xff\xe0" + f"counter photo {number}".encode() * 30 + b"\xff\xd9"


async def report_with_photos(person: Person, photos: int) -> str:
    """Walk an anonymous report to Hạ Long with `photos` photos; return its code."""
    await person.say("/start", expect="đồng ý")
    await person.press("Tôi đồng ý", expect="Chọn loại")
    await person.press("Thái độ", expect="đơn vị")
    await person.say("ha long", expect="ha long")
    await person.press("UBND phường Hạ Long", expect="cán bộ")
    await person.press("Bỏ qua", expect="khi nào")
    await person.press("Hôm nay", expect="ở đâu")
    await person.press("Bỏ qua", expect="Mô tả")
    await person.say(DESCRIPTION, expect="bằng chứng")
    for number in range(1, photos + 1):
        await person.send_photo(photo(person.id * 100 + number), expect=str(number))
    await person.press("Xong" if photos else "Bỏ qua", expect="ẩn danh")
    await person.press("Ẩn danh", expect="kiểm tra")
    return code_in((await person.press("Gửi phản ánh", expect="/status"))["text"])


def unit_messages(world: World) -> int:
    """Messages sent to Hạ Long's group (edits aside): what its 20 a minute are spent on."""
    calls = world.sim.message_calls(HA_LONG_CHAT)
    return sum(1 for name, _params in calls if not name.startswith("edit"))


async def test_an_alert_with_one_photo_is_that_photos_caption_and_stays_so(world: World) -> None:
    citizen = world.person(770001, "Lan")
    code = await report_with_photos(citizen, 1)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert "photo" in alert and DESCRIPTION in alert["text"]
    assert "Tiếp nhận" in str(alert["buttons"])
    await eventually(lambda: unit_messages(world) == 1)
    # The unit's steps edit the caption, as they edit a text alert.
    officer = member(world, OFFICER_HL, "Hùng", HA_LONG_CHAT)
    await press(world, officer, alert, "Tiếp nhận")
    await eventually(lambda: "Đơn vị đã tiếp nhận" in current(world, alert)["text"])
    assert world.sim.count("editMessageCaption", chat_id=HA_LONG_CHAT) >= 1
    assert world.sim.count("editMessageText", chat_id=HA_LONG_CHAT) == 0
    assert unit_messages(world) == 1


async def test_several_photos_go_as_one_album_under_the_alert(world: World) -> None:
    citizen = world.person(770002, "Minh")
    code = await report_with_photos(citizen, 3)
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    assert "photo" not in alert and "Số tệp bằng chứng: 3" in alert["text"]
    await eventually(lambda: unit_messages(world) == 2)
    album = [m for m in world.sim.messages(HA_LONG_CHAT) if m.get("media_group_id")]
    assert len(album) == 3 and len({m["media_group_id"] for m in album}) == 1
    assert [f"{n}/3" in m["text"] and code in m["text"] for n, m in enumerate(album, 1)] == [
        True
    ] * 3
    # Nothing in the unit's chat names the citizen.
    assert all("Minh" not in str(m) for m in world.sim.messages(HA_LONG_CHAT))


async def test_fifteen_reports_to_one_unit_take_one_message_each(world: World) -> None:
    # The measure of docs/performance.md: fifteen reports with a photo each at once, to one
    # unit. One message per piece (alert, then the copy of its photo) took 30 of the group's
    # 20 a minute; as captions they take 15.
    for number in range(15):
        citizen = world.person(771000 + number, f"Dân {number}")
        await report_with_photos(citizen, 1)
    await eventually(lambda: unit_messages(world) == 15, wait=15)
    assert world.sim.count("copyMessage", chat_id=HA_LONG_CHAT) == 15
    assert world.sim.count("sendMessage", chat_id=HA_LONG_CHAT) == 0

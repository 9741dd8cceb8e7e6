"""Units of the same name are told apart wherever a person chooses or reads one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import UnitConfig
from bot.core.domain import Unit
from bot.messages.labels import unit_label
from bot.store.repository import Repository
from tests.conftest import (
    ADMIN_ID,
    HA_LONG_CHAT,
    World,
    current,
    eventually,
    labels,
    member,
    press,
    quick_report,
)

CA_MAU = "UBND xã Vĩnh Lợi — UBND tỉnh Cà Mau"
CAN_THO = "UBND xã Vĩnh Lợi — UBND thành phố Cần Thơ"


async def namesakes(world: World) -> None:
    """Add two provinces, each with a commune named "UBND xã Vĩnh Lợi"."""
    units = world.db.units
    assert await units.add_unit("CM", "UBND tỉnh Cà Mau", None)
    assert await units.add_unit("CT", "UBND thành phố Cần Thơ", None)
    assert await units.add_unit("CM-VL", "UBND xã Vĩnh Lợi", "CM")
    assert await units.add_unit("CT-VL", "UBND xã Vĩnh Lợi", "CT")


def unit(code: str, name: str, parent: str | None = None) -> UnitConfig:
    return UnitConfig(code, name, parent, None)


async def test_the_store_says_what_tells_namesakes_apart(tmp_path: Path) -> None:
    async with Repository(tmp_path / "labels.db") as db:
        await db.units.seed_units(
            (
                unit("CM", "UBND tỉnh Cà Mau"),
                unit("CT", "UBND thành phố Cần Thơ"),
                unit("CM-VL", "UBND xã Vĩnh Lợi", "CM"),
                # The same name as people read it: case and diacritics aside.
                unit("CT-VL", "UBND Xã Vinh Loi", "CT"),
                unit("CM-VL-MC", "Bộ phận Một cửa", "CM-VL"),
                unit("CT-VL-MC", "Bộ phận Một cửa", "CT-VL"),
                unit("CM-DUP", "Phòng Kinh tế", "CM"),
                unit("CM-DUP2", "Phòng Kinh tế", "CM"),
                unit("CT-KT", "Phòng Văn hóa", "CT"),
            )
        )
        everything = await db.units.all_units()
        found = await db.units.qualifiers(everything)
        named = {u.code: unit_label(u, found[u.code]) for u in everything}
    assert named["CM-VL"] == CA_MAU
    assert named["CT-VL"] == "UBND Xã Vinh Loi — UBND thành phố Cần Thơ"
    # Parents of the same name: the next unit up tells them apart.
    assert named["CM-VL-MC"] == "Bộ phận Một cửa — UBND xã Vĩnh Lợi — UBND tỉnh Cà Mau"
    assert named["CT-VL-MC"] == "Bộ phận Một cửa — UBND Xã Vinh Loi — UBND thành phố Cần Thơ"
    # Two of the same name under one parent (a slip): their codes, the last resort.
    assert named["CM-DUP"] == "Phòng Kinh tế — UBND tỉnh Cà Mau — CM-DUP"
    assert named["CM-DUP2"] == "Phòng Kinh tế — UBND tỉnh Cà Mau — CM-DUP2"
    # Unique names stay as they are.
    assert named["CM"] == "UBND tỉnh Cà Mau" and named["CT-KT"] == "Phòng Văn hóa"
    assert unit_label(Unit("X", "Tên", None, None, "ok", False)) == "Tên"


async def start_a_report(world: World, user_id: int) -> Any:
    """Consent and choose a category; return the citizen at the unit question."""
    citizen = world.person(user_id, "Lan")
    await citizen.say("/start", expect="đồng ý")
    await citizen.press("Tôi đồng ý", expect="Chọn loại")
    await citizen.press("Thái độ", expect="đơn vị")
    return citizen


async def test_search_results_tell_namesakes_apart(world: World) -> None:
    await namesakes(world)
    citizen = await start_a_report(world, 760001)
    found = await citizen.say("vinh loi", expect="vinh loi")
    assert set(labels(found)) >= {CA_MAU, CAN_THO}
    assert "UBND xã Vĩnh Lợi" not in labels(found)
    # The review names the unit as it was offered.
    await citizen.press(CA_MAU, expect="cán bộ")
    await citizen.press("Bỏ qua", expect="khi nào")
    await citizen.press("Hôm nay", expect="ở đâu")
    await citizen.press("Bỏ qua", expect="Mô tả")
    await citizen.say("Cán bộ quát tháo người dân khi được hỏi hồ sơ.", expect="bằng chứng")
    await citizen.press("Bỏ qua", expect="ẩn danh")
    review = await citizen.press("Ẩn danh", expect="kiểm tra")
    assert CA_MAU in review["text"]
    # A name no other unit has stays unqualified.
    other = await start_a_report(world, 760002)
    found = await other.say("ha long", expect="ha long")
    assert "UBND phường Hạ Long" in labels(found)
    assert not any("—" in label for label in labels(found))


async def test_the_unit_tree_tells_namesakes_apart(world: World) -> None:
    await namesakes(world)
    citizen = await start_a_report(world, 760003)
    tree = citizen.with_button("UBND tỉnh Cà Mau ›")
    assert "UBND tỉnh Quảng Ninh ›" in labels(tree)
    await citizen.browse("UBND tỉnh Cà Mau ›", until_button=CA_MAU)
    assert "✅ UBND tỉnh Cà Mau" in labels(current(world, tree))
    await citizen.browse("Lên một cấp", until_button="UBND thành phố Cần Thơ ›")
    await citizen.browse("UBND thành phố Cần Thơ ›", until_button=CAN_THO)
    assert CA_MAU not in labels(current(world, tree))


async def test_the_transfer_picker_tells_namesakes_apart(world: World) -> None:
    await namesakes(world)
    code = await quick_report(world.person(760004, "Lan"))
    alert = await world.sim.wait_for_message(HA_LONG_CHAT, contains=code)
    officer = member(world, 900102, "Hùng", HA_LONG_CHAT)
    mark = len(world.sim.messages(HA_LONG_CHAT))
    await press(world, officer, alert, "Chuyển đơn vị")
    picker = await world.sim.wait_for_message(HA_LONG_CHAT, contains="Chọn đơn vị", after=mark)
    await officer.press_button(picker, "UBND thành phố Cần Thơ ›")
    await eventually(lambda: CAN_THO in labels(current(world, picker)))
    await officer.press_button(current(world, picker), CAN_THO)
    prompt = await world.sim.wait_for_message(
        HA_LONG_CHAT, contains="vui lòng trả lời", after=mark
    )
    assert CAN_THO in prompt["text"]


async def test_the_binding_tree_tells_namesakes_apart(world: World) -> None:
    await namesakes(world)
    sim = world.sim
    channel = -1001000000078
    sim.add_chat(channel, "Một cửa Vĩnh Lợi", type="channel", bot_status="left")
    mark = len(sim.messages(ADMIN_ID))
    await sim.add_bot_to_chat(channel, ADMIN_ID)
    offer = await sim.wait_for_message(ADMIN_ID, contains="Một cửa Vĩnh Lợi", after=mark)
    await sim.user(ADMIN_ID).press_button(offer, "UBND tỉnh Cà Mau ›")
    await eventually(lambda: CA_MAU in labels(current(world, offer)))


async def test_the_units_list_tells_namesakes_apart(world: World) -> None:
    await namesakes(world)
    admin = world.sim.user(ADMIN_ID)
    mark = len(world.sim.messages(ADMIN_ID))
    await admin.send("/units")
    await world.sim.wait_for_message(ADMIN_ID, contains="CT-VL", after=mark)
    listing = "\n".join(str(m.get("text")) for m in world.sim.messages(ADMIN_ID)[mark:])
    # Added in chat, so marked ✏️ after the label.
    assert f"CM-VL {CA_MAU} ✏️ ·" in listing and f"CT-VL {CAN_THO} ✏️ ·" in listing
    assert "HL UBND phường Hạ Long ·" in listing

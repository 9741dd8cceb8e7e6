"""The public board's chart: SVG written by hand, every name escaped, bars to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.figures.board_chart import BoardSeries, board_svg

SVG = "{http://www.w3.org/2000/svg}"


def chart(names: list[str], received: list[int], on_time: list[int]) -> ET.Element:
    svg = board_svg(
        names,
        (
            BoardSeries("Phản ánh đã nhận", "#8b1a1a", received),
            BoardSeries("Giải quyết đúng hạn", "#2e7d32", on_time),
        ),
    )
    return ET.fromstring(svg)  # well-formed XML, or this fails


def rects(root: ET.Element, kind: str, color: str) -> list[ET.Element]:
    return [
        r for r in root.iter(f"{SVG}rect") if r.get("class") == kind and r.get("fill") == color
    ]


def bars(root: ET.Element, color: str) -> list[float]:
    return [float(r.get("width", "")) for r in rects(root, "bar", color)]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_two_bars_per_unit_to_one_scale() -> None:
    root = chart(["UBND phường Hạ Long", "UBND phường Bãi Cháy"], [40, 10], [20, 0])
    received, on_time = bars(root, "#8b1a1a"), bars(root, "#2e7d32")
    assert len(received) == len(on_time) == 2
    assert received[0] == 4 * received[1] == 2 * on_time[0] and on_time[1] == 0
    assert {"UBND phường Hạ Long", "UBND phường Bãi Cháy", "40", "10", "20", "0"} <= set(
        texts(root)
    )
    assert {"Phản ánh đã nhận", "Giải quyết đúng hạn"} <= set(texts(root))
    assert len(rects(root, "key", "#8b1a1a")) == len(rects(root, "key", "#2e7d32")) == 1


def test_names_are_text_never_markup_and_long_ones_are_cut() -> None:
    hostile = '<script>alert(1)</script> & "UBND" ' * 3
    root = chart([hostile], [1], [1])
    assert not list(root.iter(f"{SVG}script"))
    (name,) = (t for t in texts(root) if "script" in t)
    assert name.startswith("<script>alert(1)</script>") and name.endswith("…")
    assert len(name) <= 26


def test_a_board_without_units_is_still_a_chart() -> None:
    root = chart([], [], [])
    assert root.get("width") == "600"
    assert bars(root, "#8b1a1a") == [] and len(rects(root, "key", "#8b1a1a")) == 1

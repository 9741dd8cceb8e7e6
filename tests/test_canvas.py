"""The chart's page: ticks, texts fitted to their room, and what the drawing puts where."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.figures.canvas import ELLIPSIS, Canvas, ticks
from bot.figures.drawing import (
    BAR_COLOR,
    CHART_SIZE,
    Bars,
    Chart,
    Series,
    Table,
    UnitBars,
    draw,
)

PAGE = Canvas(10, 10)
FONT = PAGE.font(12)


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (7, [0, 1, 2, 3, 4, 5, 6, 7]),
        (9, [0, 2, 4, 6, 8, 10]),
        (1100, [0, 200, 400, 600, 800, 1000, 1200]),
        (6720.5, [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000]),
    ],
)
def test_ticks_are_whole_round_numbers_from_zero_past_the_top(
    top: float, expected: list[int]
) -> None:
    assert ticks(top) == expected


@given(st.floats(min_value=0, max_value=1e12))
def test_ticks_cover_the_top_in_at_most_eight_steps(top: float) -> None:
    marks = ticks(top)
    assert marks[0] == 0 and marks[-1] >= top
    assert 2 <= len(marks) <= 9
    assert len({b - a for a, b in itertools.pairwise(marks)}) == 1


words = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyỦẮỰ–", min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, max_size=30), st.integers(20, 300), st.integers(1, 3))
def test_fitted_lines_never_pass_their_width(parts: list[str], width: int, most: int) -> None:
    text = " ".join(parts)
    lines = PAGE.fit(text, FONT, width, most)
    assert 1 <= len(lines) <= most
    assert all(FONT.getlength(line) <= width for line in lines)
    # Nothing is lost without an ellipsis to say so (a word too long for a line is cut
    # where it stands; what does not fit in `most` lines is cut at the last).
    if " ".join(lines).replace(ELLIPSIS, "") != " ".join(text.split()):
        assert any(line.endswith(ELLIPSIS) for line in lines)


def test_a_short_text_is_kept_whole_and_a_long_one_cut_with_an_ellipsis() -> None:
    assert PAGE.fit("Ủy ban nhân dân", FONT, 500, 2) == ["Ủy ban nhân dân"]
    assert PAGE.fit("Ủy ban nhân dân", FONT, FONT.getlength("Ủy ban nhân"), 2) == [
        "Ủy ban nhân",
        "dân",
    ]
    cut = PAGE.cut("Ủy ban nhân dân phường Hồng Hà", FONT, 80)
    assert cut.endswith(ELLIPSIS) and FONT.getlength(cut) <= 80
    assert "Ủy ban nhân dân phường Hồng Hà".startswith(cut[:-1])
    assert PAGE.fit("", FONT, 80, 2) == [""]


def test_letters_typed_with_combining_marks_are_drawn_composed() -> None:
    decomposed = "U\u0309y ban nha\u0302n da\u0302n"  # "Ủy ban nhân dân", decomposed
    assert PAGE.fit(decomposed, FONT, 500, 1) == ["Ủy ban nhân dân"]
    assert PAGE.cut(decomposed, FONT, 500) == "Ủy ban nhân dân"


def test_lines_in_a_height() -> None:
    step = Canvas.line_height(FONT)
    assert Canvas.lines_in(FONT, 1) == 1
    assert Canvas.lines_in(FONT, step * 2) == 2
    assert Canvas.lines_in(FONT, step * 3 - 0.1) == 3


def chart(units: int = 3, value: int = 40) -> Chart:
    names = [f"Ủy ban nhân dân phường số {i} " * 3 for i in range(units)]
    return Chart(
        title="Thống kê: 30 ngày qua\nBáo cáo: 100 · quá hạn: 3",
        empty="Không có báo cáo nào trong kỳ này.",
        panels=(
            Bars("Theo loại", ["Chậm trễ", "Sách nhiễu"], [value, 0], [BAR_COLOR, BAR_COLOR]),
            Bars("Theo trạng thái", ["Mới", "Đã giải quyết"], [3, value], ["#111111", "#222222"]),
            UnitBars(
                "Theo đơn vị",
                names,
                [
                    Series("Báo cáo", "#333333", [value] * units),
                    Series("Đang mở", "#444444", [1] * units),
                    Series("Quá hạn", "#555555", [0] * units),
                ],
            ),
            Table(
                "Tính kịp thời",
                ["Đơn vị", "Báo cáo", "Giờ", "Ngày", "Quá hạn", "Đánh giá"],
                [[name, str(value), "1,5", "2", "1", "–"] for name in names],
                [True] * units,
                "… và 3 đơn vị khác",
            ),
        ),
    )


def colors(png: bytes) -> set[str]:
    image = Image.open(io.BytesIO(png))
    assert image.size == CHART_SIZE
    return {"#{:02X}{:02X}{:02X}".format(*rgb) for _n, rgb in image.getcolors(1 << 20)}


def test_every_bar_and_the_overdue_cells_are_drawn_in_their_colours() -> None:
    drawn = colors(draw(chart()))
    assert {BAR_COLOR, "#111111", "#222222", "#333333", "#444444"} <= drawn
    assert "#F6D5D5" in drawn  # an overdue cell
    assert "#555555" in drawn  # the legend's swatch, although every overdue bar is zero


def test_an_empty_chart_draws_no_bar() -> None:
    empty = Chart(title="Thống kê", empty="Không có báo cáo nào trong kỳ này.", panels=None)
    assert BAR_COLOR not in colors(draw(empty))


@pytest.mark.parametrize(("units", "value"), [(1, 0), (10, 10**9), (40, 7)])
def test_any_count_of_rows_and_any_size_of_count_fit_the_page(units: int, value: int) -> None:
    assert Image.open(io.BytesIO(draw(chart(units, value)))).size == CHART_SIZE

"""Statistics: periods, figures, the summary message and the chart."""

from __future__ import annotations

import asyncio
import random
import struct
import warnings
from datetime import datetime
from typing import Any

import pytest
from fontTools.ttLib import TTFont

from bot.core.domain import VN_TZ
from bot.figures.canvas import font_file
from bot.figures.drawing import Chart
from bot.figures.stats import (
    SUMMARY_BUDGET,
    Period,
    PeriodError,
    Stats,
    chart_of,
    parse_period,
    render_chart,
    summary_text,
)
from bot.i18n import Translator
from tests.figures_reference import compute, compute_rows

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=VN_TZ).timestamp()
HOUR = 3600.0
DAY = 86400.0
PERIOD = Period(None, None, "30d")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

vi = Translator().get("vi")
en = Translator().get("en")


def local(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, tzinfo=VN_TZ).timestamp()


def row(**values: Any) -> dict[str, Any]:
    """A row shaped like Repository.report_rows, an open fresh report unless told otherwise."""
    base: dict[str, Any] = {
        "id": 1,
        "code": "ABCDEFGH",
        "status": "new",
        "category": "bribe",
        "unit_code": "HL",
        "unit_name": "UBND phường Hạ Long",
        "created_at": NOW - 10 * DAY,
        "acknowledged_at": None,
        "closed_at": None,
        "deadline_kind": "ack",
        "deadline_at": NOW + DAY,
        "escalation_level": 0,
        "extended": 0,
        "description": "Cán bộ đòi tiền.",
        "official": None,
        "amount": None,
        "occurred_on": None,
        "location": None,
        "resolution_note": None,
        "decline_reason": None,
        "citizen_verdict": None,
        "rating": None,
        "anonymous": 1,
        "spam": 0,
        "contact_name": None,
        "contact_phone": None,
    }
    base.update(values)
    return base


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


# --------------------------------------------------------------------------- parse_period


def test_default_period_is_the_last_30_days_and_keeps_the_arguments() -> None:
    assert parse_period([], NOW) == (Period(NOW - 30 * DAY, None, "30d"), [])
    period, rest = parse_period(["HL"], NOW)
    assert period == Period(NOW - 30 * DAY, None, "30d")
    assert rest == ["HL"]


@pytest.mark.parametrize(
    ("token", "days"), [("7d", 7), ("30d", 30), ("1d", 1), ("3660d", 3660), ("90D", 90)]
)
def test_last_n_days(token: str, days: int) -> None:
    period, rest = parse_period([token, "HL", "extra"], NOW)
    assert period.since == NOW - days * DAY
    assert period.until is None
    assert period.label == f"{days}d"
    assert rest == ["HL", "extra"]


def test_calendar_month_in_vietnam_time() -> None:
    period, rest = parse_period(["2026-11", "QN"], NOW)
    assert period == Period(local(2026, 11, 1), local(2026, 12, 1), "2026-11")
    assert rest == ["QN"]
    december, _rest = parse_period(["2026-12"], NOW)
    assert (december.since, december.until) == (local(2026, 12, 1), local(2027, 1, 1))
    february, _rest = parse_period(["2028-2"], NOW)
    assert february.label == "2028-02"
    assert february.until is not None and february.since is not None
    assert february.until - february.since == 29 * DAY  # a leap year


@pytest.mark.parametrize(
    "args",
    [
        ["01/11/2026", "30/11/2026"],
        ["2026-11-01", "2026-11-30"],
        ["1/11/2026", "2026-11-30"],
        ["01/11/2026", "-", "30/11/2026"],
        ["01/11/2026–30/11/2026"],
    ],
)
def test_two_dates_include_both_days(args: list[str]) -> None:
    period, rest = parse_period([*args, "HL"], NOW)
    assert period == Period(local(2026, 11, 1), local(2026, 12, 1), "01/11/2026–30/11/2026")
    assert rest == ["HL"]


def test_a_single_day_range() -> None:
    period, _rest = parse_period(["05/03/2026", "05/03/2026"], NOW)
    assert (period.since, period.until) == (local(2026, 3, 5), local(2026, 3, 6))
    # The label parses back to the same period.
    assert parse_period([period.label], NOW)[0] == period


@pytest.mark.parametrize(
    "args",
    [
        ["0d"],
        ["3661d"],
        ["2026-13"],
        ["2026-00"],
        ["31/02/2026", "01/03/2026"],
        ["2026-02-30", "2026-03-01"],
        ["30/11/2026", "01/11/2026"],  # FROM after TO
        ["01/11/2026"],  # one date only
        ["01/11/2026", "HL"],
        ["01/11/2026–HL"],
    ],
)
def test_bad_periods_are_refused(args: list[str]) -> None:
    with pytest.raises(PeriodError):
        parse_period(args, NOW)


def test_period_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="after"):
        parse_period(["30/11/2026", "01/11/2026"], NOW)


# --------------------------------------------------------------------------- compute


def sample_rows() -> list[dict[str, Any]]:
    return [
        # Hạ Long: acknowledged after 2h and 6h, resolved after 2 and 4 days, rated 5 and 3.
        row(
            id=1,
            status="resolved",
            acknowledged_at=NOW - 10 * DAY + 2 * HOUR,
            closed_at=NOW - 10 * DAY + 2 * HOUR + 2 * DAY,
            deadline_at=None,
            rating=5,
        ),
        row(
            id=2,
            status="resolved",
            category="delay",
            acknowledged_at=NOW - 10 * DAY + 6 * HOUR,
            closed_at=NOW - 10 * DAY + 6 * HOUR + 4 * DAY,
            deadline_at=None,
            rating=3,
        ),
        # Open past its deadline: overdue.
        row(
            id=3,
            status="acknowledged",
            acknowledged_at=NOW - 10 * DAY + 10 * HOUR,
            deadline_at=NOW - HOUR,
        ),
        # Open, deadline still ahead: not overdue.
        row(id=4, status="new", deadline_at=NOW + DAY),
        # Spam: not counted anywhere.
        row(id=5, status="new", deadline_at=NOW - DAY, rating=1, spam=1),
        # Đông Triều: declined after it was escalated once (missed a deadline), unrated.
        row(
            id=6,
            unit_code="DT",
            unit_name="UBND phường Đông Triều",
            status="declined",
            category="conduct",
            acknowledged_at=NOW - 10 * DAY + 30 * HOUR,
            closed_at=NOW - 5 * DAY,
            deadline_at=None,
            escalation_level=1,
        ),
        # A closed report whose old deadline passed is not overdue: it was dealt with.
        row(
            id=7,
            unit_code="DT",
            unit_name="UBND phường Đông Triều",
            status="resolved",
            category="conduct",
            acknowledged_at=NOW - 9 * DAY,
            closed_at=NOW - 8 * DAY,
            deadline_at=NOW - 2 * DAY,
            rating=4,
        ),
    ]


def test_compute_counts_everything_but_spam() -> None:
    stats = compute(sample_rows(), PERIOD, NOW)
    assert stats.period == PERIOD
    assert stats.total == 6
    assert stats.by_status == {"resolved": 3, "acknowledged": 1, "new": 1, "declined": 1}
    assert stats.by_category == {"bribe": 3, "conduct": 2, "delay": 1}
    assert list(stats.by_category) == ["bribe", "conduct", "delay"]  # most frequent first
    assert stats.overdue == 2  # report 3 (past deadline) and 6 (escalated once)
    assert stats.rating_count == 3
    assert stats.rating_avg == pytest.approx(4.0)


def test_compute_per_unit() -> None:
    stats = compute(sample_rows(), PERIOD, NOW)
    assert [u.code for u in stats.units] == ["HL", "DT"]
    hl, dt = stats.units
    assert hl.name == "UBND phường Hạ Long"
    assert (hl.total, hl.open, hl.overdue, hl.resolved, hl.declined) == (4, 2, 1, 2, 0)
    assert hl.median_ack_hours == pytest.approx(6.0)  # 2, 6 and 10 hours
    assert hl.median_resolve_days == pytest.approx(3.0)  # 2 and 4 days
    assert (hl.rating_avg, hl.rating_count) == (pytest.approx(4.0), 2)
    assert (dt.total, dt.open, dt.overdue, dt.resolved, dt.declined) == (2, 0, 1, 1, 1)
    assert dt.median_ack_hours == pytest.approx((30 + 24) / 2)
    assert dt.median_resolve_days == pytest.approx(1.0)  # only the resolved one counts
    assert (dt.rating_avg, dt.rating_count) == (pytest.approx(4.0), 1)


def test_units_sorted_by_total_then_name() -> None:
    rows = [
        row(id=1, unit_code="B", unit_name="Bãi Cháy"),
        row(id=2, unit_code="A", unit_name="Ân Thi"),
        row(id=3, unit_code="C", unit_name="Cẩm Phả"),
        row(id=4, unit_code="C", unit_name="Cẩm Phả"),
    ]
    stats = compute(rows, PERIOD, NOW)
    assert [u.code for u in stats.units] == ["C", "A", "B"]


def test_compute_without_rows() -> None:
    stats = compute([], PERIOD, NOW)
    assert (stats.total, stats.overdue, stats.rating_count) == (0, 0, 0)
    assert stats.rating_avg is None
    assert stats.units == [] and stats.by_status == {} and stats.by_category == {}
    only_spam = compute([row(spam=1)], PERIOD, NOW)
    assert only_spam.total == 0


def test_medians_are_none_without_data() -> None:
    [unit] = compute([row()], PERIOD, NOW).units
    assert unit.median_ack_hours is None
    assert unit.median_resolve_days is None
    assert unit.rating_avg is None and unit.rating_count == 0


def generated_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """Rows of every shape: all statuses, ties, equal durations, escalations, spam, no names."""
    rng = random.Random(seed)
    statuses = ["new", "acknowledged", "in_progress", "resolved", "declined", "transferred"]
    units = [("HL", "UBND phường Hạ Long"), ("A", "Ân Thi"), ("E", ""), ("B", "Bãi Cháy")]
    units += [(f"U{i}", f"Đơn vị {i}") for i in range(12)]
    rows = []
    for index in range(count):
        code, name = rng.choice(units)
        status = rng.choice(statuses)
        created = NOW - rng.uniform(0, 300) * DAY
        # Whole hours and days often, so that medians fall on ties and on even counts.
        step = rng.choice([HOUR, 7 * HOUR, rng.uniform(60, 5 * DAY)])
        acked = created + step if status != "new" and rng.random() < 0.9 else None
        closed = (acked or created) + rng.choice([DAY, rng.uniform(1, 40 * DAY)])
        rows.append(
            row(
                id=index,
                status=status,
                category=rng.choice(["bribe", "delay", "conduct", "other", ""]),
                unit_code=code,
                unit_name=name,
                created_at=created,
                acknowledged_at=acked,
                closed_at=closed
                if status in ("resolved", "declined") and rng.random() < 0.9
                else None,
                deadline_at=rng.choice([None, NOW - DAY, NOW + DAY, NOW]),
                escalation_level=rng.choice([0, 0, 0, 1, 2]),
                rating=rng.choice([None, None, 1, 3, 5]),
                spam=1 if rng.random() < 0.05 else 0,
            )
        )
    return rows


@pytest.mark.parametrize(("count", "seed"), [(0, 1), (1, 2), (2, 3), (7, 4), (400, 5), (3000, 6)])
def test_sql_figures_equal_the_row_by_row_computation(count: int, seed: int) -> None:
    rows = generated_rows(count, seed)
    in_sql, by_row = compute(rows, PERIOD, NOW), compute_rows(rows, PERIOD, NOW)
    # Exactly equal, floats included, and in the same order (dict equality ignores order).
    assert in_sql == by_row
    assert list(in_sql.by_category.items()) == list(by_row.by_category.items())
    assert list(in_sql.by_status.items()) == list(by_row.by_status.items())
    for locale, gettext in (("vi", vi), ("en", en)):
        assert summary_text(in_sql, gettext, locale) == summary_text(by_row, gettext, locale)


def test_sql_figures_equal_the_reference_on_the_sample() -> None:
    assert compute(sample_rows(), PERIOD, NOW) == compute_rows(sample_rows(), PERIOD, NOW)


# --------------------------------------------------------------------------- summary_text


def test_summary_has_the_figures() -> None:
    stats = compute(sample_rows(), PERIOD, NOW)
    text = summary_text(stats, vi, "vi")
    assert len(text) < SUMMARY_BUDGET
    lines = text.splitlines()
    # "Reports: 6", "Overdue: 2", however they are worded.
    assert any(line.endswith(": 6") for line in lines[:5])
    assert any(line.endswith(": 2") for line in lines[:5])
    # Status and category labels are translated.
    assert "Đã giải quyết: 3" in text
    assert "Đòi hoặc nhận hối lộ, trục lợi: 3" in text
    hl = next(line for line in lines if "UBND phường Hạ Long" in line)
    # total · open · overdue · median hours · median days · rating, Vietnamese decimals.
    assert "4 · 2 · 1 · 6" in hl
    assert "3" in hl and "★ 4 (2)" in hl
    dt = next(line for line in lines if "Đông Triều" in line)
    assert "27" in dt and "★ 4 (1)" in dt


def test_summary_uses_the_locale_decimals() -> None:
    rows = [
        row(id=1, acknowledged_at=NOW - 10 * DAY + 1.5 * HOUR, rating=4),
        row(id=2, acknowledged_at=NOW - 10 * DAY + 1.5 * HOUR, rating=5),
    ]
    stats = compute(rows, PERIOD, NOW)
    assert "★ 4,5 (2)" in summary_text(stats, vi, "vi")
    assert "★ 4.5 (2)" in summary_text(stats, en, "en")
    assert "1,5" in summary_text(stats, vi, "vi")


def test_summary_escapes_unit_names() -> None:
    stats = compute([row(unit_name="Phòng <b>Nội vụ</b> & Co")], PERIOD, NOW)
    text = summary_text(stats, vi, "vi")
    assert "Phòng &lt;b&gt;Nội vụ&lt;/b&gt; &amp; Co" in text
    assert "<b>Nội vụ</b>" not in text


def test_summary_cuts_a_long_unit_list() -> None:
    rows = [
        row(id=i, unit_code=f"U{i:03d}", unit_name=f"Ủy ban nhân dân xã số {i:03d} huyện Tiên Yên")
        for i in range(300)
    ]
    text = summary_text(compute(rows, PERIOD, NOW), vi, "vi")
    assert len(text) <= SUMMARY_BUDGET
    last = text.splitlines()[-1]
    shown = text.count("Ủy ban nhân dân xã số")
    assert 0 < shown < 300
    assert str(300 - shown) in last and last.startswith("…")


def test_summary_without_reports() -> None:
    text = summary_text(compute([], PERIOD, NOW), en, "en")
    assert "No reports in this period." in text
    assert "30" in text  # "last 30 days"


# --------------------------------------------------------------------------- render_chart


def render_quietly(stats: Stats, locale: str = "vi") -> bytes:
    """Render and fail on any warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_chart(stats, Translator().get(locale), locale)
    assert [str(w.message) for w in caught] == []
    return png


def chart_texts(chart: Chart) -> list[str]:
    """Every text the chart draws."""
    texts = [chart.title, chart.empty]
    if chart.panels is not None:
        categories, statuses, units, table = chart.panels
        texts += [categories.title, *categories.labels, statuses.title, *statuses.labels]
        texts += [units.title, *units.names, *(series.label for series in units.series)]
        texts += [table.title, *table.header, table.more, *(c for r in table.rows for c in r)]
    return texts


def missing_glyphs(chart: Chart) -> set[str]:
    """The letters of the chart that neither face of its font has (Pillow draws a box)."""
    letters = {c for text in chart_texts(chart) for c in text if not c.isspace()} | {"…"}
    missing = set()
    for bold in (False, True):
        with TTFont(font_file(bold=bold), lazy=True) as font:
            cmap = font.getBestCmap()
        missing |= {c for c in letters if ord(c) not in cmap}
    return missing


def test_chart_is_a_1600_by_1000_png() -> None:
    png = render_quietly(compute(sample_rows(), PERIOD, NOW))
    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (1600, 1000)
    assert png.endswith(b"IEND\xaeB`\x82")


def test_vietnamese_labels_render_without_missing_glyphs() -> None:
    names = [
        "Ủy ban nhân dân phường Hạ Long",
        "Bộ phận Một cửa đặc khu Vân Đồn",
        "Sở Tài nguyên và Môi trường – Chi nhánh Cẩm Phả, Uông Bí, Móng Cái, Quảng Yên",
        "Trường Hòn Gai ắằẳẵặ ấầẩẫậ ếềểễệ ốồổỗộ ớờởỡợ ứừửữự ỳỷỹỵ đĐ",
        "ẮẰẲẴẶ ẤẦẨẪẬ ẾỀỂỄỆ ỐỒỔỖỘ ỚỜỞỠỢ ỨỪỬỮỰ ỲỶỸỴ",
        "Công an $phường$ Bãi Cháy <b>",
    ]
    rows = [
        row(
            id=i,
            unit_code=f"U{i}",
            unit_name=name,
            category=category,
            status=status,
            acknowledged_at=NOW - 9 * DAY,
            rating=(i % 5) + 1,
        )
        for i, (name, category, status) in enumerate(
            zip(
                names * 3,
                ["delay", "harass", "bribe", "shirk", "discipline", "conduct", "other"] * 3,
                ["new", "acknowledged", "in_progress", "resolved", "declined"] * 3,
                strict=False,
            )
        )
    ]
    for locale in ("vi", "en"):
        stats = compute(rows, PERIOD, NOW)
        assert missing_glyphs(chart_of(stats, Translator().get(locale), locale)) == set()
        assert png_size(render_quietly(stats, locale)) == (1600, 1000)


def test_missing_glyphs_would_be_noticed() -> None:
    # The check above is only worth something if a letter the font lacks is found.
    stats = compute([row(unit_name="Ban 漢字")], PERIOD, NOW)
    assert missing_glyphs(chart_of(stats, vi, "vi")) == {"漢", "字"}


def test_chart_font_ships_with_matplotlib() -> None:
    # Whatever fonts a server has, matplotlib's own copy of DejaVu Sans is always there.
    assert font_file().name == "DejaVuSans.ttf" and font_file().is_file()
    assert font_file(bold=True).name == "DejaVuSans-Bold.ttf" and font_file(bold=True).is_file()


def test_chart_without_reports() -> None:
    png = render_quietly(
        compute([], Period(local(2026, 11, 1), local(2026, 12, 1), "2026-11"), NOW)
    )
    assert png_size(png) == (1600, 1000)


def test_chart_with_many_units_and_one_report_each() -> None:
    rows = [row(id=i, unit_code=f"U{i}", unit_name=f"Đơn vị {i}") for i in range(40)]
    assert png_size(render_quietly(compute(rows, PERIOD, NOW))) == (1600, 1000)
    assert png_size(render_quietly(compute(rows[:1], PERIOD, NOW))) == (1600, 1000)


async def test_charts_render_in_worker_threads() -> None:
    stats = compute(sample_rows(), PERIOD, NOW)
    pngs = await asyncio.gather(
        *(asyncio.to_thread(render_chart, stats, vi, "vi") for _ in range(3))
    )
    assert all(png_size(png) == (1600, 1000) for png in pngs)

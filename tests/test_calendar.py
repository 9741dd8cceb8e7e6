"""Vietnam's calendar: computed public holidays, the yearly arrangement, deadlines across them.

What the expected days were checked against (press reports of the announcements and the
`holidays` package's own cited sources, not the official texts themselves; the example
config's `[sla]` comment says the same):
- 2026 New Year, 1-4 January with Friday 2 off and Saturday 10 January worked: the government's
  agreement of 25 December 2025, from the press reports the example config names.
- Tết Bính Ngọ, nine days from Saturday 14 to Sunday 22 February 2026: "Chính thức chốt phương
  án Tết Nguyên đán Bính Ngọ 2026 nghỉ 9 ngày", Công an TP.HCM (congan.com.vn), on the Ministry
  of Home Affairs' proposal: five statutory days, Monday 16 to Friday 20, between two weekends.
- Hùng Kings' day on Sunday 26 April 2026, Monday 27 in lieu (Labour Code 2019, art. 112(3)).
- National Day 2026, 29 August to 2 September with Monday 31 August off and Saturday 22 August
  worked: the swap the package cites (thuvienphapluat.vn, 2026 National Day arrangement).
- 24 November, Vietnam Culture Day, a paid day off from 2026: the Politburo's Resolution
  80-NQ/TW (January 2026), which the package cites (Lao Động; VietnamPlus and CafeF reported it
  on 13 January 2026).
- 2027: no arrangement announced yet; the Labour Code's days as the package computes them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import SlaConfig, load_settings
from bot.core.deadlines import Calendar, acknowledge_deadline, resolve_deadline
from bot.core.domain import VN_TZ

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"

# The weekdays public offices did not work in 2026.
WEEKDAYS_OFF_2026 = {
    date(2026, 1, 1),  # New Year
    date(2026, 1, 2),  # swapped with Saturday 10 January (the example's extra_days_off)
    *(date(2026, 2, day) for day in range(16, 21)),  # Tết Bính Ngọ: Mon 16 to Fri 20
    date(2026, 4, 27),  # Hùng Kings' day fell on Sunday 26 April: Monday in lieu
    date(2026, 4, 30),  # Reunification Day
    date(2026, 5, 1),  # Labour Day
    date(2026, 8, 31),  # swapped with Saturday 22 August
    date(2026, 9, 1),  # National Day's adjacent day
    date(2026, 9, 2),  # National Day
    date(2026, 11, 24),  # Vietnam Culture Day, as the package counts it from 2026
}
MAKE_UP_SATURDAYS_2026 = {date(2026, 1, 10), date(2026, 8, 22)}

# The Labour Code's days off in 2027, weekdays only.
WEEKDAYS_OFF_2027 = {
    date(2027, 1, 1),  # New Year, a Friday
    # Tết Đinh Mùi falls on Saturday 6 February: the five days are Thu 4, Fri 5 (the eve),
    # then Mon 8 to Wed 10 in lieu of the weekend days.
    date(2027, 2, 4),
    date(2027, 2, 5),
    date(2027, 2, 8),
    date(2027, 2, 9),
    date(2027, 2, 10),
    date(2027, 4, 16),  # Hùng Kings' day, 10th of the 3rd lunar month
    date(2027, 4, 30),  # Reunification Day
    date(2027, 5, 3),  # Labour Day falls on a Saturday: Monday in lieu
    date(2027, 9, 2),  # National Day, a Thursday
    date(2027, 9, 3),  # and the Friday after it
    date(2027, 11, 24),  # Vietnam Culture Day, a Wednesday
}


def vn(year: int, month: int, day: int, hour: int = 0) -> float:
    """Return the epoch of a wall-clock moment in Vietnam."""
    return datetime(year, month, day, hour, tzinfo=VN_TZ).timestamp()


@pytest.fixture(scope="module")
def example() -> Calendar:
    """Return the calendar of the example configuration's yearly arrangement."""
    return Calendar.from_sla(load_settings(EXAMPLE, require_token=False).sla)


def days_of(year: int) -> list[date]:
    start = date(year, 1, 1)
    return [start + timedelta(days=n) for n in range((date(year + 1, 1, 1) - start).days)]


def test_2026_as_announced(example: Calendar) -> None:
    weekdays_off = {d for d in days_of(2026) if d.weekday() < 5 and not example.is_working_day(d)}
    assert weekdays_off == WEEKDAYS_OFF_2026
    worked_weekend = {d for d in days_of(2026) if d.weekday() >= 5 and example.is_working_day(d)}
    assert worked_weekend == MAKE_UP_SATURDAYS_2026


def test_tet_2026_is_nine_days_off(example: Calendar) -> None:
    # Saturday 14 (27 tháng Chạp) to Sunday 22 February (mùng 6): nothing needs configuring.
    tet = [date(2026, 2, 14) + timedelta(days=n) for n in range(9)]
    assert not any(example.is_working_day(day) for day in tet)
    assert not any(Calendar.from_sla(SlaConfig()).is_working_day(day) for day in tet)
    assert example.is_working_day(date(2026, 2, 13))
    assert example.is_working_day(date(2026, 2, 23))


def test_2027_statutory_days(example: Calendar) -> None:
    # Only the days the Labour Code fixes are checked: the government may still add swaps.
    assert not any(example.is_working_day(day) for day in WEEKDAYS_OFF_2027)
    # Tết's neighbours are working days.
    assert example.is_working_day(date(2027, 2, 3))
    assert example.is_working_day(date(2027, 2, 11))


def test_the_old_holidays_key_still_gives_days_off(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[storage]\ndatabase = "bot.db"\n[sla]\nholidays = [2026-12-31]\n', encoding="utf-8"
    )
    calendar = Calendar.from_sla(load_settings(path, require_token=False).sla)
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert not calendar.is_working_day(date(2026, 9, 2))


def test_a_make_up_saturday_counts_as_a_working_day(example: Calendar) -> None:
    sla = SlaConfig()
    plain = Calendar.from_sla(sla)
    # Friday 9 January 2026: Saturday 10 (worked for Friday 2), Monday 12, Tuesday 13.
    assert acknowledge_deadline(vn(2026, 1, 9, 10), sla, example) == vn(2026, 1, 14)
    # Without the arrangement the Saturday is a day off: Monday 12 to Wednesday 14.
    assert acknowledge_deadline(vn(2026, 1, 9, 10), sla, plain) == vn(2026, 1, 15)
    # Wednesday 31 December 2025: 1 January is a holiday and Friday 2 was given off, so the
    # three days are Monday 5 to Wednesday 7.
    assert acknowledge_deadline(vn(2025, 12, 31, 10), sla, example) == vn(2026, 1, 8)
    # A period ending on a make-up Saturday ends on it (Civil Code art. 148 moves only a
    # period that ends on a day off): acknowledged 11 December 2025, due Saturday 10 January.
    assert resolve_deadline(vn(2025, 12, 11, 9), sla, example) == vn(2026, 1, 11)
    assert resolve_deadline(vn(2025, 12, 11, 9), sla, plain) == vn(2026, 1, 13)
    # National Day 2026: Friday 21 August, then Saturday 22 (worked for Monday 31), 24, 25.
    assert acknowledge_deadline(vn(2026, 8, 21, 15), sla, example) == vn(2026, 8, 26)


def arranged(tmp_path: Path, sla: str) -> Calendar:
    """Return the calendar of a configuration whose `[sla]` table is `sla`."""
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\ndatabase = "bot.db"\n[sla]\n{sla}\n', encoding="utf-8")
    return Calendar.from_sla(load_settings(path, require_token=False).sla)


def test_a_listed_working_day_overrides_the_computed_holidays(tmp_path: Path) -> None:
    sla = SlaConfig()
    plain = Calendar.from_sla(sla)
    # Suppose the government had offices work Reunification Day, Thursday 30 April 2026.
    worked = arranged(tmp_path, "working_days = [2026-04-30]")
    assert not plain.is_working_day(date(2026, 4, 30))
    assert worked.is_working_day(date(2026, 4, 30))
    # Received Wednesday 29 April: without it, 30 April and 1 May are off and the three days
    # are Monday 4 to Wednesday 6 May; with it, Thursday 30, Monday 4 and Tuesday 5.
    assert acknowledge_deadline(vn(2026, 4, 29, 10), sla, plain) == vn(2026, 5, 7)
    assert acknowledge_deadline(vn(2026, 4, 29, 10), sla, worked) == vn(2026, 5, 6)
    # A period ending on the listed holiday ends on it instead of moving to Monday 4 May.
    assert resolve_deadline(vn(2026, 3, 31, 9), sla, plain) == vn(2026, 5, 5)
    assert resolve_deadline(vn(2026, 3, 31, 9), sla, worked) == vn(2026, 5, 1)
    # Labour Day, not listed, stays off.
    assert not worked.is_working_day(date(2026, 5, 1))


def test_a_listed_weekend_day_is_worked_holiday_or_not(tmp_path: Path) -> None:
    sla = SlaConfig()
    # Saturday 2 May 2026, a plain weekend day; Sunday 26 April, Hùng Kings' day itself (the
    # Monday after it is the day off in lieu, and stays off).
    worked = arranged(tmp_path, "working_days = [2026-04-30, 2026-05-02, 2026-04-26]")
    assert worked.is_working_day(date(2026, 5, 2))
    assert worked.is_working_day(date(2026, 4, 26))
    assert not worked.is_working_day(date(2026, 4, 27))
    assert not worked.is_working_day(date(2026, 5, 3))  # Sunday, not listed
    # Received Wednesday 29 April: Thursday 30, Saturday 2 May, Monday 4.
    assert acknowledge_deadline(vn(2026, 4, 29, 10), sla, worked) == vn(2026, 5, 5)
    # Received Friday 24 April: Sunday 26, then Tuesday 28 and Wednesday 29.
    assert acknowledge_deadline(vn(2026, 4, 24, 10), sla, worked) == vn(2026, 4, 30)


def test_extra_days_off_stay_off_beside_working_days(tmp_path: Path) -> None:
    calendar = arranged(
        tmp_path, "extra_days_off = [2026-04-29]\nworking_days = [2026-04-30, 2026-05-02]"
    )
    assert not calendar.is_working_day(date(2026, 4, 29))
    assert calendar.is_working_day(date(2026, 4, 30))
    assert calendar.is_working_day(date(2026, 5, 2))
    # Received Tuesday 28 April: Thursday 30, Saturday 2 May, Monday 4.
    assert acknowledge_deadline(vn(2026, 4, 28, 10), SlaConfig(), calendar) == vn(2026, 5, 5)


def test_deadlines_across_tet_2026(example: Calendar) -> None:
    sla = SlaConfig()
    # Received Thursday 12 February: Friday 13, then Monday 23 and Tuesday 24 after Tết.
    assert acknowledge_deadline(vn(2026, 2, 12, 9), sla, example) == vn(2026, 2, 25)
    # Acknowledged Saturday 17 January: 30 days end on Monday 16 February, in Tết, so the
    # period ends with the first working day after it, Monday 23 February (art. 148).
    assert resolve_deadline(vn(2026, 1, 17, 9), sla, example) == vn(2026, 2, 24)


def test_deadlines_across_tet_2027(example: Calendar) -> None:
    sla = SlaConfig()
    # Received Wednesday 3 February 2027: Thursday 11, Friday 12, Monday 15.
    assert acknowledge_deadline(vn(2027, 2, 3, 9), sla, example) == vn(2027, 2, 16)
    # Acknowledged Tuesday 5 January: 30 days end on Thursday 4 February, the first day of
    # Tết: due at the end of Thursday 11 February.
    assert resolve_deadline(vn(2027, 1, 5, 9), sla, example) == vn(2027, 2, 12)


def test_each_year_is_computed_once() -> None:
    asked: list[int] = []

    def holidays(year: int) -> set[date]:
        asked.append(year)
        return {date(year, 1, 1)}

    calendar = Calendar(holidays)
    assert calendar.is_working_day(date(2026, 12, 31))
    # Thursday 31 December, then Friday 1 January off, then Monday 4 and Tuesday 5.
    assert calendar.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 5)
    assert calendar.add_working_days(date(2026, 12, 29), 4) == date(2027, 1, 5)
    assert asked == [2026, 2027]

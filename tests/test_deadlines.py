"""Deadlines: working days skip weekends and holidays, days end at midnight in Vietnam."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.config import SlaConfig
from bot.core.deadlines import (
    Calendar,
    acknowledge_deadline,
    deadline_day,
    end_of_day,
    extend_deadline,
    reminder_time,
    resolve_deadline,
)
from bot.core.domain import VN_TZ

DAY = 86_400.0
TET_2026 = frozenset(date(2026, 2, d) for d in range(16, 21))
APRIL_MAY_2026 = frozenset({date(2026, 4, 30), date(2026, 5, 1)})
# Vietnam's calendar, as the bot uses it with no yearly arrangement configured.
VIETNAM = Calendar.from_sla(SlaConfig())


def weekdays(days_off: frozenset[date] = frozenset()) -> Calendar:
    """Return a calendar of Monday to Friday less `days_off` only, no public holiday."""
    return Calendar(lambda year: (), extra_days_off=days_off)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """Return the epoch of a wall-clock moment in Vietnam."""
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ).timestamp()


def test_weekends_and_holidays_are_not_working_days() -> None:
    plain = weekdays()
    assert plain.is_working_day(date(2026, 3, 6))  # Friday
    assert not plain.is_working_day(date(2026, 3, 7))  # Saturday
    assert not plain.is_working_day(date(2026, 3, 8))  # Sunday
    assert plain.is_working_day(date(2026, 3, 9))  # Monday
    assert not weekdays(APRIL_MAY_2026).is_working_day(date(2026, 4, 30))
    assert weekdays(APRIL_MAY_2026).is_working_day(date(2026, 4, 29))
    assert not VIETNAM.is_working_day(date(2026, 4, 30))
    assert VIETNAM.is_working_day(date(2026, 4, 29))


def test_add_working_days() -> None:
    plain = weekdays()
    assert plain.add_working_days(date(2026, 3, 9), 1) == date(2026, 3, 10)
    assert plain.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Fri -> Mon
    assert plain.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 9)  # Sat -> Mon
    assert plain.add_working_days(date(2026, 3, 2), 10) == date(2026, 3, 16)
    with pytest.raises(ValueError):
        plain.add_working_days(date(2026, 3, 6), 0)


def test_end_of_day_is_vietnam_midnight() -> None:
    # Midnight at UTC+7 is 17:00 UTC of the day that is ending.
    assert end_of_day(date(2026, 3, 11)) == datetime(2026, 3, 11, 17, tzinfo=UTC).timestamp()
    assert end_of_day(date(2026, 12, 31)) == vn(2027, 1, 1)


def test_friday_receipt_skips_the_weekend() -> None:
    sla = SlaConfig()
    # Mon 9, Tue 10, Wed 11 March are the three working days after Friday 6 March.
    assert acknowledge_deadline(vn(2026, 3, 6, 10), sla, VIETNAM) == vn(2026, 3, 12)
    # Saturday's and Sunday's reports are due the same day as Friday's.
    assert acknowledge_deadline(vn(2026, 3, 7, 9), sla, VIETNAM) == vn(2026, 3, 12)
    assert acknowledge_deadline(vn(2026, 3, 8, 22), sla, VIETNAM) == vn(2026, 3, 12)
    # Monday's report: Tue, Wed, Thu.
    assert acknowledge_deadline(vn(2026, 3, 9, 8), sla, VIETNAM) == vn(2026, 3, 13)


def test_holidays_are_skipped() -> None:
    sla = SlaConfig()
    # Tue 28 April: Wed 29, then 30 April, 1 May and the weekend are off, then Mon 4, Tue 5.
    assert acknowledge_deadline(vn(2026, 4, 28, 14), sla, weekdays(APRIL_MAY_2026)) == vn(
        2026, 5, 6
    )
    assert acknowledge_deadline(vn(2026, 4, 28, 14), sla, VIETNAM) == vn(2026, 5, 6)
    assert acknowledge_deadline(vn(2026, 4, 28, 14), sla, weekdays()) == vn(2026, 5, 2)


def test_tet_week_is_skipped() -> None:
    sla = SlaConfig()
    for calendar in (weekdays(TET_2026), VIETNAM):
        # Friday 13 Feb 2026, before the nine days off (14-22 Feb): due Wed 25 Feb.
        assert acknowledge_deadline(vn(2026, 2, 13, 16), sla, calendar) == vn(2026, 2, 26)
        # A report sent on Tết itself counts from the first working day after it.
        assert acknowledge_deadline(vn(2026, 2, 17, 9), sla, calendar) == vn(2026, 2, 26)
        # Thursday 12 Feb: Fri 13, then Mon 23 and Tue 24 after the holiday.
        assert acknowledge_deadline(vn(2026, 2, 12, 9), sla, calendar) == vn(2026, 2, 25)


def test_local_midnight_decides_the_day() -> None:
    sla = SlaConfig()
    # 23:30 on Thursday in Vietnam is still Thursday: Fri 6, Mon 9, Tue 10.
    assert acknowledge_deadline(vn(2026, 3, 5, 23, 30), sla, VIETNAM) == vn(2026, 3, 11)
    # 00:10 on Friday in Vietnam is Friday, although it is still Thursday in UTC.
    friday_early = vn(2026, 3, 6, 0, 10)
    assert datetime.fromtimestamp(friday_early, tz=UTC).date() == date(2026, 3, 5)
    assert acknowledge_deadline(friday_early, sla, VIETNAM) == vn(2026, 3, 12)


def test_resolve_counts_calendar_days() -> None:
    sla = SlaConfig()
    # Acknowledged Tue 10 March: 30 days later is Thu 9 April, due by its end.
    assert resolve_deadline(vn(2026, 3, 10, 15), sla, VIETNAM) == vn(2026, 4, 10)
    assert resolve_deadline(vn(2026, 3, 10, 23, 59), sla, VIETNAM) == vn(2026, 4, 10)
    assert resolve_deadline(vn(2026, 3, 11, 0, 1), sla, VIETNAM) == vn(2026, 4, 11)
    for tet in (weekdays(TET_2026), VIETNAM):
        # Calendar days: holidays and weekends inside the period do not stretch it (Sat 14 Feb
        # + 30 days is Mon 16 March, with all of Tết in between)...
        assert resolve_deadline(vn(2026, 2, 14, 9), sla, tet) == vn(2026, 3, 17)
        # ...but a period ending on a day off ends on the next working day (Civil Code art.
        # 148): 13 Feb + 30 days is Sunday 15 March, so the deadline is the end of Monday 16.
        assert resolve_deadline(vn(2026, 2, 13, 9), sla, tet) == vn(2026, 3, 17)
    # Saturday 28 March + 30 days is Monday 27 April, Hùng Kings' day in lieu: Tuesday 28.
    for hung_kings in (weekdays(frozenset({date(2026, 4, 27)})), VIETNAM):
        assert resolve_deadline(vn(2026, 3, 28, 9), sla, hung_kings) == vn(2026, 4, 29)
    assert resolve_deadline(vn(2026, 3, 10, 15), SlaConfig(resolve_days=1), VIETNAM) == vn(
        2026, 3, 12
    )


def test_extension_bounds() -> None:
    sla = SlaConfig()
    deadline = vn(2026, 4, 10)
    assert extend_deadline(deadline, 30, sla) == deadline + 30 * DAY
    assert extend_deadline(deadline, 1, sla) == vn(2026, 4, 11)
    assert deadline_day(extend_deadline(deadline, 30, sla)) == date(2026, 5, 9)
    for days in (0, -1, 31):
        with pytest.raises(ValueError):
            extend_deadline(deadline, days, sla)
    with pytest.raises(ValueError):
        extend_deadline(deadline, 1, SlaConfig(extension_max_days=0))
    assert extend_deadline(deadline, 60, SlaConfig(extension_max_days=60)) == deadline + 60 * DAY


def test_reminder_time() -> None:
    deadline = vn(2026, 3, 12)
    assert reminder_time(deadline, SlaConfig()) == vn(2026, 3, 11)
    assert reminder_time(deadline, SlaConfig(remind_hours_before=2)) == vn(2026, 3, 11, 22)


@pytest.mark.parametrize(
    "day", [date(2026, 1, 1), date(2026, 2, 28), date(2026, 12, 31), date(2028, 2, 29)]
)
def test_deadline_day_round_trip(day: date) -> None:
    assert deadline_day(end_of_day(day)) == day


def test_deadline_day_of_real_deadlines() -> None:
    sla = SlaConfig()
    assert deadline_day(acknowledge_deadline(vn(2026, 3, 6, 10), sla, VIETNAM)) == date(
        2026, 3, 11
    )
    assert deadline_day(resolve_deadline(vn(2026, 3, 10, 15), sla, VIETNAM)) == date(2026, 4, 9)
    # A deadline that is not a midnight is met on its own day, up to that moment.
    assert deadline_day(vn(2026, 3, 11, 12)) == date(2026, 3, 11)
    assert deadline_day(vn(2026, 3, 11, 23, 59)) == date(2026, 3, 11)

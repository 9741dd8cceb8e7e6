"""Service-level deadlines: working-day and calendar-day arithmetic on Vietnam's calendar."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime, time, timedelta

from bot.config import SlaConfig
from bot.core.domain import VN_TZ, local_today
from bot.workdays import public_holidays

# Vietnam has no daylight saving, so a local day is always exactly this long.
_DAY_SECONDS = 86_400.0
_HOUR_SECONDS = 3_600.0


class Calendar:
    """Vietnam's working days: Monday to Friday, less public holidays, as the year arranges."""

    def __init__(
        self,
        holidays: Callable[[int], Collection[date]] = public_holidays,
        *,
        extra_days_off: Collection[date] = (),
        working_days: Collection[date] = (),
    ) -> None:
        # `holidays` gives one year's public holidays; the government's yearly arrangement
        # (days given off, days worked to make up for them: a weekend day, or a holiday moved)
        # overrides it. The configuration keeps a date out of both lists.
        self._holidays = holidays
        self._years: dict[int, frozenset[date]] = {}
        self.extra_days_off = frozenset(extra_days_off)
        self.working_days = frozenset(working_days)

    @classmethod
    def from_sla(cls, sla: SlaConfig) -> Calendar:
        """Return the calendar of the configured yearly arrangement on Vietnam's holidays."""
        return cls(extra_days_off=sla.extra_days_off, working_days=sla.working_days)

    def holidays_in(self, year: int) -> frozenset[date]:
        """Return the public holidays of `year` (without the yearly arrangement)."""
        days = self._years.get(year)
        if days is None:
            # Computed once per year the bot meets: the lunar holidays take a moment.
            days = self._years[year] = frozenset(self._holidays(year))
        return days

    def is_working_day(self, day: date) -> bool:
        """Tell whether public offices work on `day`."""
        # Public offices work a 40-hour week, Monday to Friday; the yearly arrangement wins.
        if day in self.working_days:
            return True
        if day in self.extra_days_off:
            return False
        return day.weekday() < 5 and day not in self.holidays_in(day.year)

    def add_working_days(self, day: date, count: int) -> date:
        """Return the `count`-th working day after `day`, not counting `day` itself."""
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        current = day
        remaining = count
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_day_on_or_after(self, day: date) -> date:
        """Return `day` if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def end_of_day(day: date) -> float:
    """Return the epoch of the local midnight that ends `day`."""
    # "Within N days" is met by anything done on the last day, so the deadline is its end.
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=VN_TZ).timestamp()


def acknowledge_deadline(received_at: float, sla: SlaConfig, calendar: Calendar) -> float:
    """Return the end of the N-th working day after the local day of `received_at`."""
    # A period in days starts the day after the event (Civil Code 2015, art. 147).
    day = calendar.add_working_days(local_today(received_at), sla.acknowledge_working_days)
    return end_of_day(day)


def resolve_deadline(acknowledged_at: float, sla: SlaConfig, calendar: Calendar) -> float:
    """Return the end of the day `resolve_days` calendar days after the acknowledgement's."""
    # The Law on Denunciation 2018 counts its 30 days (calendar, not working, days) from the
    # day the denunciation is accepted; that day itself is not counted.
    day = local_today(acknowledged_at) + timedelta(days=sla.resolve_days)
    # A period that ends on a day off ends on the next working day (Civil Code 2015, art. 148).
    return end_of_day(calendar.working_day_on_or_after(day))


def extend_deadline(deadline: float, days: int, sla: SlaConfig) -> float:
    """Return `deadline` moved `days` calendar days later, within the allowed extension."""
    # The law allows one extension of limited length for complex cases; a longer one is not
    # an extension but a new deadline, which this service does not grant.
    if days < 1 or days > sla.extension_max_days:
        raise ValueError(f"an extension must be 1 to {sla.extension_max_days} days, not {days}")
    return deadline + days * _DAY_SECONDS


def reminder_time(deadline: float, sla: SlaConfig) -> float:
    """Return when to remind the unit that `deadline` is near."""
    return deadline - sla.remind_hours_before * _HOUR_SECONDS


def deadline_day(deadline: float) -> date:
    """Return the last local day on which `deadline` is still met."""
    moment = datetime.fromtimestamp(deadline, tz=VN_TZ)
    # A deadline at midnight closes the day before it; one at any other moment falls inside its
    # own day, which is then the last day to act.
    if moment.time() == time():
        return moment.date() - timedelta(days=1)
    return moment.date()

"""Service-level deadlines: working-day and calendar-day arithmetic on Vietnam's calendar."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta

from bot.config import SlaConfig
from bot.core.domain import VN_TZ, local_today

# Vietnam has no daylight saving, so a local day is always exactly this long.
_DAY_SECONDS = 86_400.0
_HOUR_SECONDS = 3_600.0


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    """Tell whether `day` is a working day: Monday to Friday and not a holiday."""
    # Public offices work a 40-hour week, Monday to Friday; public holidays and the government's
    # swapped days off change every year, so they come from the configuration as dates.
    return day.weekday() < 5 and day not in holidays


def add_working_days(day: date, count: int, holidays: Collection[date]) -> date:
    """Return the `count`-th working day after `day`, not counting `day` itself."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    current = day
    remaining = count
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current, holidays):
            remaining -= 1
    return current


def end_of_day(day: date) -> float:
    """Return the epoch of the local midnight that ends `day`."""
    # "Within N days" is met by anything done on the last day, so the deadline is its end.
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=VN_TZ).timestamp()


def acknowledge_deadline(received_at: float, sla: SlaConfig) -> float:
    """Return the end of the N-th working day after the local day of `received_at`."""
    # A period in days starts the day after the event (Civil Code 2015, art. 147).
    day = add_working_days(local_today(received_at), sla.acknowledge_working_days, sla.holidays)
    return end_of_day(day)


def resolve_deadline(acknowledged_at: float, sla: SlaConfig) -> float:
    """Return the end of the day `resolve_days` calendar days after the acknowledgement's."""
    # The Law on Denunciation 2018 counts its 30 days (calendar, not working, days) from the
    # day the denunciation is accepted; that day itself is not counted.
    day = local_today(acknowledged_at) + timedelta(days=sla.resolve_days)
    # A period that ends on a day off ends on the next working day (Civil Code 2015, art. 148).
    while not is_working_day(day, sla.holidays):
        day += timedelta(days=1)
    return end_of_day(day)


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

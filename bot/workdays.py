"""Vietnam's public holidays, computed, and what a listed make-up working day may be."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import holidays


def public_holidays(year: int) -> dict[date, str]:
    """Return Vietnam's public holidays and days off in lieu in `year`, with English names."""
    # The package computes the lunar holidays (Tết, Hùng Kings' day), the days off in lieu of a
    # holiday on a weekend (Labour Code 2019, art. 112(3)) and the swaps it knows of; those are
    # days off for public offices too. A make-up Saturday it does not give, nor a holiday the
    # government has worked instead: see working_days, which overrides these.
    return dict(holidays.country_holidays("VN", years=year, language="en_US"))


def working_day_problem(day: date, listed_off: Mapping[date, str]) -> str | None:
    """Say what is wrong with listing `day` as a make-up working day; None if nothing is.

    `listed_off` maps the days listed as days off to the key that lists them.
    """
    # A listed working day is worked whatever the computed calendar says (a weekend day, or a
    # holiday the government moved), so a date in both lists would say two things at once:
    # which one wins is not for the bot to guess.
    if day in listed_off:
        return (
            f"{day} is also listed in {listed_off[day]}: a day is either worked or off;"
            " remove it from one of the two lists"
        )
    # A weekday that is no public holiday is a working day already: listing it is a typo for
    # the weekend day or the holiday meant.
    if day.weekday() < 5 and day not in public_holidays(day.year):
        return (
            f"{day} is a {day:%A} and no public holiday: it is a working day already"
            " (list a Saturday, Sunday or public holiday that is worked)"
        )
    return None

"""Conflicts of interest and repeated misconduct: where a report goes, and which reports match.

A report about a unit's own head goes to the unit above, as does every report of a category an
admin marked as conflicted for that unit. Reports naming the same official at the same unit
within a period form a cluster; a cluster large enough is escalated to the unit above. Pure
functions: the workflow reads what they need from storage and writes what they decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.core.domain import Report, ReportFields, Unit
from bot.core.parsing import fold

# Why a report was sent above the unit it is about.
HEAD = "head"  # the citizen said the official heads the unit
MARKED = "marked"  # an admin marked the unit as conflicted for the category

# Reports about the same official within this many days form a pattern.
PATTERN_DAYS = 90
# A cluster of this many reports (the new one included) is escalated to the unit above, once.
ESCALATE_AT = 3
# rapidfuzz's token_sort_ratio of two folded names at or above which they are one official
# (tests/test_integrity.py holds the names it must and must not join).
MATCH_THRESHOLD = 88

# Words placed before a name that say nothing about who it is.
_HONORIFICS = frozenset({"ong", "ba", "anh", "chi", "co", "chu", "em", "can", "bo", "dong"})
_CUT = re.compile(r"[,;()\-–/]")


@dataclass(frozen=True)
class Route:
    """Where a new report goes: the unit it is about, the unit that handles it, and why.

    `basis` is what the decision was taken on (unit, category, head answer); the store refuses
    the route when the draft it submits no longer says the same.
    """

    concerned: str
    handler: str | None  # None: no unit above, the admins handle it
    reason: str
    basis: tuple[str | None, str | None, str | None]


class RouteStale(Exception):
    """The draft changed after its route was decided: decide again."""


def basis_of(fields: ReportFields) -> tuple[str | None, str | None, str | None]:
    """Return what a route is decided on."""
    return (fields.unit_code, fields.category, fields.official_head)


def route(fields: ReportFields, unit: Unit | None, marked: bool) -> Route | None:
    """Return the route of a report that must not reach its own unit, or None."""
    if unit is None:
        return None
    if fields.official and fields.official_head == "yes":
        reason = HEAD
    elif marked:
        reason = MARKED
    else:
        return None
    return Route(unit.code, unit.parent, reason, basis_of(fields))


def transfer_refused(report: Report, target: str) -> bool:
    """Tell whether a transfer would hand a report back to the unit it concerns."""
    return report.concerned_unit is not None and target == report.concerned_unit


# -- patterns ----------------------------------------------------------------------------------


def official_key(name: str | None) -> str:
    """Return a named official as compared: folded, without titles or position details."""
    if not name:
        return ""
    head = _CUT.split(fold(name), maxsplit=1)[0]
    words = head.split()
    while words and words[0] in _HONORIFICS and len(words) > 1:
        words = words[1:]
    return " ".join(words)


def same_official(a: str | None, b: str | None) -> bool:
    """Tell whether two names given for an official are very likely the same person."""
    ka, kb = official_key(a), official_key(b)
    if not ka or not kb:
        return False
    if ka == kb:
        return True
    # The given name (last word) tells Vietnamese names apart: a typo elsewhere is tolerated,
    # a different given name never is.
    if ka.split()[-1] != kb.split()[-1]:
        return False
    return fuzz.token_sort_ratio(ka, kb) >= MATCH_THRESHOLD


def subject_unit(report: Report) -> str | None:
    """Return the unit a report is about (not the one handling it after a conflict)."""
    return report.concerned_unit or report.fields.unit_code


def matching(report: Report, others: Iterable[Report]) -> list[Report]:
    """Return the other reports about the same official at the same unit, oldest first."""
    unit = subject_unit(report)
    found = [
        other
        for other in others
        if other.id != report.id
        and subject_unit(other) == unit
        and abs(other.created_at - report.created_at) <= PATTERN_DAYS * 86400
        and same_official(other.fields.official, report.fields.official)
    ]
    return sorted(found, key=lambda r: r.created_at)


def clusters(reports: Sequence[Report], minimum: int = 2) -> list[list[Report]]:
    """Group reports into clusters about one official at one unit (linked by any match)."""
    pending = sorted((r for r in reports if official_key(r.fields.official)), key=lambda r: r.id)
    groups: list[list[Report]] = []
    while pending:
        group = [pending.pop(0)]
        grew = True
        while grew:
            grew = False
            for other in list(pending):
                if any(matching(member, [other]) for member in group):
                    group.append(other)
                    pending.remove(other)
                    grew = True
        if len(group) >= minimum:
            groups.append(sorted(group, key=lambda r: r.created_at))
    return sorted(groups, key=len, reverse=True)

"""Callback data formats of the report conversation, each defined once: build, parse, pattern."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.conversation import Step

MAX_BYTES = 64  # Telegram's limit on callback_data


@dataclass(frozen=True)
class Format:
    """One callback-data format: a whole-string regular expression with named groups."""

    regex: str

    @property
    def pattern(self) -> re.Pattern[str]:
        """Return the compiled pattern, anchored at both ends (`\\Z`, never `$`)."""
        return re.compile(r"\A(?:" + self.regex + r")\Z")

    def match(self, data: str | None) -> dict[str, str] | None:
        """Return the fields of `data` when all of it is of this format."""
        found = self.pattern.fullmatch(data or "")
        return found.groupdict() if found else None


class _ReportAnswer(Format):
    def build(self, *, step: Step, value: str) -> str:
        data = f"a:{step.key}:{value}"
        assert self.match(data) is not None and len(data.encode()) <= MAX_BYTES, data
        return data

    def parse(self, data: str | None) -> tuple[Step, str] | None:
        fields = self.match(data)
        if fields is None:
            return None
        step = Step.from_key(fields["step"])
        return None if step is None else (step, fields["value"])


class _UnitBrowse(Format):
    def build(self, *, code: str | None, page: int) -> str:
        data = f"ub:{code or '-'}:{page}"
        assert self.match(data) is not None and len(data.encode()) <= MAX_BYTES, data
        return data

    def parse(self, data: str | None) -> tuple[str | None, int] | None:
        fields = self.match(data)
        if fields is None:
            return None
        return (None if fields["code"] == "-" else fields["code"]), int(fields["page"])


REPORT_ANSWER = _ReportAnswer(r"a:(?P<step>[a-z]{1,12}):(?P<value>[A-Za-z0-9_.-]{1,40})")
UNIT_BROWSE = _UnitBrowse(r"ub:(?P<code>[A-Za-z0-9_.-]{1,24}|-):(?P<page>[0-9]{1,4})")
REPORT_NEW = Format(r"report:new")
CONSENT = Format(r"consent:(?P<answer>yes|no)")

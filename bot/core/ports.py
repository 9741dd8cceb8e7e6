"""What the core needs from storage, as protocols: the core never imports the store.

`bot.store.Repository` provides all of it; tests may provide less. Each step of the workflow is
one call here, and that call is one transaction: the report's change, its audit line and the
messages it owes are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from bot.core.domain import Actor, Attachment, Draft, Report, Timers, Unit
from bot.core.integrity import Route
from bot.core.outbox import Outgoing

# A `guard` value meaning "any value but NULL".
NOT_NULL: Any = object()


class ReportLedger(Protocol):
    """Reports: the transactions that create and change them, and the queries of the clock."""

    async def submit_draft(
        self,
        user_id: int,
        locale: str,
        timers: Timers | None = None,
        outbox: Sequence[Outgoing] = (),
        route: Route | None = None,
        receipt: tuple[bytes, bytes] | None = None,
    ) -> Report | None:
        """Turn a draft into a report with its evidence, audit line and `outbox`, atomically;
        `route` sends it above its unit (RouteStale if the draft no longer fits the route)."""

    async def transition(
        self,
        report_id: int,
        *,
        actor: Actor,
        action: str,
        expect: Collection[str] | None = None,
        to: str | None = None,
        note: str | None = None,
        changes: Mapping[str, Any] | None = None,
        guard: Mapping[str, Any] | None = None,
        consume: tuple[int, int] | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> tuple[Report, int] | None:
        """Apply one step atomically; None (nothing changed) when a check fails."""

    async def reports_sent_since(self, user_id: int, since: float) -> int:
        """Count the reports a user sent since a moment."""

    async def report_attachments(self, report_id: int) -> list[Attachment]:
        """Return a report's evidence in the order the citizen sent it."""

    async def open_reports_without_timers(self, limit: int = 100) -> list[Report]:
        """Return open reports that have no deadline yet."""

    async def due_reminders(self, now: float, limit: int = 100) -> list[Report]:
        """Return open reports whose reminder is due."""

    async def due_escalations(self, now: float, limit: int = 100) -> list[Report]:
        """Return open reports whose escalation is due."""


class UnitTree(Protocol):
    """The units and who serves in them."""

    async def get_unit(self, code: str) -> Unit | None:
        """Return a unit, or None."""

    async def child_units(self, parent: str | None) -> list[Unit]:
        """Return the enabled units directly under `parent` (the top level for None)."""

    async def ancestors(self, code: str) -> list[str]:
        """Return the unit's code and its parents' codes, nearest first."""

    async def officer_units(self, user_id: int) -> set[str]:
        """Return the units a person is an officer of."""


class AdminList(Protocol):
    """Administrators added from chat."""

    async def chat_admins(self) -> set[int]:
        """Return the ids of admins added from chat."""


class Markers(Protocol):
    """Named values that make a periodic job happen once."""

    async def get_marker(self, name: str) -> str | None:
        """Return a marker's value."""

    async def set_marker(
        self,
        name: str,
        value: str,
        *,
        expect: str | None = None,
        outbox: Sequence[Outgoing] = (),
    ) -> bool:
        """Set a marker if it still holds `expect`, queuing `outbox` with it."""


class Drafts(Protocol):
    """Reports being written."""

    async def get_draft(self, user_id: int) -> Draft | None:
        """Return the user's draft, or None."""


class IntegrityLedger(Protocol):
    """Conflict marks and the reports patterns are looked for in."""

    async def is_conflicted(self, unit_code: str, category: str) -> bool:
        """Tell whether an admin marked the unit as conflicted for the category."""

    async def named_reports(self, since: float, unit_code: str | None = None) -> list[Report]:
        """Return reports naming an official since a moment, about one unit or all."""

    async def escalate_pattern(
        self, report: Report, cluster: Collection[int], note: str, outbox: Sequence[Outgoing]
    ) -> bool:
        """Record a cluster's escalation with its audit line and alerts, once per cluster."""


class WorkflowStore(Protocol):
    """Everything the workflow reads and writes."""

    @property
    def reports(self) -> ReportLedger:
        """Reports."""

    @property
    def units(self) -> UnitTree:
        """Units and officers."""

    @property
    def admin(self) -> AdminList:
        """Administrators."""

    @property
    def markers(self) -> Markers:
        """Markers."""

    @property
    def drafts(self) -> Drafts:
        """Drafts."""

    @property
    def integrity(self) -> IntegrityLedger:
        """Conflict marks and pattern candidates."""

    @property
    def clock(self) -> Callable[[], float]:
        """The clock every stored moment is read from."""

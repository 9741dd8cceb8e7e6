"""The officer workflow: which steps a report allows, what each changes, and what it sends.

Every step is one repository transaction that checks the report's current state, updates it,
appends to the audit log and queues the messages it owes (the edited alert, the citizen's
notice, a new alert); a stale, replayed or racing step changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.config import Settings, SlaConfig
from bot.core.deadlines import (
    Calendar,
    acknowledge_deadline,
    extend_deadline,
    reminder_time,
    resolve_deadline,
)
from bot.core.domain import (
    CITIZEN,
    SYSTEM,
    VN_TZ,
    Action,
    Actor,
    DeclineReason,
    Report,
    ReportFields,
    Status,
    Timers,
)
from bot.core.integrity import (
    ESCALATE_AT,
    PATTERN_DAYS,
    Route,
    RouteStale,
    matching,
    route,
    subject_unit,
    transfer_refused,
)
from bot.core.outbox import (
    AlertPayload,
    ConflictNotice,
    DigestPayload,
    EscalationNotice,
    Outgoing,
    PatternCheck,
    ReceiptPayload,
    RefreshPayload,
    ReminderPayload,
    StatusNotice,
)
from bot.core.ports import NOT_NULL, WorkflowStore
from bot.core.receipts import key_path, load_or_create_key, receipt_document, sign

log = logging.getLogger(__name__)

# Telegram's GroupAnonymousBot: the sender shown for an anonymous group administrator, which
# says nothing about who acted.
ANONYMOUS_ADMIN_ID = 1087968824

# The weekly digest goes out on Monday from this hour, Vietnam time.
DIGEST_HOUR = 8

# The window of `[bot] reports_per_day`; the counts behind it are kept no longer than this.
LIMIT_WINDOW = 86400.0

NOTE_MIN = 5
NOTE_MAX = 1000
# A relayed text keeps room for its header and footer within Telegram's 4096 characters.
QUESTION_MAX = 3500


_BY_STATUS: dict[str, tuple[Action, ...]] = {
    Status.NEW: (Action.ACKNOWLEDGE, Action.ASK, Action.TRANSFER, Action.DECLINE),
    Status.ACKNOWLEDGED: (
        Action.PROGRESS,
        Action.ASK,
        Action.TRANSFER,
        Action.EXTEND,
        Action.RESOLVE,
        Action.DECLINE,
    ),
    Status.IN_PROGRESS: (
        Action.ASK,
        Action.TRANSFER,
        Action.EXTEND,
        Action.RESOLVE,
        Action.DECLINE,
    ),
}

OPEN = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS)


def allowed_actions(report: Report, sla: SlaConfig) -> list[Action]:
    """Return the buttons the report's current status allows, in display order."""
    actions = list(_BY_STATUS.get(report.status, ()))
    # One extension, of the resolution deadline only, as the Law on Denunciation allows.
    if Action.EXTEND in actions and (
        report.extended or report.deadline_kind != "resolve" or sla.extension_max_days < 1
    ):
        actions.remove(Action.EXTEND)
    return actions


def timers_for(kind: str, deadline: float, now: float, sla: SlaConfig) -> Timers:
    """Return the timers of a fresh deadline: a reminder before it, escalation at it."""
    remind = reminder_time(deadline, sla)
    # A deadline closer than the reminder window is reminded of at once, not never.
    remind_at = max(remind, now) if deadline > now else None
    return Timers(kind, deadline, remind_at, deadline)


def acknowledge_timers(now: float, sla: SlaConfig, calendar: Calendar) -> Timers:
    """Return the timers of a report the unit has not acknowledged yet."""
    return timers_for("ack", acknowledge_deadline(now, sla, calendar), now, sla)


REFRESH = Outgoing(RefreshPayload())


def _notify() -> list[Outgoing]:
    # The alert messages are edited to the new state and the citizen is told, in every step
    # (the notice learns which step from the audit line the transaction writes).
    return [REFRESH, Outgoing(StatusNotice())]


class Workflow:
    """The steps officers, citizens and the clock take on reports."""

    def __init__(self, db: WorkflowStore, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.calendar = Calendar.from_sla(settings.sla)

    @property
    def sla(self) -> SlaConfig:
        """Return the deadlines configuration."""
        return self.settings.sla

    # -- who may act -------------------------------------------------------------------------

    async def is_admin(self, user_id: int) -> bool:
        """Tell whether the user administers the bot (named in the config or added in chat)."""
        if user_id == ANONYMOUS_ADMIN_ID:
            return False
        return user_id in self.settings.admins or user_id in await self.db.admin.chat_admins()

    async def admin_ids(self) -> list[int]:
        """Return every admin's id."""
        return sorted(self.settings.admins | await self.db.admin.chat_admins())

    async def may_act(self, user_id: int, unit_code: str) -> bool:
        """Tell whether the user may act for the unit: its officers, its parents', admins."""
        if user_id == ANONYMOUS_ADMIN_ID:
            return False
        if await self.is_admin(user_id):
            return True
        chain = await self.db.units.ancestors(unit_code)
        return bool(set(chain) & await self.db.units.officer_units(user_id))

    async def actor(self, user_id: int, name: str | None) -> Actor:
        """Return how the audit log names a person acting on a report."""
        kind = "admin" if await self.is_admin(user_id) else "officer"
        return Actor(kind, user_id, name)

    # -- the citizen's steps -----------------------------------------------------------------

    async def over_daily_limit(self, user_id: int) -> bool:
        """Tell whether the user has sent as many reports in 24 hours as one person may."""
        since = self.db.clock() - LIMIT_WINDOW
        return (
            await self.db.reports.reports_sent_since(user_id, since)
            >= self.settings.reports_per_day
        )

    async def submit(
        self, user_id: int, locale: str, *, receipt: tuple[bytes, bytes] | None = None
    ) -> Report | None:
        """Turn the user's draft into a report: the report, its evidence, its audit line, its
        alert and the acknowledgement deadline in one transaction.

        `receipt` is the (salt, hash) of the secret key a web reporter reaches the report with.
        Returns None when there is no draft (it was just sent: a double tap or a replay).
        """
        timers = acknowledge_timers(self.db.clock(), self.sla, self.calendar)
        # A draft changed between deciding its route and storing it is decided again.
        for _attempt in range(3):
            draft = await self.db.drafts.get_draft(user_id)
            if draft is None:
                return None
            chosen = await self.route_of(draft.fields.unit_code, draft.fields)
            try:
                owed = await self._submit_owed(chosen)
                if draft.fields.official:
                    # Run after the commit by the outbox, which retries it until it has run.
                    owed.append(Outgoing(PatternCheck()))
                report = await self.db.reports.submit_draft(
                    user_id, locale, timers, owed, route=chosen, receipt=receipt
                )
            except RouteStale:
                continue
            return report
        raise RouteStale

    async def route_of(self, unit_code: str | None, fields: ReportFields) -> Route | None:
        """Return where a report about `unit_code` must go instead, or None (to that unit)."""
        if not unit_code or not fields.category:
            return None
        unit = await self.db.units.get_unit(unit_code)
        marked = await self.db.integrity.is_conflicted(unit_code, fields.category)
        return route(fields, unit, marked)

    async def _submit_owed(self, chosen: Route | None) -> list[Outgoing]:
        # The tracking code is owed as surely as the alert: both are queued with the report, so
        # a crash after the commit delays them but loses neither. The code goes first, to the
        # person who is waiting; the alert goes to the unit the draft names, or above it.
        owed = [Outgoing(ReceiptPayload())]
        if chosen is None:
            return [*owed, Outgoing(AlertPayload())]
        alert = AlertPayload(conflict=chosen.reason)
        if chosen.handler is not None:
            owed.append(Outgoing(alert, chosen.handler))
        else:
            owed += [Outgoing(alert, chat_id=admin) for admin in await self.admin_ids()]
        # The unit concerned learns only that a report about it is handled elsewhere.
        owed.append(Outgoing(ConflictNotice(handler=chosen.handler), chosen.concerned))
        return owed

    async def check_pattern(self, report: Report) -> int:
        """Count the other reports about the same official in the period; a cluster large
        enough goes to the unit above the one concerned, once. Returns the count."""
        unit = subject_unit(report)
        if not report.fields.official or unit is None:
            return 0
        since = report.created_at - PATTERN_DAYS * 86400
        # Only the reports before this one: the check may run late (the outbox retries it), and
        # it must then decide as it would have at once, whatever came in meanwhile.
        earlier = [
            r for r in await self.db.integrity.named_reports(since, unit) if r.id < report.id
        ]
        found = matching(report, earlier)
        size = len(found) + 1
        if size < ESCALATE_AT:
            return len(found)
        chain = await self.db.units.ancestors(unit)
        parent = chain[1] if len(chain) > 1 else None
        alert = AlertPayload(pattern=size)
        if parent is not None and parent == report.fields.unit_code:
            # Already in the parent's hands (a conflict of interest): its alert shows it.
            sends: list[Outgoing] = []
        elif parent is not None:
            sends = [Outgoing(alert, parent)]
        else:
            sends = [Outgoing(alert, chat_id=admin) for admin in await self.admin_ids()]
        await self.db.integrity.escalate_pattern(
            report, [r.id for r in found], parent or "admins", [*sends, REFRESH]
        )
        return len(found)

    async def signed_receipt(self, report: Report) -> bytes | None:
        """Return the report's signed receipt file, the same on every channel; None while a
        piece of evidence has no fingerprint yet (the channel computes it or asks later)."""
        hashes = [a.sha256 for a in await self.db.reports.report_attachments(report.id)]
        if any(h is None for h in hashes):
            return None
        # The unit the report is about, even when a conflict of interest sent it above.
        unit_code = report.concerned_unit or report.fields.unit_code or ""
        unit = await self.db.units.get_unit(unit_code)
        document = receipt_document(report, unit.name if unit else unit_code, hashes)
        key = await asyncio.to_thread(load_or_create_key, key_path(self.settings.database))
        return sign(document, key)

    # -- status steps ------------------------------------------------------------------------

    async def acknowledge(self, report: Report, actor: Actor) -> Report | None:
        """Take the report: the resolution clock starts."""
        now = self.db.clock()
        deadline = resolve_deadline(now, self.sla, self.calendar)
        timers = timers_for("resolve", deadline, now, self.sla)
        return await self._step(
            report,
            actor,
            "acknowledged",
            expect=(Status.NEW,),
            to=Status.ACKNOWLEDGED,
            changes={**timers.columns(), "acknowledged_at": now},
        )

    async def start_progress(self, report: Report, actor: Actor) -> Report | None:
        """Mark the report as being handled."""
        return await self._step(
            report, actor, "in_progress", expect=(Status.ACKNOWLEDGED,), to=Status.IN_PROGRESS
        )

    async def resolve(
        self, report: Report, actor: Actor, note: str, consume: tuple[int, int] | None = None
    ) -> Report | None:
        """Close the report as resolved, with the note the citizen will read."""
        return await self._step(
            report,
            actor,
            "resolved",
            expect=(Status.ACKNOWLEDGED, Status.IN_PROGRESS),
            to=Status.RESOLVED,
            note=note,
            changes={
                **Timers().columns(),
                "closed_at": self.db.clock(),
                "resolution_note": note,
                "citizen_verdict": None,
            },
            consume=consume,
        )

    async def decline(
        self,
        report: Report,
        actor: Actor,
        reason: DeclineReason,
        note: str,
        consume: tuple[int, int] | None = None,
    ) -> Report | None:
        """Close the report without handling it, saying why."""
        return await self._step(
            report,
            actor,
            "declined",
            expect=OPEN,
            to=Status.DECLINED,
            note=note,
            changes={
                **Timers().columns(),
                "closed_at": self.db.clock(),
                "decline_reason": reason.value,
                "resolution_note": note,
            },
            consume=consume,
        )

    async def extend(
        self,
        report: Report,
        actor: Actor,
        days: int,
        reason: str,
        consume: tuple[int, int] | None = None,
    ) -> Report | None:
        """Push the resolution deadline back once."""
        if Action.EXTEND not in allowed_actions(report, self.sla) or report.deadline_at is None:
            return None
        now = self.db.clock()
        deadline = extend_deadline(report.deadline_at, days, self.sla)
        timers = timers_for("resolve", deadline, now, self.sla)
        return await self._step(
            report,
            actor,
            "extended",
            expect=(Status.ACKNOWLEDGED, Status.IN_PROGRESS),
            note=reason,
            changes={**timers.columns(), "extended": 1},
            guard={"extended": 0, "deadline_at": report.deadline_at},
            consume=consume,
        )

    async def transfer(
        self,
        report: Report,
        actor: Actor,
        target: str,
        reason: str,
        consume: tuple[int, int] | None = None,
    ) -> Report | None:
        """Hand the report to another unit: closed here, a fresh alert and clock there."""
        unit = await self.db.units.get_unit(target)
        if unit is None or unit.disabled or target == report.fields.unit_code:
            return None
        # A report sent above its unit for a conflict of interest never goes back down to it.
        if transfer_refused(report, target):
            return None
        now = self.db.clock()
        return await self._step(
            report,
            actor,
            "transferred",
            expect=OPEN,
            to=Status.NEW,
            note=reason,
            changes={
                **acknowledge_timers(now, self.sla, self.calendar).columns(),
                "unit_code": target,
                "acknowledged_at": None,
                "extended": 0,
            },
            guard={"unit_code": report.fields.unit_code},
            consume=consume,
            also=[Outgoing(AlertPayload(transferred=True), target)],
        )

    async def reopen(self, report: Report) -> Report | None:
        """Reopen a resolved report the citizen says is not resolved; its clock restarts."""
        now = self.db.clock()
        closed = report.closed_at or now
        if now - closed > self.sla.reopen_days * 86400:
            return None
        return await self._step(
            report,
            CITIZEN,
            "reopened",
            expect=(Status.RESOLVED,),
            to=Status.NEW,
            changes={
                **acknowledge_timers(now, self.sla, self.calendar).columns(),
                "citizen_verdict": "no",
                "closed_at": None,
                "acknowledged_at": None,
                "extended": 0,
            },
            guard={"citizen_verdict": None},
            also=[Outgoing(AlertPayload(reopened=True), report.fields.unit_code)],
        )

    async def confirm_resolved(self, report: Report) -> Report | None:
        """Record the citizen's word that the report really is resolved."""
        done = await self.db.reports.transition(
            report.id,
            actor=CITIZEN,
            action="confirmed",
            expect=(Status.RESOLVED,),
            changes={"citizen_verdict": "yes"},
            guard={"citizen_verdict": None},
            outbox=[REFRESH],
        )
        return done[0] if done else None

    async def rate(self, report: Report, stars: int) -> Report | None:
        """Record the citizen's rating of the handling, once."""
        if not 1 <= stars <= 5:
            return None
        # Only a handling that ended can be rated: closed, or judged by the citizen (who may
        # rate even the resolution they just rejected).
        if report.status not in (Status.RESOLVED, Status.DECLINED) and not report.citizen_verdict:
            return None
        done = await self.db.reports.transition(
            report.id,
            actor=CITIZEN,
            action="rated",
            note=str(stars),
            changes={"rating": stars},
            guard={"rating": None},
            outbox=[REFRESH],
        )
        return done[0] if done else None

    async def _step(
        self,
        report: Report,
        actor: Actor,
        action: str,
        *,
        expect: Sequence[str],
        to: str | None = None,
        note: str | None = None,
        changes: dict[str, object] | None = None,
        guard: dict[str, object] | None = None,
        consume: tuple[int, int] | None = None,
        also: Sequence[Outgoing] = (),
    ) -> Report | None:
        done = await self.db.reports.transition(
            report.id,
            actor=actor,
            action=action,
            expect=expect,
            to=to,
            note=note,
            changes=changes,
            guard=guard,
            consume=consume,
            outbox=[*also, *_notify()],
        )
        return done[0] if done else None

    # -- the weekly digest --------------------------------------------------------------------

    async def queue_digest(self) -> bool:
        """On Monday morning, queue last week's figures for the top units and the admins, once."""
        now = self.db.clock()
        local = datetime.fromtimestamp(now, tz=VN_TZ)
        if local.weekday() != 0 or local.hour < DIGEST_HOUR:
            return False
        monday = local.date()
        week = (monday - timedelta(days=7)).isoformat()
        last = await self.db.markers.get_marker("digest_week")
        if last == week:
            return False
        payload = DigestPayload(first=week, last=monday.isoformat())
        tops = [u for u in await self.db.units.child_units(None) if u.chat_id is not None]
        sends = [Outgoing(payload, unit.code) for unit in tops]
        sends += [Outgoing(payload, chat_id=a) for a in await self.admin_ids()]
        # The marker and the messages are one transaction: a restart neither loses the week's
        # digest nor sends it twice.
        return await self.db.markers.set_marker("digest_week", week, expect=last, outbox=sends)

    # -- the clock ---------------------------------------------------------------------------

    async def run_timers(self) -> tuple[int, int]:
        """Send the reminders and escalations that are due; return how many of each."""
        now = self.db.clock()
        reminded = escalated = 0
        # Reports stored before deadlines existed get one now, rather than never stalling out.
        for report in await self.db.reports.open_reports_without_timers():
            await self.db.reports.transition(
                report.id,
                actor=SYSTEM,
                action="deadline_set",
                expect=OPEN,
                changes=acknowledge_timers(now, self.sla, self.calendar).columns(),
                guard={"deadline_at": None},
                outbox=[REFRESH],
            )
        for report in await self.db.reports.due_reminders(now):
            if await self._remind(report):
                reminded += 1
        for report in await self.db.reports.due_escalations(now):
            if await self._escalate(report, now):
                escalated += 1
        return reminded, escalated

    async def _remind(self, report: Report) -> bool:
        done = await self.db.reports.transition(
            report.id,
            actor=SYSTEM,
            action="reminded",
            expect=OPEN,
            changes={"remind_at": None},
            guard={"remind_at": NOT_NULL, "deadline_at": report.deadline_at},
            outbox=[
                Outgoing(
                    ReminderPayload(report.deadline_kind, report.deadline_at),
                    report.fields.unit_code,
                )
            ],
        )
        return done is not None

    async def _escalate(self, report: Report, now: float) -> bool:
        """Send an overdue report one level up: the parent's chat, or the admins at the top."""
        level = report.escalation_level + 1
        chain = await self.db.units.ancestors(report.fields.unit_code or "")
        overdue = AlertPayload(overdue=level, deadline_kind=report.deadline_kind)
        if level < len(chain):
            target: str | None = chain[level]
            sends = [Outgoing(overdue, target)]
            # The level above gets the same time to act before it climbs again.
            next_at: float | None = acknowledge_deadline(now, self.sla, self.calendar)
        else:
            target = None
            admins = await self.admin_ids()
            if not admins:
                log.warning("report %s is overdue at the top unit, but no admin is set", report.id)
            sends = [Outgoing(overdue, chat_id=admin) for admin in admins]
            next_at = None
        done = await self.db.reports.transition(
            report.id,
            actor=SYSTEM,
            action="escalated",
            expect=OPEN,
            note=target or "admins",
            changes={"escalation_level": level, "escalate_at": next_at},
            guard={
                "escalate_at": NOT_NULL,
                "escalation_level": report.escalation_level,
                "deadline_at": report.deadline_at,
            },
            outbox=[
                *sends,
                REFRESH,
                Outgoing(EscalationNotice(to=target)),
            ],
        )
        return done is not None

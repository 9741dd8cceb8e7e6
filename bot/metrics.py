"""The operator's figures in Prometheus's text format, one registry per application.

Counters are kept as things happen (updates handled, Bot API calls, flood waits); the figures
the database holds (outbox, reports, backlog) are read into gauges at each scrape. Every label
value comes from a fixed set named in code (an update's kind, a Bot API method, an outcome, a
report's status): never a person's id, name or text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# A Bot API method's name is letters only ("sendMessage"); anything else is not one.
_METHOD_RE = re.compile(r"\A[A-Za-z]{1,64}\Z")
# Handlers mostly take milliseconds; a slow one waits on Telegram for seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class OpsFigures:
    """What the database says at one moment, for the gauges and the readiness check."""

    outbox_depth: int = 0
    # Seconds the oldest undelivered outbox item has waited, 0 when none waits.
    outbox_oldest_seconds: float = 0.0
    reports_by_status: dict[str, int] = field(default_factory=dict)
    overdue_reports: int = 0
    escalations: int = 0
    inbound_backlog: int = 0


def method_label(name: str) -> str:
    """Return a Bot API method's name as a label, or "other" for anything that is not one."""
    return name if _METHOD_RE.match(name) else "other"


class Metrics:
    """The application's collectors, in a registry of its own (several bots share a process
    in the tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.updates = Counter(
            "liemchinh_updates_handled", "Updates handled, by kind", ["kind"], registry=reg
        )
        self.handler_seconds = Histogram(
            "liemchinh_handler_seconds",
            "Time to handle one update",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.api_calls = Counter(
            "liemchinh_bot_api_calls",
            "Bot API calls and file downloads, by method and outcome",
            ["method", "outcome"],
            registry=reg,
        )
        self.flood_waits = Counter(
            "liemchinh_flood_waits", "429 answers (Telegram's flood waits)", registry=reg
        )
        self.flood_wait_seconds = Counter(
            "liemchinh_flood_wait_seconds", "Seconds Telegram asked to wait", registry=reg
        )
        self.outbox_depth = Gauge(
            "liemchinh_outbox_depth", "Messages owed and not yet delivered", registry=reg
        )
        self.outbox_oldest = Gauge(
            "liemchinh_outbox_oldest_seconds",
            "Age of the oldest undelivered outbox item (0 when none)",
            registry=reg,
        )
        self.reports = Gauge(
            "liemchinh_reports", "Reports by status (spam left out)", ["status"], registry=reg
        )
        self.overdue = Gauge(
            "liemchinh_reports_overdue", "Open reports past their deadline", registry=reg
        )
        self.escalations = Gauge(
            "liemchinh_escalations", "Escalations recorded in the reports' history", registry=reg
        )
        self.inbound_backlog = Gauge(
            "liemchinh_inbound_backlog", "Updates stored and not yet handled", registry=reg
        )
        self.last_intake_gauge = Gauge(
            "liemchinh_last_intake_timestamp_seconds",
            "When Telegram last answered a poll or sent a webhook request",
            registry=reg,
        )
        # When Telegram last answered a poll or sent an update (the application's clock).
        self.last_intake: float | None = None

    def intake(self, now: float) -> None:
        """Record that Telegram answered a poll or delivered a webhook request."""
        self.last_intake = now
        self.last_intake_gauge.set(now)

    def handled(self, kind: str, seconds: float) -> None:
        """Count one handled update of `kind` and how long it took."""
        self.updates.labels(kind=kind).inc()
        self.handler_seconds.observe(seconds)

    def api_call(self, method: str, outcome: str) -> None:
        """Count one Bot API call (or file download) and how it ended."""
        self.api_calls.labels(method=method_label(method), outcome=outcome).inc()

    def flood_wait(self, seconds: float) -> None:
        """Count one 429 and the wait it asked for."""
        self.flood_waits.inc()
        self.flood_wait_seconds.inc(max(0.0, seconds))

    def refresh(self, figures: OpsFigures) -> None:
        """Set the gauges from what the database says now."""
        self.outbox_depth.set(figures.outbox_depth)
        self.outbox_oldest.set(figures.outbox_oldest_seconds)
        self.overdue.set(figures.overdue_reports)
        self.escalations.set(figures.escalations)
        self.inbound_backlog.set(figures.inbound_backlog)
        self.reports.clear()
        for status, count in figures.reports_by_status.items():
            self.reports.labels(status=status).set(count)

    def exposition(self) -> bytes:
        """Return every metric in Prometheus's text format."""
        return generate_latest(self.registry)

"""The operator's endpoints: /healthz (alive), /readyz (ready to serve), /metrics (Prometheus).

They answer on the one web server, beside the pages and the webhook; `[web] listen` keeps
them on 127.0.0.1 unless the operator says otherwise. Their answers name no person.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from bot.config import OpsConfig
from bot.metrics import CONTENT_TYPE, Metrics
from bot.store.repository import Repository, StorageError

log = logging.getLogger(__name__)


@dataclass
class OpsServices:
    """What the endpoints read: the database, the application's metrics, the thresholds."""

    db: Repository
    metrics: Metrics
    config: OpsConfig


class _OpsHandler(tornado.web.RequestHandler):
    # Not in the request log: probes and scrapes come every few seconds.
    quiet = True

    def initialize(self, services: OpsServices) -> None:
        self.services = services

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, sort_keys=True))


class Healthz(_OpsHandler):
    """Alive: the process answers HTTP (its event loop is not stuck)."""

    def get(self) -> None:
        """Answer 200 with {"status": "ok"}."""
        self._json(200, {"status": "ok"})


class Readyz(_OpsHandler):
    """Ready: the database takes a write, Telegram was heard lately, the outbox moves."""

    async def get(self) -> None:
        """Answer 200 when every check passes, 503 otherwise; each check named in the body."""
        checks = await readiness(self.services)
        ready = all(check["ok"] for check in checks.values())
        self._json(
            200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks}
        )


class MetricsPage(_OpsHandler):
    """Every metric in Prometheus's text format, the database's figures read now."""

    async def get(self) -> None:
        """Refresh the gauges from the database and answer the exposition."""
        try:
            self.services.metrics.refresh(await self.services.db.health.figures())
        except StorageError:
            # The counters are still worth having; the gauges keep their last values.
            log.warning("metrics: the database could not be read")
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.services.metrics.exposition())


async def readiness(services: OpsServices) -> dict[str, dict[str, Any]]:
    """Run the three readiness checks; return each one's verdict and what it saw."""
    db, config = services.db, services.config
    now = db.clock()
    checks: dict[str, dict[str, Any]] = {}
    try:
        await db.health.probe()
        checks["database"] = {"ok": True}
    except StorageError as exc:
        checks["database"] = {"ok": False, "error": str(exc)[:200]}
    last = services.metrics.last_intake
    age = None if last is None else round(max(0.0, now - last), 1)
    checks["telegram_intake"] = {
        "ok": age is not None and age <= config.ready_intake_seconds,
        "seconds_since_last": age,
        "limit_seconds": config.ready_intake_seconds,
    }
    try:
        figures = await db.health.figures()
        oldest = round(figures.outbox_oldest_seconds, 1)
        checks["outbox"] = {
            "ok": oldest <= config.ready_outbox_minutes * 60,
            "oldest_seconds": oldest,
            "depth": figures.outbox_depth,
            "limit_seconds": config.ready_outbox_minutes * 60,
        }
    except StorageError as exc:
        checks["outbox"] = {"ok": False, "error": str(exc)[:200]}
    return checks


def ops_routes(services: OpsServices) -> list[tuple[Any, ...]]:
    """Return the operator's routes, to mount on the one web server."""
    args = {"services": services}
    return [
        (r"/healthz", Healthz, args),
        (r"/readyz", Readyz, args),
        (r"/metrics", MetricsPage, args),
    ]

"""The application's repeating jobs: deadlines, the weekly digest and retention.

Each runs through `once_per_period`: on one worker only (the one holding the jobs), once for
each of its periods (`bot.store.jobs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

from bot.core.domain import Channel
from bot.core.workflow import LIMIT_WINDOW
from bot.store.repository import StorageError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store.repository import Repository
    from bot.telegram.context import BotContext

log = logging.getLogger(__name__)

DAY = 86400.0

Job = Callable[["BotContext"], Coroutine[None, None, None]]


def once_per_period(name: str, seconds: float, job: Job) -> Job:
    """Return `job` run only by the worker holding the jobs, and once per `seconds` period."""

    async def run(context: BotContext) -> None:
        db = context.db
        try:
            if not await db.jobs.lead():
                return
            # Periods on the database's clock: every worker counts them alike.
            if not await db.jobs.claim_period(name, int(db.clock() // seconds)):
                return
        except StorageError:
            log.warning("job %s not run; trying again at its next tick", name)
            return
        await job(context)

    run.__name__ = job.__name__
    return run


async def check_deadlines(context: BotContext) -> None:
    """Send the deadline reminders and escalations that are due (a repeating job)."""
    try:
        reminded, escalated = await context.workflow.run_timers()
    except StorageError:
        log.exception("deadline check failed; trying again at the next tick")
        return
    if reminded or escalated:
        log.info("deadlines: %d reminders, %d escalations", reminded, escalated)
        context.delivery.wake()


async def weekly_digest(context: BotContext) -> None:
    """Queue the weekly digest when Monday morning comes (an hourly job)."""
    try:
        if await context.workflow.queue_digest():
            context.delivery.wake()
    except StorageError:
        log.exception("weekly digest not queued; trying again in an hour")


async def apply_retention(db: Repository, settings: Settings) -> dict[str, int]:
    """Delete what the configured periods no longer allow to keep; return counts per kind.

    - the link between an anonymous report and its sender, `reporter_link_days` after the
      report closed (resolved or declined), once nothing is still owed to the sender;
    - unfinished reports untouched for `draft_days`, with their evidence;
    - the sender's chat and message ids wherever a report no longer has a sender;
    - web identities (a browser's session) made `draft_days` ago that are idle: no
      unfinished report, no report linked, no ban;
    - the daily limit's keyed-hash counts, once older than the limit's window.
    """
    now = db.clock()
    policy = settings.privacy
    links = await db.privacy.expire_reporter_links(now - policy.reporter_link_days * DAY)
    drafts = await db.privacy.expire_drafts(now - policy.draft_days * DAY)
    scrubbed = await db.privacy.scrub_unlinked()
    identities = await db.privacy.expire_identities(Channel.WEB, now - policy.draft_days * DAY)
    counts = await db.privacy.expire_sent_reports(now - LIMIT_WINDOW)
    return {
        "reporter_links": links,
        "drafts": drafts,
        "chat_references": scrubbed,
        "identities": identities,
        "limit_counts": counts,
    }


async def retention_job(context: BotContext) -> None:
    """Apply the retention periods (an hourly job); counts only reach the log, never ids."""
    try:
        counts = await apply_retention(context.db, context.settings)
    except StorageError:
        log.exception("retention not applied; trying again in an hour")
        return
    if any(counts.values()):
        log.info(
            "retention: %d reporter links, %d drafts, %d chat references, %d identities,"
            " %d limit counts removed",
            counts["reporter_links"],
            counts["drafts"],
            counts["chat_references"],
            counts["identities"],
            counts["limit_counts"],
        )


async def refresh_admins(context: BotContext) -> None:
    """Follow the admins another worker added or removed (a job on every worker)."""
    try:
        chat_admins = await context.db.admin.chat_admins()
    except StorageError:
        return
    admins = context.services.admin_filter
    wanted = set(context.settings.admins) | chat_admins
    current = set(admins.user_ids)
    if wanted - current:
        admins.add_user_ids(wanted - current)
    if current - wanted:
        admins.remove_user_ids(current - wanted)

"""Build the Application, register handlers in order, open and close its resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    filters,
)

from bot.config import Settings, proxy_address
from bot.core.conversation import Conversation
from bot.core.domain import local_today
from bot.core.receipts import key_path, load_or_create_key
from bot.core.workflow import Workflow
from bot.figures.export import remove_export_folders
from bot.heap import HeapTrimmer, malloc_trim, settle_heap
from bot.i18n import SUPPORTED, Translator
from bot.jobs import (
    check_deadlines,
    once_per_period,
    refresh_admins,
    retention_job,
    weekly_digest,
)
from bot.store.repository import Clock, Repository
from bot.telegram.context import SERVICES_KEY, BotContext, Services
from bot.telegram.delivery import Delivery
from bot.telegram.inbound import Inbound
from bot.telegram.lanes import LANES, FloodGuard
from bot.telegram.limits import OUTBOX_WAIT, FloodLimiter
from bot.telegram.request import MeteredRequest
from bot.telegram.shared_limits import SharedBudget
from bot.telegram.webhook import webhook_routes
from bot.tracing import from_environment, snapshot_on_signal
from bot.web.ops import OpsServices, ops_routes
from bot.web.server import HttpServer, WebServices, web_routes
from bot.zalo.channel import ZaloChannel

log = logging.getLogger(__name__)

App = Application[Any, BotContext, Any, Any, Any, Any]
TIMER_INTERVAL = 60.0
ADMINS_INTERVAL = 15.0
START_BACKOFF_MAX = 60.0


class LeanApplication(Application[Any, BotContext, Any, Any, Any, Any]):
    """PTB's Application without the ids it collects for a persistence this bot has none of."""

    __slots__ = ()

    def _mark_for_persistence_update(
        self, *, update: object | None = None, job: Any = None
    ) -> None:
        # Without a persistence, PTB still adds the chat and the user of every update handled to
        # two sets that only a persistence empties: an entry for every person who ever wrote.
        # Everything this bot keeps is in its database.
        if self.persistence is not None:
            super()._mark_for_persistence_update(update=update, job=job)


def build_application(settings: Settings, *, clock: Clock = time.time) -> App:
    """Create the Application with its services and every handler registered."""
    if not settings.token:
        raise ValueError("a token is required to build the application")
    db = Repository.of(settings, clock=clock, exclusive=True)
    services = Services(
        settings=settings,
        db=db,
        translator=Translator(),
        clock=clock,
        workflow=Workflow(db, settings),
        # The report's questions and checks; units come from the store, today from the clock.
        conversation=Conversation(db.units, lambda: local_today(clock())),
        admin_filter=filters.User(user_id=settings.admins, allow_empty=False),
    )
    app: App = (
        ApplicationBuilder()
        .application_class(LeanApplication)
        .token(settings.token)
        .base_url(settings.base_url)
        .base_file_url(settings.base_file_url)
        # The aiohttp transport (bot/telegram/transport.py), through `[telegram] proxy` when
        # set, for every call (getUpdates has a connection of its own) and every file
        # download; counted for /metrics. The pool sizes are PTB's defaults.
        .request(_request(services, pool=256))
        .get_updates_request(_request(services, pool=1))
        .context_types(ContextTypes(context=BotContext))
        # Telegram's limits on every message: one every 1/messages_per_second seconds overall,
        # 20 a minute per group, about one a second per person; replies to people before the
        # outbox, which is never starved; replies retried for `reply_patience` seconds
        # (bot/telegram/limits.py). The outbox does its own retrying.
        .rate_limiter(
            FloodLimiter(
                per_second=settings.messages_per_second,
                patience=settings.reply_patience,
                pace_private_chats=settings.pace_private_chats,
            )
        )
        # Updates are handed to process_update by bot.telegram.inbound, several chats at a time
        # (in order within each chat); PTB allows concurrent calls only when told so here.
        .concurrent_updates(LANES)
        .post_init(init_resources)
        .post_shutdown(close_resources)
        .build()
    )
    app.bot_data[SERVICES_KEY] = services

    from handlers import register

    register(app)
    return app


def _request(services: Services, *, pool: int) -> MeteredRequest:
    """Return the aiohttp request through the configured proxy, counting its calls."""
    settings = services.settings
    return MeteredRequest(
        services.metrics,
        settings.base_file_url,
        connection_pool_size=pool,
        proxy=settings.proxy,
    )


async def init_resources(app: App) -> None:
    """Open the database, seed units and start delivering the outbox (post_init)."""
    services: Services = app.bot_data[SERVICES_KEY]
    await services.db.open()
    # An export's files may hold reporters' contacts: none that a crash left behind stays.
    await asyncio.to_thread(remove_export_folders, services.db.path.parent)
    # The receipt key is made on the first start, beside the database (mode 0600), so that
    # /publickey shows the same key from the first day and it can be published before any
    # receipt is asked for.
    await asyncio.to_thread(load_or_create_key, key_path(services.settings.database))
    _share_flood_budget(app, services)
    await services.db.units.seed_units(services.settings.units)
    services.admin_filter.add_user_ids(await services.db.admin.chat_admins())
    delivery = Delivery(app.bot, services.db, services.settings, services.translator)
    services.delivery = delivery
    delivery.start()
    delivery.wake()
    # Deadlines live in the database; this only looks at them every minute, so a restart
    # neither loses a reminder nor sends one twice. Every worker ticks; one runs the jobs, once
    # a period (bot.jobs.once_per_period), and another takes over at its tick if that one dies.
    jobs = app.job_queue
    if jobs is not None:
        deadlines = once_per_period("deadlines", TIMER_INTERVAL, check_deadlines)
        jobs.run_repeating(deadlines, interval=TIMER_INTERVAL, first=1.0, name="deadlines")
    if jobs is not None and services.settings.weekly_digest:
        digest = once_per_period("digest", 3600, weekly_digest)
        jobs.run_repeating(digest, interval=3600, first=5.0, name="digest")
    # The admin filter is this process's copy: behind several workers, admins added or removed
    # on another worker are followed within ADMINS_INTERVAL.
    if jobs is not None and services.db.database.shared:
        jobs.run_repeating(refresh_admins, interval=ADMINS_INTERVAL, name="admins")
    # Retention periods ([privacy]) are applied every hour; the first run soon after start.
    if jobs is not None:
        retention = once_per_period("retention", 3600, retention_job)
        jobs.run_repeating(retention, interval=3600, first=60.0, name="retention")
    await _publish_commands(app, services.translator, services.settings.default_locale)


def _share_flood_budget(app: App, services: Services) -> None:
    """Webhook workers on one PostgreSQL database keep Telegram's limits together."""
    database = services.db.database
    limiter = app.bot.rate_limiter
    if database.sharing and database.coordination is not None:
        if isinstance(limiter, FloodLimiter):
            limiter.shared = SharedBudget(
                database.coordination,
                per_second=services.settings.messages_per_second,
                outbox_wait=OUTBOX_WAIT,
                pace_private_chats=services.settings.pace_private_chats,
            )


async def _publish_commands(app: App, translator: Translator, default: str) -> None:
    """Show the citizen's commands in Telegram's menu, in Vietnamese and in English."""
    # None is the menu for every other language: it gets the default locale's words.
    for language_code, locale in [(None, default), *((code, code) for code in SUPPORTED)]:
        _ = translator.get(locale)
        commands = [
            BotCommand("report", _("Start a new report")),
            BotCommand("status", _("Status of one of your reports")),
            BotCommand("myreports", _("All your reports")),
            BotCommand("language", _("Change the language")),
            BotCommand("privacy", _("What is stored about you")),
            BotCommand("mydata", _("A copy of your data")),
            BotCommand("forget", _("Erase your personal data")),
            BotCommand("cancel", _("Stop the report in progress")),
        ]
        try:
            await app.bot.set_my_commands(
                commands,
                scope=BotCommandScopeAllPrivateChats(),
                language_code=language_code,
            )
        except TelegramError as exc:
            # A menu is a convenience: the bot works without it.
            log.warning("could not publish the command menu: %s", exc)


async def close_resources(app: App) -> None:
    """Stop delivery and close the database (post_shutdown)."""
    services: Services = app.bot_data[SERVICES_KEY]
    if services.delivery is not None:
        await services.delivery.stop()
        services.delivery = None
    await services.db.close()


@asynccontextmanager
async def running(
    app: App, *, webhook: bool = False, webhook_port: int | None = None
) -> AsyncIterator[App]:
    """Run the application in the current event loop, fed through the database, then stop it.

    Polling by default; with `webhook`, Telegram's POSTs arrive on the one web server instead
    (its port is `[web] port`, or `webhook_port`, 0 meaning any free one).
    """
    services: Services = app.bot_data[SERVICES_KEY]
    # Webhook workers on PostgreSQL run side by side (the instance lock held shared); a bot
    # that polls runs alone, since Telegram allows one getUpdates consumer.
    services.db.database.sharing = webhook
    async with app:
        # post_init does not run under `async with app`, so this calls the same function.
        await init_resources(app)
        inbound = Inbound(app, services.db)
        zalo = _zalo_channel(app, services)
        routes = http_routes(services, inbound, webhook=webhook, zalo=zalo)
        server: HttpServer | None = None
        try:
            await app.start()
            if routes:
                web = services.settings.web
                server = HttpServer(routes, web.listen, web.port)
                wanted = webhook_port if webhook_port is not None else services.web_port
                port = server.start(wanted)
                services.web_port = services.webhook_port = port
            if zalo is not None:
                # After the server: Zalo is told of a webhook that already answers.
                await zalo.start()
            if webhook:
                config = services.settings.webhook
                await app.bot.set_webhook(
                    config.url or "",
                    secret_token=config.secret_token,
                    allowed_updates=Update.ALL_TYPES,
                )
                inbound.start_handling()
            else:
                # A webhook left set would make getUpdates fail with 409.
                await app.bot.delete_webhook()
                inbound.start_polling()
            # Telegram answered at start: that counts as hearing from it (for /readyz), until
            # the first long poll returns or the first webhook request arrives.
            services.metrics.intake(services.clock())
            try:
                yield app
            finally:
                # New requests stop first; then the update in hand is finished (inbound.stop)
                # and the outbox's item in hand (close_resources), so nothing is cut halfway.
                if zalo is not None:
                    await zalo.stop()
                if server is not None:
                    await server.stop()
                await inbound.stop()
                if app.running:
                    await app.stop()
        finally:
            await close_resources(app)


def http_routes(
    services: Services, inbound: Inbound, *, webhook: bool, zalo: ZaloChannel | None = None
) -> list[Any]:
    """Compose every route of the one web server; an empty list means no server at all.

    The one place where routes meet: the pages (`bot.web.server.web_routes`), Telegram's
    webhook, the operator's endpoints, Zalo's webhook and the photos it fetches.
    """
    settings = services.settings
    routes: list[Any] = []
    if settings.ops.enabled:
        routes += ops_routes(OpsServices(services.db, services.metrics, settings.ops))
    if webhook:
        routes += webhook_routes(settings.webhook, inbound)
    if settings.web.enabled:
        routes += web_routes(_web_services(services))
    if zalo is not None:
        routes += zalo.routes()
    return routes


def _web_services(services: Services) -> WebServices:
    """Return what the citizens' web pages need from the application."""

    def wake() -> None:
        if services.delivery is not None:
            services.delivery.wake()

    return WebServices(
        settings=services.settings,
        db=services.db,
        translator=services.translator,
        conversation=services.conversation,
        workflow=services.workflow,
        wake=wake,
    )


# Where the running Zalo channel is kept in bot_data (tests and the demo reach it there).
ZALO_KEY = "zalo"


def _zalo_channel(app: App, services: Services) -> ZaloChannel | None:
    """Return the Zalo channel when `[zalo]` has a token, joined to the outbox; else None."""
    if services.settings.zalo is None or services.delivery is None:
        return None
    delivery = services.delivery
    settings = services.settings
    # The same flood limits as on Telegram ([bot] flood_messages in flood_seconds).
    guard = FloodGuard(settings.flood_messages, settings.flood_seconds)
    channel = ZaloChannel(
        settings,
        services.db,
        services.translator,
        services.conversation,
        services.workflow,
        delivery.wake,
        lambda user_id, moment: guard.check(user_id, moment).value,
    )
    delivery.channels["zalo"] = channel.sender
    app.bot_data[ZALO_KEY] = channel
    return channel


async def serve(app: App, *, webhook: bool = False) -> None:
    """Run until SIGINT or SIGTERM (the `liemchinh run` command)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # A measurement tool, off unless LIEMCHINH_TRACEMALLOC is set (bot.tracing).
    snapshot_on_signal(loop, from_environment())
    trim = malloc_trim()
    if trim is None:
        log.info("no malloc_trim in this C library: memory freed after a burst stays kept")
    failures = 0
    while not stop.is_set():
        try:
            async with running(app, webhook=webhook):
                settle_heap()
                log.info("running (%s)", "webhook" if webhook else "polling")
                failures = 0
                await _until(stop, None if trim is None else HeapTrimmer(trim))
        except (NetworkError, TimedOut) as exc:
            # Telegram unreachable at start (getMe, setWebhook): wait and try again rather than
            # exit, so an outage never needs a person to restart the bot.
            failures += 1
            delay = min(START_BACKOFF_MAX, 2.0**failures)
            # Behind a proxy the proxy is the likely culprit: named, without its credentials.
            proxy = app.bot_data[SERVICES_KEY].settings.proxy
            through = f" through the proxy {proxy_address(proxy)}" if proxy else ""
            log.warning("could not start%s (%s); retrying in %.0f s", through, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    log.info("stopped")


async def _until(stop: asyncio.Event, trimmer: HeapTrimmer | None) -> None:
    """Wait for `stop`, the trimmer giving memory back meanwhile."""
    if trimmer is None:
        await stop.wait()
        return
    trimming = asyncio.create_task(trimmer.run(), name="liemchinh-heap")
    try:
        await stop.wait()
    finally:
        trimming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trimming

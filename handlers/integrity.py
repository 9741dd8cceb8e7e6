"""Integrity commands and buttons: conflict marks, patterns, the public key, signed receipts."""

from __future__ import annotations

import html
from datetime import datetime

from telegram import InputFile, Update
from telegram.constants import ParseMode

from bot.core.domain import VN_TZ, Category
from bot.core.integrity import PATTERN_DAYS, clusters
from bot.core.parsing import format_code
from bot.core.receipts import key_path, load_or_create_key, public_text
from bot.figures import open311
from bot.figures.stats import PeriodError, parse_period, period_text
from bot.messages import integrity as texts
from bot.store.feed import FeedQuery, FeedRow
from bot.telegram.callbacks import ReceiptRequest
from bot.telegram.context import BotContext
from bot.telegram.evidence import fingerprint
from handlers.admin import _args, _log, _say, _unit, admin_only
from handlers.feedback import _own_report

# /patterns accepts a period in days up to a year.
MAX_PATTERN_DAYS = 366


@admin_only
async def unit_conflict(update: Update, context: BotContext) -> None:
    """Mark a unit as conflicted for a category: /unit_conflict CODE CATEGORY [off]."""
    _ = context._
    args = _args(context, update)
    categories = {c.value for c in Category}
    if len(args) not in (2, 3) or args[1] not in categories or args[2:] not in ([], ["off"]):
        await _say(update, html.escape(texts.conflict_usage(_)))
        return
    unit = await _unit(update, context, args[0])
    if unit is None:
        return
    on = len(args) == 2
    user = update.effective_user
    assert user is not None
    await context.db.integrity.set_conflict(unit.code, args[1], user.id, on)
    await context.db.admin.log_admin(
        user.id, "unit_conflict", unit.code, f"{args[1]} {'on' if on else 'off'}"
    )
    await _say(update, texts.conflict_set(unit.name, args[1], on, _))


@admin_only
async def patterns(update: Update, context: BotContext) -> None:
    """List clusters of reports about the same official: /patterns [days]."""
    args = _args(context, update)
    days = PATTERN_DAYS
    if args and args[0].isdigit() and 0 < int(args[0]) <= MAX_PATTERN_DAYS:
        days = int(args[0])
    since = context.db.clock() - days * 86400
    groups = clusters(await context.db.integrity.named_reports(since))
    names = {u.code: u.name for u in await context.db.units.all_units()}
    await _say(update, texts.patterns_text(groups, names, days, context._))


async def public_key(update: Update, context: BotContext) -> None:
    """Show the public key receipts are signed with."""
    key = load_or_create_key(key_path(context.settings.database))
    await _say(update, texts.public_key_text(public_text(key), context._))


async def receipt_pressed(update: Update, context: BotContext) -> None:
    """Send the reporter a signed receipt of their report, fingerprinting missing evidence."""
    query = update.callback_query
    assert query is not None and query.message is not None
    pressed = await _own_report(update, context, ReceiptRequest)
    if pressed is None:
        return
    _data, report = pressed
    _ = context._
    await query.answer()
    # Hashes are computed in the background after upload; any still missing is computed here.
    for attachment in await context.db.reports.report_attachments(report.id):
        if attachment.sha256 is None and attachment.id is not None:
            await fingerprint(context.bot, context.db, attachment.id, attachment.file_id)
    receipt = await context.workflow.signed_receipt(report)
    if receipt is None:
        await context.bot.send_message(query.message.chat.id, texts.receipt_waiting(_))
        return
    code = format_code(report.code)
    await context.bot.send_document(
        query.message.chat.id,
        InputFile(receipt, filename=f"receipt-{code}.json"),
        caption=texts.receipt_caption(report.code, _),
        parse_mode=ParseMode.HTML,
    )


async def export_open311(update: Update, context: BotContext) -> None:
    """Send the Open311 feed of a period as files: /export open311 [period] (admins only)."""
    _ = context._
    now = context.db.clock()
    try:
        period, rest = parse_period(_args(context, update)[1:], now)
    except PeriodError:
        rest = ["?"]
    if rest:
        await _say(update, html.escape(texts.open311_usage(_)))
        return
    rows: list[FeedRow] = []
    # Read a page at a time, as the feed is served: the shared connection stays free between.
    while True:
        query = FeedQuery(period.since, period.until, offset=len(rows))
        page = await context.db.feed.feed_rows(query)
        rows += page
        if len(page) < query.limit:
            break
    label = period_text(period, _)
    await _log(context, update, "export_open311", label, f"{len(rows)} rows")
    message = update.effective_message
    assert message is not None
    stamp = datetime.fromtimestamp(now, tz=VN_TZ).strftime("%Y%m%d-%H%M")
    await message.reply_document(
        InputFile(open311.dump(open311.services(_)), filename="open311-services.json")
    )
    await message.reply_document(
        InputFile(
            open311.dump(open311.requests(rows, _)),
            filename=f"open311-requests-{stamp}.json",
        ),
        caption=html.escape(texts.open311_caption(len(rows), label, _)),
        parse_mode=ParseMode.HTML,
    )

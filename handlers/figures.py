"""Admins read the figures: statistics with a chart, exports, search, and one report in full.

The figures are counted in SQL and the chart drawn in a short-lived process of its own
(`bot.figures.chart_process`); the export's rows are streamed from the store in chunks to a
short-lived process that writes both files on disk (`bot.figures.export_process`), which are
sent from there, while the chat shows that work is under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from datetime import datetime

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.core.domain import VN_TZ, Link
from bot.core.parsing import normalize_code
from bot.figures.chart_process import ChartError, ChartProcess
from bot.figures.export import export_folder
from bot.figures.export_process import ExportError, ExportFiles
from bot.figures.stats import (
    Period,
    PeriodError,
    chart_of,
    parse_period,
    period_text,
    stats_of,
    summary_text,
)
from bot.messages.admin import found_lines, report_extras
from bot.messages.report import continuation
from bot.telegram.context import BotContext
from handlers.admin import _args, _log, _say, admin_only
from handlers.common import say_chunks, unit_names
from handlers.integrity import export_open311

log = logging.getLogger(__name__)

FIND_LIMIT = 20
# How often a long export refreshes its progress (an edit and a chat action each time): two
# calls every 3 s stay under Telegram's one message a second per chat.
PROGRESS_EVERY = 3.0


async def _scope(
    update: Update, context: BotContext
) -> tuple[float, Period, list[str] | None, str, list[str]] | None:
    """Read "[period] [UNIT]"; return now, the period, the unit codes, a label and the rest."""
    _ = context._
    now = context.db.clock()
    try:
        period, rest = parse_period(_args(context, update), now)
    except PeriodError:
        await _say(
            update,
            _(
                "I could not read the period. Use 7d, 30d, a month like 2026-11, or two dates"
                " like 01/11/2026 30/11/2026."
            ),
        )
        return None
    codes = None
    label = period_text(period, _)
    if rest and rest[0] != "full":
        unit = await context.db.units.get_unit(rest[0])
        if unit is None:
            await _say(
                update,
                _("There is no unit with the code %(code)s.") % {"code": html.escape(rest[0])},
            )
            return None
        codes = await context.db.units.descendants(unit.code)
        label = f"{label} · {unit.name}"
        rest = rest[1:]
    return now, period, codes, label, rest


@admin_only
async def stats(update: Update, context: BotContext) -> None:
    """Send the figures of a period as a short text and a chart: /stats [period] [UNIT]."""
    scope = await _scope(update, context)
    if scope is None:
        return
    now, period, codes, label, _rest = scope
    _ = context._
    message = update.effective_message
    assert message is not None
    # The chart's process loads Pillow while the figures are counted.
    chart = await ChartProcess.start()
    try:
        counted = await context.db.reports.period_figures(period.since, period.until, codes, now)
        figures = stats_of(counted, period)
        # The chart is drawn while the text goes out.
        drawn = asyncio.create_task(chart.draw(chart_of(figures, _, context.lang)))
        try:
            await message.reply_text(
                summary_text(figures, _, context.lang), parse_mode=ParseMode.HTML
            )
            await context.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
        except BaseException:
            drawn.cancel()
            raise
        try:
            png = await drawn
        except ChartError:
            log.exception("the chart of /stats could not be drawn")
            await _say(update, _("The figures are above; the chart could not be drawn."))
            return
    finally:
        await chart.close()
    await message.reply_photo(
        InputFile(png, filename="liemchinh-stats.png"),
        caption=html.escape(label)[:1000],
        parse_mode=ParseMode.HTML,
    )


@admin_only
async def export(update: Update, context: BotContext) -> None:
    """Send the reports of a period as CSV and XLSX: /export [period] [UNIT] [full].

    `/export open311 [period]` sends the open data feed of the period instead.
    """
    if _args(context, update)[:1] == ["open311"]:
        await export_open311(update, context)
        return
    scope = await _scope(update, context)
    if scope is None:
        return
    now, period, codes, label, rest = scope
    _ = context._
    full = rest == ["full"]
    if rest and not full:
        await _say(update, _("Usage: /export [period] [UNIT] [full]"))
        return
    message = update.effective_message
    assert message is not None
    count = await context.db.reports.count_report_rows(period.since, period.until, codes)
    # Contact details leave the system only this way, and every time it is written down.
    await _log(context, update, "export_full" if full else "export", label, f"{count} rows")
    status = await message.reply_text(
        _("Preparing the export of %(count)d reports…") % {"count": count}
    )
    # The files are written on disk beside the database, in a folder of their own that goes
    # once they are sent; one a crash left behind goes at the next start (bot.app).
    with export_folder(context.db.path.parent) as folder:
        files = ExportFiles(context.lang, full=full, now=now, folder=folder)
        # Both files are written by a process of their own from one pass over the rows, a
        # chunk at a time, so neither the rows nor a second query are held; the store's
        # connection is free between chunks.
        chunks = context.db.reports.iter_report_rows(
            period.since, period.until, codes, contacts=full
        )
        work = asyncio.create_task(files.write(chunks))
        try:
            shown = -1
            while not work.done():
                with contextlib.suppress(TelegramError):
                    await context.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_DOCUMENT)
                    percent = min(99, 100 * files.count // max(count, 1))
                    if percent != shown:
                        await status.edit_text(
                            _("Preparing the export of %(count)d reports… %(percent)d%%")
                            % {"count": count, "percent": percent}
                        )
                        shown = percent
                await asyncio.wait({work}, timeout=PROGRESS_EVERY)
        except BaseException:
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            raise
        try:
            csv_path, xlsx_path = await work
        except ExportError:
            log.exception("the files of /export could not be written")
            await status.edit_text(_("The export could not be prepared. Please try again later."))
            return
        stamp = datetime.fromtimestamp(now, tz=VN_TZ).strftime("%Y%m%d-%H%M")
        name = f"liemchinh-{stamp}{'-full' if full else ''}"
        for path, suffix in ((csv_path, "csv"), (xlsx_path, "xlsx")):
            with path.open("rb") as handle:
                # Streamed from the disk as it is uploaded (and read again from its start if
                # the upload is retried), never read whole into memory.
                await message.reply_document(
                    InputFile(handle, filename=f"{name}.{suffix}", read_file_handle=False)
                )
    await status.edit_text(
        _("Export ready: %(count)d reports (%(period)s).")
        % {"count": files.count, "period": label}
    )


@admin_only
async def find(update: Update, context: BotContext) -> None:
    """Find reports by code, description, official or place, ignoring diacritics: /find TEXT."""
    _ = context._
    text = " ".join(context.args or [])[:100]
    if not text.strip():
        await _say(update, _("Usage: /find TEXT, for example: /find ha long"))
        return
    found = await context.db.reports.find_reports(text, limit=FIND_LIMIT)
    if not found:
        await _say(update, _("No report matches “%(text)s”.") % {"text": html.escape(text)})
        return
    names = await unit_names(context, (r.fields.unit_code for r in found))
    lines = found_lines(text, found, names, _, context.lang, limit=FIND_LIMIT)
    await say_chunks(update, lines)


@admin_only
async def report(update: Update, context: BotContext) -> None:
    """Show an admin one report with everything: history, relayed messages, the reporter."""
    _ = context._
    message = update.effective_message
    assert message is not None
    typed = " ".join(context.args or [])[:40]
    code = normalize_code(typed)
    found = await context.db.reports.report_by_code(code) if code else None
    if found is None:
        await _say(update, _("No report with the code %(code)s.") % {"code": html.escape(typed)})
        return
    # An admin's copy stands for the top of the tree: it keeps working after transfers.
    link = Link(message.chat.id, 0, found.id, "alert", None)
    count = len(await context.db.reports.report_attachments(found.id))
    text, markup = await context.delivery.render_alert(found, link, count, full=True)
    sent = await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    await context.db.links.add_link(
        Link(message.chat.id, sent.message_id, found.id, "alert", None)
    )
    # The rest of a description too long for one message, as the units receive it.
    for rest in continuation(found, context.delivery._):
        await sent.reply_text(rest, parse_mode=ParseMode.HTML)
    relayed = len(await context.db.links.relays_of(found.id))
    await _say(update, report_extras(found, relayed, _))
    await _log(context, update, "report_view", found.code)

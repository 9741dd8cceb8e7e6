"""/board: how units handle reports, per unit, over 30, 90 or 365 days; chart and CSV.

Only units with `[web] board_min_reports` reports in the period appear, with counts and median
days: nothing that could point at a report or a person. Figures are cached for a minute.
"""

from __future__ import annotations

import csv
import io
from html import escape

from bot.figures.board_chart import BoardSeries, board_svg
from bot.i18n import Gettext
from bot.messages import web as words
from bot.store.board import BoardRow
from bot.web.page import Page

PERIODS = (30, 90, 365)
CACHE_SECONDS = 60.0


class _BoardBase(Page):
    def period(self) -> int:
        """Return the chosen period in days (30 unless 90 or 365 is asked for)."""
        try:
            days = int(self.get_query_argument("days", "30"))
        except ValueError:
            days = 30
        return days if days in PERIODS else 30

    async def figures(self, days: int) -> list[BoardRow]:
        """Return the period's figures, computed at most once a minute."""
        services = self.services
        now = services.db.clock()
        cached = services.cache.get(("board", days))
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            rows: list[BoardRow] = cached[1]
            return rows
        rows = await services.db.board.unit_figures(
            now - days * 86400, now, services.settings.web.board_min_reports
        )
        services.cache[("board", days)] = (now, rows)
        return rows


def _days(value: float | None, locale: str) -> str:
    if value is None:
        return "–"
    text = f"{value:.1f}"
    return text.replace(".", ",") if locale == "vi" else text


def _cells(row: BoardRow, locale: str) -> list[str]:
    return [
        row.unit_name,
        str(row.received),
        str(row.acknowledged_on_time),
        str(row.resolved_on_time),
        str(row.overdue),
        _days(row.median_ack_days, locale),
        _days(row.median_resolve_days, locale),
    ]


class Board(_BoardBase):
    """The table, the chart and the links to the other periods and the CSV."""

    async def get(self) -> None:
        """Show the board."""
        _ = self._
        days = self.period()
        rows = await self.figures(days)
        periods = " · ".join(
            f'<a href="/board?days={d}">{escape(words.board_period(d, _))}</a>'
            if d != days
            else f"<b>{escape(words.board_period(d, _))}</b>"
            for d in PERIODS
        )
        parts = [
            f'<p class="periods">{periods}</p>',
            f"<p>{escape(words.board_intro(self.services.settings.web.board_min_reports, _))}</p>",
        ]
        if not rows:
            parts.append(f'<p id="empty">{escape(words.board_empty(_))}</p>')
        else:
            head = "".join(f"<th scope=col>{escape(c)}</th>" for c in words.board_columns(_))
            body = "".join(
                "<tr>"
                + "".join(f"<td>{escape(c)}</td>" for c in _cells(r, self.locale_code))
                + "</tr>"
                for r in rows
            )
            parts.append(f'<div class="table"><table><tr>{head}</tr>{body}</table></div>')
            parts.append(
                f'<p><img src="/board.svg?days={days}" alt="{escape(words.board_chart(_))}"'
                ' width="600" height="400"></p>'
            )
            parts.append(
                f'<p><a class="button" href="/board.csv?days={days}">'
                f"{escape(words.board_csv(_))}</a></p>"
            )
        self.page(words.board_title(_), "".join(parts))


class BoardCsv(_BoardBase):
    """The board's figures as CSV (UTF-8 with BOM, for spreadsheets)."""

    async def get(self) -> None:
        """Send the CSV."""
        days = self.period()
        rows = await self.figures(days)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(words.board_columns(self._))
        for row in rows:
            writer.writerow(_cells(row, "en"))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header(
            "Content-Disposition", f'attachment; filename="liemchinh-board-{days}d.csv"'
        )
        self.finish(("\ufeff" + out.getvalue()).encode())


class BoardChart(_BoardBase):
    """The board's chart as SVG, drawn on the server."""

    async def get(self) -> None:
        """Send the chart."""
        days = self.period()
        rows = await self.figures(days)
        key = ("chart", days, self.locale_code)
        now = self.services.db.clock()
        cached = self.services.cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            svg: bytes = cached[1]
        else:
            svg = render_svg(rows, self._)
            self.services.cache[key] = (now, svg)
        self.set_header("Content-Type", "image/svg+xml")
        self.finish(svg)


def render_svg(rows: list[BoardRow], _: Gettext) -> bytes:
    """Draw reports received and resolved on time per unit as horizontal bars."""
    columns = words.board_columns(_)
    return board_svg(
        [r.unit_name for r in rows],
        (
            BoardSeries(columns[1], "#8b1a1a", [r.received for r in rows]),
            BoardSeries(columns[3], "#2e7d32", [r.resolved_on_time for r in rows]),
        ),
    )

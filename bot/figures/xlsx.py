"""A minimal XLSX writer: one sheet of text, whole numbers and dates, streamed row by row.

Written with the standard library (zipfile) because a 100,000-row export took about 11 s with
openpyxl (write-only, lxml) and 6 s with xlsxwriter (constant_memory), against 0.7 s here
(docs/performance.md). It writes only what the exports need: inline strings, numbers, dates
with one number format, a bold wrapped header row frozen at the top, and column widths.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import date
from typing import Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

__all__ = ["CELL_LIMIT", "NOT_XML", "XlsxSheet"]

# Excel refuses longer text in one cell.
CELL_LIMIT = 32_767
_EPOCH = date(1899, 12, 30).toordinal()  # day 0 of Excel's 1900 date system
# Characters XML 1.0 does not allow (tab, LF and CR are allowed); lone surrogates cannot even be
# encoded. Excel would call the whole file corrupt for one of them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/></Types>'
)
_ROOT_RELS = (
    _HEAD + f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC_RELS}/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    _HEAD + f'<Relationships xmlns="{_RELS}">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_RELS}/styles" Target="styles.xml"/></Relationships>'
)
# Cell styles (the s attribute): 0 plain, 1 the header (bold, wrapped, top), 2 a date.
_HEADER_STYLE = 1
_DATE_STYLE = 2
_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode={date_format}/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"'
    ' applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)


def _column(index: int) -> str:
    """Return the letters of a 0-based column: A..Z, AA.."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def text_cell(value: str) -> str:
    """Return text as cell content: cut to Excel's limit and escaped (not checked: see row)."""
    value = value[:CELL_LIMIT]
    # Most text holds none of these: testing is cheaper than escaping.
    if "&" in value or "<" in value or ">" in value:
        return escape(value)
    return value


class XlsxSheet:
    """One sheet written as its rows come: `header()` once, `row()` for each, then `close()`."""

    def __init__(
        self,
        title: str,
        widths: Sequence[float],
        date_format: str,
        out: BinaryIO | None = None,
    ) -> None:
        """Write to `out` (a seekable binary file), or to memory, which `close()` returns."""
        # Excel's rules for a sheet's name: 31 characters at most, none of []:*?/\\.
        self._title = _SHEET_NAME_BAD.sub("", NOT_XML.sub("", title))[:31] or "Sheet1"
        self._date_format = date_format
        self._buffer: io.BytesIO | None = None
        if out is None:
            out = self._buffer = io.BytesIO()
        # Level 1: a third of the time of zlib's default 6 for a file about a fifth larger,
        # which a 100,000-row export can afford and its waiting admin notices.
        self._zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        # The sheet is compressed as it is written: neither its XML nor its rows are held.
        self._part = self._zip.open("xl/worksheets/sheet1.xml", "w")
        self._out = io.TextIOWrapper(self._part, encoding="utf-8")
        self._letters: list[str] = []
        self._rows = 0
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        self._out.write(
            _HEAD + f'<worksheet xmlns="{_MAIN}"><sheetViews>'
            '<sheetView tabSelected="1" workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView>'
            "</sheetViews>" + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>"
        )

    def header(self, titles: Sequence[str]) -> None:
        """Write the first row, in the header's style."""
        self._write(titles, _HEADER_STYLE)

    def row(self, values: Sequence[object]) -> None:
        """Write one row: str as text, int and float as numbers, date as a date, None empty.

        Text must hold only characters XML allows (`NOT_XML` finds the others;
        bot.figures.export.neutralize removes them): checking each cell here again would cost
        a tenth of an export.
        """
        self._write(values, 0)

    def _write(self, values: Sequence[Any], style: int) -> None:
        self._rows += 1
        number = str(self._rows)
        letters = self._letters
        while len(letters) < len(values):
            letters.append(_column(len(letters)))
        shown = f' s="{style}"' if style else ""
        parts = [f'<row r="{number}">']
        add = parts.append
        for letter, value in zip(letters, values, strict=False):
            # Exact types first: a row's cells are mostly text, and this loop is most of an
            # export's time (a subclass takes the general way below).
            kind = type(value)
            if kind is str:
                if value:
                    # text_cell, inline: a call per cell was a tenth of the sheet's time.
                    if len(value) > CELL_LIMIT:
                        value = value[:CELL_LIMIT]
                    if "&" in value or "<" in value or ">" in value:
                        value = escape(value)
                    add(
                        f'<c r="{letter}{number}"{shown} t="inlineStr"><is>'
                        f'<t xml:space="preserve">{value}</t></is></c>'
                    )
            elif value is None:
                continue
            elif kind is date:
                ordinal = value.toordinal() - _EPOCH
                add(f'<c r="{letter}{number}" s="{_DATE_STYLE}"><v>{ordinal}</v></c>')
            elif kind is int:
                add(f'<c r="{letter}{number}"{shown}><v>{value}</v></c>')
            else:
                add(self._cell(f"{letter}{number}", value, shown))
        add("</row>")
        self._out.write("".join(parts))

    @staticmethod
    def _cell(ref: str, value: object, shown: str) -> str:
        """Return one cell of a type other than exactly str, date, int or None."""
        if isinstance(value, str):
            if not value:
                return ""
            return (
                f'<c r="{ref}"{shown} t="inlineStr"><is><t xml:space="preserve">'
                f"{text_cell(value)}</t></is></c>"
            )
        if isinstance(value, date):
            return f'<c r="{ref}" s="{_DATE_STYLE}"><v>{value.toordinal() - _EPOCH}</v></c>'
        if isinstance(value, bool):
            return f'<c r="{ref}"{shown} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f'<c r="{ref}"{shown}><v>{value!r}</v></c>'
        raise TypeError(f"no XLSX cell for {type(value).__name__}")

    def close(self) -> bytes:
        """Finish the sheet and the workbook around it; return the file if it is in memory.

        A file given to the constructor is left open, all written, for its owner to close.
        """
        self._out.write("</sheetData></worksheet>")
        self._out.flush()
        self._out.detach()
        self._part.close()
        workbook = (
            _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}"><sheets>'
            f'<sheet name={quoteattr(self._title)} sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"
        )
        self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("xl/workbook.xml", workbook)
        self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self._zip.writestr(
            "xl/styles.xml", _STYLES.replace("{date_format}", quoteattr(self._date_format))
        )
        self._zip.close()
        return b"" if self._buffer is None else self._buffer.getvalue()

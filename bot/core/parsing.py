"""Pure parsing and formatting helpers for what citizens type into the bot."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date, timedelta
from fractions import Fraction

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "MAX_AMOUNT",
    "DateFormatError",
    "FutureDateError",
    "fold",
    "format_amount",
    "format_code",
    "format_date",
    "matches",
    "new_code",
    "normalize_code",
    "parse_amount",
    "parse_date",
    "parse_date_any",
]


# --------------------------------------------------------------------------- text matching


def visible(text: str) -> str:
    """Return text without invisible formatting characters (zero-width, direction marks)."""
    # Category Cf holds U+200B, U+FEFF, U+202E and their kin: pasted text carries them, and
    # they would make "ha\u200blong" differ from "ha long" or a code unreadable.
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def fold(text: str) -> str:
    """Return text without diacritics or case, with whitespace collapsed, for matching."""
    # casefold first: it can itself produce combining marks (e.g. "İ" -> "i̇").
    decomposed = unicodedata.normalize("NFKD", visible(text).casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # đ is a letter of its own, not d plus a mark, so NFKD leaves it alone.
    bare = bare.replace("đ", "d")
    return " ".join(bare.split())


def matches(query: str, text: str) -> bool:
    """Tell whether every word of query occurs in text, ignoring case, accents and spacing."""
    tokens = fold(query).split()
    if not tokens:
        return False
    haystack = fold(text)
    if all(token in haystack for token in tokens):
        return True
    # People run place names together ("halong", "dongtrieu"); retry with spaces removed.
    compact = haystack.replace(" ", "")
    return all(token in compact for token in tokens)


# --------------------------------------------------------------------------- amounts

MAX_AMOUNT = 10**13
"""Largest sum parse_amount accepts; beyond it the input is a typo, not a bribe."""

_UNITS: dict[str, int] = {
    "k": 10**3,
    "nghin": 10**3,
    "ngan": 10**3,
    "thousand": 10**3,
    "thousands": 10**3,
    "tr": 10**6,
    "trieu": 10**6,
    "cu": 10**6,  # slang: "2 củ" is two million
    "m": 10**6,
    "mn": 10**6,
    "mil": 10**6,
    "million": 10**6,
    "millions": 10**6,
    "ty": 10**9,
    "ti": 10**9,
    "b": 10**9,
    "bn": 10**9,
    "billion": 10**9,
    "billions": 10**9,
}
_HUNDRED = frozenset({"tram", "hundred"})
_HALF = "ruoi"
_CURRENCY = frozenset({"d", "dong", "vnd", "₫"})
_FILLERS = frozenset(
    {
        "~",
        "≈",
        "khoang",
        "tam",
        "chung",
        "gan",
        "hon",
        "uoc",
        "about",
        "around",
        "approx",
        "approximately",
        "roughly",
        "nearly",
        "almost",
        "over",
    }
)
_MAX_NUMBER_CHARS = 40
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+|\S")
# "2 000 000": spaces used as thousands separators, only when every later group has 3 digits.
_SPACED_GROUPS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?![\d.,])")


def _parse_number(raw: str) -> Fraction | None:
    """Read digits with Vietnamese or English separators; None when the grouping is odd."""
    if len(raw) > _MAX_NUMBER_CHARS:
        # Also keeps int() clear of Python's limit on converting very long digit strings.
        return None
    groups = re.split(r"[.,]", raw)
    if len(groups) == 1:
        return Fraction(int(raw))
    separators = set(re.findall(r"[.,]", raw))
    if len(groups) == 2 and len(groups[1]) != 3:
        # A lone separator not followed by a 3-digit group can only be a decimal point.
        return Fraction(f"{groups[0]}.{groups[1]}")
    if len(separators) == 1 and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return Fraction(int("".join(groups)))
    return None


def _trailing_value(raw: str, coef: Fraction, hundred: bool, unit: int) -> Fraction:
    """Value of a unit-less number after a unit, as in "2tr5" or "2 triệu 500"."""
    if not hundred and raw.isdigit() and len(raw) <= 3:
        # Read as the digits after the unit's decimal point: "2tr5" = 2.5tr, "1tr25" = 1.25tr.
        return Fraction(int(raw), 10 ** len(raw)) * unit
    if hundred and coef.denominator == 1 and coef < 1000:
        # "2 triệu 5 trăm" leaves "nghìn" unsaid: it is 2,500,000.
        return coef * unit / 1000
    return coef


def parse_amount(text: str) -> int | None:
    """Read a sum in Vietnamese đồng as people type it; None if it is not a plausible sum."""
    folded = fold(text).rstrip(".!?;,")
    folded = _SPACED_GROUPS_RE.sub(lambda m: m.group().replace(" ", ""), folded)
    tokens = _TOKEN_RE.findall(folded)
    while tokens and (tokens[0] in _FILLERS or tokens[0] in _CURRENCY):
        tokens.pop(0)
    while tokens and (tokens[-1] in _FILLERS or tokens[-1] in _CURRENCY):
        tokens.pop()
    if not tokens:
        return None

    total = Fraction(0)
    prev_unit: int | None = None
    closed = False  # set once nothing more may follow (a bare number, a fraction, "rưỡi")
    i = 0
    while i < len(tokens):
        raw = tokens[i]
        if closed or not raw[0].isdigit():
            return None
        coef = _parse_number(raw)
        if coef is None:
            return None
        i += 1
        hundred = i < len(tokens) and tokens[i] in _HUNDRED
        if hundred:
            coef *= 100
            i += 1
        unit = _UNITS.get(tokens[i]) if i < len(tokens) else None
        if unit is None:
            value = coef if prev_unit is None else _trailing_value(raw, coef, hundred, prev_unit)
            closed = True
        else:
            i += 1
            if i < len(tokens) and tokens[i] == _HALF:
                coef += Fraction(1, 2)
                i += 1
                closed = True
            value = coef * unit
        if coef.denominator != 1:
            closed = True
        # Later parts must be smaller than the unit before them: "2 triệu 500 nghìn", not
        # "2 nghìn 5 triệu".
        if prev_unit is not None and (value >= prev_unit or (unit or 0) >= prev_unit):
            return None
        total += value
        prev_unit = unit

    if total.denominator != 1 or not 0 < total <= MAX_AMOUNT:
        return None
    return int(total)


def format_amount(amount: int, locale: str) -> str:
    """Format đồng for display: "2.000.000 ₫" for vi, "2,000,000 VND" for en."""
    if _language(locale) == "en":
        # English readers may not know the ₫ sign that babel's en pattern puts first.
        return format_currency(amount, "VND", format="#,##0 ¤¤", locale="en")
    # babel's vi output separates the number and ₫ with a no-break space (U+00A0).
    return format_currency(amount, "VND", locale="vi")


# --------------------------------------------------------------------------- dates


class DateFormatError(ValueError):
    """The text is not a date, or names a day that does not exist."""


class FutureDateError(ValueError):
    """The date is after today, where only past events make sense."""

    def __init__(self, when: date) -> None:
        super().__init__(f"{when.isoformat()} is in the future")
        self.date = when


_DAYS_AGO: dict[str, int] = {
    "hom nay": 0,
    "today": 0,
    "hom qua": 1,
    "yesterday": 1,
    "hom kia": 2,
}
_NUMERIC_DATE_RE = re.compile(
    r"(?:ngay\s*)?(\d{1,2})\s*([/.-])\s*(\d{1,2})(?:\s*\2\s*(\d{4}|\d{2}))?"
)
# "ngày 5 tháng 3 năm 2026", the way dates are written out in Vietnamese.
_WORDY_DATE_RE = re.compile(r"(?:ngay\s+)?(\d{1,2})\s+thang\s+(\d{1,2})(?:,?\s+nam\s+(\d{4}))?")
_MIN_YEAR = 1900


def _read_date(text: str, today: date) -> date:
    """Turn text into a date, day first; a missing year is today's year."""
    folded = fold(text).rstrip(".")
    if folded in _DAYS_AGO:
        return today - timedelta(days=_DAYS_AGO[folded])
    if m := _NUMERIC_DATE_RE.fullmatch(folded):
        day, month, year_text = m.group(1), m.group(3), m.group(4)
    elif m := _WORDY_DATE_RE.fullmatch(folded):
        day, month, year_text = m.group(1), m.group(2), m.group(3)
    else:
        raise DateFormatError(f"not a date: {text!r}")
    if year_text is None:
        year = today.year
    elif len(year_text) == 2:
        year = 2000 + int(year_text)
    else:
        year = int(year_text)
    if year < _MIN_YEAR:
        raise DateFormatError(f"year out of range: {text!r}")
    try:
        return date(year, int(month), int(day))
    except ValueError as exc:
        raise DateFormatError(f"no such day: {text!r}") from exc


def parse_date(text: str, today: date) -> date:
    """Read a past or present date (dd/mm/yyyy and friends); raise on bad or future dates."""
    when = _read_date(text, today)
    if when > today:
        # "dd/mm" past today is a typo or a misunderstanding, not a date last year.
        raise FutureDateError(when)
    return when


def parse_date_any(text: str, today: date) -> date:
    """Read a date like parse_date but allow the future, e.g. for a promised deadline."""
    return _read_date(text, today)


def format_date(d: date, locale: str) -> str:
    """Format a date for display: "05/03/2026" for vi, "5 Mar 2026" for en."""
    if _language(locale) == "en":
        return _babel_format_date(d, "d MMM yyyy", locale="en")
    return _babel_format_date(d, "dd/MM/yyyy", locale="vi")


def _language(locale: str) -> str:
    """Reduce "en_US" or "en-GB" to "en"; anything not English is shown in Vietnamese."""
    lang = re.split(r"[_-]", locale.strip().lower(), maxsplit=1)[0]
    return "en" if lang == "en" else "vi"


# --------------------------------------------------------------------------- tracking codes

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Letters and digits of tracking codes, without 0/O and 1/I, which people confuse."""
CODE_LENGTH = 8
_CODE_SEPARATORS_RE = re.compile(r"[\s\-‐‑‒–—_]+")


def new_code() -> str:
    """Return a fresh random tracking code of CODE_LENGTH characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """Return the canonical form of a typed tracking code, or None if it is not one."""
    # NFKC turns full-width letters from some phone keyboards into ASCII.
    compact = _CODE_SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", visible(text))).upper()
    if len(compact) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in compact):
        return None
    return compact


def format_code(code: str) -> str:
    """Return a tracking code as "ABCD-EFGH", easier to read aloud; ValueError if invalid."""
    normal = normalize_code(code)
    if normal is None:
        raise ValueError(f"not a tracking code: {code!r}")
    half = CODE_LENGTH // 2
    return f"{normal[:half]}-{normal[half:]}"


_VN_PHONE_RE = re.compile(r"\A(?:0|\+84|84)(\d{9})\Z")


def parse_vn_phone(text: str) -> str | None:
    """Return a Vietnamese phone number as 0 and nine digits (from 0…, +84… or 84…), or None."""
    digits = re.sub(r"[\s.()-]", "", text)
    match = _VN_PHONE_RE.match(digits)
    return "0" + match.group(1) if match else None

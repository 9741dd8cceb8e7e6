"""Both catalogs are complete, in sync with the code, and keep every placeholder."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import SUPPORTED, Translator

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdif]")


def load(locale: str) -> Catalog:
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def code_msgids() -> set[str]:
    ids: set[str] = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords={"_": None, "N_": None}
        ):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.parametrize("locale", SUPPORTED)
def test_catalog_is_complete_and_current(locale: str) -> None:
    catalog = load(locale)
    entries = {m.id: m for m in catalog if m.id}
    missing = code_msgids() - set(entries)
    assert not missing, f"not extracted into {locale}: {sorted(missing)[:5]}"
    untranslated = [m.id for m in entries.values() if not m.string]
    fuzzy = [m.id for m in entries.values() if m.fuzzy]
    assert not untranslated, f"{len(untranslated)} untranslated, e.g. {untranslated[:3]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy, e.g. {fuzzy[:3]}"


@pytest.mark.parametrize("locale", SUPPORTED)
def test_placeholders_and_line_breaks_match(locale: str) -> None:
    catalog = load(locale)
    for message in catalog:
        if not message.id:
            continue
        assert isinstance(message.id, str) and isinstance(message.string, str)
        assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
            PLACEHOLDER.findall(message.string)
        ), message.id
        assert message.id.count("\n") == message.string.count("\n"), message.id
        assert not list(message.check(catalog)), message.id


def test_vietnamese_is_vietnamese() -> None:
    catalog = load("vi")
    translated = [m for m in catalog if m.id and len(str(m.id)) > 25]
    same = [m.id for m in translated if m.string == m.id]
    assert not same, f"left in English: {same[:3]}"
    for message in catalog:
        text = str(message.string)
        assert unicodedata.normalize("NFC", text) == text, message.id


def test_translator_uses_the_catalogs() -> None:
    translator = Translator()
    assert translator.get("vi")("Today") == "Hôm nay"
    assert translator.get("en")("Today") == "Today"
    assert translator.get("xx")("Today") == "Hôm nay"


def test_no_translation_hides_inside_an_f_string() -> None:
    # Babel does not look inside f-strings (on Python 3.11 they are single tokens), so a text
    # written f"{_('...')}" is never extracted and a Vietnamese reader would see English.
    hidden = re.compile(r"""\bf(["'])(?:(?!\1).)*?\b_\(""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("bot", "handlers")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if hidden.search(line)
    ]
    assert not offenders, offenders

"""Gettext catalogs for the citizen's and the officer's language."""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED = ("vi", "en")

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated where shown)."""
    return message


class Translator:
    """Holds one gettext catalog per supported locale, read from the .po sources."""

    def __init__(self, locales_dir: Path = LOCALES_DIR, *, only: str | None = None) -> None:
        """Read every supported catalog, or with `only` that one (and Vietnamese, the fallback)."""
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        for locale in SUPPORTED:
            if only is None or locale in (only, "vi"):
                self._catalogs[locale] = _load(locales_dir, locale)

    def get(self, locale: str | None) -> Gettext:
        """Return the gettext function for `locale` (Vietnamese when unknown)."""
        catalog = self._catalogs.get(locale or "vi") or self._catalogs["vi"]
        return catalog.gettext


def _load(locales_dir: Path, locale: str) -> gettext.NullTranslations:
    po = locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return gettext.NullTranslations()
    # Compiling the .po in memory keeps the catalogs' sources the only thing in the repository,
    # so a checkout can never run with a stale .mo.
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick_locale(language_code: str | None, default: str) -> str:
    """Choose a supported locale from Telegram's `language_code`."""
    if language_code:
        base = language_code.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return default


def refresh_catalogs(root: Path = LOCALES_DIR.parent) -> dict[str, int]:
    """Extract messages, update both catalogs, fill English from the msgids; count what's left.

    Returns the number of untranslated or fuzzy entries per locale.
    """
    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import write_po

    locales = root / "locales"
    pot = locales / f"{DOMAIN}.pot"
    cli = CommandLineInterface()
    cli.run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(root / "babel.cfg"),
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--project=liemchinh",
            "-o",
            str(pot),
            str(root),
        ]
    )
    left: dict[str, int] = {}
    for locale in SUPPORTED:
        po = locales / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        action = "update" if po.exists() else "init"
        args = ["pybabel", "-q", action, "-i", str(pot), "-d", str(locales), "-l", locale]
        if action == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete"]
        cli.run(args)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        if locale == "en":
            # The msgids are English: the English catalog is the identity, kept complete so
            # that a missing entry can never hide behind the fallback.
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
            with po.open("wb") as fh:
                write_po(fh, catalog, width=99, sort_output=True, omit_header=False)
        left[locale] = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
    return left


if __name__ == "__main__":
    for name, count in refresh_catalogs().items():
        print(f"{name}: {count} untranslated or fuzzy")

"""Write a province's units, from the `vietnam-provinces` package, as the bot's example units.

A tool, not part of the bot. The package ships Vietnam's official list of provinces and their
communes, wards and special zones after the reorganisation of 1 July 2025, with their official
codes. From the repository root, in the project's virtual environment:

    .venv/bin/pip install vietnam-provinces==2025.10.1
    .venv/bin/python examples/make_units.py

rewrites examples/units-quang-ninh.csv (the format of `liemchinh units import`) and the
[[units]] at the end of config.example.toml with Quảng Ninh and its 54 units. Another province:

    .venv/bin/python examples/make_units.py --province 96 --csv units-ca-mau.csv

Codes are the package's names for the official codes (P_22 for the province, W_06688 for a
ward): they match the bot's code pattern, and the letter keeps a spreadsheet from reading
"06688" as the number 6688. Chat ids are fake (-100000000000N) and only a few units have one.
The package can lag behind the province's own decisions: check the result against the
province's current list before use.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from vietnam_provinces import Province, ProvinceCode, Ward
from vietnam_provinces import __data_version__ as DATA_VERSION
from vietnam_provinces import __version__ as PACKAGE_VERSION

from bot.figures.units_csv import UnitRow, render_csv

ROOT = Path(__file__).resolve().parent.parent
QUANG_NINH = 22
CSV = ROOT / "examples" / "units-quang-ninh.csv"
CONFIG = ROOT / "config.example.toml"
# Where config.example.toml's units begin; everything from this line on is rewritten.
CONFIG_MARK = "# The units that receive reports."
# Units given a (fake) alert chat in the example, so that the demo and a first try have
# somewhere to send alerts: the province and a few large wards and a special zone.
EXAMPLE_CHATS = ("P_22", "W_06688", "W_06673", "W_06793", "W_06811", "W_07093", "W_06994")
# How the package writes the kind of unit in front of its name.
_KINDS = ("Thành phố ", "Tỉnh ", "Phường ", "Xã ", "Đặc khu ")


def office(name: str, kind: str) -> str:
    """Return the name of the people's committee of a unit: "UBND phường Hạ Long"."""
    for prefix in _KINDS:
        if name.startswith(prefix):
            return f"UBND {prefix.lower()}{name.removeprefix(prefix)}"
    return f"UBND {kind} {name}"


def units_of(province_code: int) -> list[UnitRow]:
    """Return the province and the units under it, by official code, as CSV rows."""
    province = Province.from_code(ProvinceCode(province_code))
    top = province.code.name
    wards = sorted(Ward.iter_by_province(province.code), key=lambda w: int(w.code))
    rows = [
        UnitRow(top, office(province.name, province.division_type.value), None, None, (), False)
    ]
    rows += [
        UnitRow(ward.code.name, office(ward.name, ward.division_type.value), top, None, (), False)
        for ward in wards
    ]
    chats = {code: -1000000000000 - n for n, code in enumerate(EXAMPLE_CHATS, start=1)}
    return [
        UnitRow(r.code, r.name, r.parent, chats.get(r.code), r.officers, r.disabled) for r in rows
    ]


def config_units(rows: Sequence[UnitRow]) -> str:
    """Return the units as the commented [[units]] tables that end config.example.toml."""
    below = len(rows) - 1
    lines = [
        CONFIG_MARK,
        f"# An EXAMPLE: {rows[0].name} and its {below} communes, wards and special",
        "# zones after the reorganisation of 1 July 2025, written by examples/make_units.py",
        f"# from the vietnam-provinces package {PACKAGE_VERSION} (data of {DATA_VERSION}).",
        "# Check it against the province's current list before use. The chat ids are fake and",
        "# most units have none: their alerts are kept until a chat is bound (/bind CODE in the",
        "# unit's group).",
        "# code     short id, letters/digits/.-_ (at most 24); here the official code. Citizens",
        "#          see it only when two units of the same name and parents must be told apart",
        "# name     shown to citizens and officers; a name that another unit also has is shown",
        "#          with the name of the unit above it",
        "# parent   the code of the unit above (optional); overdue reports climb to it",
        "# chat_id  the channel or group where this unit's alerts go: add the bot there as an",
        "#          administrator, then read the id (a negative number) from the bot's log or",
        "#          @RawDataBot",
        "# officers Telegram user ids of the unit's officers (optional): they, the officers of",
        "#          the units above, and the administrators may act on the unit's reports",
    ]
    for row in rows:
        lines += ["[[units]]", f'code = "{row.code}"', f'name = "{row.name}"']
        if row.parent is not None:
            lines.append(f'parent = "{row.parent}"')
        if row.chat_id is not None:
            lines.append(f"chat_id = {row.chat_id}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_csv(path: Path, rows: Sequence[UnitRow]) -> None:
    """Write the units in the format of `liemchinh units import`, with a note under the header."""
    note = io.StringIO(newline="")
    csv.writer(note, lineterminator="\r\n").writerow(
        [
            f"# EXAMPLE from the vietnam-provinces package {PACKAGE_VERSION} (data of"
            f" {DATA_VERSION}), written by examples/make_units.py: check it against the"
            " province's current list before use. Chat ids are fake."
        ]
    )
    header, rest = render_csv(rows).decode("utf-8").split("\r\n", 1)
    path.write_bytes(f"{header}\r\n{note.getvalue()}{rest}".encode())


def write_config(path: Path, rows: Sequence[UnitRow]) -> None:
    """Replace the units at the end of the example configuration."""
    text = path.read_text(encoding="utf-8")
    at = text.index(CONFIG_MARK)
    path.write_text(text[:at] + config_units(rows), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Write the CSV (and, for Quảng Ninh, the example configuration's units)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--province", type=int, default=QUANG_NINH, help="official code")
    parser.add_argument("--csv", type=Path, help="where to write the CSV file")
    args = parser.parse_args(argv)
    rows = units_of(args.province)
    target = args.csv or (CSV if args.province == QUANG_NINH else None)
    if target is None:
        parser.error("--csv is needed for a province other than Quảng Ninh")
    write_csv(target, rows)
    print(f"{target}: {len(rows)} units")
    if args.province == QUANG_NINH and args.csv is None:
        write_config(CONFIG, rows)
        print(f"{CONFIG}: {len(rows)} units")
    return 0


if __name__ == "__main__":
    sys.exit(main())

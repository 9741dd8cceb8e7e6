"""Export the unit tree to CSV and import it back, checking the whole file before writing.

Columns, in this order, under a header row: ``code,name,parent,chat_id,officers,disabled``.
``officers`` is a space-separated list of Telegram user ids; ``disabled`` is 0 or 1 (yes/no and
true/false are accepted too, an empty cell means 0). A row whose first cell starts with ``#``
is a note and is skipped.

Conflict rule: imported units count as edited by an administrator. Later starts no longer
overwrite their name, parent or chat from ``[[units]]`` in the config: the database wins for
them. Officers are only ever added (an import never removes one), and the config's officers are
still added at every start, as for units edited in chat. Units the file does not name are left
alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.config import UNIT_CODE_RE, Settings, UnitConfig, check_database_path
from bot.store.repository import Repository

HEADER = ("code", "name", "parent", "chat_id", "officers", "disabled")
MAX_SHOWN = 20
_COLUMN_ORDER = {column: i for i, column in enumerate(("file", "header", "row", *HEADER))}
# Only these spellings are accepted, so a typo ("l", "yse") never silently enables or disables
# a unit; an empty cell is the spreadsheet's default and means enabled.
_TRUE = frozenset({"1", "yes", "true"})
_FALSE = frozenset({"", "0", "no", "false"})
# ASCII digits only: int() would also take "1_000" or Arabic-Indic digits.
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")
# How Excel displays (and then saves) a number too long for its column: -1.001E+12.
_SCIENTIFIC_RE = re.compile(r"^[+-]?[0-9][0-9.,]*E[+-]?[0-9]+$", re.IGNORECASE)
# SQLite stores at most a signed 64-bit integer; a longer number is a paste error, not an id.
_INT64 = 2**63


@dataclass(frozen=True)
class UnitRow:
    """One unit as written in a CSV row (or read from the database, for comparison)."""

    code: str
    name: str
    parent: str | None
    chat_id: int | None
    officers: tuple[int, ...]
    disabled: bool

    def config(self) -> UnitConfig:
        """Return the unit in the shape Repository.import_units takes."""
        return UnitConfig(self.code, self.name, self.parent, self.chat_id, self.officers)


@dataclass(frozen=True)
class Problem:
    """One mistake in the file, tied to its line and column."""

    line: int
    column: str
    message: str

    def format(self, file: str) -> str:
        """Render the problem as ``FILE:LINE: column: message``."""
        return f"{file}:{self.line}: {self.column}: {self.message}"

    def sort_key(self) -> tuple[int, int]:
        """Order problems by line, then by column as the file lays them out."""
        return self.line, _COLUMN_ORDER.get(self.column, len(_COLUMN_ORDER))


@dataclass
class Parsed:
    """What a CSV file holds: the valid rows, every unit's parent link, and the problems."""

    rows: list[UnitRow] = field(default_factory=list)
    # code -> (line, parent) for every row with a usable code, even if another cell is wrong,
    # so the tree is checked (and every problem reported) in a single pass.
    links: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # A bad header or encoding leaves nothing to check row by row.
    fatal: bool = False


@dataclass
class Plan:
    """What an import changes, unit by unit, against the database as it stands."""

    created: list[UnitRow] = field(default_factory=list)
    updated: list[tuple[UnitRow, list[str]]] = field(default_factory=list)
    unchanged: list[UnitRow] = field(default_factory=list)
    kept_officers: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def lines(self, *, dry_run: bool) -> list[str]:
        """Describe each change, then the totals."""
        out = [f"+ {row.code}: {_describe(row)}" for row in self.created]
        out += [f"~ {row.code}: {'; '.join(changes)}" for row, changes in self.updated]
        out += [
            f"  {code}: officers {_ids(ids)} are not in the file and stay"
            " (an import only adds officers)"
            for code, ids in self.kept_officers
        ]
        created, updated = _units(len(self.created)), len(self.updated)
        if dry_run:
            out.append(
                f"Dry run: would create {created}, update {updated},"
                f" leave {len(self.unchanged)} unchanged; nothing written."
            )
            return out
        out.append(f"Created {created}, updated {updated}, {len(self.unchanged)} unchanged.")
        total = len(self.created) + updated + len(self.unchanged)
        if total:
            out.append(
                f"The {_units(total)} in the file now belong to the database: later starts"
                " no longer apply [[units]] from the config to them."
            )
        return out


@dataclass
class ImportResult:
    """The outcome of an import: problems (nothing written) or the plan carried out."""

    problems: list[Problem] = field(default_factory=list)
    plan: Plan | None = None
    written: bool = False


# -- reading ---------------------------------------------------------------------------------


def parse_csv(data: bytes) -> Parsed:
    """Parse and check every row of a CSV file; the tree itself is checked by check_tree."""
    parsed = Parsed()
    try:
        # utf-8-sig drops the BOM Excel writes in front of "CSV UTF-8" files, if there is one.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = 'is not UTF-8 text (in Excel, save as "CSV UTF-8")'
        parsed.problems.append(Problem(line, "file", message))
        parsed.fatal = True
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""))
    first: dict[str, int] = {}
    end = 0
    while True:
        # A quoted cell may span lines: a row is reported at the line where it starts.
        start = end + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            parsed.problems.append(Problem(start, "file", f"is not valid CSV ({exc})"))
            parsed.fatal = True
            return parsed
        end = reader.line_num
        if cells is None:
            break
        cells = [cell.strip() for cell in cells]
        if start == 1:
            if tuple(cells) != HEADER:
                parsed.problems.append(Problem(1, "header", _header_message(cells)))
                parsed.fatal = True
                return parsed
            continue
        # Spreadsheets leave blank lines and rows of empty cells behind; they hold no unit.
        if not any(cells):
            continue
        # A note for people, such as where the list came from; no code can start with "#".
        if cells[0].startswith("#"):
            continue
        if len(cells) != len(HEADER):
            message = f"expected {len(HEADER)} columns, found {len(cells)}"
            parsed.problems.append(Problem(start, "row", message))
            continue
        _parse_row(start, cells, parsed, first)
    if end == 0:
        parsed.problems.append(Problem(1, "header", "the file is empty"))
        parsed.fatal = True
    return parsed


def _header_message(cells: Sequence[str]) -> str:
    message = f"expected {','.join(HEADER)}, found {','.join(cells) or 'nothing'}"
    if len(cells) == 1 and ";" in cells[0]:
        message += " (the columns must be separated by commas, not semicolons)"
    return message


def _parse_row(line: int, cells: Sequence[str], parsed: Parsed, first: dict[str, int]) -> None:
    code, name, parent, chat_cell, officers_cell, disabled_cell = cells
    problems: list[Problem] = []
    if not code:
        problems.append(Problem(line, "code", "missing"))
    elif not UNIT_CODE_RE.match(code):
        message = f"{code!r} must be 1-24 letters, digits, '.', '_' or '-'"
        problems.append(Problem(line, "code", message))
    elif code in first:
        message = f"duplicate code {code!r} (first on line {first[code]})"
        problems.append(Problem(line, "code", message))
    else:
        first[code] = line
        parsed.links[code] = (line, parent or None)
    if not name:
        problems.append(Problem(line, "name", "missing or empty"))
    chat_id: int | None = None
    if chat_cell:
        chat_id = _integer(chat_cell)
        if chat_id is None:
            message = f"{chat_cell!r} is not an integer chat id"
            if _SCIENTIFIC_RE.match(chat_cell):
                message += " (format the column as Text in the spreadsheet)"
            problems.append(Problem(line, "chat_id", message))
    officers: list[int] = []
    bad = []
    for word in officers_cell.split():
        officer = _integer(word)
        if officer is None or officer <= 0:
            bad.append(word)
        elif officer not in officers:
            officers.append(officer)
    if bad:
        shown = ", ".join(repr(word) for word in bad)
        what = "is not a Telegram user id" if len(bad) == 1 else "are not Telegram user ids"
        message = f"{shown} {what} (positive whole numbers, separated by spaces)"
        problems.append(Problem(line, "officers", message))
    disabled = disabled_cell.lower()
    if disabled not in _TRUE | _FALSE:
        message = f"{disabled_cell!r} must be 0 or 1 (yes/no and true/false are accepted too)"
        problems.append(Problem(line, "disabled", message))
    if problems:
        parsed.problems += problems
        return
    parsed.rows.append(
        UnitRow(
            code,
            name,
            parent or None,
            chat_id,
            tuple(sorted(officers)),
            disabled in _TRUE,
        )
    )


def _integer(text: str) -> int | None:
    if not _INTEGER_RE.match(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def check_tree(
    links: Mapping[str, tuple[int, str | None]], existing: Mapping[str, UnitRow]
) -> list[Problem]:
    """Check that every parent exists and that no parents form a cycle, file and database."""
    problems: list[Problem] = []
    parents = {code: unit.parent for code, unit in existing.items()}
    parents.update({code: parent for code, (_, parent) in links.items()})
    for line, parent in links.values():
        if parent is not None and parent not in parents:
            message = f"unknown unit {parent!r}: neither in the file nor in the database"
            problems.append(Problem(line, "parent", message))
    reported: set[frozenset[str]] = set()
    # Links keep the file's order, so a cycle is reported once, at its first line.
    for code, (line, _) in links.items():
        path = [code]
        cursor = parents.get(code)
        while cursor is not None and cursor in parents and cursor not in path:
            path.append(cursor)
            cursor = parents[cursor]
        # A walk that loops back elsewhere is a cycle this unit only leads into.
        if cursor == code and frozenset(path) not in reported:
            reported.add(frozenset(path))
            message = f"the parents form a cycle: {' → '.join([*path, code])}"
            problems.append(Problem(line, "parent", message))
    return problems


# -- comparing -------------------------------------------------------------------------------


async def read_units(repo: Repository) -> dict[str, UnitRow]:
    """Return every unit in the database, disabled ones too, with its officers."""
    rows = {}
    for unit in await repo.units.all_units():
        officers = tuple(user_id for user_id, _ in await repo.units.officers_of(unit.code))
        rows[unit.code] = UnitRow(
            unit.code, unit.name, unit.parent, unit.chat_id, officers, unit.disabled
        )
    return rows


def after_seed(
    current: Mapping[str, UnitRow], edited: Mapping[str, bool], units: Sequence[UnitConfig]
) -> dict[str, UnitRow]:
    """Predict the units once the config has seeded them, without writing anything.

    A dry run compares against this. It assumes the stored chat ids stand, as they do unless
    the operator changed a unit's chat_id in the config since the last start.
    """
    view = dict(current)
    for unit in units:
        now = view.get(unit.code)
        if now is None:
            view[unit.code] = UnitRow(
                unit.code, unit.name, unit.parent, unit.chat_id, unit.officers, False
            )
            continue
        officers = tuple(sorted({*now.officers, *unit.officers}))
        if edited.get(unit.code):
            view[unit.code] = replace(now, officers=officers)
        else:
            view[unit.code] = replace(now, name=unit.name, parent=unit.parent, officers=officers)
    return view


def plan_import(rows: Sequence[UnitRow], before: Mapping[str, UnitRow]) -> Plan:
    """Compare the file's units with the database's."""
    plan = Plan()
    for row in rows:
        old = before.get(row.code)
        if old is None:
            plan.created.append(row)
            continue
        changes = []
        if row.name != old.name:
            changes.append(f"name {old.name!r} → {row.name!r}")
        if row.parent != old.parent:
            changes.append(f"parent {old.parent or '(none)'} → {row.parent or '(none)'}")
        if row.chat_id != old.chat_id:
            changes.append(f"chat {_opt(old.chat_id)} → {_opt(row.chat_id)}")
        if row.disabled != old.disabled:
            changes.append(f"disabled {_yes(old.disabled)} → {_yes(row.disabled)}")
        added = tuple(sorted(set(row.officers) - set(old.officers)))
        if added:
            changes.append(f"officers + {_ids(added)}")
        kept = tuple(sorted(set(old.officers) - set(row.officers)))
        if kept:
            plan.kept_officers.append((row.code, kept))
        if changes:
            plan.updated.append((row, changes))
        else:
            plan.unchanged.append(row)
    return plan


def _describe(row: UnitRow) -> str:
    parts = [repr(row.name)]
    if row.parent:
        parts.append(f"under {row.parent}")
    if row.chat_id is not None:
        parts.append(f"chat {row.chat_id}")
    if row.officers:
        parts.append(f"officers {_ids(row.officers)}")
    if row.disabled:
        parts.append("disabled")
    return ", ".join(parts)


def _ids(ids: Iterable[int]) -> str:
    return " ".join(str(i) for i in ids)


def _opt(value: int | None) -> str:
    return "(none)" if value is None else str(value)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _units(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"


# -- writing ---------------------------------------------------------------------------------


def tree_order(units: Iterable[UnitRow]) -> list[UnitRow]:
    """Order units parents first, each followed by its children, siblings by code."""
    by_code = {unit.code: unit for unit in units}
    children: dict[str | None, list[UnitRow]] = {}
    for unit in by_code.values():
        # A parent missing from the list makes its child a root rather than dropping it.
        key = unit.parent if unit.parent in by_code else None
        children.setdefault(key, []).append(unit)
    ordered: list[UnitRow] = []
    seen: set[str] = set()
    stack = sorted(children.get(None, []), key=lambda u: u.code, reverse=True)
    while stack:
        unit = stack.pop()
        if unit.code in seen:
            continue
        seen.add(unit.code)
        ordered.append(unit)
        stack += sorted(children.get(unit.code, []), key=lambda u: u.code, reverse=True)
    # Units caught in a cycle have no root above them; they still must not vanish.
    ordered += sorted((u for u in by_code.values() if u.code not in seen), key=lambda u: u.code)
    return ordered


def render_csv(units: Iterable[UnitRow]) -> bytes:
    """Write the units as CSV: UTF-8 with a BOM, CRLF line ends, header first."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for unit in units:
        writer.writerow(
            (
                unit.code,
                unit.name,
                unit.parent or "",
                "" if unit.chat_id is None else unit.chat_id,
                _ids(unit.officers),
                int(unit.disabled),
            )
        )
    # The BOM is how Excel knows a CSV file is UTF-8; without it, Excel reads the file in the
    # Windows code page and Vietnamese names come out garbled ("UBND tá»‰nh").
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# -- commands --------------------------------------------------------------------------------


async def export_csv(settings: Settings) -> bytes:
    """Seed the config's units, then return every unit in the database as CSV."""
    check_database_path(settings)
    async with Repository.of(settings) as repo:
        # A fresh database would export as empty; the bot would seed these at start anyway.
        await repo.units.seed_units(settings.units)
        units = await read_units(repo)
    return render_csv(tree_order(units.values()))


async def import_csv(settings: Settings, data: bytes, *, dry_run: bool = False) -> ImportResult:
    """Check the whole file against the database, then write it in one transaction."""
    parsed = parse_csv(data)
    if parsed.fatal:
        return ImportResult(problems=parsed.problems)
    # Checking reads only: a failed import, or a dry run, leaves no new database file behind.
    current: dict[str, UnitRow] = {}
    edited: dict[str, bool] = {}
    if settings.database.exists():
        async with Repository.of(settings) as repo:
            current = await read_units(repo)
            edited = await repo.units.unit_sources()
    # The file may name config units as parents; they are seeded before the file is written.
    before = after_seed(current, edited, settings.units)
    problems = sorted(parsed.problems + check_tree(parsed.links, before), key=Problem.sort_key)
    if problems:
        return ImportResult(problems=problems)
    if dry_run:
        return ImportResult(plan=plan_import(parsed.rows, before))
    check_database_path(settings)
    async with Repository.of(settings) as repo:
        await repo.units.seed_units(settings.units)
        before = await read_units(repo)
        # The bot may have changed a parent in chat since the check: check again, just before.
        problems = check_tree(parsed.links, before)
        if problems:
            return ImportResult(problems=problems)
        plan = plan_import(parsed.rows, before)
        await repo.units.import_units(
            [row.config() for row in parsed.rows],
            disabled={row.code for row in parsed.rows if row.disabled},
        )
    return ImportResult(plan=plan, written=True)


def format_problems(file: str, problems: Sequence[Problem]) -> list[str]:
    """Render the first MAX_SHOWN problems, one line each, then say that nothing was written."""
    lines = [problem.format(file) for problem in problems[:MAX_SHOWN]]
    if len(problems) > MAX_SHOWN:
        lines.append(f"{file}: ... and {len(problems) - MAX_SHOWN} more problems")
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    lines.append(f"{file}: nothing imported ({count})")
    return lines

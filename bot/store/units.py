"""Units: the tree of state bodies that receive reports, their alert chats and their officers.

The configuration seeds the units at every start; admins may then add, edit or import units in
chat, and from then on the database wins over the configuration for those units until an admin
hands them back. Officers come from the configuration, from an import or from chat, and each
row remembers which, so that a restart only withdraws what the configuration itself granted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from bot.config import UnitConfig
from bot.core.domain import Unit
from bot.core.parsing import fold, matches
from bot.store.database import Store
from bot.store.dialect import fetch_one
from bot.store.rows import UNIT_SELECT, to_unit


class UnitStore(Store):
    """Units, their hierarchy, their alert chats and their officers."""

    async def seed_units(self, units: Sequence[UnitConfig]) -> None:
        """Insert or update the units named in the configuration."""
        now = self._now()
        async with self._write() as conn:
            # Parents first, so the foreign key holds at every insert.
            for unit in _parents_first(units):
                row = await fetch_one(
                    conn,
                    "SELECT chat_id, seed_chat_id, edited_in_chat FROM units WHERE code = ?",
                    (unit.code,),
                )
                if row is None:
                    # Workers starting together on one PostgreSQL all find the unit missing;
                    # the first insert wins and the others wait for it, then leave it be.
                    await conn.execute(
                        "INSERT OR IGNORE INTO units (code, name, parent, chat_id, seed_chat_id,"
                        " chat_state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            unit.code,
                            unit.name,
                            unit.parent,
                            unit.chat_id,
                            unit.chat_id,
                            "ok" if unit.chat_id is not None else "unset",
                            now,
                        ),
                    )
                elif row["edited_in_chat"] is not None:
                    # An admin changed this unit in chat after the config seeded it: the
                    # database wins until the admin hands it back (/unit_reset).
                    pass
                else:
                    # A chat id that changed at run time (group upgraded to supergroup) is kept
                    # until the operator writes a different one into the config.
                    if unit.chat_id != row["seed_chat_id"]:
                        await conn.execute(
                            "UPDATE units SET chat_id = ?, seed_chat_id = ?, chat_state = ?"
                            " WHERE code = ?",
                            (
                                unit.chat_id,
                                unit.chat_id,
                                "ok" if unit.chat_id is not None else "unset",
                                unit.code,
                            ),
                        )
                    await conn.execute(
                        "UPDATE units SET name = ?, parent = ? WHERE code = ?",
                        (unit.name, unit.parent, unit.code),
                    )
                for officer in unit.officers:
                    await conn.execute(
                        "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                        " VALUES (?, ?, 'config')",
                        (unit.code, officer),
                    )
                # An officer struck from the config loses the unit's buttons at the next start;
                # officers added in chat are the admins' to remove.
                marks = ",".join("?" * len(unit.officers))
                await conn.execute(
                    "DELETE FROM unit_officers WHERE unit_code = ? AND source = 'config'"
                    + (f" AND user_id NOT IN ({marks})" if unit.officers else ""),
                    (unit.code, *unit.officers),
                )

    async def get_unit(self, code: str) -> Unit | None:
        """Return one unit by code."""
        async with self._read() as conn:
            row = await fetch_one(conn, UNIT_SELECT + " WHERE code = ?", (code,))
        return to_unit(row) if row else None

    async def child_units(self, parent: str | None) -> list[Unit]:
        """Return the enabled children of `parent` (the top level when None), by name."""
        async with self._read() as conn:
            if parent is None:
                rows = await conn.execute_fetchall(
                    UNIT_SELECT + " WHERE parent IS NULL AND disabled = 0"
                )
            else:
                rows = await conn.execute_fetchall(
                    UNIT_SELECT + " WHERE parent = ? AND disabled = 0", (parent,)
                )
        return sorted((to_unit(r) for r in rows), key=lambda u: fold(u.name))

    async def has_children(self, codes: Sequence[str]) -> set[str]:
        """Return which of `codes` have at least one enabled child."""
        if not codes:
            return set()
        marks = ",".join("?" * len(codes))
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT DISTINCT parent FROM units WHERE disabled = 0 AND parent IN ({marks})",
                tuple(codes),
            )
        return {r["parent"] for r in rows}

    async def search_units(self, query: str, limit: int = 8) -> list[Unit]:
        """Find enabled units whose name or code matches, ignoring case and diacritics."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(UNIT_SELECT + " WHERE disabled = 0")
        found = [
            to_unit(r) for r in rows if matches(query, r["name"]) or matches(query, r["code"])
        ]
        found.sort(key=lambda u: (len(u.name), fold(u.name)))
        return found[:limit]

    async def all_units(self) -> list[Unit]:
        """Return every unit, disabled ones too, by code."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(UNIT_SELECT + " ORDER BY code")
        return [to_unit(r) for r in rows]

    async def qualifiers(self, units: Iterable[Unit]) -> dict[str, tuple[str, ...]]:
        """Return, by code, what tells each unit apart from units of the same name (or ())."""
        # The names of its nearest units above, as many as it takes: its parent's alone unless
        # a namesake's parent has that name too. Names are compared as people read them,
        # ignoring case and diacritics. Namesakes under units of the same names all the way up
        # (a slip in the tree) are told apart by their codes. Disabled units count: /units
        # shows them, and labels stay the same in every view.
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT code, name, parent FROM units")
        names = {r["code"]: r["name"] for r in rows}
        parents = {r["code"]: r["parent"] for r in rows}
        namesakes: dict[str, list[str]] = {}
        for row in rows:
            namesakes.setdefault(fold(row["name"]), []).append(row["code"])

        def above(code: str) -> list[str]:
            chain: list[str] = []
            cursor = parents.get(code)
            # A cycle cannot be stored (moves are checked), but a guard costs nothing.
            while cursor is not None and cursor in names and len(chain) < len(names):
                chain.append(names[cursor])
                cursor = parents.get(cursor)
            return chain

        found: dict[str, tuple[str, ...]] = {}
        for unit in units:
            others = [c for c in namesakes.get(fold(unit.name), ()) if c != unit.code]
            if not others:
                found[unit.code] = ()
                continue
            own = above(unit.code)
            chains = [[fold(n) for n in above(c)] for c in others]
            folded = [fold(n) for n in own]
            for depth in range(1, len(own) + 1):
                if all(chain[:depth] != folded[:depth] for chain in chains):
                    found[unit.code] = tuple(own[:depth])
                    break
            else:
                found[unit.code] = (*own, unit.code)
        return found

    async def ancestors(self, code: str) -> list[str]:
        """Return the unit's code followed by its parents' codes, nearest first."""
        chain: list[str] = []
        async with self._read(together=True) as conn:
            cursor: str | None = code
            while cursor is not None and cursor not in chain:
                row = await fetch_one(conn, "SELECT parent FROM units WHERE code = ?", (cursor,))
                if row is None:
                    break
                chain.append(cursor)
                cursor = row["parent"]
        return chain

    async def descendants(self, code: str) -> list[str]:
        """Return the unit's code and the codes of every unit below it."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "WITH RECURSIVE tree(code) AS (SELECT code FROM units WHERE code = ?"
                " UNION SELECT units.code FROM units JOIN tree ON units.parent = tree.code)"
                " SELECT code FROM tree",
                (code,),
            )
        return [r["code"] for r in rows]

    async def units_by_chat(self, chat_id: int) -> list[Unit]:
        """Return the units whose alerts go to `chat_id`."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                UNIT_SELECT + " WHERE chat_id = ? ORDER BY code", (chat_id,)
            )
        return [to_unit(r) for r in rows]

    async def migrate_unit_chat(self, old_chat_id: int, new_chat_id: int) -> list[str]:
        """Point every unit using `old_chat_id` at `new_chat_id`; return their codes."""
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "SELECT code FROM units WHERE chat_id = ?", (old_chat_id,)
            )
            await conn.execute(
                "UPDATE units SET chat_id = ?, chat_state = 'ok' WHERE chat_id = ?",
                (new_chat_id, old_chat_id),
            )
            # Telegram carries the history over, so alerts keep their buttons and edits. A link
            # already under the new id for the same message gives way, as UPDATE OR REPLACE
            # would do in SQLite alone.
            await conn.execute(
                "DELETE FROM links WHERE chat_id = ? AND message_id IN"
                " (SELECT message_id FROM links WHERE chat_id = ?)",
                (new_chat_id, old_chat_id),
            )
            await conn.execute(
                "UPDATE links SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
            )
        return [r["code"] for r in rows]

    async def set_unit_chat_state(self, code: str, state: str) -> bool:
        """Record the alert chat's state; return True when it changed."""
        changed = await self._write_one(
            "UPDATE units SET chat_state = ? WHERE code = ? AND chat_state != ?",
            (state, code, state),
        )
        return changed > 0

    async def unit_sources(self) -> dict[str, bool]:
        """Return, per unit code, whether an admin changed it in chat (the config then yields)."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall("SELECT code, edited_in_chat FROM units")
        return {r["code"]: r["edited_in_chat"] is not None for r in rows}

    async def add_unit(self, code: str, name: str, parent: str | None) -> bool:
        """Create a unit; False if the code is taken."""
        now = self._now()
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO units (code, name, parent, chat_state, created_at,"
                " edited_in_chat) VALUES (?, ?, ?, 'unset', ?, ?)",
                (code, name, parent, now, now),
            )
            return cur.rowcount > 0

    async def update_unit(self, code: str, **changes: Any) -> bool:
        """Change a unit's name, parent, chat or disabled flag from chat; False if unknown."""
        allowed = {"name", "parent", "chat_id", "chat_state", "disabled"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")
        values = {**changes, "edited_in_chat": self._now()}
        assignments = ", ".join(f"{column} = ?" for column in values)
        async with self._write() as conn:
            cur = await conn.execute(
                f"UPDATE units SET {assignments} WHERE code = ?", (*values.values(), code)
            )
            return cur.rowcount > 0

    async def import_units(
        self, units: Sequence[UnitConfig], disabled: Collection[str] = ()
    ) -> int:
        """Create or update units from a file, all or nothing; return how many were written."""
        # Parents are written before children. Units the file does not name are left alone.
        now = self._now()
        async with self._write() as conn:
            for unit in _parents_first(units):
                await conn.execute(
                    "INSERT INTO units (code, name, parent, chat_id, chat_state, disabled,"
                    " created_at, edited_in_chat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(code) DO UPDATE SET name = excluded.name,"
                    " parent = excluded.parent, disabled = excluded.disabled,"
                    " edited_in_chat = excluded.edited_in_chat,"
                    " chat_state = CASE WHEN excluded.chat_id IS units.chat_id"
                    " THEN units.chat_state ELSE excluded.chat_state END,"
                    " chat_id = excluded.chat_id",
                    (
                        unit.code,
                        unit.name,
                        unit.parent,
                        unit.chat_id,
                        "ok" if unit.chat_id is not None else "unset",
                        int(unit.code in disabled),
                        now,
                        now,
                    ),
                )
                for officer in unit.officers:
                    await conn.execute(
                        "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                        " VALUES (?, ?, 'import')",
                        (unit.code, officer),
                    )
        return len(units)

    async def officer_units(self, user_id: int) -> set[str]:
        """Return the codes of the units the user is an officer of."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT unit_code FROM unit_officers WHERE user_id = ?", (user_id,)
            )
        return {r["unit_code"] for r in rows}

    async def officers_of(self, unit_code: str) -> list[tuple[int, str]]:
        """Return the unit's officers with where each came from ("config" or "chat")."""
        async with self._read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT user_id, source FROM unit_officers WHERE unit_code = ? ORDER BY user_id",
                (unit_code,),
            )
        return [(r["user_id"], r["source"]) for r in rows]

    async def add_officer(self, unit_code: str, user_id: int, source: str = "chat") -> bool:
        """Make `user_id` an officer of the unit; return False if they already were."""
        async with self._write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO unit_officers (unit_code, user_id, source)"
                " VALUES (?, ?, ?)",
                (unit_code, user_id, source),
            )
            return cur.rowcount > 0

    async def remove_officer(self, unit_code: str, user_id: int) -> bool:
        """Take away an officer; False if they were not one."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM unit_officers WHERE unit_code = ? AND user_id = ?",
                (unit_code, user_id),
            )
            return cur.rowcount > 0


def _parents_first(units: Sequence[UnitConfig]) -> list[UnitConfig]:
    by_code = {u.code: u for u in units}
    ordered: list[UnitConfig] = []
    seen: set[str] = set()

    def visit(unit: UnitConfig) -> None:
        if unit.code in seen:
            return
        seen.add(unit.code)
        if unit.parent in by_code:
            visit(by_code[unit.parent])
        ordered.append(unit)

    for unit in units:
        visit(unit)
    return ordered

"""`liemchinh units export/import`: the CSV round trip, and one clear line per mistake."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.core.parsing import fold
from bot.figures.units_csv import HEADER, UnitRow, read_units
from bot.store.repository import Repository

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = ROOT / "examples" / "units-quang-ninh.csv"
HEAD = ",".join(HEADER) + "\n"

# No token: editing units never talks to Telegram.
CONFIG = """
[storage]
database = "data/units.db"
[[units]]
code = "P"
name = "Tỉnh"
chat_id = -1001
officers = [5]
[[units]]
code = "C"
name = "Phường"
parent = "P"
"""


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIEMCHINH_TOKEN", raising=False)
    monkeypatch.delenv("LIEMCHINH_CONFIG", raising=False)


def write_config(folder: Path, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_csv(folder: Path, text: str, *, bom: bool = False, name: str = "units.csv") -> Path:
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def database(config: Path) -> Path:
    return load_settings(config, require_token=False).database


def units_in(config: Path) -> dict[str, UnitRow]:
    async def read() -> dict[str, UnitRow]:
        async with Repository(database(config)) as repo:
            return await read_units(repo)

    return asyncio.run(read())


def edited_in(config: Path) -> dict[str, bool]:
    async def read() -> dict[str, bool]:
        async with Repository(database(config)) as repo:
            return await repo.units.unit_sources()

    return asyncio.run(read())


def seed(config: Path) -> None:
    """Do what every start of the bot does to the units."""

    async def run() -> None:
        async with Repository(database(config)) as repo:
            await repo.units.seed_units(load_settings(config, require_token=False).units)

    asyncio.run(run())


def cli(*args: str | Path) -> int:
    return main([str(arg) for arg in args])


def test_export_writes_every_unit_parents_first_with_bom(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)

    async def edit_in_chat() -> None:
        async with Repository(database(config)) as repo:
            await repo.units.seed_units(load_settings(config, require_token=False).units)
            assert await repo.units.add_unit("Z", "Xã Z", "P")
            assert await repo.units.add_unit("B", "Thôn B, xã Z", "Z")
            assert await repo.units.add_unit("A", "Xã A", "P")
            assert await repo.units.update_unit("A", disabled=1)
            assert await repo.units.add_officer("C", 7)

    asyncio.run(edit_in_chat())
    assert cli("units", "export", "--config", config) == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeff" + HEAD.rstrip("\n"))
    # B sorts before Z by code but sits under it: parents come first.
    assert out.splitlines()[1:] == [
        "P,Tỉnh,,-1001,5,0",
        "A,Xã A,P,,,1",
        "C,Phường,P,,7,0",
        "Z,Xã Z,P,,,0",
        'B,"Thôn B, xã Z",Z,,,0',
    ]


def test_export_seeds_a_fresh_database_and_writes_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "out.csv"
    assert cli("--config", config, "units", "export", "-o", out) == 0
    data = out.read_bytes()
    # Excel recognises UTF-8 only by the BOM; CRLF is what it writes itself.
    assert data.startswith(b"\xef\xbb\xbf" + HEAD.rstrip("\n").encode() + b"\r\n")
    assert "P,Tỉnh,,-1001,5,0\r\nC,Phường,P,,,0\r\n" in data.decode("utf-8")


def test_round_trip_gives_the_same_tree(tmp_path: Path) -> None:
    source = write_config(tmp_path / "a")
    seed(source)
    csv_path = tmp_path / "units.csv"
    assert cli("units", "import", write_example_tree(tmp_path), "--config", source) == 0
    assert cli("units", "export", "--config", source, "-o", csv_path) == 0

    target = write_config(tmp_path / "b", '[storage]\ndatabase = "other.db"\n')
    assert cli("units", "import", csv_path, "--config", target) == 0
    assert units_in(target) == units_in(source)
    assert len(units_in(target)) == 5


def write_example_tree(folder: Path) -> Path:
    return write_csv(
        folder,
        HEAD + 'N,Xã Mới,P,-1002,8 9,0\nN-1,Bộ phận Một cửa,N,,,1\nQ,"Sở ""Tài chính""",P,,,0\n',
        name="tree.csv",
    )


def test_import_creates_updates_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    seed(config)
    capsys.readouterr()
    first = write_csv(
        tmp_path,
        HEAD + "P,Tỉnh,,-1001,5,no\nN,Xã Mới,P,-1002,8 9,FALSE\nC,Phường Một,N,-1003,,yes\n",
    )
    assert cli("units", "import", first, "--config", config) == 0
    out = capsys.readouterr().out
    assert "+ N: 'Xã Mới', under P, chat -1002, officers 8 9" in out
    assert (
        "~ C: name 'Phường' → 'Phường Một'; parent P → N; chat (none) → -1003;"
        " disabled no → yes" in out
    )
    assert "Created 1 unit, updated 1, 1 unchanged." in out
    units = units_in(config)
    assert units["N"] == UnitRow("N", "Xã Mới", "P", -1002, (8, 9), False)
    assert units["C"] == UnitRow("C", "Phường Một", "N", -1003, (), True)
    assert units["P"] == UnitRow("P", "Tỉnh", None, -1001, (5,), False)

    assert cli("units", "import", first, "--config", config) == 0
    assert "Created 0 units, updated 0, 3 unchanged." in capsys.readouterr().out
    assert units_in(config) == units

    # The conflict rule: a restart seeds [[units]] again, but imported units keep their values.
    seed(config)
    assert units_in(config) == units
    assert edited_in(config) == {"P": True, "N": True, "C": True}


def test_import_only_adds_officers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    seed(config)
    path = write_csv(tmp_path, HEAD + "P,Tỉnh,,-1001,6,0\n")
    assert cli("units", "import", path, "--config", config) == 0
    out = capsys.readouterr().out
    assert "~ P: officers + 6" in out
    assert "P: officers 5 are not in the file and stay" in out
    assert units_in(config)["P"].officers == (5, 6)


def test_parent_may_be_a_config_unit_of_a_fresh_database(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    path = write_csv(tmp_path, HEAD + "N,Xã Mới,C,,,0\n")
    assert cli("units", "import", path, "--config", config) == 0
    assert set(units_in(config)) == {"P", "C", "N"}
    assert edited_in(config) == {"P": False, "C": False, "N": True}


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_bom_and_line_ends_are_accepted(tmp_path: Path, bom: bool, newline: str) -> None:
    config = write_config(tmp_path)
    text = (HEAD + "N,Xã Mới,P,,,0\n").replace("\n", newline)
    assert cli("units", "import", write_csv(tmp_path, text, bom=bom), "--config", config) == 0
    assert units_in(config)["N"] == UnitRow("N", "Xã Mới", "P", None, (), False)


LINE_2 = "NEW,Mới,P,,,0\n"  # valid: proves a problem elsewhere blocks it too


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("Q N,x,P,,,0\n", "units.csv:3: code: 'Q N' must be 1-24 letters, digits"),
        (",x,P,,,0\n", "units.csv:3: code: missing"),
        ("X,  ,P,,,0\n", "units.csv:3: name: missing or empty"),
        ("NEW,Lại,P,,,0\n", "units.csv:3: code: duplicate code 'NEW' (first on line 2)"),
        (
            "X,x,ZZ,,,0\n",
            "units.csv:3: parent: unknown unit 'ZZ': neither in the file nor in the database",
        ),
        ("X,x,Y,,,0\nY,y,X,,,0\n", "units.csv:3: parent: the parents form a cycle: X → Y → X"),
        ("X,x,X,,,0\n", "units.csv:3: parent: the parents form a cycle: X → X"),
        # With the database: C sits under P there, so P cannot move under C.
        ("P,Tỉnh,C,,,0\n", "units.csv:3: parent: the parents form a cycle: P → C → P"),
        ("X,x,P,abc,,0\n", "units.csv:3: chat_id: 'abc' is not an integer chat id"),
        (
            "X,x,P,-1.001E+12,,0\n",
            "units.csv:3: chat_id: '-1.001E+12' is not an integer chat id (format the column",
        ),
        ("X,x,P,,5 x7,0\n", "units.csv:3: officers: 'x7' is not a Telegram user id"),
        ("X,x,P,,0 -4,0\n", "units.csv:3: officers: '0', '-4' are not Telegram user ids"),
        ("X,x,P,,,maybe\n", "units.csv:3: disabled: 'maybe' must be 0 or 1"),
        ("X,x\n", "units.csv:3: row: expected 6 columns, found 2"),
        ('X,"two\nlines",P,,,0\nY,y,P,,,2\n', "units.csv:5: disabled: '2' must be 0 or 1"),
    ],
)
def test_each_problem_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, expected: str
) -> None:
    config = write_config(tmp_path)
    seed(config)
    before, sources = units_in(config), edited_in(config)
    path = write_csv(tmp_path, HEAD + LINE_2 + rows)
    capsys.readouterr()
    assert cli("units", "import", path, "--config", config) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith(expected.replace("units.csv", str(path)))]
    assert err[-1] == f"{path}: nothing imported (1 problem)"
    assert units_in(config) == before and edited_in(config) == sources


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"code,name,parent\nX,x,\n", ":1: header: expected code,name,parent,chat_id,officers"),
        (b"code;name;parent;chat_id;officers;disabled\n", "not semicolons"),
        (b"", ":1: header: the file is empty"),
        (
            HEAD.encode() + b"X,T\xe2y,,,,0\n",
            ':2: file: is not UTF-8 text (in Excel, save as "CSV',
        ),
    ],
)
def test_file_level_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, expected: str
) -> None:
    config = write_config(tmp_path)
    path = tmp_path / "units.csv"
    path.write_bytes(data)
    assert cli("units", "import", path, "--config", config) == 2
    assert expected in capsys.readouterr().err
    # Checking reads only: not even an empty database is left behind.
    assert not database(config).exists()


def test_all_problems_are_collected_and_twenty_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    path = write_csv(tmp_path, HEAD + "".join(f"X{i},,P,,,0\n" for i in range(25)))
    assert cli("units", "import", path, "--config", config) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [f"{path}:2: name: missing or empty", f"{path}:3: name: missing or empty"]
    assert err[20:] == [
        f"{path}: ... and 5 more problems",
        f"{path}: nothing imported (25 problems)",
    ]


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    path = write_csv(tmp_path, HEAD + "P,Tỉnh mới,,-1001,5,0\nC,Phường,P,,,0\nN,Xã,C,,,0\n")
    # Against a database that does not exist yet: it is not even created.
    assert cli("units", "import", path, "--config", config, "--dry-run") == 0
    assert not database(config).exists()
    out = capsys.readouterr().out
    assert "+ N: 'Xã', under C" in out and "~ P: name 'Tỉnh' → 'Tỉnh mới'" in out
    assert "Dry run: would create 1 unit, update 1, leave 1 unchanged; nothing written." in out

    seed(config)
    before, sources = units_in(config), edited_in(config)
    assert cli("units", "import", path, "--config", config, "--dry-run") == 0
    assert "Dry run: would create 1 unit, update 1" in capsys.readouterr().out
    assert units_in(config) == before and edited_in(config) == sources


def test_the_shipped_example_imports_into_a_fresh_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, '[storage]\ndatabase = "fresh.db"\n')
    assert cli("units", "import", EXAMPLE_CSV, "--config", config) == 0
    assert "Created 55 units, updated 0, 0 unchanged." in capsys.readouterr().out
    units = units_in(config)
    # Quảng Ninh after 1 July 2025: the province and its 54 communes, wards and special zones,
    # each under the province, each named once, each code the official one.
    assert units["P_22"].parent is None and units["P_22"].name == "UBND tỉnh Quảng Ninh"
    below = [u for u in units.values() if u.code != "P_22"]
    assert len(below) == 54 and all(u.parent == "P_22" for u in below)
    assert len({fold(u.name) for u in units.values()}) == 55
    assert all(re.fullmatch(r"W_\d{5}", u.code) for u in below)
    assert units["W_06688"].name == "UBND phường Hạ Long"
    assert units["W_06994"].name == "UBND đặc khu Vân Đồn"
    # It says where it comes from and that it must be checked.
    assert "check it against the province's current list" in EXAMPLE_CSV.read_text("utf-8")
    # The example CSV and the example config describe the same units.
    example = load_settings(ROOT / "config.example.toml", require_token=False).units
    assert {(u.code, u.name, u.parent, u.chat_id) for u in example} == {
        (u.code, u.name, u.parent, u.chat_id) for u in units.values()
    }


def test_a_row_whose_first_cell_starts_with_a_hash_is_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    text = HEAD + '"# From the province\'s list, 2025"\nN,Xã Mới,P,,,0\n#X,not,a,unit\n'
    assert cli("units", "import", write_csv(tmp_path, text), "--config", config) == 0
    assert "Created 1 unit, updated 0" in capsys.readouterr().out
    assert "N" in units_in(config) and len(units_in(config)) == 3


def test_the_commands_in_a_subprocess(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("LIEMCHINH_TOKEN", "LIEMCHINH_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "units", *map(str, args), "--config", str(config)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            timeout=60,
        )

    exported = run("export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("\ufeff" + HEAD.rstrip("\n"))

    good = write_csv(tmp_path, HEAD + "N,Xã Mới,P,,,0\n", name="good.csv")
    imported = run("import", good)
    assert imported.returncode == 0, imported.stderr
    assert "Created 1 unit, updated 0, 0 unchanged." in imported.stdout

    bad = write_csv(tmp_path, HEAD + "N,Xã Mới,ZZ,,,0\n", name="bad.csv")
    refused = run("import", bad)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert refused.stderr.splitlines() == [
        f"{bad}:2: parent: unknown unit 'ZZ': neither in the file nor in the database",
        f"{bad}: nothing imported (1 problem)",
    ]

"""How the bot starts a short-lived process of its own (the chart's, an export's).

The child runs one module of this `bot` package with the same interpreter, its standard
streams piped to the parent, and none of the bot's secrets: the `LIEMCHINH_*` variables (the
token among them) are no business of a process that draws or writes files.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import bot

__all__ = ["start_child"]

# Where the `bot` package of this process lies, so that the child imports the same one.
_ROOT = str(Path(bot.__file__).resolve().parent.parent)


def _environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LIEMCHINH_")}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, *paths])
    return env


async def start_child(module: str) -> asyncio.subprocess.Process:
    """Start `python -m module` with its stdin, stdout and stderr piped (OSError if it can't)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(),
    )

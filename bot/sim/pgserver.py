"""A throwaway PostgreSQL server for the tests and the benchmark (`liemchinh bench --workers`):
initdb in a temporary folder, 127.0.0.1 only.

Debian's `postgresql` binaries are found on PATH or under /usr/lib/postgresql/*/bin. PostgreSQL
refuses to run as root, so under root (CI) the server runs as the `postgres` user (or `nobody`)
through `setpriv`; no system service is started or touched. `stop` removes everything, and a
small watcher process does the same if the test (or bench) process is killed before it could.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

USER = "liemchinh"
# Run beside the tests: when the test process is gone (even killed), stop the server, remove it.
WATCHER = """
import os, shutil, subprocess, sys, time
parent, root, *stop = sys.argv[1:]
while os.getppid() == int(parent) and os.path.isdir(root):
    time.sleep(0.5)
if os.path.isdir(root):
    subprocess.run(stop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)
"""


def binaries() -> Path | None:
    """Return the folder of initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One server in a temporary folder, listening on a free port of 127.0.0.1."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="liemchinh-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._watcher: subprocess.Popen[bytes] | None = None
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            account = _unprivileged_account()
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._prefix = [
                "setpriv",
                f"--reuid={account.pw_uid}",
                f"--regid={account.pw_gid}",
                "--clear-groups",
                "--",
            ]

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._prefix, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def start(self) -> None:
        """Create the cluster and start the server; its data is thrown away, so it never syncs."""
        data = self.root / "data"
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self._watcher = subprocess.Popen(
            [sys.executable, "-c", WATCHER, str(os.getpid()), str(self.root), *self._stop_args()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Parallel test workers may pick the same free port between choosing and binding it.
        for attempt in range(3):
            try:
                self._start_on(self.port)
                return
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                self.port = _free_port()

    def _start_on(self, port: int) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port}"
            f" -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=100 -c shared_buffers=32MB"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def _stop_args(self) -> list[str]:
        return [
            *self._prefix,
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-m",
            "immediate",
            "stop",
        ]

    def url(self, database: str = "postgres") -> str:
        """Return the URL of one database on this server."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    async def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        with contextlib.suppress(OSError):
            subprocess.run(self._stop_args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._watcher is not None:
            self._watcher.kill()
            self._watcher.wait()


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("no unprivileged account to run PostgreSQL as")

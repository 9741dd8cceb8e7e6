"""Webhook workers as an operator runs them, for the failover test and `liemchinh bench --workers`.

Each worker is `python -m bot run --webhook --config FILE` in a process of its own, on one
PostgreSQL database, with the `[storage] state_dir` keys they share, the same webhook and
secret, and its own port on 127.0.0.1. The round-robin balancer (`bot.sim.balancer`) stands in
front of them, and the simulated Telegram posts its webhook requests to the balancer, as the
operator's HTTPS proxy would pass them on. A worker can be killed with SIGKILL and started again
on its port, with its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bot.sim.balancer import Balancer
from bot.sim.bench_world import ROOT, BenchSimulator, Process, write_config

# What Telegram is told; the simulator routes it to the balancer.
HOOK = "https://bot.invalid/telegram/hook"
PATH = "/telegram/hook"
SECRET = "cluster-webhook-secret"
# What a worker logs once it serves (bot.app.serve).
RUNNING = "running (webhook)"


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    """One worker: its process (started again after a kill), port and configuration."""

    process: Process
    port: int
    config: Path
    # Times it logged that it runs, before its latest start.
    starts: int = 0

    def running_count(self) -> int:
        """How many times the worker logged that it serves, over all its starts."""
        try:
            return self.process.log.read_text(encoding="utf-8", errors="replace").count(RUNNING)
        except FileNotFoundError:
            return 0


class Cluster:
    """`count` webhook workers on the database `url`, behind the balancer.

    `rate` is the bot's overall pace (`[telegram] messages_per_second`), `lifted` lifts
    Telegram's limits as in the bench's saturation phase, and `officers` names one officer per
    unit (see `bench_world.write_config`).
    """

    def __init__(
        self,
        sim: BenchSimulator,
        folder: Path,
        url: str,
        count: int,
        *,
        rate: int | None = None,
        lifted: bool = False,
        officers: bool = False,
        root: Path = ROOT,
    ) -> None:
        self.sim = sim
        self.folder = folder
        self.url = url
        self.count = count
        self.rate = rate
        self.lifted = lifted
        self.officers = officers
        self.root = root
        self.workers: list[Worker] = []
        self.balancer: Balancer | None = None

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, seconds: float = 90.0) -> None:
        """Start the balancer and the workers; return once every worker serves."""
        # The keys all workers share; on SQLite (one process) they sit beside the database.
        state = self.folder / "state" if self.url.startswith("postgresql") else None
        for number in range(self.count):
            port = free_port()
            folder = self.folder / f"worker{number}"
            config = write_config(
                self.sim,
                folder,
                lifted=self.lifted,
                database=self.url,
                state_dir=state,
                rate=self.rate,
                officers=self.officers,
                extra=[
                    "[webhook]",
                    f'url = "{HOOK}"',
                    f'secret_token = "{SECRET}"',
                    "[web]",
                    'listen = "127.0.0.1"',
                    f"port = {port}",
                ],
            )
            log = (folder / "bot.log").resolve()
            argv = ["-m", "bot", "run", "--webhook", "--config", str(config.resolve())]
            argv += ["--log-file", str(log)]
            self.workers.append(Worker(Process(argv, log, self.root), port, config))
        self.balancer = Balancer([w.port for w in self.workers])
        await self.balancer.__aenter__()
        # Before the workers set the webhook: the simulator looks the route up then.
        self.sim.route_webhook(HOOK, f"{self.balancer.url}{PATH}")
        for worker in self.workers:
            await self._launch(worker)
        await self.wait_serving(seconds)

    async def _launch(self, worker: Worker) -> None:
        worker.starts = worker.running_count()
        await worker.process.start()

    async def wait_serving(self, seconds: float = 90.0) -> None:
        """Wait until every worker logged that it serves since its latest start."""
        deadline = time.monotonic() + seconds
        while not all(w.running_count() > w.starts for w in self.workers):
            for worker in self.workers:
                proc = worker.process.proc
                if proc is not None and proc.returncode is not None:
                    raise RuntimeError(f"a worker exited at start; see {worker.process.log}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start serving; see their logs")
            await asyncio.sleep(0.1)

    async def kill(self, number: int) -> None:
        """SIGKILL one worker, as a crash or `kill -9` ends it."""
        await self.workers[number].process.kill()

    async def restart(self, number: int, seconds: float = 90.0) -> None:
        """Start a killed (or stopped) worker again, on its port; return once it serves."""
        worker = self.workers[number]
        await self._launch(worker)
        await self.wait_serving(seconds)

    async def stop(self) -> None:
        """Stop the workers as an operator does (SIGTERM), then the balancer."""
        await asyncio.gather(*(w.process.stop() for w in self.workers))
        if self.balancer is not None:
            with contextlib.suppress(Exception):
                await self.balancer.__aexit__(None, None, None)
            self.balancer = None

    def cpu_seconds(self) -> float:
        """The CPU time the running workers used so far."""
        total = 0.0
        for worker in self.workers:
            proc = worker.process.proc
            if proc is None or proc.returncode is not None:
                continue
            # It may end between the check and the read.
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                total += worker.process.stats().cpu_s
        return total

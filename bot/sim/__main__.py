"""`python -m bot.sim`: the simulated Telegram Bot API in a process of its own, for a bot
or another client run separately; it prints the port it listens on and serves until SIGINT or
SIGTERM. (Tests, the demo and the benchmark run BotApiSimulator inside their own event loop.)
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bot.sim.protocol import DEFAULT_TOKEN
from bot.sim.server import BotApiSimulator


async def _serve_forever(port: int, token: str, enforce_limits: bool) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    async with BotApiSimulator(token=token, port=port, enforce_limits=enforce_limits) as sim:
        print(sim.port, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in its own process and print the port it listens on."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.sim", description="Simulated Telegram Bot API on 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bot token to accept")
    parser.add_argument(
        "--enforce-limits", action="store_true", help="answer 429 when flood limits are broken"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.port, args.token, args.enforce_limits))


if __name__ == "__main__":
    main()

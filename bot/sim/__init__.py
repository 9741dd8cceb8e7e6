"""Tools apart from the product: the simulated Bot API, the demo, the benchmark and chaos runs.

No production module imports this package; only the command line does (import-linter checks).
"""

from bot.sim.simulator import BotApiSimulator, SimUser

__all__ = ["BotApiSimulator", "SimUser"]

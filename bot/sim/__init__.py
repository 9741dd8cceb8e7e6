"""Tools apart from the product: the simulated Bot API, the demo, the benchmark and chaos runs.

No production module imports this package; only the command line does (import-linter checks).
"""

from bot.sim.people import SimUser
from bot.sim.server import BotApiSimulator

__all__ = ["BotApiSimulator", "SimUser"]

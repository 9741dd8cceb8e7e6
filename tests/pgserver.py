"""The throwaway PostgreSQL server of the tests lives with the tools (`bot.sim.pgserver`): the
benchmark starts one too."""

from bot.sim.pgserver import PostgresServer, binaries

__all__ = ["PostgresServer", "binaries"]

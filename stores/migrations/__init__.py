"""Versioned, idempotent schema migrations for the DuckDB warehouse.

Each module `mNNN_*.py` in this package defines `MIGRATIONS`, a list of `Migration`. Versions are
globally unique integers; ranges are reserved per area so work in parallel never collides:
1-9 foundation (bars, quarantine, audit), 10-19 features/labels, 20-29 signals, 30-39 regimes,
40-49 forecasts, 50-59 serving/backtest, 60-69 monitoring, 70-79 operations (indicators, timings).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

Statement = str | Callable[[duckdb.DuckDBPyConnection], None]


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements (or callables taking the connection) applied in one transaction."""

    version: int
    name: str
    statements: tuple[Statement, ...]


def all_migrations() -> list[Migration]:
    """Every migration of every module in this package, ordered by version; duplicates are an error."""
    found: dict[int, Migration] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("m"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for mig in getattr(module, "MIGRATIONS", []):
            if mig.version in found:
                raise RuntimeError(
                    f"migration version {mig.version} defined twice: {found[mig.version].name!r} and {mig.name!r}"
                )
            found[mig.version] = mig
    return [found[v] for v in sorted(found)]


__all__ = ["Migration", "all_migrations"]

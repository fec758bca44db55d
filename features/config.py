"""Settings of the feature store and labels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeatureSettings(BaseModel):
    """Which feature sets are built, how labels are defined, and how DuckDB may use the machine."""

    model_config = ConfigDict(frozen=True)

    feature_set: str = "alpha158"
    """The set models train on by default; `"alpha158+market"` joins the two sets on (symbol, date)."""
    feature_sets: tuple[str, ...] = ("alpha158", "market")
    """Every set `foresight features` builds."""
    horizons: tuple[int, ...] = (1, 5, 21)
    entry_lag: int = 1
    """Sessions between the feature date and the entry close (1 = next session's close)."""
    threads: int = 2
    """DuckDB threads for the build (the machine is shared)."""
    memory_limit: str = "1GB"
    """DuckDB memory limit for the build; it spills to disk beyond it."""
    chunk_symbols: int = 100
    """Per-symbol sets are built this many symbols per INSERT ... SELECT (bounds memory)."""

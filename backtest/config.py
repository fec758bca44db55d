"""Settings of the signal backtest: strategy, costs, bootstrap."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class BacktestSettings(BaseModel):
    """One backtest over precomputed signals (daily rebalance, executed one session after the signal)."""

    model_config = ConfigDict(frozen=True)

    strategy: Literal["threshold", "topk"] = "topk"
    threshold: float = 0.5
    """`threshold`: long (equal weight) every symbol whose probability exceeds this."""
    top_k: int = 5
    """`topk`: long the k highest probabilities, 1/k each."""
    cost_bps: float = 5.0
    """Transaction cost per side, in basis points of traded notional."""
    cost_grid_bps: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0)
    execution_lag: int = 1
    """Sessions between the signal date and the close at which the trade is executed."""
    annualization: int = 252
    bootstrap_reps: int = 500
    bootstrap_block: int = 10
    """Mean block length (sessions) of the stationary bootstrap of the paired daily returns."""
    confidence: float = 0.95
    seed: int = 17
    model_name: str = "foresight-signal"
    model_version: str | None = None
    """None = the version with the most recently scored rows."""

"""Backtests over precomputed signals."""

from backtest.config import BacktestSettings
from backtest.engine import BacktestResult, compute_backtest, compute_target_weights
from backtest.metrics import (
    compute_break_even_bps,
    compute_psr,
    compute_sharpe,
    compute_sharpe_delta_ci,
)
from models.risk import compute_drawdown

__all__ = [
    "BacktestResult",
    "BacktestSettings",
    "compute_backtest",
    "compute_break_even_bps",
    "compute_drawdown",
    "compute_psr",
    "compute_sharpe",
    "compute_sharpe_delta_ci",
    "compute_target_weights",
]

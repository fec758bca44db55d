"""Settings of the signal, regime and forecast trainers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SignalTrainingSettings(BaseModel):
    """Signal-model training: horizon, walk-forward layout, tuning budget, promotion margin."""

    model_config = ConfigDict(frozen=True)

    horizon: int = 5
    n_folds: int = 4
    embargo_sessions: int = 5
    holdout_fraction: float = 0.15
    calibration_fraction: float = 0.15
    trials: int = 20
    timeout_s: float | None = None
    seed: int = 42
    promotion_margin: float = 0.0005
    """The new version must beat the champion's holdout log-loss by at least this much."""


class RegimeSettings(BaseModel):
    """Regime model: number of states, hysteresis, benchmark."""

    model_config = ConfigDict(frozen=True)

    n_states: int | None = None
    """None = choose 2 or 3 by BIC."""
    benchmark_symbol: str | None = None
    enter_threshold: float = 0.7
    leave_threshold: float = 0.3
    n_starts: int = 5
    seed: int = 11


class ForecastSettings(BaseModel):
    """Portfolio forecast: portfolio, horizons, quantiles."""

    model_config = ConfigDict(frozen=True)

    portfolio: str = "equal_weight"
    weights: dict[str, float] | None = None
    """None = equal weight over the universe."""
    horizons: tuple[int, ...] = (5, 21, 63)
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    seed: int = 5

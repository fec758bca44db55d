"""Settings of the market-data sources and the ingest guardrails."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, SecretStr


class SampleSettings(BaseModel):
    """The seeded synthetic market: size, dates and the planted structure."""

    model_config = ConfigDict(frozen=True)

    n_symbols: int = 50
    n_years: float = 10.0
    end: dt.date = dt.date(2025, 12, 31)
    seed: int = 7
    n_regimes: int = 3
    signal_strength: float = 0.6
    """Reversal coefficient kappa: each day's idiosyncratic return carries -kappa x the mean of the
    previous ten idiosyncratic returns (single-feature AUC of the 10-day
    reversal on 5-session forward returns ~0.54 at 0.6). 0 gives the pure random-walk variant."""


class GuardrailSettings(BaseModel):
    """Thresholds of the row and series checks applied before anything is written."""

    model_config = ConfigDict(frozen=True)

    stale_run_sessions: int = 5
    """A run of at least this many identical closes is flagged as stale."""
    spike_sigma: float = 8.0
    """A return beyond this many robust sigmas that reverts the next session is a likely bad tick."""
    spike_revert_fraction: float = 0.7
    """The next session must give back at least this fraction of the spike (opposite sign)."""
    spike_min_abs_return: float = 0.10
    """A bad tick also moves the close by at least this much (log return), so calm series with a tiny
    robust sigma do not turn ordinary days into spikes."""
    split_ratios: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 10.0, 0.5, 1 / 3, 0.25, 0.2, 0.1, 1.5, 2 / 3)
    split_tolerance: float = 0.03
    """Relative distance of the close ratio from a split ratio that still counts as that split."""
    split_adj_max_move: float = 0.25
    """With an adjusted series, a split day's adjusted close moves less than this (log return)."""


class AlphaVantageSettings(BaseModel):
    """Alpha Vantage HTTP client settings; the key is a secret and never printed."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    base_url: str = "https://www.alphavantage.co/query"
    requests_per_minute: float = 5.0
    max_retries: int = 4
    timeout_s: float = 30.0

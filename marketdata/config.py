"""Settings of the market-data sources and the ingest guardrails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
    """A return beyond this many robust sigmas that reverts the next session is a suspected bad tick: kept in
    `bars`, flagged `spike_reverted` in `data_quality` with the evidence for and against it."""
    spike_sigma_window: int = 60
    """The robust sigma is 1.4826 x the median absolute log return of the symbol's `spike_sigma_window` bars
    before the one tested (a trailing window, so the answer does not depend on how the data was fed)."""
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
    split_volume_share: float = 0.5
    """Without an adjusted series, a close ratio near a split ratio is a split only when volume reacts as a
    split makes it: the median volume of the 10 bars from that day, against the 20 bars before, moves by the
    ratio (a 2:1 split doubles the share count) give or take 1 - this share of it in log terms (x1.41..x2.83
    for 2:1); the volume surge of a crash or of news overshoots or goes the other way."""
    market_move_share: float = 0.25
    """A suspect is corroborated by the market when the median same-session return of the other symbols has
    the suspect's sign and at least this share of its size."""
    market_min_symbols: int = 3
    """Fewer other symbols trading that session say nothing about the market."""
    peer_count: int = 5
    """Peers of a symbol: the symbols whose daily returns net of the market correlated most with its own over
    the `peer_window` sessions before the suspect (at least `peer_min_corr`): its sector, found from the data."""
    peer_window: int = 60
    peer_min_corr: float = 0.3
    peer_move_share: float = 0.33
    """A suspect is corroborated by its peers when their median same-session return has its sign and at least
    this share of its size."""
    volume_ratio: float = 2.0
    """A suspect is corroborated by volume when the volume of its day or the next is at least this multiple of
    the median volume of the 20 bars before it (a mistyped price leaves volume unchanged)."""
    range_share: float = 0.5
    """A suspect is corroborated by its own bar when the day's high-low range spans at least this share of the
    close-to-close move (the price traded through; a mis-scaled bar shifts every field at once)."""
    reference_path: Path | None = None
    """A second source (a CSV/Parquet file or folder in the csv source's format): a suspect whose close it
    confirms (within `reference_tolerance`) is corroborated, one it contradicts is flagged `contradicted`."""
    reference_tolerance: float = 0.02
    max_rejected_share: float = 0.05
    """A run that quarantines more than this share of the rows it read ends `partial` (`foresight ingest` exits 6)."""


class AlphaVantageSettings(BaseModel):
    """Alpha Vantage HTTP client settings; the key is a secret and never printed."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    base_url: str = "https://www.alphavantage.co/query"
    requests_per_minute: float = 5.0
    max_retries: int = 4
    timeout_s: float = 30.0

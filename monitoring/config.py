"""Thresholds of the drift and calibration monitors."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class MonitoringSettings(BaseModel):
    """Windows and thresholds that turn a report into OK / WARN / ALERT."""

    model_config = ConfigDict(frozen=True)

    current_window_sessions: int = 21
    """Drift window: the last N scored sessions up to the monitoring date."""
    drift_method: str = "wasserstein"
    """Per-feature Evidently drift method. Wasserstein (normed by the reference std) is an effect size, so
    it does not flag every tiny move on large windows the way a p-value test does."""
    drift_threshold: float = 0.1
    """A feature drifts when its score reaches this (for p-value methods such as `ks`: falls below it)."""
    drift_noise_scale: float = 2.8
    """Distance methods: the threshold is at least this / sqrt(effective rows in the drift window), the
    99th percentile of a same-distribution sample's score (0 disables). Effective rows: see
    `dependence_aware`."""
    dependence_aware: bool = True
    """Size the drift noise floor and the calibration null by the dependence the reference shows (rows of
    one date move together; slow features barely change between dates; see `monitoring.dependence`).
    False treats every row of a window as an independent draw, which on a market panel alarms nightly."""
    drift_share_warn: float = 0.3
    drift_share_alert: float = 0.5
    prediction_drift_status: str = "WARN"
    """Status raised when the prediction (probability) itself drifts."""
    drift_severe_factor: float = 3.0
    """A feature scoring this many times its threshold warns by itself, whatever the share (a unit or
    mapping bug in a few features); on the sample market's training windows 1 window in 119 had one."""
    min_current_rows: int = 200
    """Below this many rows in the drift window the drift part is skipped (too noisy to judge)."""

    max_reference_rows: int = 50_000
    """The reference (training window) is sampled down to this many rows (seeded)."""

    calibration_window_sessions: int = 63
    """Calibration window: the last N sessions whose labels have matured."""
    min_calibration_rows: int = 300
    n_bins: int = 15
    """Equal-width ECE bins, as the signal trainer's holdout ECE."""
    ece_warn: float = 0.05
    """ECE above the reference (holdout) ECE by this much warns..."""
    ece_alert: float = 0.10
    ece_pvalue: float = 0.01
    """... but only when the consistency test (Bernoulli resampling) also rejects calibration at this level."""
    slope_warn_ratio: float = 1.5
    """Cross-sectional calibration slope (see `compute_calibration_slope`) against the holdout's: a ratio
    beyond this factor either way warns ..."""
    slope_alert_ratio: float = 2.0
    """... beyond this one alerts; both only when the difference is significant at `ece_pvalue`."""
    brier_warn: float = 0.01
    """Brier above the holdout Brier by this much warns."""

    coverage_window: int = 63
    """Forecast coverage: the last N matured evaluations (per horizon) are the current window."""
    nominal_coverage: float = 0.90
    coverage_warn: float = 0.05
    """Absolute distance of band coverage from the nominal 0.90 that warns."""
    coverage_alert: float = 0.10
    coverage_pvalue: float = 0.01
    """... and only when coverage is that far from nominal beyond chance (two-sided, binomial at the
    window's effective evaluations: overlapping h-session forecasts share outcomes)."""
    min_coverage_rows: int = 20

    keep_html: int = 1
    """HTML reports (~4 MB each) kept per model: the newest ones; JSON is always kept."""
    workspace_dirname: str = "evidently"
    """Local Evidently workspace under FORESIGHT_HOME (`evidently ui --workspace <home>/evidently`)."""
    workspace_keep_runs: int = 63
    """Runs kept per model in the Evidently workspace (the newest dates; a signal run is ~12 MB). History
    beyond stays in `monitoring_runs` and in the JSON reports. 0 keeps every run."""

    regime_window_sessions: int = 126
    """Regime drift window: the last N sessions of the regime mirror up to the monitoring date."""
    regime_reference_sessions: int = 1260
    """The regime reference: the N sessions of the same model version before the drift window."""
    min_regime_visits: int = 8
    """Below this many regime visits in the reference, regime drift is not judged (too few to tell how long
    a state lasts)."""
    regime_pvalue: float = 0.01
    """State-probability drift and duration drift are each a finding when their p-value (the smallest over
    the states times the number of states) is below this, under the Markov-chain null (see
    `monitoring.regimes`; with `dependence_aware` False, sessions resampled independently)."""
    min_regime_exposure: int = 10
    """A state's duration is judged only when the window spent at least this many sessions in it: the end of
    a visit the window just caught says nothing about how long that state lasts."""
    regime_share_lag: int = 10
    """The Markov null of a state's share steps this many sessions at a time (see
    `monitoring.regimes.compute_regime_null`)."""
    regime_null_paths: int = 1000
    """Simulated paths of the regime null."""
    regime_drift_status: str = "WARN"
    """Status raised by a regime drift finding."""


class OperationsSettings(BaseModel):
    """Targets of the operating indicators measured every night (monitoring.indicators)."""

    model_config = ConfigDict(frozen=True)

    features_deadline: dt.time = dt.time(19, 0)
    """Feature-pipeline SLA: features of a session are ready by this wall-clock time on the session's day."""
    timezone: str = "America/New_York"
    """Time zone of the deadline (the exchange's)."""
    compliance_windows: tuple[int, ...] = (20, 60)
    """SLA compliance is reported over the last N measured nights, for each N."""
    compliance_target: float = 95.0
    """Percent of nights meeting the deadline below which compliance is a WARN."""
    freshness_alert_sessions: int = 5
    """A product more sessions behind the exchange's last session than this is an ALERT (1 or more: WARN)."""
    skill_windows: tuple[int, int] = (20, 60)
    """Signal AUC / rank IC per model version over its last N matured sessions (short, long: the trend)."""

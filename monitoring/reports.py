"""Evidently reports for the signal model (feature/prediction drift, calibration) and forecast coverage.

Everything here works on DataFrames (no warehouse, no MLflow): the I/O layer loads the windows and saves
what these functions return.

One Evidently report per model and night, laid out for the person reading it: the model's status and its
reasons first (`MonitoringStatus`), then what decides it most often (the signal report: calibration, then
prediction drift, then feature drift grouped by family, worst first; the forecast report: band coverage,
then pinball loss; the regime report: state probabilities, then durations). The status comes from the
report's own results, so it is computed after the run and put in front of it (`compose_status_first`).

The signal report's current dataset stacks two windows:
the drift window (last N scored sessions: features + `probability`) and the calibration window (last M
sessions whose labels matured: `calibration_probability` + `calibration_label`). Each column is filled only
on the rows of its own window and Evidently's metrics skip missing values, so every metric sees exactly its
window while everything lands in one report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import compute_brier, compute_ece, compute_log_loss, compute_reliability
from monitoring.calibration import compute_calibration_slope, compute_ece_consistency_pvalue
from monitoring.config import MonitoringSettings
from monitoring.dependence import (
    DATE,
    compute_effective_rows,
    compute_location_effective_rows,
    compute_shock_paths,
)
from monitoring.metrics import (
    BrierScore,
    ExpectedCalibrationError,
    FeatureDriftGroups,
    LogLoss,
    MonitoringStatus,
    PinballLoss,
    RegimeDuration,
    RegimeStateMix,
    compute_drift_groups,
)
from monitoring.regimes import (
    MARKOV,
    SESSIONS,
    STATE_PREFIX,
    compute_duration_statistic,
    compute_exit_counts,
    compute_null_pvalues,
    compute_regime_null,
    compute_states,
    compute_visits,
)

PROBABILITY = "probability"
LABEL = "label"
CAL_PROBABILITY = "calibration_probability"
CAL_LABEL = "calibration_label"
NON_FEATURE_COLUMNS = frozenset(
    {"symbol", "date", "feature_set", "model_name", "model_version", "run_id", "scored_at", "raw_score",
     "attribution", "horizon", "fwd_return", "split", "computed_at", "created_at", PROBABILITY, LABEL,
     CAL_PROBABILITY, CAL_LABEL}
)
OK, WARN, ALERT = "OK", "WARN", "ALERT"
_RANK = {OK: 0, WARN: 1, ALERT: 2}
_PVALUE_METHODS = frozenset(
    {"ks", "chisquare", "z", "t_test", "anderson", "fisher_exact", "cramer_von_mises", "mannw", "g_test",
     "epps_singleton", "empirical_mmd", "TVD"}
)


def worst_status(*statuses: str) -> str:
    """The most severe of OK < WARN < ALERT."""
    return max(statuses, key=_RANK.__getitem__, default=OK)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------------------
# the status first


def compute_status_frame(status: str, reasons: Sequence[str]) -> pd.DataFrame:
    """The findings dataset of `MonitoringStatus`: one row per reason (one "no finding" row when none)."""
    rows = list(reasons) or ["no finding"]
    return pd.DataFrame({"status_rank": float(_RANK[status]), "status": status, "reason": rows})


def compose_status_first(body, status: str, reasons: Sequence[str], metric_order=None):
    """One snapshot: the `MonitoringStatus` of (status, reasons) first, then `body`'s metrics and widgets.

    `metric_order` (optional) sorts body's metric results in the saved JSON, given each result's metric
    parameters (a dict with `type`, `column`, ...); the page's widgets keep body's own order (its containers
    already lay them out). Timestamp, name, tags and metadata are body's.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.core.report import Snapshot

    frame = compute_status_frame(status, reasons)
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(
        numerical_columns=["status_rank"], categorical_columns=["status"], text_columns=["reason"]))
    head = Report([MonitoringStatus()]).run(current_data=data, reference_data=None).to_snapshot_model()
    main = body.to_snapshot_model()
    ids = list(main.top_level_metrics)
    if metric_order is not None:
        position = {mid: i for i, mid in enumerate(ids)}

        def params(mid):
            loc = main.metric_results[mid].metric_value_location
            return loc.metric.params if loc is not None else {}

        ids = sorted(ids, key=lambda mid: (metric_order(params(mid)), position[mid]))
    model = main.copy(update={
        "metric_results": {**head.metric_results, **main.metric_results},
        "top_level_metrics": [*head.top_level_metrics, *ids],
        "widgets": [*head.widgets, *main.widgets],
    })
    return Snapshot.load_model(model)


def _metric_kind(params: Mapping[str, Any]) -> str:
    return str(params.get("type", "")).rsplit(":", 1)[-1]


# ---------------------------------------------------------------------------------------------------------
# signal model


@dataclass(frozen=True)
class SignalSummary:
    """What the signal report found, with the status and the reasons behind it."""

    n_reference: int
    n_current: int
    n_calibration: int
    features: list[str]
    drift_method: str
    drift_threshold: float
    """The threshold for a window of independent rows (the configured one, or the iid noise floor)."""
    drift_scores: dict[str, float] = field(default_factory=dict)
    drift_thresholds: dict[str, float] = field(default_factory=dict)
    """Per feature (and `probability`): the threshold its score is judged against, raised to the noise floor
    of its effective rows."""
    effective_rows: dict[str, float] = field(default_factory=dict)
    """Per feature: the independent rows the drift window is worth (see monitoring.dependence)."""
    drifted_features: list[str] = field(default_factory=list)
    skipped_features: list[str] = field(default_factory=list)
    """Features left out of the drift: (almost) empty or constant in the reference or the current window."""
    drift_share: float | None = None
    prediction_drift_score: float | None = None
    prediction_drifted: bool | None = None
    ece: float | None = None
    ece_reference: float | None = None
    ece_pvalue: float | None = None
    ece_null: str | None = None
    """What the ECE p-value assumes: `market` (historical stretches of market-wide shocks from the
    reference) or `independent` (every row a separate draw: no dated reference labels)."""
    level_gap: float | None = None
    """Share of positive labels minus mean probability over the calibration window: the market's direction,
    which a model ranking names within a date does not forecast."""
    calibration_slope: float | None = None
    """Cross-sectional calibration slope of the window (1 = relative probabilities mean what they say)."""
    calibration_slope_se: float | None = None
    calibration_slope_reference: float | None = None
    """The same on the reference's out-of-sample (holdout) rows."""
    calibration_slope_reference_se: float | None = None
    brier: float | None = None
    brier_reference: float | None = None
    log_loss: float | None = None
    log_loss_reference: float | None = None
    reliability_current: list[dict] = field(default_factory=list)
    reliability_reference: list[dict] = field(default_factory=list)
    status: str = OK
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_feature_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Numeric columns present in both frames that are features (not keys, labels or predictions)."""
    cols = []
    for c in reference.columns:
        if c in NON_FEATURE_COLUMNS or c not in current.columns:
            continue
        if pd.api.types.is_numeric_dtype(reference[c]) and not pd.api.types.is_bool_dtype(reference[c]):
            cols.append(c)
    return cols


def compute_usable_features(
    reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str], min_rows: int = 20
) -> tuple[list[str], list[str]]:
    """(usable, skipped): a drift score needs values on both sides and a reference that varies."""
    usable, skipped = [], []
    for f in features:
        ref = pd.to_numeric(reference[f], errors="coerce") if f in reference else pd.Series(dtype=float)
        cur = pd.to_numeric(current[f], errors="coerce") if f in current else pd.Series(dtype=float)
        ok = ref.notna().sum() >= min_rows and (cur.notna().sum() >= min_rows or current.empty)
        if ok and ref.std(skipna=True) > 0:
            usable.append(f)
        else:
            skipped.append(f)
    return usable, skipped


def compute_signal_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    calibration: pd.DataFrame | None,
    features: Sequence[str],
    max_reference_rows: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (reference, current) frames of the signal report.

    reference: training window rows with the feature columns, optionally `probability` and `label`
      (out-of-sample predictions, e.g. the holdout: they define the reference calibration).
    current: drift window rows (features + `probability`).
    calibration: matured rows of the calibration window (`probability`, `label`), or None.
    """
    features = list(features)
    ref = reference.loc[:, features].astype(float)
    if max_reference_rows and len(ref) > max_reference_rows:
        ref = ref.sample(n=max_reference_rows, random_state=seed).sort_index()
    ref = ref.copy()
    has_ref_prob = PROBABILITY in reference.columns
    has_ref_label = has_ref_prob and LABEL in reference.columns
    ref[PROBABILITY] = reference.loc[ref.index, PROBABILITY].astype(float) if has_ref_prob else np.nan
    if has_ref_label:
        ref[CAL_PROBABILITY] = ref[PROBABILITY]
        ref[CAL_LABEL] = reference.loc[ref.index, LABEL].astype(float)
    else:
        ref[CAL_PROBABILITY] = np.nan
        ref[CAL_LABEL] = np.nan

    cur = current.loc[:, features].astype(float).copy()
    cur[PROBABILITY] = current[PROBABILITY].astype(float) if PROBABILITY in current else np.nan
    cur[CAL_PROBABILITY] = np.nan
    cur[CAL_LABEL] = np.nan
    if calibration is not None and not calibration.empty:
        cal = pd.DataFrame(
            {
                CAL_PROBABILITY: calibration[PROBABILITY].astype(float).to_numpy(),
                CAL_LABEL: calibration[LABEL].astype(float).to_numpy(),
            }
        )
        cal = cal.reindex(columns=cur.columns)  # features and the drift-window probability stay missing
        cur = pd.concat([cur.reset_index(drop=True), cal], ignore_index=True)
    return ref.reset_index(drop=True), cur.reset_index(drop=True)


def compute_drift_threshold(settings: MonitoringSettings, n_current: float | None) -> float:
    """The per-feature drift threshold for a window of `n_current` (effective) rows.

    A distance (Wasserstein normed by the reference std) of a same-distribution sample shrinks like
    1/sqrt(n): its 99th percentile is about 2.8/sqrt(n) (measured on normal data: 0.14 at 420 rows, 0.085 at
    1,050). Below ~800 rows that exceeds the fixed threshold, so small universes would warn on noise; the
    threshold is raised to that noise floor. P-value methods already account for the sample size (of
    independent rows: they are not given the effective one).
    """
    base = settings.drift_threshold
    if settings.drift_method in _PVALUE_METHODS or not n_current or settings.drift_noise_scale <= 0:
        return base
    return max(base, settings.drift_noise_scale / math.sqrt(n_current))


def compute_drift_thresholds(
    settings: MonitoringSettings, columns: Sequence[str], n_current: int, effective_rows: Mapping[str, float]
) -> dict[str, float]:
    """Per column, the drift threshold at its effective rows (the window's rows where not measured)."""
    return {c: compute_drift_threshold(settings, effective_rows.get(c, n_current)) for c in columns}


def build_signal_report(
    features: Sequence[str],
    settings: MonitoringSettings,
    with_prediction: bool,
    with_calibration: bool,
    ece_limit: float | None = None,
    n_current: int | None = None,
    thresholds: Mapping[str, float] | None = None,
):
    """The Evidently Report: calibration metrics, prediction drift, drifted-columns share and per-feature drift
    (`FeatureDriftGroups`: grouped by family, worst first), in that order.

    `thresholds` (per column) override the one threshold for `n_current` independent rows.
    """
    from evidently import Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift
    from evidently.tests import lte

    method, threshold = settings.drift_method, compute_drift_threshold(settings, n_current)
    per_column = {c: float((thresholds or {}).get(c, threshold)) for c in [*features, PROBABILITY]}
    metrics: list = []
    # the order is the page's: calibration, prediction drift, then feature drift (grouped, worst first)
    if with_calibration:
        cal = {"probability_column": CAL_PROBABILITY, "label_column": CAL_LABEL, "n_bins": settings.n_bins}
        ece_tests = [lte(ece_limit)] if ece_limit is not None else None
        metrics += [ExpectedCalibrationError(**cal, tests=ece_tests), BrierScore(**cal), LogLoss(**cal)]
    if with_prediction:
        metrics.append(ValueDrift(column=PROBABILITY, method=method, threshold=per_column[PROBABILITY]))
    if features:
        metrics.append(
            DriftedColumnsCount(
                columns=list(features), method=method, threshold=threshold,
                per_column_threshold={c: per_column[c] for c in features},
                drift_share=settings.drift_share_alert,
            )
        )
        metrics.append(FeatureDriftGroups(
            columns=list(features), method=method, thresholds={c: per_column[c] for c in features}))
    return Report(metrics, include_tests=True)


def _datasets(ref: pd.DataFrame, cur: pd.DataFrame):
    from evidently import DataDefinition, Dataset

    cols = list(cur.columns)
    definition = DataDefinition(numerical_columns=cols)
    return (
        Dataset.from_pandas(ref[cols], data_definition=definition),
        Dataset.from_pandas(cur[cols], data_definition=definition),
    )


def _parse_drift(report_dict: Mapping[str, Any]) -> tuple[dict[str, float], set[str]]:
    """Per-column drift scores and the columns whose Evidently drift test failed."""
    scores: dict[str, float] = {}
    for m in report_dict.get("metrics", []):
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith(":ValueDrift"):
            scores[cfg["column"]] = float(m["value"])
    drifted = set()
    for t in report_dict.get("tests", []):
        params = t.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith(":ValueDrift") and t.get("status") == "FAIL":
            drifted.add(params["column"])
    return scores, drifted


def compute_slope_status(s: SignalSummary, settings: MonitoringSettings) -> tuple[str, str] | None:
    """(WARN or ALERT, reason) when the window's cross-sectional calibration slope differs from the
    reference's by more than the ratio thresholds and beyond chance; else None."""
    b, se = s.calibration_slope, s.calibration_slope_se
    b0, se0 = s.calibration_slope_reference, s.calibration_slope_reference_se
    if b is None or b0 is None or se is None or b0 <= 0:
        return None
    z = abs(b - b0) / math.sqrt(se**2 + (se0 or 0.0) ** 2) if (se or se0) else math.inf
    p = math.erfc(z / math.sqrt(2))
    if p >= settings.ece_pvalue:
        return None
    ratio = b / b0
    far = max(1.0 / ratio, ratio) if ratio > 0 else math.inf
    what = "over-confident" if ratio < 1 else "timid"
    reason = (f"cross-sectional calibration slope {b:.2f} +/- {se:.2f} vs reference {b0:.2f} ({what}, p={p:.2g})")
    if far >= settings.slope_alert_ratio:
        return ALERT, reason
    if far >= settings.slope_warn_ratio:
        return WARN, reason
    return None


def compute_signal_status(s: SignalSummary, settings: MonitoringSettings) -> tuple[str, list[str]]:
    """OK / WARN / ALERT from the thresholds, with one human-readable reason per finding."""
    status, reasons = OK, []
    if s.drift_share is not None:
        named = ", ".join(s.drifted_features[:10]) or "none"
        if s.drift_share >= settings.drift_share_alert:
            status = worst_status(status, ALERT)
            reasons.append(f"feature drift share {s.drift_share:.2f} >= {settings.drift_share_alert} ({named})")
        elif s.drift_share >= settings.drift_share_warn:
            status = worst_status(status, WARN)
            reasons.append(f"feature drift share {s.drift_share:.2f} >= {settings.drift_share_warn} ({named})")
    severe = [f for f in s.drifted_features
              if s.drift_scores.get(f, 0.0) >= settings.drift_severe_factor * s.drift_thresholds.get(f, math.inf)]
    if severe:
        status = worst_status(status, WARN)
        named = ", ".join(f"{f} {s.drift_scores[f]:.2f} vs {s.drift_thresholds[f]:.2f}" for f in severe[:10])
        reasons.append(f"severe drift (>= {settings.drift_severe_factor:g}x threshold): {named}")
    if s.prediction_drifted:
        status = worst_status(status, settings.prediction_drift_status)
        reasons.append(f"prediction drift score {s.prediction_drift_score:.3f} ({s.drift_method})")
    if s.ece is not None:
        excess = s.ece - (s.ece_reference or 0.0)
        significant = s.ece_pvalue is None or s.ece_pvalue < settings.ece_pvalue
        where = f"ECE {s.ece:.3f} vs reference {s.ece_reference or 0.0:.3f}"
        if s.ece_pvalue is not None:
            where += f", consistency p={s.ece_pvalue:.4f}"
        if s.level_gap is not None:
            where += f", share of positive labels - mean probability {s.level_gap:+.3f}"
        if s.ece_null:
            where += f", null: {s.ece_null}"
        if significant and excess >= settings.ece_alert:
            status = worst_status(status, ALERT)
            reasons.append(f"calibration: {where}")
        elif significant and excess >= settings.ece_warn:
            status = worst_status(status, WARN)
            reasons.append(f"calibration: {where}")
        elif excess >= settings.ece_warn:
            reasons.append(f"calibration gap within chance (no status): {where}")
    slope_status = compute_slope_status(s, settings)
    if slope_status is not None:
        status = worst_status(status, slope_status[0])
        reasons.append(slope_status[1])
    if s.brier is not None and s.brier_reference is not None and s.brier - s.brier_reference >= settings.brier_warn:
        status = worst_status(status, WARN)
        reasons.append(f"Brier {s.brier:.4f} vs reference {s.brier_reference:.4f}")
    return status, reasons


def compute_calibration_null(
    calibration: pd.DataFrame, reference: pd.DataFrame, settings: MonitoringSettings, n_paths: int = 500
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(each calibration row's date position, market shock paths) for the ECE consistency test, or
    (None, None) for the independent-rows null: dependence off, or no dated labels in the reference."""
    if not settings.dependence_aware or DATE not in calibration.columns or DATE not in reference.columns:
        return None, None
    if LABEL not in reference.columns or reference[LABEL].notna().sum() == 0:
        return None, None
    days = pd.to_datetime(calibration[DATE])
    order = {d: i for i, d in enumerate(sorted(days.unique()))}
    shocks = compute_shock_paths(reference[DATE], reference[LABEL], len(order), n_paths)
    if shocks is None:
        return None, None
    return days.map(order).to_numpy(int), shocks


def compute_signal_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    calibration: pd.DataFrame | None,
    settings: MonitoringSettings,
    features: Sequence[str] | None = None,
    holdout_metrics: Mapping[str, float] | None = None,
    max_reference_rows: int | None = 50_000,
    run_info: Mapping[str, Any] | None = None,
    hac_lags: int = 5,
):
    """Run the signal report; returns (Evidently snapshot, SignalSummary).

    `run_info` goes to Evidently's `Report.run` (timestamp, name, tags, metadata). `hac_lags`: sessions
    over which consecutive dates' labels overlap (the signal horizon), for the calibration slope's error.

    `holdout_metrics` ({"ece", "brier", "log_loss"}) stand in for the reference calibration when the
    reference frame has no out-of-sample `probability` + `label` columns.
    """
    candidates = list(features) if features is not None else compute_feature_columns(reference, current)
    feats, skipped = compute_usable_features(reference, current, candidates)
    n_current = int(len(current))
    judge_drift = n_current >= settings.min_current_rows
    cal = None
    if calibration is not None and not calibration.empty:
        cal = calibration.dropna(subset=[PROBABILITY, LABEL])
    n_cal = 0 if cal is None else int(len(cal))
    judge_cal = n_cal >= settings.min_calibration_rows

    ref_df, cur_df = compute_signal_frames(
        reference, current if judge_drift else current.iloc[0:0], cal if judge_cal else None, feats,
        max_reference_rows=max_reference_rows,
    )
    with_prediction = judge_drift and ref_df[PROBABILITY].notna().any() and cur_df[PROBABILITY].notna().any()

    holdout = dict(holdout_metrics or {})
    ref_cal = ref_df[[CAL_PROBABILITY, CAL_LABEL]].dropna()
    slope_ref = (None, None)
    ref_rows = reference.dropna(subset=[PROBABILITY, LABEL]) if {PROBABILITY, LABEL} <= set(reference) else None
    if ref_rows is not None and len(ref_rows):
        slope_ref = compute_calibration_slope(ref_rows[PROBABILITY], ref_rows[LABEL], ref_rows.get(DATE), hac_lags)
    if len(ref_cal):
        ece_ref = compute_ece(ref_cal[CAL_LABEL], ref_cal[CAL_PROBABILITY], settings.n_bins)
        brier_ref = compute_brier(ref_cal[CAL_LABEL], ref_cal[CAL_PROBABILITY])
        ll_ref = compute_log_loss(ref_cal[CAL_LABEL], ref_cal[CAL_PROBABILITY])
        rel_ref = compute_reliability(ref_cal[CAL_LABEL], ref_cal[CAL_PROBABILITY], settings.n_bins)
    else:
        ece_ref, brier_ref, ll_ref = holdout.get("ece"), holdout.get("brier"), holdout.get("log_loss")
        rel_ref = pd.DataFrame()

    drift_cols = [*feats, PROBABILITY]
    effective = {}
    if settings.dependence_aware and judge_drift and DATE in reference.columns and DATE in current.columns:
        n_dates = int(pd.to_datetime(current[DATE]).nunique())
        effective = compute_effective_rows(reference, drift_cols, n_dates, n_current / max(n_dates, 1))
    thresholds = compute_drift_thresholds(settings, drift_cols, n_current, effective)

    ece_limit = (ece_ref or 0.0) + settings.ece_alert if judge_cal else None
    report = build_signal_report(
        feats if judge_drift else [], settings, with_prediction, judge_cal, ece_limit=ece_limit,
        n_current=n_current, thresholds=thresholds,
    )
    ref_ds, cur_ds = _datasets(ref_df, cur_df)
    snapshot = report.run(current_data=cur_ds, reference_data=ref_ds, **dict(run_info or {}))
    rd = snapshot.dict()
    scores, drifted = _parse_drift(rd)

    kwargs: dict[str, Any] = {}
    if judge_drift and feats:
        drifted_feats = [f for f in feats if f in drifted]
        kwargs.update(
            drift_scores={f: scores[f] for f in feats if f in scores},
            drift_thresholds={c: thresholds[c] for c in drift_cols if c in scores},
            effective_rows={c: round(effective[c], 1) for c in drift_cols if c in effective and c in scores},
            drifted_features=sorted(drifted_feats, key=lambda f: -scores.get(f, 0.0)),
            drift_share=len(drifted_feats) / len(feats),
        )
    if with_prediction:
        kwargs.update(prediction_drift_score=scores.get(PROBABILITY), prediction_drifted=PROBABILITY in drifted)
    if judge_cal:
        p, y = cal[PROBABILITY].to_numpy(float), cal[LABEL].to_numpy(float)
        date_index, shocks = compute_calibration_null(cal, reference, settings)
        slope, slope_se = compute_calibration_slope(p, y, cal.get(DATE), hac_lags)
        kwargs.update(
            ece=compute_ece(y, p, settings.n_bins),
            ece_pvalue=compute_ece_consistency_pvalue(
                p, y, settings.n_bins, date_index=date_index, shocks=shocks
            ),
            ece_null="independent" if shocks is None else "market",
            calibration_slope=_finite(slope), calibration_slope_se=_finite(slope_se),
            level_gap=_finite(np.mean(y) - np.mean(p)),
            brier=compute_brier(y, p),
            log_loss=compute_log_loss(y, p),
            reliability_current=compute_reliability(y, p, settings.n_bins).to_dict("records"),
        )
    summary = SignalSummary(
        n_reference=int(len(ref_df)), n_current=n_current if judge_drift else 0, n_calibration=n_cal,
        features=feats, skipped_features=skipped, drift_method=settings.drift_method,
        drift_threshold=compute_drift_threshold(settings, n_current),
        ece_reference=_finite(ece_ref), brier_reference=_finite(brier_ref), log_loss_reference=_finite(ll_ref),
        calibration_slope_reference=_finite(slope_ref[0]), calibration_slope_reference_se=_finite(slope_ref[1]),
        reliability_reference=rel_ref.to_dict("records"), **kwargs,
    )
    status, reasons = compute_signal_status(summary, settings)
    if not judge_drift:
        reasons.append(f"drift not judged: {n_current} rows < min_current_rows={settings.min_current_rows}")
    if not judge_cal:
        reasons.append(
            f"calibration not judged: {n_cal} matured rows < min_calibration_rows={settings.min_calibration_rows}"
        )
    order = compute_signal_metric_order(summary.drift_scores, {c: thresholds[c] for c in summary.drift_scores})
    snapshot = compose_status_first(snapshot, status, reasons, metric_order=order)
    return snapshot, SignalSummary(**{**summary.to_dict(), "status": status, "reasons": reasons})


_SIGNAL_ORDER = ("ExpectedCalibrationError", "BrierScore", "LogLoss")


def compute_signal_metric_order(scores: Mapping[str, float], thresholds: Mapping[str, float]):
    """Sort key of the signal report's metrics in the saved JSON, the page's order: calibration, prediction
    drift, drifted-columns share, then per-feature drift in `compute_drift_groups` order."""
    ordered = [c for _, cols in compute_drift_groups(scores, thresholds) for c in cols]
    feature_rank = {c: i for i, c in enumerate(ordered)}

    def key(params: Mapping[str, Any]) -> tuple:
        kind = _metric_kind(params)
        if kind in _SIGNAL_ORDER:
            return (0, _SIGNAL_ORDER.index(kind))
        if kind == "ValueDrift" and params.get("column") == PROBABILITY:
            return (1, 0)
        if kind == "DriftedColumnsCount":
            return (2, 0)
        if kind == "ValueDrift":
            return (3, feature_rank.get(params.get("column"), len(feature_rank)))
        return (4, 0)

    return key


# ---------------------------------------------------------------------------------------------------------
# forecast coverage


@dataclass(frozen=True)
class ForecastSummary:
    """Band coverage and pinball loss of the matured forecasts per portfolio and horizon."""

    per_series: list[dict] = field(default_factory=list)
    coverage: float | None = None
    """The coverage of the series furthest from the nominal level."""
    pinball: float | None = None
    n_current: int = 0
    status: str = OK
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _series_key(portfolio: str, horizon: int) -> str:
    return f"{portfolio}_h{int(horizon)}"


def compute_forecast_frames(
    evaluations: pd.DataFrame, window: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(reference, current, series keys): per (portfolio, horizon) the last `window` evaluations by `as_of`
    are current and the earlier ones reference; columns `covered_<key>` and `pinball_<key>`."""
    ev = evaluations.sort_values(["portfolio", "horizon_days", "as_of"])
    parts_ref, parts_cur, keys = [], [], []
    for (portfolio, horizon), g in ev.groupby(["portfolio", "horizon_days"], sort=True):
        key = _series_key(portfolio, horizon)
        keys.append(key)
        frame = pd.DataFrame(
            {f"covered_{key}": g["covered"].astype(float).to_numpy(),
             f"pinball_{key}": g["pinball"].astype(float).to_numpy()}
        )
        parts_cur.append(frame.iloc[-window:])
        parts_ref.append(frame.iloc[:-window])
    ref = pd.concat(parts_ref, ignore_index=True) if parts_ref else pd.DataFrame()
    cur = pd.concat(parts_cur, ignore_index=True) if parts_cur else pd.DataFrame()
    return ref, cur, keys


def compute_coverage_effective_n(series: pd.DataFrame, n_current: int, horizon: int) -> float:
    """The independent evaluations the last `n_current` evaluations of one series are worth.

    Forecasts made on consecutive days over `horizon` sessions share most of their outcome window, so their
    covered / not-covered indicators come in runs. The autocorrelation is measured on the series' whole
    history (`as_of` order) when it holds at least twice the window; else each `horizon` consecutive
    evaluations count as one (non-overlapping windows).
    """
    if n_current <= 0:
        return 0.0
    hist = series[["as_of", "covered"]].dropna()
    if len(hist) >= 2 * n_current:
        frame = pd.DataFrame({DATE: pd.to_datetime(hist["as_of"]), "covered": hist["covered"].astype(float)})
        eff = compute_location_effective_rows(frame, ["covered"], n_current, 1.0)
        if "covered" in eff:
            return eff["covered"]
    return max(1.0, n_current / max(int(horizon), 1))


def compute_forecast_report(
    evaluations: pd.DataFrame, settings: MonitoringSettings, run_info: Mapping[str, Any] | None = None
):
    """Run the forecast coverage report; returns (Evidently snapshot or None, ForecastSummary)."""
    if evaluations.empty:
        return None, ForecastSummary(reasons=["no matured forecast evaluations yet"])
    from evidently import Report
    from evidently.metrics import MeanValue
    from evidently.tests import gte, lte

    ref, cur, keys = compute_forecast_frames(evaluations, settings.coverage_window)
    lo = settings.nominal_coverage - settings.coverage_alert
    hi = settings.nominal_coverage + settings.coverage_alert
    # band coverage of every series first, then pinball loss: two quantities, two sets of panels and, in the
    # workspace, two charts (pinball is its own metric type)
    metrics = [MeanValue(column=f"covered_{k}", tests=[gte(lo), lte(hi)]) for k in keys]
    metrics += [PinballLoss(column=f"pinball_{k}") for k in keys]
    if ref.empty:
        ref = cur.copy()  # no history yet: compare the window with itself (keeps one report shape)
    ref_ds, cur_ds = _datasets(ref[cur.columns], cur)
    snapshot = Report(metrics, include_tests=True).run(
        current_data=cur_ds, reference_data=ref_ds, **dict(run_info or {})
    )

    per_series, status, reasons = [], OK, []
    worst_gap, worst_cov, pinballs = -1.0, None, []
    ordered = evaluations.sort_values(["portfolio", "horizon_days", "as_of"])
    for (portfolio, horizon), series in ordered.groupby(["portfolio", "horizon_days"], sort=True):
        k = _series_key(portfolio, horizon)
        c = cur[f"covered_{k}"].dropna()
        r = ref[f"covered_{k}"].dropna()
        pb = cur[f"pinball_{k}"].dropna()
        n_eff = compute_coverage_effective_n(series, len(c), horizon) if settings.dependence_aware else len(c)
        row = {
            "series": k, "n": int(len(c)), "coverage": _finite(c.mean()),
            "coverage_reference": _finite(r.mean()) if len(r) else None,
            "pinball": _finite(pb.mean()), "pinball_reference": _finite(ref[f"pinball_{k}"].dropna().mean()),
            "effective_n": round(float(n_eff), 1),
        }
        per_series.append(row)
        if row["coverage"] is None or row["n"] < settings.min_coverage_rows:
            reasons.append(f"{k}: coverage not judged ({row['n']} < {settings.min_coverage_rows} evaluations)")
            continue
        gap = abs(row["coverage"] - settings.nominal_coverage)
        pinballs.append(row["pinball"])
        if gap > worst_gap:
            worst_gap, worst_cov = gap, row["coverage"]
        nominal = settings.nominal_coverage
        z = gap / math.sqrt(nominal * (1 - nominal) / max(n_eff, 1.0))
        row["pvalue"] = _finite(math.erfc(z / math.sqrt(2)))
        msg = (f"{k}: band coverage {row['coverage']:.3f} vs nominal {nominal:.2f} "
               f"({row['n']} evaluations worth {n_eff:.0f} independent, p={row['pvalue']:.3g})")
        significant = row["pvalue"] < settings.coverage_pvalue
        if significant and gap >= settings.coverage_alert:
            status = worst_status(status, ALERT)
            reasons.append(msg)
        elif significant and gap >= settings.coverage_warn:
            status = worst_status(status, WARN)
            reasons.append(msg)
        elif gap >= settings.coverage_warn:
            reasons.append(f"within chance (no status): {msg}")
    summary = ForecastSummary(
        per_series=per_series, coverage=worst_cov,
        pinball=_finite(np.mean(pinballs)) if pinballs else None,
        n_current=int(cur.notna().any(axis=1).sum()), status=status, reasons=reasons,
    )
    return compose_status_first(snapshot, status, reasons), summary


# ---------------------------------------------------------------------------------------------------------
# regimes

REGIME = "regime"


@dataclass(frozen=True)
class RegimeSummary:
    """State-probability drift and duration drift of the regime model's output over the current window."""

    n_reference: int
    n_current: int
    states: list[str] = field(default_factory=list)
    reference_visits: int = 0
    current_visits: int = 0
    null: str | None = None
    """What the p-values assume: `markov` (the labels a Markov chain as persistent as the reference's, its
    uncertainty included: see monitoring.regimes) or `sessions` (every session an independent draw)."""
    share_current: dict[str, float] = field(default_factory=dict)
    """Per state: its mean filtered probability over the window (the share of probability it got)."""
    share_reference: dict[str, float] = field(default_factory=dict)
    share_bound: dict[str, float] = field(default_factory=dict)
    """Per state: the shift of the window's share that the null exceeds with probability
    regime_pvalue / states (the limit of "not drift")."""
    share_pvalue: dict[str, float] = field(default_factory=dict)
    sessions_per_exit_current: dict[str, float | None] = field(default_factory=dict)
    """Per state: sessions in it per exit from it (its expected duration); None without an exit."""
    sessions_per_exit_reference: dict[str, float | None] = field(default_factory=dict)
    exits_current: dict[str, list[int]] = field(default_factory=dict)
    """Per state: [sessions at risk, exits]."""
    exits_reference: dict[str, list[int]] = field(default_factory=dict)
    duration_pvalue: dict[str, float] = field(default_factory=dict)
    share_drift_pvalue: float | None = None
    """The smallest state's share p-value times the number of states (at most 1)."""
    duration_drift_pvalue: float | None = None
    drifted_states: list[str] = field(default_factory=list)
    duration_drifted_states: list[str] = field(default_factory=list)
    drift_share: float | None = None
    """Share of states whose probability drifted."""
    status: str = OK
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _per_exit(counts: tuple[int, int]) -> float | None:
    at_risk, exits = counts
    return at_risk / exits if exits else None


def compute_regime_status(s: RegimeSummary, settings: MonitoringSettings) -> tuple[str, list[str]]:
    """The regime findings as (status, reasons): drifted state probabilities and changed durations each raise
    `regime_drift_status`; gaps within chance are not findings."""
    status, reasons = OK, []
    null = (f"null: a Markov chain as persistent as the reference's {s.reference_visits} visits" if s.null == MARKOV
            else "null: sessions counted independent")
    if s.share_drift_pvalue is not None and s.share_drift_pvalue < settings.regime_pvalue:
        status = worst_status(status, settings.regime_drift_status)
        named = ", ".join(
            f"{k} {s.share_current[k]:.2f} vs {s.share_reference[k]:.2f} (+/- {s.share_bound[k]:.2f} is chance)"
            for k in s.drifted_states)
        reasons.append(f"state-probability drift over {s.n_current} sessions: {named}; "
                       f"p={s.share_drift_pvalue:.3g} over {len(s.states)} states, {null}")
    if s.duration_drift_pvalue is not None and s.duration_drift_pvalue < settings.regime_pvalue:
        status = worst_status(status, settings.regime_drift_status)

        def lasts(k: str, per_exit: dict, counts: dict) -> str:
            at_risk, exits = counts[k]
            if per_exit[k] is None:
                return f"no exit in {at_risk} sessions"
            return f"{per_exit[k]:.1f} sessions per exit ({exits} exits in {at_risk})"

        named = ", ".join(
            f"{k} {lasts(k, s.sessions_per_exit_current, s.exits_current)} vs "
            f"{lasts(k, s.sessions_per_exit_reference, s.exits_reference)} in the reference"
            for k in s.duration_drifted_states)
        reasons.append(f"regime-duration drift: {named}; p={s.duration_drift_pvalue:.3g} over {len(s.states)} "
                       f"states, {null}")
    return status, reasons


def compute_regime_summary(
    reference: pd.DataFrame, current: pd.DataFrame, settings: MonitoringSettings, seed: int = 0
) -> RegimeSummary:
    """What the regime report judges, with its status and reasons (no Evidently).

    `reference` and `current`: one row per session in date order with `regime` (the model's label) and one
    `p_<state>` column per state (its filtered probability); the reference window precedes the current one.
    State-probability drift compares each state's mean probability (its share of the window); duration drift
    compares each state's exit rate (sessions per exit). Both are judged against `compute_regime_null`:
    the reference's labels as a Markov chain (`dependence_aware`), or sessions as independent draws.
    """
    states = compute_states(reference)
    cols = [f"{STATE_PREFIX}{k}" for k in states]
    ref_labels = reference[REGIME].astype(str).to_numpy()
    cur_labels = current[REGIME].astype(str).to_numpy()
    ref_visits, cur_visits = len(compute_visits(ref_labels)[0]), len(compute_visits(cur_labels)[0])
    ref_counts, cur_counts = compute_exit_counts(ref_labels), compute_exit_counts(cur_labels)
    share_ref = {k: float(reference[c].mean()) for k, c in zip(states, cols, strict=True)}
    share_cur = {k: float(current[c].mean()) for k, c in zip(states, cols, strict=True)}
    base = dict(
        n_reference=int(len(reference)), n_current=int(len(current)), states=states,
        reference_visits=ref_visits, current_visits=cur_visits, share_current=share_cur, share_reference=share_ref,
        sessions_per_exit_current={k: _per_exit(cur_counts.get(k, (0, 0))) for k in states},
        sessions_per_exit_reference={k: _per_exit(ref_counts.get(k, (0, 0))) for k in states},
        exits_current={k: list(cur_counts.get(k, (0, 0))) for k in states},
        exits_reference={k: list(ref_counts.get(k, (0, 0))) for k in states},
    )
    if not (states and ref_visits >= settings.min_regime_visits and len(current) >= 2):
        return RegimeSummary(**base, reasons=[
            f"regime drift not judged: the reference holds {ref_visits} regime visits "
            f"(min_regime_visits={settings.min_regime_visits}), the window {len(current)} sessions"
        ])
    method = MARKOV if settings.dependence_aware else SESSIONS
    exposure = settings.min_regime_exposure
    null = compute_regime_null(reference[cols].to_numpy(float), ref_labels, len(current), states,
                               n_paths=settings.regime_null_paths, seed=seed, method=method, min_at_risk=exposure,
                               share_lag=settings.regime_share_lag)
    share_p = compute_null_pvalues(null.share_shift, np.array([share_cur[k] - share_ref[k] for k in states]))
    observed = compute_duration_statistic(cur_labels, ref_labels, states, min_at_risk=exposure)
    duration_p = compute_null_pvalues(null.duration, observed)
    n = len(states)
    bound = np.quantile(np.abs(null.share_shift), 1.0 - settings.regime_pvalue / n, axis=0)
    summary = RegimeSummary(
        **base, null=method,
        share_bound={k: float(b) for k, b in zip(states, bound, strict=True)},
        share_pvalue={k: float(v) for k, v in zip(states, share_p, strict=True)},
        duration_pvalue={k: float(v) for k, v in zip(states, duration_p, strict=True)},
        share_drift_pvalue=float(min(1.0, n * share_p.min())),
        duration_drift_pvalue=float(min(1.0, n * duration_p.min())),
        drifted_states=[k for k, v in zip(states, share_p, strict=True) if n * v < settings.regime_pvalue],
        duration_drifted_states=[k for k, v in zip(states, duration_p, strict=True) if n * v < settings.regime_pvalue],
        drift_share=float(np.mean(n * share_p < settings.regime_pvalue)),
    )
    status, reasons = compute_regime_status(summary, settings)
    return RegimeSummary(**{**summary.to_dict(), "status": status, "reasons": reasons})


def compute_regime_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settings: MonitoringSettings,
    run_info: Mapping[str, Any] | None = None,
    seed: int = 0,
):
    """Run the regime report (`compute_regime_summary` laid out in Evidently: status, the state mix with
    each state's mean probability tested against its limits, then each state's duration); returns
    (Evidently snapshot, RegimeSummary)."""
    from evidently import DataDefinition, Dataset, Report

    summary = compute_regime_summary(reference, current, settings, seed)
    cols = [f"{STATE_PREFIX}{k}" for k in summary.states]
    limits = {f"{STATE_PREFIX}{k}": [summary.share_reference[k] - b, summary.share_reference[k] + b]
              for k, b in summary.share_bound.items()}
    report = Report([
        RegimeStateMix(columns=cols, states=summary.states, limits=limits),
        *[RegimeDuration(column=REGIME, state=k) for k in summary.states],
    ], include_tests=True)
    definition = DataDefinition(numerical_columns=cols, categorical_columns=[REGIME])
    keep = [REGIME, *cols]
    snapshot = report.run(
        current_data=Dataset.from_pandas(current[keep].reset_index(drop=True), data_definition=definition),
        reference_data=Dataset.from_pandas(reference[keep].reset_index(drop=True), data_definition=definition),
        **dict(run_info or {}),
    )
    return compose_status_first(snapshot, summary.status, summary.reasons), summary


__all__ = [
    "ALERT",
    "OK",
    "WARN",
    "REGIME",
    "ForecastSummary",
    "RegimeSummary",
    "SignalSummary",
    "build_signal_report",
    "compute_feature_columns",
    "compute_forecast_frames",
    "compute_forecast_report",
    "compute_signal_frames",
    "compute_signal_report",
    "compute_calibration_null",
    "compose_status_first",
    "compute_regime_report",
    "compute_regime_status",
    "compute_regime_summary",
    "compute_signal_metric_order",
    "compute_status_frame",
    "compute_coverage_effective_n",
    "compute_drift_threshold",
    "compute_drift_thresholds",
    "compute_signal_status",
    "compute_slope_status",
    "compute_usable_features",
    "worst_status",
]

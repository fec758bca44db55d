"""The leak control run in every signal training: the model-level twin of the features' cut-at-t test.

What the fitted model is may depend only on the market data up to the end of its windows: the booster on
the features of the fit range (bars dated up to the range's last session) and on their labels (bars up to
`purge` sessions later); the calibrated model on the same for the development range (fit range and
calibration slice). The control removes all market data after each cut, rebuilds the training frame from
what is left with the same code (features, labels, the per-symbol purge), puts the frame's later rows back
scrambled (so that code reading them gets noise rather than nothing), refits the tuned configuration with
the same seeds, and requires the same model: the same raw scores (fit cut) and the same calibrated
probabilities (development cut) on every row of the training frame, to `tolerance`. A look-ahead in a
feature, a label, the purge or a split mask changes what the refit sees, hence the model, and is flagged;
so is a layout the plan itself gets wrong (training.splits.compute_plan_problems), since the cuts follow
the plan.

This is not the shuffled-label control: refitting on permuted labels is a null check of the pipeline (a
model fitted to noise must show no skill), blind to a feature that carries the label itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models.signals import SignalModel, predict_raw, prepare_features, strip_prefix
from training.config import SignalTrainingSettings
from training.signals import fit_signal_booster, fit_signal_model
from training.splits import SplitPlan, compute_plan_problems

FIT, DEVELOPMENT = "fit", "development"


@dataclass(frozen=True)
class DataCut:
    """Market data kept for one rebuild: features (and rows) from bars dated <= `feature_end`, labels from bars
    dated <= `label_end` (the last label session of the window's last row)."""

    name: str
    feature_end: dt.date
    label_end: dt.date


class FrameSource(Protocol):
    """Builds a training frame the way the model's was built, from market data cut at each `DataCut`."""

    def rebuild(self, cuts: Sequence[DataCut]) -> list[pd.DataFrame]:
        """One frame per cut: symbol, date, the feature columns, fwd_return, label, label_end; rows dated
        <= cut.feature_end whose label is known from the bars up to cut.label_end."""
        ...


def compute_data_cuts(plan: SplitPlan) -> tuple[DataCut, DataCut]:
    """The fit cut (end of the fit range) and the development cut (end of the calibration slice)."""
    last = len(plan.sessions) - 1

    def cut(name: str, end_idx: int) -> DataCut:
        return DataCut(name, plan.sessions[end_idx], plan.sessions[min(end_idx + plan.purge, last)])

    return cut(FIT, plan.fit.end_idx), cut(DEVELOPMENT, plan.calibration.end_idx)


def _changed_rows(a: pd.DataFrame, b: pd.DataFrame, cols: Sequence[str]) -> int:
    """Rows present on one side only, or whose values differ (NaN equals NaN; floats to 1e-9 relative)."""
    keys = ["symbol", "date"]
    m = a[[*keys, *cols]].merge(b[[*keys, *cols]], on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    changed = (m["_merge"] != "both").to_numpy()
    for c in cols:
        x, y = m[f"{c}_a"].to_numpy(float), m[f"{c}_b"].to_numpy(float)
        same = (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=1e-9, atol=1e-12)
        changed |= ~same
    return int(changed.sum())


def _with_scrambled_tail(part: pd.DataFrame, frame: pd.DataFrame, cut: DataCut, feature_cols: Sequence[str],
                         seed: int) -> pd.DataFrame:
    """The rebuilt rows up to the cut, followed by the original frame's rows after it with their features and
    labels scrambled (rows permuted, labels permuted apart): the frame keeps its dates, so a refit that reads
    a row after the cut gets noise instead of nothing."""
    tail = frame.loc[frame["date"] > pd.Timestamp(cut.feature_end)].copy()
    rng = np.random.default_rng(seed)
    cols = [*feature_cols, "fwd_return"]
    tail[cols] = tail[cols].to_numpy()[rng.permutation(len(tail))]
    tail["label"] = rng.permutation(tail["label"].to_numpy())
    head = part.loc[pd.to_datetime(part["date"]) <= pd.Timestamp(cut.feature_end)]
    out = pd.concat([head, tail[head.columns]], ignore_index=True)
    return out.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


def compute_leak_control(
    frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, model: SignalModel,
    rebuilt: Mapping[str, pd.DataFrame], best_params: dict[str, Any], settings: SignalTrainingSettings,
) -> dict[str, Any]:
    """Compare `model` (fitted on `frame`) with refits on the frames `rebuilt` from the cut market data
    (keyed by cut name, see `compute_data_cuts`). Returns `leak_passed`, the largest prediction change per
    cut, the rows of each window whose data changed, the plan's problems and the reasons it failed."""
    cuts = dict(zip((FIT, DEVELOPMENT), compute_data_cuts(plan), strict=True))
    out: dict[str, Any] = {"leak_tolerance": settings.leak_tolerance}
    reasons = [f"split plan: {p}" for p in compute_plan_problems(
        plan, embargo=settings.embargo_sessions, holdout_fraction=settings.holdout_fraction)]
    X = prepare_features(frame, feature_cols, model.cs_rank)
    raw = model.predict_raw(frame)
    windows = {FIT: plan.fit_mask, DEVELOPMENT: lambda f: plan.fit_mask(f) | plan.calibration_mask(f)}
    cols = [*feature_cols, "label"]
    for name, cut in cuts.items():
        out[f"leak_{name}_cut"] = cut.feature_end.isoformat()
        part = _with_scrambled_tail(rebuilt[name], frame, cut, feature_cols, settings.seed)
        out[f"leak_{name}_rows_changed"] = _changed_rows(frame.loc[windows[name](frame)], part.loc[windows[name](part)],
                                                         cols)
        try:
            if name == FIT:
                family, params = strip_prefix(best_params)
                booster = fit_signal_booster(part, feature_cols, plan, params, family, settings)
                diff = np.abs(predict_raw(family, booster, X) - raw)
            else:
                refit, _ = fit_signal_model(part, feature_cols, plan, best_params, settings)
                diff = np.abs(refit.predict_proba(frame) - model.calibrator.predict(raw))
            worst = float(np.nanmax(diff)) if diff.size else 0.0
        except (ValueError, KeyError, IndexError) as exc:
            reasons.append(f"the refit on market data cut after {cut.feature_end} failed: {exc}")
            out[f"leak_{name}_max_abs_diff"] = float("nan")
            continue
        out[f"leak_{name}_max_abs_diff"] = worst
        if not worst <= settings.leak_tolerance:
            what = "raw scores" if name == FIT else "calibrated probabilities"
            reasons.append(
                f"removing the market data after the {name} window ({cut.feature_end}; labels to {cut.label_end}) "
                f"changes the model: {what} move by up to {worst:.3g} (tolerance {settings.leak_tolerance:g}); "
                f"{out[f'leak_{name}_rows_changed']} training rows of the window change with it. Something the "
                "model was trained on looks ahead (a feature, a label, the purge or a split range)")
    out["leak_plan_problems"] = len(reasons) - sum(r.startswith(("removing", "the refit")) for r in reasons)
    out["leak_passed"] = not reasons
    out["leak_reasons"] = reasons
    return out


def run_leak_control(
    source: FrameSource, frame: pd.DataFrame, feature_cols: Sequence[str], plan: SplitPlan, model: SignalModel,
    best_params: dict[str, Any], settings: SignalTrainingSettings,
) -> dict[str, Any]:
    """Rebuild the training frame from the market data cut at the plan's fit and development ends (through
    `source`), then `compute_leak_control`."""
    cuts = compute_data_cuts(plan)
    frames = source.rebuild(cuts)
    return compute_leak_control(frame, feature_cols, plan, model, dict(zip((c.name for c in cuts), frames,
                                                                           strict=True)), best_params, settings)


__all__ = ["DEVELOPMENT", "FIT", "DataCut", "FrameSource", "compute_data_cuts", "compute_leak_control",
           "run_leak_control"]

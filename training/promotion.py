"""Promotion of the three models in one place: one decision type, a pure rule per model, one way to record.

A new version becomes `champion` or `challenger` by a `PromotionDecision`, computed without MLflow
(`compute_*_promotion`) and recorded the same way on every model (`record_promotion`): the alias moves
(registry.core.set_alias keeps a version from holding both aliases), and the decision is written on the
version as `promotion.*` tags and its description. A person's override (`promote_version`) and
`rollback_champion` go through the same recording.

No version becomes champion without skill over its no-skill baseline, measured on a holdout that nothing
else (tuning, early stopping, the calibrator's choice) has seen: signals must beat a coin and the base
rates known at training time, regimes the volatility rule, both by a number of date-clustered standard
errors (`SignalSkill`, `RegimeSkill`); forecasts keep a baseline as champion when the learned model does not
beat it. A version the honesty controls flagged (suspect) is never champion. Without a champion the night
serves nothing for that model, and the decision's reason says so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from models.metrics import (
    compute_auc,
    compute_auc_se_by_date,
    compute_ece,
    compute_log_loss,
    compute_log_loss_gain_by_date,
    compute_mean_hac,
)
from registry.core import (
    CHALLENGER,
    CHAMPION,
    FORECAST_MODEL,
    REGIME_MODEL,
    SIGNAL_MODEL,
    MLflowTarget,
    alias_version,
    champion_history,
    set_alias,
    set_champion_history,
    set_version_tags,
    version_tags,
)
from registry.signals import load_signal_model, load_signal_version

MODELS = (SIGNAL_MODEL, REGIME_MODEL, FORECAST_MODEL)


@dataclass(frozen=True)
class PromotionDecision:
    """A verdict on one new version and the numbers behind it, all measured on the same window.

    `metric` is the score the rule compares (`higher_is_better` says which way); `checks` holds the
    other numbers the rule looked at (e.g. the ECE of both versions)."""

    model_name: str
    alias: str
    promoted: bool
    reason: str
    new_version: str
    metric: str
    higher_is_better: bool
    new_value: float
    champion_version: str | None
    champion_value: float | None
    margin: float
    window_start: str
    window_end: str
    rows: int
    checks: dict[str, float | str | None] = field(default_factory=dict)

    def as_tags(self) -> dict[str, str]:
        """`promotion.<field>` tags (checks as `promotion.check.<name>`)."""
        out = {f"promotion.{k}": "" if v is None else str(v) for k, v in asdict(self).items() if k != "checks"}
        out.update({f"promotion.check.{k}": "" if v is None else str(v) for k, v in self.checks.items()})
        return out

    def describe(self) -> str:
        champ = (f"champion v{self.champion_version}: {self.metric} {_fmt(self.champion_value)}"
                 if self.champion_version else "no champion")
        checks = "".join(f", {k} {_fmt(v)}" for k, v in self.checks.items())
        return (f"Promotion of {self.model_name} v{self.new_version} -> {self.alias}: {self.reason}. "
                f"On {self.window_start}..{self.window_end} ({self.rows} rows): new {self.metric} "
                f"{_fmt(self.new_value)}; {champ}; margin {self.margin}{checks}.")


def _fmt(v) -> str:
    return f"{v:.5f}" if isinstance(v, float) and math.isfinite(v) else str(v)


def _decision(model_name: str, promoted: bool, reason: str, **kw) -> PromotionDecision:
    return PromotionDecision(model_name=model_name, alias=CHAMPION if promoted else CHALLENGER,
                             promoted=promoted, reason=reason, **kw)


# -- skill over the no-skill baselines (pure) -------------------------------------------------------------
@dataclass(frozen=True)
class SignalSkill:
    """How far a signal model's holdout scores sit above the no-skill baselines, in date-clustered SE.

    Two baselines: a coin (AUC 0.5: no ranking skill) and a forecaster that quotes one probability for every
    name of a date, the model's own mean of that date (log-loss: no information in the probabilities'
    differences). The second baseline shares the model's level, so neither a level shift between the fit
    period and the calibration slice nor the market's direction over the holdout (which no name-ranking model
    forecasts) counts as skill, for or against."""

    auc: float
    auc_se: float
    log_loss_gain: float
    log_loss_gain_se: float

    @property
    def auc_z(self) -> float:
        return _z(self.auc - 0.5, self.auc_se)

    @property
    def log_loss_gain_z(self) -> float:
        return _z(self.log_loss_gain, self.log_loss_gain_se)

    def passes(self, min_z: float) -> bool:
        """Both scores at least `min_z` SE above no skill (NaN never passes)."""
        return bool(self.auc_z >= min_z and self.log_loss_gain_z >= min_z)

    def describe(self) -> str:
        return (f"holdout AUC {self.auc:.4f} is {self.auc_z:.1f} date-clustered SE above 0.5 and the log-loss "
                f"gain over one probability per date is {self.log_loss_gain:+.5f} ({self.log_loss_gain_z:.1f} SE)")

    def as_checks(self) -> dict[str, float]:
        return {"skill_auc": self.auc, "skill_auc_z": self.auc_z, "skill_log_loss_gain": self.log_loss_gain,
                "skill_log_loss_gain_z": self.log_loss_gain_z}


def _z(value: float, se: float) -> float:
    return float(value / se) if np.isfinite(value) and np.isfinite(se) and se > 0 else float("nan")


def compute_signal_skill(dates, y, p, *, lags: int, seed: int = 0) -> SignalSkill:
    """The skill of probabilities `p` for outcomes `y` on dated rows (a holdout) over a coin and over the
    model's own level (each date's mean probability, quoted for every name). Dates are clusters; `lags` (the
    label's span in sessions) sets the moving-block length of the AUC bootstrap and the Newey-West lags of
    the daily log-loss gains."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    level = pd.Series(p).groupby(np.asarray(pd.to_datetime(pd.Series(np.asarray(dates))))).transform("mean")
    gain, gain_se = compute_log_loss_gain_by_date(dates, y, p, level.to_numpy(), lags)
    return SignalSkill(auc=compute_auc(y, p), auc_se=compute_auc_se_by_date(dates, y, p, seed=seed, block=max(1, lags)),
                       log_loss_gain=gain, log_loss_gain_se=gain_se)


@dataclass(frozen=True)
class RegimeSkill:
    """How far the regime model's out-of-sample predictive log-density per session beats the volatility
    rule's (the baseline regime model), with a Newey-West SE."""

    gain: float
    gain_se: float
    sessions: int

    @property
    def z(self) -> float:
        return _z(self.gain, self.gain_se)

    def passes(self, min_z: float) -> bool:
        return bool(self.z >= min_z)

    def describe(self) -> str:
        return (f"holdout log-density gain over the volatility rule {self.gain:+.5f} per session "
                f"({self.z:.1f} SE over {self.sessions} sessions)")

    def as_checks(self) -> dict[str, float]:
        return {"skill_gain_vs_vol_rule": self.gain, "skill_gain_z": self.z}


def compute_regime_skill(model_logdens, baseline_logdens, *, lags: int = 5) -> RegimeSkill:
    """Per-session predictive log-density of the model minus the baseline's (the same sessions, each
    forecast from the days before): mean and HAC SE over `lags` lags."""
    d = np.asarray(model_logdens, dtype=float) - np.asarray(baseline_logdens, dtype=float)
    gain, se = compute_mean_hac(d, lags)
    return RegimeSkill(gain, se, int(np.isfinite(d).sum()))


_NO_CHAMPION = "there is no champion, so the night serves no {what} until a version passes"


# -- the rules (pure) -----------------------------------------------------------------------------------
def compute_signal_promotion(
    new: dict[str, float], champion: dict[str, float] | None, *, new_version: str, champion_version: str | None,
    suspect: bool, margin: float, ece_tolerance: float, window: tuple[str, str], rows: int,
    skill: SignalSkill, skill_z: float,
) -> PromotionDecision:
    """Champion only if not suspect, with skill over the no-skill baselines (`skill` at least `skill_z` SE on
    the holdout), and (no champion, or holdout log-loss better by `margin` with ECE no worse than the
    champion's plus `ece_tolerance`)."""
    common = dict(
        new_version=str(new_version), metric="log_loss", higher_is_better=False,
        new_value=float(new["log_loss"]), champion_version=champion_version,
        champion_value=None if champion is None else float(champion["log_loss"]), margin=margin,
        window_start=window[0], window_end=window[1], rows=rows,
        checks={"new_ece": float(new["ece"]), "champion_ece": None if champion is None else float(champion["ece"]),
                "ece_tolerance": ece_tolerance, **skill.as_checks(), "skill_min_z": skill_z},
    )
    after = "" if champion is not None else "; " + _NO_CHAMPION.format(what="signals")
    if suspect:
        return _decision(SIGNAL_MODEL, False, "suspect model (honesty controls) cannot be promoted" + after, **common)
    if not skill.passes(skill_z):
        return _decision(SIGNAL_MODEL, False, f"no skill over the no-skill baselines: {skill.describe()} "
                         f"(both need >= {skill_z})" + after, **common)
    if champion is None:
        return _decision(SIGNAL_MODEL, True, f"no current champion; skill: {skill.describe()}", **common)
    gain = champion["log_loss"] - new["log_loss"]
    if gain < margin:
        return _decision(SIGNAL_MODEL, False, f"log-loss gain {gain:.5f} below margin {margin}", **common)
    if new["ece"] > champion["ece"] + ece_tolerance:
        return _decision(SIGNAL_MODEL, False, f"calibration worse: ECE {new['ece']:.4f} > "
                         f"{champion['ece']:.4f} + {ece_tolerance}", **common)
    return _decision(SIGNAL_MODEL, True, f"log-loss better by {gain:.5f} (>= {margin}) and ECE no worse", **common)


def compute_regime_promotion(
    new_loglik: float, champion_loglik: float | None, *, new_version: str, champion_version: str | None,
    margin: float, window: tuple[str, str], rows: int, skill: RegimeSkill, skill_z: float,
) -> PromotionDecision:
    """Champion only if its holdout predictive log-density beats the volatility rule's by `skill_z` SE, and
    (no champion, or its out-of-sample log-likelihood per session on the holdout beats the champion's on the
    same holdout by `margin`)."""
    common = dict(new_version=str(new_version), metric="oos_loglik_per_session", higher_is_better=True,
                  new_value=float(new_loglik), champion_version=champion_version,
                  champion_value=None if champion_loglik is None else float(champion_loglik), margin=margin,
                  window_start=window[0], window_end=window[1], rows=rows,
                  checks={**skill.as_checks(), "skill_min_z": skill_z})
    no_champion = champion_loglik is None or champion_version is None
    if not skill.passes(skill_z):
        after = "; " + _NO_CHAMPION.format(what="regimes") if no_champion else ""
        return _decision(REGIME_MODEL, False, f"no skill over the volatility rule: {skill.describe()} "
                         f"(needs >= {skill_z})" + after, **common)
    if no_champion:
        return _decision(REGIME_MODEL, True, f"no current champion; skill: {skill.describe()}", **common)
    gain = new_loglik - champion_loglik
    if gain >= margin:
        return _decision(REGIME_MODEL, True, f"holdout log-likelihood per session better by {gain:.5f} "
                         f"(>= {margin})", **common)
    return _decision(REGIME_MODEL, False, f"holdout log-likelihood per session gain {gain:.5f} below "
                     f"margin {margin}", **common)


def compute_forecast_promotion(
    new_skill: float, champion_skill: float | None, *, new_version: str, champion_version: str | None,
    margin: float, window: tuple[str, str], rows: int,
) -> PromotionDecision:
    """Champion when there is none, or when the new version's mean holdout pinball skill vs the Gaussian
    baseline is at least the champion's minus `margin`."""
    common = dict(new_version=str(new_version), metric="mean_champion_skill_vs_gaussian", higher_is_better=True,
                  new_value=float(new_skill), champion_version=champion_version,
                  champion_value=None if champion_skill is None else float(champion_skill), margin=margin,
                  window_start=window[0], window_end=window[1], rows=rows)
    if champion_skill is None or champion_version is None:
        return _decision(FORECAST_MODEL, True, "no current champion", **common)
    if new_skill >= champion_skill - margin:
        return _decision(FORECAST_MODEL, True, f"pinball skill {new_skill:.5f} >= champion's "
                         f"{champion_skill:.5f} - {margin}", **common)
    return _decision(FORECAST_MODEL, False, f"pinball skill {new_skill:.5f} < champion's "
                     f"{champion_skill:.5f} - {margin}", **common)


# -- recording --------------------------------------------------------------------------------------------
def record_promotion(target: MLflowTarget, decision: PromotionDecision) -> PromotionDecision:
    """Move the alias the decision names onto the new version and write the decision on it."""
    set_alias(target, decision.model_name, decision.new_version, decision.alias)
    set_version_tags(target, decision.model_name, decision.new_version,
                     {**decision.as_tags(), "promotion.decided_at": _now()}, description=decision.describe())
    return decision


def _score_signal(model, rows: pd.DataFrame, n_bins: int) -> dict[str, float]:
    p = model.predict_proba(rows)
    return {"log_loss": compute_log_loss(rows["label"], p), "ece": compute_ece(rows["label"], p, n_bins)}


def run_signal_promotion(
    target: MLflowTarget, new_version: str, window: pd.DataFrame, *, margin: float, ece_tolerance: float,
    skill: SignalSkill, skill_z: float, n_bins: int = 15,
) -> PromotionDecision:
    """Score the new version and the current champion on `window` (the latest holdout: symbol, date, raw
    features, label), decide with `compute_signal_promotion` (`skill`: the new version's skill on that
    holdout, from its training) and record the decision."""
    new = load_signal_version(target, new_version)
    # Tags can change after loading (the cache keeps models, not tags): read the flag fresh.
    suspect = version_tags(target, SIGNAL_MODEL, new_version).get("suspect") == "true"
    champ = load_signal_model(target, CHAMPION)
    new_m = _score_signal(new.model, window, n_bins)
    champ_m, champ_version, note = None, None, ""
    if champ is not None and champ.version != str(new_version):
        champ_version = champ.version
        try:
            champ_m = _score_signal(champ.model, window, n_bins)
        except KeyError as exc:  # the champion needs features this window lacks
            champ_m = {"log_loss": float("inf"), "ece": float("inf")}
            note = f" (champion not scorable on this window: {exc})"
    dates = pd.to_datetime(window["date"])
    decision = compute_signal_promotion(
        new_m, champ_m, new_version=str(new_version), champion_version=champ_version, suspect=suspect,
        margin=margin, ece_tolerance=ece_tolerance,
        window=(dates.min().date().isoformat(), dates.max().date().isoformat()), rows=len(window),
        skill=skill, skill_z=skill_z,
    )
    if note:
        decision = replace(decision, reason=decision.reason + note)
    return record_promotion(target, decision)


# -- a person's override -------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def promote_version(target: MLflowTarget, version: str, *, by: str, reason: str = "manual override",
                    model_name: str = SIGNAL_MODEL) -> str | None:
    """Make `version` the champion of `model_name` (versions tagged suspect are refused). Returns the
    previous champion's version."""
    if version_tags(target, model_name, version).get("suspect") == "true":
        raise ValueError(f"version {version} is tagged suspect by the honesty controls and cannot be promoted")
    prev = alias_version(target, model_name, CHAMPION)
    set_alias(target, model_name, version, CHAMPION)
    set_version_tags(target, model_name, version, {
        "override": f"promoted to champion by {by} at {_now()}: {reason} (previous champion: {prev})"})
    return prev


def rollback_champion(target: MLflowTarget, *, by: str, model_name: str = SIGNAL_MODEL) -> tuple[str, str]:
    """Give `champion` back to the previous champion; the current one becomes challenger. Returns
    (from_version, to_version); ValueError when there is nothing to roll back to."""
    current = alias_version(target, model_name, CHAMPION)
    if current is None:
        raise ValueError(f"{model_name} has no champion to roll back")
    history = champion_history(target, model_name)
    while history and history[-1] == str(current):
        history.pop()
    if not history:
        raise ValueError(f"{model_name} champion v{current} has no previous champion to roll back to")
    to = history[-1]
    set_champion_history(target, model_name, history)
    set_alias(target, model_name, to, CHAMPION)
    set_alias(target, model_name, str(current), CHALLENGER)
    now = _now()
    set_version_tags(target, model_name, str(current), {"override": f"rolled back by {by} at {now} to v{to}"})
    set_version_tags(target, model_name, to, {"override": f"champion again after rollback by {by} at {now} "
                                                          f"(from v{current})"})
    return str(current), to


__all__ = [
    "MODELS",
    "PromotionDecision",
    "RegimeSkill",
    "SignalSkill",
    "compute_regime_skill",
    "compute_signal_skill",
    "compute_forecast_promotion",
    "compute_regime_promotion",
    "compute_signal_promotion",
    "promote_version",
    "record_promotion",
    "rollback_champion",
    "run_signal_promotion",
]

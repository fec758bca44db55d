"""The signal model: booster families (LightGBM, CatBoost) behind one interface, the calibrator, the fitted
`SignalModel`, and scoring with TreeSHAP attribution (what the nightly scorer and the pyfunc both run). Pure."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_P_EPS = 1e-6


class BoosterFamily(ABC):
    """One gradient-boosting library behind the interface the trainer, scorer and pyfunc use: search
    space, fit, raw score (log-odds), TreeSHAP contributions, importance, native save / load.

    Adding a family is one subclass registered in `FAMILIES`."""

    name: str
    prefix: str
    """Prefix of the family's Optuna parameter names (keeps the families' spaces apart in one study)."""
    file_name: str
    """Name of the native model file in the registered model's artifacts."""

    @abstractmethod
    def suggest_params(self, trial, max_rounds: int) -> dict[str, Any]:
        """Optuna search space (names prefixed with `prefix`); returns the model parameters."""

    def params_from_trial(self, params: dict[str, Any]) -> dict[str, Any]:
        """Model parameters from Optuna's flat, prefixed parameters."""
        return {k.removeprefix(self.prefix): v for k, v in params.items() if k.startswith(self.prefix)}

    @abstractmethod
    def fit(self, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, *, seed: int, n_jobs: int = 1):
        """A fitted native booster."""

    @abstractmethod
    def predict_raw(self, booster, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw score (log-odds)."""

    @abstractmethod
    def contributions(self, booster, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions in log-odds, shape (n, n_features + 1), the last column the base value;
        each row sums to the raw score."""

    @abstractmethod
    def importance(self, booster) -> np.ndarray:
        """Raw per-feature importance, in the booster's column order."""

    @abstractmethod
    def save(self, booster, path) -> None:
        """Write the native model file."""

    @abstractmethod
    def load(self, path):
        """Read the native model file."""


class LightGBMFamily(BoosterFamily):
    name, prefix, file_name = "lightgbm", "lgb_", "booster.txt"

    def suggest_params(self, trial, max_rounds: int) -> dict[str, Any]:
        return {
            "num_boost_round": trial.suggest_int("lgb_rounds", min(50, max_rounds), max_rounds, log=True),
            "learning_rate": trial.suggest_float("lgb_learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("lgb_num_leaves", 4, 31, log=True),
            # Bounded depth regularises and keeps TreeSHAP (cost ~ trees x leaves x depth^2 per row) fast.
            "max_depth": trial.suggest_int("lgb_max_depth", 2, 6),
            "min_data_in_leaf": trial.suggest_int("lgb_min_data_in_leaf", 50, 1000, log=True),
            "feature_fraction": trial.suggest_float("lgb_feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("lgb_bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lgb_lambda_l2", 1e-3, 10.0, log=True),
        }

    def params_from_trial(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().params_from_trial(params)
        if "rounds" in out:
            out["num_boost_round"] = out.pop("rounds")
        return out

    def fit(self, params, X, y, *, seed: int, n_jobs: int = 1):
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("num_boost_round", 200))
        lgb_params = {
            "objective": "binary", "verbosity": -1, "seed": seed, "num_threads": n_jobs,
            "deterministic": True, "force_row_wise": True, "bagging_freq": 1 if p.get("bagging_fraction", 1) < 1 else 0,
            **p,
        }
        ds = lgb.Dataset(X, label=np.asarray(y, dtype=float), free_raw_data=True)
        return lgb.train(lgb_params, ds, num_boost_round=rounds)

    def predict_raw(self, booster, X):
        return np.asarray(booster.predict(X, raw_score=True), dtype=float)

    def contributions(self, booster, X):
        return np.asarray(booster.predict(X, pred_contrib=True), dtype=float)

    def importance(self, booster):
        return np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)

    def save(self, booster, path) -> None:
        booster.save_model(str(path))

    def load(self, path):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))


class CatBoostFamily(BoosterFamily):
    name, prefix, file_name = "catboost", "cb_", "booster.cbm"

    def suggest_params(self, trial, max_rounds: int) -> dict[str, Any]:
        return {
            "iterations": trial.suggest_int("cb_iterations", min(50, max_rounds), max_rounds, log=True),
            "learning_rate": trial.suggest_float("cb_learning_rate", 0.01, 0.2, log=True),
            "depth": trial.suggest_int("cb_depth", 2, 6),
            "l2_leaf_reg": trial.suggest_float("cb_l2_leaf_reg", 1.0, 30.0, log=True),
            "min_data_in_leaf": trial.suggest_int("cb_min_data_in_leaf", 20, 500, log=True),
        }

    def fit(self, params, X, y, *, seed: int, n_jobs: int = 1):
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(
            **params, loss_function="Logloss", random_seed=seed, thread_count=n_jobs, verbose=False,
            allow_writing_files=False,
        )
        model.fit(X, np.asarray(y, dtype=float).astype(int))
        return model

    def predict_raw(self, booster, X):
        return np.asarray(booster.predict(X, prediction_type="RawFormulaVal"), dtype=float)

    def contributions(self, booster, X):
        from catboost import Pool

        return np.asarray(booster.get_feature_importance(Pool(X), type="ShapValues"), dtype=float)

    def importance(self, booster):
        return np.asarray(booster.get_feature_importance(), dtype=float)

    def save(self, booster, path) -> None:
        booster.save_model(str(path), format="cbm")

    def load(self, path):
        from catboost import CatBoostClassifier

        model = CatBoostClassifier()
        model.load_model(str(path), format="cbm")
        return model


FAMILIES: dict[str, BoosterFamily] = {f.name: f for f in (LightGBMFamily(), CatBoostFamily())}


def get_family(name: str) -> BoosterFamily:
    """The family called `name`; ValueError naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; use one of {tuple(FAMILIES)}") from None



def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _P_EPS, 1 - _P_EPS)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def prepare_features(frame: pd.DataFrame, feature_cols: Sequence[str], cs_rank: bool) -> pd.DataFrame:
    """The model's input matrix (float32). With `cs_rank`, each feature becomes its percentile rank within
    the date's cross-section minus 0.5 (NaN stays NaN), as Qlib's CSRankNorm does for Alpha158: the model
    then learns which names beat their peers, not the market's level, which no feature can time.
    Needs the whole cross-section of each date in `frame`.
    """
    X = frame[list(feature_cols)].astype(np.float32)
    if cs_rank:
        X = (X.groupby(frame["date"].to_numpy()).rank(pct=True) - 0.5).astype(np.float32)
    return X


def suggest_params(trial, family: str, max_rounds: int) -> dict[str, Any]:
    """Optuna search space of `family` (small, regularised trees: the signal is weak)."""
    return get_family(family).suggest_params(trial, max_rounds)


def strip_prefix(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn Optuna's flat params (`family`, `lgb_*` / `cb_*`) back into (family, model params)."""
    family = params["family"]
    return family, get_family(family).params_from_trial(params)


def fit_booster(family: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, *, seed: int,
                n_jobs: int = 1):
    """Fit a native booster of `family`."""
    return get_family(family).fit(params, X, y, seed=seed, n_jobs=n_jobs)


def predict_raw(family: str, booster, X: pd.DataFrame) -> np.ndarray:
    """The booster's raw score (log-odds)."""
    return get_family(family).predict_raw(booster, X)


def compute_contributions(family: str, booster, X: pd.DataFrame) -> np.ndarray:
    """TreeSHAP contributions in log-odds: shape (n, n_features + 1), the last column is the base value.

    Each row sums to the raw score (LightGBM `pred_contrib`, CatBoost `ShapValues`).
    """
    return get_family(family).contributions(booster, X)


def feature_importance(family: str, booster, columns: list[str]) -> pd.Series:
    """Gain importance (LightGBM) or PredictionValuesChange (CatBoost), normalised to sum 1."""
    s = pd.Series(get_family(family).importance(booster), index=columns)
    total = s.sum()
    return (s / total if total > 0 else s).sort_values(ascending=False)


@dataclass
class Calibrator:
    """Maps the raw score (log-odds) to a calibrated probability: Platt (logistic) or isotonic."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x_thresholds: np.ndarray | None = None
    y_thresholds: np.ndarray | None = None

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            p = _sigmoid(self.a * raw + self.b)
        elif self.method == "isotonic":
            p = np.interp(raw, self.x_thresholds, self.y_thresholds)
        else:
            p = _sigmoid(raw)
        return np.clip(p, _P_EPS, 1 - _P_EPS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "a": self.a, "b": self.b,
            "x_thresholds": None if self.x_thresholds is None else self.x_thresholds.tolist(),
            "y_thresholds": None if self.y_thresholds is None else self.y_thresholds.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(
            d["method"], d.get("a", 1.0), d.get("b", 0.0),
            None if d.get("x_thresholds") is None else np.asarray(d["x_thresholds"], float),
            None if d.get("y_thresholds") is None else np.asarray(d["y_thresholds"], float),
        )


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit Platt scaling (logistic regression on the raw score) or isotonic regression."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y.astype(int))
        return Calibrator("platt", float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=_P_EPS, y_max=1 - _P_EPS).fit(raw, y)
        return Calibrator("isotonic", x_thresholds=np.asarray(iso.X_thresholds_, float),
                          y_thresholds=np.asarray(iso.y_thresholds_, float))
    if method == "identity":
        return Calibrator("identity")
    raise ValueError(f"unknown calibration method {method!r}")


@dataclass
class SignalModel:
    """A fitted native booster, its calibrator and the feature columns it expects, in order."""

    family: str
    booster: Any
    calibrator: Calibrator
    feature_columns: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    cs_rank: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The booster's input for `frame` (symbol, date, raw feature columns; whole cross-sections)."""
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise KeyError(f"frame lacks the model's feature columns: {missing[:5]}{'...' if len(missing) > 5 else ''}")
        return prepare_features(frame, self.feature_columns, self.cs_rank)

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        return predict_raw(self.family, self.booster, self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.predict(self.predict_raw(frame))

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        return compute_contributions(self.family, self.booster, self.matrix(frame))


def save_booster(family: str, booster, path) -> None:
    """Native model file: LightGBM text model or CatBoost .cbm."""
    get_family(family).save(booster, path)


def load_booster(family: str, path):
    return get_family(family).load(path)


def logit(p: np.ndarray) -> np.ndarray:
    return _logit(p)


def finite_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

# -- scoring with attribution ---------------------------------------------------------------------------
# Attribution explains the base model's raw score (log-odds), not the probability: calibration maps the
# raw score to the probability afterwards. For each row, `base_value + sum(contribution of the top-k
# features and the "other" term) = raw_score` (to 1e-6). `attribution` is a JSON list of
# {"feature", "value", "contribution"} ordered by |contribution|, the last item being
# {"feature": "other", "value": null, "contribution": <sum of the remaining features>}.

def _num(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "null"


def compute_attribution_json(names: Sequence[str], values: np.ndarray, contrib: np.ndarray, top_k: int) -> list[str]:
    """JSON attribution per row from feature values (n, p) and contributions (n, p) without the base column."""
    n, p = contrib.shape
    k = max(0, min(top_k, p))
    if k == 0:
        top = np.empty((n, 0), dtype=int)
    else:
        # argpartition then sort the k kept columns by |contribution| descending.
        part = np.argpartition(-np.abs(contrib), k - 1, axis=1)[:, :k]
        kept = np.take_along_axis(np.abs(contrib), part, axis=1)
        top = np.take_along_axis(part, np.argsort(-kept, axis=1, kind="stable"), axis=1)
    top_c = np.take_along_axis(contrib, top, axis=1)
    top_v = np.take_along_axis(values, top, axis=1)
    other = contrib.sum(axis=1) - top_c.sum(axis=1)
    quoted = [json.dumps(str(nm)) for nm in names]
    out = []
    for i in range(n):
        items = [
            f'{{"feature": {quoted[j]}, "value": {_num(v)}, "contribution": {_num(c)}}}'
            for j, v, c in zip(top[i], top_v[i], top_c[i], strict=True)
        ]
        items.append(f'{{"feature": "other", "value": null, "contribution": {_num(other[i])}}}')
        out.append("[" + ", ".join(items) + "]")
    return out


def compute_signal_scores(model, frame: pd.DataFrame, top_k: int = 5) -> pd.DataFrame:
    """Score `frame` (symbol, date, the model's feature columns) with a fitted `models.signals.SignalModel`.

    Returns symbol, date, probability (calibrated), raw_score (log-odds of the base model), base_value and
    attribution (JSON). Pure: no I/O.
    """
    if frame.empty:
        return pd.DataFrame(columns=["symbol", "date", "probability", "raw_score", "base_value", "attribution"])
    contrib = model.contributions(frame)
    raw = contrib.sum(axis=1)
    out = pd.DataFrame({"symbol": frame["symbol"].to_numpy(), "date": frame["date"].to_numpy()})
    out["probability"] = model.calibrator.predict(raw)
    out["raw_score"] = raw
    out["base_value"] = contrib[:, -1]
    out["attribution"] = compute_attribution_json(
        # The reported value is the feature as stored (the booster may have seen its cross-sectional rank).
        model.feature_columns, frame[model.feature_columns].to_numpy(dtype=float), contrib[:, :-1], top_k
    )
    return out


def attribution_total(attribution_json: str, base_value: float) -> float:
    """base + sum of the stored contributions (equals raw_score): the additivity check, for tests and audits."""
    return float(base_value) + sum(item["contribution"] for item in json.loads(attribution_json))


__all__ = [
    "BoosterFamily",
    "CatBoostFamily",
    "LightGBMFamily",
    "get_family",
    "FAMILIES",
    "Calibrator",
    "SignalModel",
    "attribution_total",
    "compute_attribution_json",
    "compute_contributions",
    "compute_signal_scores",
    "feature_importance",
    "fit_booster",
    "fit_calibrator",
    "load_booster",
    "predict_raw",
    "prepare_features",
    "save_booster",
    "strip_prefix",
    "suggest_params",
]

"""Model families (LightGBM, CatBoost), calibrators and the fitted signal-model bundle (pure, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

FAMILIES = ("lightgbm", "catboost")
_P_EPS = 1e-6


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
    if family == "lightgbm":
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
    if family == "catboost":
        return {
            "iterations": trial.suggest_int("cb_iterations", min(50, max_rounds), max_rounds, log=True),
            "learning_rate": trial.suggest_float("cb_learning_rate", 0.01, 0.2, log=True),
            "depth": trial.suggest_int("cb_depth", 2, 6),
            "l2_leaf_reg": trial.suggest_float("cb_l2_leaf_reg", 1.0, 30.0, log=True),
            "min_data_in_leaf": trial.suggest_int("cb_min_data_in_leaf", 20, 500, log=True),
        }
    raise ValueError(f"unknown model family {family!r}; use one of {FAMILIES}")


def strip_prefix(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn Optuna's flat params (`family`, `lgb_*` / `cb_*`) back into (family, model params)."""
    family = params["family"]
    prefix = "lgb_" if family == "lightgbm" else "cb_"
    out = {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}
    if family == "lightgbm" and "rounds" in out:
        out["num_boost_round"] = out.pop("rounds")
    return family, out


def fit_booster(family: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, *, seed: int,
                n_jobs: int = 1):
    """Fit a native booster: a `lightgbm.Booster` or a `catboost.CatBoostClassifier`."""
    y = np.asarray(y, dtype=float)
    if family == "lightgbm":
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("num_boost_round", 200))
        lgb_params = {
            "objective": "binary", "verbosity": -1, "seed": seed, "num_threads": n_jobs,
            "deterministic": True, "force_row_wise": True, "bagging_freq": 1 if p.get("bagging_fraction", 1) < 1 else 0,
            **p,
        }
        ds = lgb.Dataset(X, label=y, free_raw_data=True)
        return lgb.train(lgb_params, ds, num_boost_round=rounds)
    if family == "catboost":
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(
            **params, loss_function="Logloss", random_seed=seed, thread_count=n_jobs, verbose=False,
            allow_writing_files=False,
        )
        model.fit(X, y.astype(int))
        return model
    raise ValueError(f"unknown model family {family!r}")


def predict_raw(family: str, booster, X: pd.DataFrame) -> np.ndarray:
    """The booster's raw score (log-odds)."""
    if family == "lightgbm":
        return np.asarray(booster.predict(X, raw_score=True), dtype=float)
    return np.asarray(booster.predict(X, prediction_type="RawFormulaVal"), dtype=float)


def compute_contributions(family: str, booster, X: pd.DataFrame) -> np.ndarray:
    """TreeSHAP contributions in log-odds: shape (n, n_features + 1), the last column is the base value.

    Each row sums to the raw score (LightGBM `pred_contrib`, CatBoost `ShapValues`).
    """
    if family == "lightgbm":
        return np.asarray(booster.predict(X, pred_contrib=True), dtype=float)
    from catboost import Pool

    return np.asarray(booster.get_feature_importance(Pool(X), type="ShapValues"), dtype=float)


def feature_importance(family: str, booster, columns: list[str]) -> pd.Series:
    """Gain importance (LightGBM) or PredictionValuesChange (CatBoost), normalised to sum 1."""
    if family == "lightgbm":
        imp = np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
    else:
        imp = np.asarray(booster.get_feature_importance(), dtype=float)
    s = pd.Series(imp, index=columns)
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
    if family == "lightgbm":
        booster.save_model(str(path))
    else:
        booster.save_model(str(path), format="cbm")


def load_booster(family: str, path):
    if family == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    from catboost import CatBoostClassifier

    model = CatBoostClassifier()
    model.load_model(str(path), format="cbm")
    return model


def logit(p: np.ndarray) -> np.ndarray:
    return _logit(p)


def finite_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


__all__ = [
    "FAMILIES",
    "Calibrator",
    "SignalModel",
    "compute_contributions",
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

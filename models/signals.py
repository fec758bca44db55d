"""The signal model: booster families (LightGBM, CatBoost) behind one interface, the calibrator, the fitted
`SignalModel`, and scoring with TreeSHAP attribution (what the nightly scorer and the pyfunc both run). Pure."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    rounds_param: str
    """The Optuna parameter holding the number of boosting rounds."""

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
    def fold_inputs(self, X_train: np.ndarray, y_train: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray):
        """The library's own training and validation sets of one fold (binned once, reused by every trial)."""

    @abstractmethod
    def fit_fold(self, params: dict[str, Any], inputs, *, seed: int, n_jobs: int = 0,
                 early_stopping_rounds: int = 50) -> tuple[Any, int]:
        """(booster, rounds): fit on `fold_inputs`' training set, stopping when the validation log-loss has
        not improved for `early_stopping_rounds` rounds; `rounds` is the best round count (the booster
        predicts with it)."""

    @abstractmethod
    def predict_raw(self, booster, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw score (log-odds)."""

    @abstractmethod
    def contributions(self, booster, X: pd.DataFrame, n_jobs: int = 0) -> np.ndarray:
        """TreeSHAP contributions in log-odds, shape (n, n_features + 1), the last column the base value;
        each row sums to the raw score. `n_jobs` threads (0 = every core): rows are independent, so the
        result does not depend on it."""

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
    name, prefix, file_name, rounds_param = "lightgbm", "lgb_", "booster.txt", "lgb_rounds"

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

    @staticmethod
    def _train_params(p: dict[str, Any], seed: int, n_jobs: int) -> dict[str, Any]:
        return {
            "objective": "binary", "verbosity": -1, "seed": seed, "num_threads": n_jobs,
            "deterministic": True, "force_row_wise": True, "bagging_freq": 1 if p.get("bagging_fraction", 1) < 1 else 0,
            **p,
        }

    def fit(self, params, X, y, *, seed: int, n_jobs: int = 1):
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("num_boost_round", 200))
        ds = lgb.Dataset(X, label=np.asarray(y, dtype=float), free_raw_data=True)
        return lgb.train(self._train_params(p, seed, n_jobs), ds, num_boost_round=rounds)

    def fold_inputs(self, X_train, y_train, X_valid, y_valid):
        import lightgbm as lgb

        # Trials vary min_data_in_leaf: the binned set must not drop features by the first trial's value.
        train = lgb.Dataset(X_train, label=np.asarray(y_train, dtype=float), free_raw_data=False,
                            params={"feature_pre_filter": False, "verbosity": -1})
        valid = lgb.Dataset(X_valid, label=np.asarray(y_valid, dtype=float), reference=train, free_raw_data=False,
                            params={"feature_pre_filter": False, "verbosity": -1})
        train.construct()
        valid.construct()
        return train, valid

    def fit_fold(self, params, inputs, *, seed: int, n_jobs: int = 0, early_stopping_rounds: int = 50):
        import lightgbm as lgb

        train, valid = inputs
        p = dict(params)
        rounds = int(p.pop("num_boost_round", 200))
        booster = lgb.train(
            {**self._train_params(p, seed, n_jobs), "metric": "binary_logloss"}, train, num_boost_round=rounds,
            valid_sets=[valid], callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
        )
        return booster, int(booster.best_iteration or rounds)

    def predict_raw(self, booster, X):
        return np.asarray(booster.predict(X, raw_score=True), dtype=float)

    def contributions(self, booster, X, n_jobs: int = 0):
        return np.asarray(booster.predict(X, pred_contrib=True, num_threads=n_jobs), dtype=float)

    def importance(self, booster):
        return np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)

    def save(self, booster, path) -> None:
        booster.save_model(str(path))

    def load(self, path):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))


class CatBoostFamily(BoosterFamily):
    name, prefix, file_name, rounds_param = "catboost", "cb_", "booster.cbm", "cb_iterations"

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
            **params, loss_function="Logloss", random_seed=seed, thread_count=n_jobs or -1, verbose=False,
            allow_writing_files=False,
        )
        model.fit(X, np.asarray(y, dtype=float).astype(int))
        return model

    def fold_inputs(self, X_train, y_train, X_valid, y_valid):
        from catboost import Pool

        train = Pool(np.ascontiguousarray(X_train, dtype=np.float32), label=np.asarray(y_train, dtype=float).astype(int))
        train.quantize()
        valid = Pool(np.ascontiguousarray(X_valid, dtype=np.float32), label=np.asarray(y_valid, dtype=float).astype(int))
        return train, valid

    def fit_fold(self, params, inputs, *, seed: int, n_jobs: int = 0, early_stopping_rounds: int = 50):
        from catboost import CatBoostClassifier

        train, valid = inputs
        model = CatBoostClassifier(
            **params, loss_function="Logloss", random_seed=seed, thread_count=n_jobs or -1, verbose=False,
            allow_writing_files=False, early_stopping_rounds=early_stopping_rounds, use_best_model=True,
        )
        model.fit(train, eval_set=valid)
        return model, int(model.get_best_iteration()) + 1

    def predict_raw(self, booster, X):
        if isinstance(X, np.ndarray):
            X = np.ascontiguousarray(X, dtype=np.float32)
        return np.asarray(booster.predict(X, prediction_type="RawFormulaVal", thread_count=-1), dtype=float)

    def contributions(self, booster, X, n_jobs: int = 0):
        from catboost import Pool

        pool = Pool(np.ascontiguousarray(X, dtype=np.float32), feature_names=list(X.columns))
        return np.asarray(booster.get_feature_importance(pool, type="ShapValues", thread_count=n_jobs or -1),
                          dtype=float)

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


@numba.njit(parallel=True, cache=True, nogil=True)
def _cs_rank_kernel(xt: np.ndarray, starts: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    # xt: (features, rows) with each date's rows contiguous; block b spans rows starts[b]:starts[b + 1].
    n_feat = xt.shape[0]
    n_blocks = starts.shape[0] - 1
    for task in numba.prange(n_feat * n_blocks):
        j = task // n_blocks
        b = task % n_blocks
        a, e = starts[b], starts[b + 1]
        vals = np.empty(e - a, np.float32)
        rows = np.empty(e - a, np.int64)
        cnt = 0
        for i in range(a, e):
            v = xt[j, i]
            if v == v:
                vals[cnt] = v
                rows[cnt] = i
                cnt += 1
            else:
                out[j, i] = np.nan
        order = np.argsort(vals[:cnt])
        k = 0
        while k < cnt:
            last = k
            while last + 1 < cnt and vals[order[last + 1]] == vals[order[k]]:
                last += 1
            # Ties share their average 1-based rank; percentile = rank / non-missing count (pandas' pct).
            pct = np.float32(((k + last + 2) / 2.0) / cnt - 0.5)
            for q in range(k, last + 1):
                out[j, rows[order[q]]] = pct
            k = last + 1


def compute_cs_rank(values: np.ndarray, dates) -> np.ndarray:
    """Per-date percentile rank minus 0.5 of each column of `values` (n, p), as float32: the average rank of
    ties divided by the date's count of non-missing values, NaN kept, exactly pandas'
    `groupby(dates).rank(pct=True) - 0.5` cast to float32 (compiled, dates and columns in parallel)."""
    values = np.asarray(values, dtype=np.float32)
    n, p = values.shape
    if n == 0:
        return values.copy()
    codes, _ = pd.factorize(np.asarray(dates), sort=False)
    order = None if np.all(codes[1:] >= codes[:-1]) else np.argsort(codes, kind="stable")
    if order is not None:
        codes, values = codes[order], values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1, n].astype(np.int64)
    out_t = np.empty((p, n), dtype=np.float32)
    _cs_rank_kernel(np.ascontiguousarray(values.T), starts, out_t)
    out = out_t.T
    if order is not None:
        back = np.empty_like(out)
        back[order] = out
        out = back
    return np.ascontiguousarray(out)


def prepare_features(frame: pd.DataFrame, feature_cols: Sequence[str], cs_rank: bool,
                     values: np.ndarray | None = None) -> pd.DataFrame:
    """The model's input matrix (float32). With `cs_rank`, each feature becomes its percentile rank within
    the date's cross-section minus 0.5 (NaN stays NaN), as Qlib's CSRankNorm does for Alpha158: the model
    then learns which names beat their peers, not the market's level, which no feature can time.
    Needs the whole cross-section of each date in `frame`. `values`: `frame[feature_cols]` as float64 when
    the caller already holds it (a scorer that also reports the values), so it is not copied again.
    """
    cols = list(feature_cols)
    X = frame[cols].to_numpy(dtype=np.float32) if values is None else values.astype(np.float32)
    if cs_rank:
        X = compute_cs_rank(X, frame["date"].to_numpy())
    return pd.DataFrame(X, columns=cols, index=frame.index, copy=False)


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


def compute_contributions(family: str, booster, X: pd.DataFrame, n_jobs: int = 0) -> np.ndarray:
    """TreeSHAP contributions in log-odds: shape (n, n_features + 1), the last column is the base value.

    Each row sums to the raw score (LightGBM `pred_contrib`, CatBoost `ShapValues`); `n_jobs` threads, 0 = all.
    """
    return get_family(family).contributions(booster, X, n_jobs)


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

    def matrix(self, frame: pd.DataFrame, values: np.ndarray | None = None) -> pd.DataFrame:
        """The booster's input for `frame` (symbol, date, raw feature columns; whole cross-sections)."""
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise KeyError(f"frame lacks the model's feature columns: {missing[:5]}{'...' if len(missing) > 5 else ''}")
        return prepare_features(frame, self.feature_columns, self.cs_rank, values)

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        return predict_raw(self.family, self.booster, self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.predict(self.predict_raw(frame))

    def contributions(self, frame: pd.DataFrame, n_jobs: int = 0, values: np.ndarray | None = None) -> np.ndarray:
        return compute_contributions(self.family, self.booster, self.matrix(frame, values), n_jobs)


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


# Arrow's shortest round-trip digits equal Python's repr; only the notation differs: Python writes integral
# values with ".0", exponents with two digits at least, 1e-6 .. 1e-4 in scientific notation (Arrow: fixed) and
# 1e10 .. 1e16 in fixed notation (Arrow: scientific; these few are formatted by Python).
_REPR_REWRITES = (
    (r"^(-?\d+)$", r"\1.0"),
    (r"e([+-])(\d)$", r"e\10\2"),
    (r"^(-?)0\.0000([1-9])$", r"\1\2e-05"),
    (r"^(-?)0\.0000([1-9])(\d+)$", r"\1\2.\3e-05"),
    (r"^(-?)0\.00000([1-9])$", r"\1\2e-06"),
    (r"^(-?)0\.00000([1-9])(\d+)$", r"\1\2.\3e-06"),
)
_REPR_BY_PYTHON = (9e9, 1.1e16)


def compute_number_text(x: np.ndarray) -> pa.Array:
    """`repr(float(v))` of every finite v and "null" otherwise (JSON numbers as Python writes them), as an
    Arrow string array: formatted by Arrow, rewritten to Python's notation."""
    x = np.asarray(x, dtype=float).ravel()
    s = pc.cast(pa.array(x), pa.string())
    for pattern, replacement in _REPR_REWRITES:
        s = pc.replace_substring_regex(s, pattern, replacement)
    mag = np.abs(x)
    odd = (mag >= _REPR_BY_PYTHON[0]) & (mag < _REPR_BY_PYTHON[1])
    if odd.any():
        fixed = s.to_numpy(zero_copy_only=False)
        fixed[odd] = [repr(float(v)) for v in x[odd]]
        s = pa.array(fixed, type=pa.string())
    return pc.if_else(pa.array(np.isfinite(x)), s, "null")


@numba.njit(parallel=True, cache=True, nogil=True)
def _top_k_kernel(contrib: np.ndarray, k: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    # Per row, the k columns of largest |contribution|, largest first; equal ones in column order (a stable
    # sort by -|c|). An insertion into the k kept, rows in parallel: one pass over the row, no copies.
    n, p = contrib.shape
    for i in numba.prange(n):
        best = np.empty(k, np.float64)
        cnt = 0
        for j in range(p):
            a = abs(contrib[i, j])
            if cnt == k and not a > best[k - 1]:
                continue
            pos = cnt if cnt < k else k - 1
            while pos > 0 and a > best[pos - 1]:
                if pos < k:
                    best[pos] = best[pos - 1]
                    out[i, pos] = out[i, pos - 1]
                pos -= 1
            best[pos] = a
            out[i, pos] = j
            if cnt < k:
                cnt += 1


def compute_top_k(contrib: np.ndarray, k: int) -> np.ndarray:
    """(n, k) column indices of each row's k largest |contribution|, largest first, ties in column order."""
    contrib = np.asarray(contrib, dtype=np.float64)  # a column slice is read in place, not copied
    n, p = contrib.shape
    k = max(0, min(k, p))
    out = np.zeros((n, k), dtype=np.int64)
    if n and k:
        _top_k_kernel(contrib, k, out)
    return out


def compute_attribution_text(names: Sequence[str], values: np.ndarray, contrib: np.ndarray, top_k: int) -> pa.Array:
    """JSON attribution per row (see above), as an Arrow string array, from feature values (n, p) and
    contributions (n, p) without the base column. Vectorised: no Python loop over rows."""
    n, p = contrib.shape
    k = max(0, min(top_k, p))
    top = compute_top_k(contrib, k)
    top_c = np.take_along_axis(contrib, top, axis=1)
    top_v = np.take_along_axis(values, top, axis=1)
    other = contrib.sum(axis=1) - top_c.sum(axis=1)
    quoted = pa.array([json.dumps(str(nm)) for nm in names], type=pa.string())
    # Column-major so that column j of the (n, k) arrays is one contiguous run of the formatted text.
    v_txt = compute_number_text(top_v.T)
    c_txt = compute_number_text(top_c.T)
    parts: list[Any] = ["["]
    for j in range(k):
        parts += ['{"feature": ', pc.take(quoted, pa.array(top[:, j])), ', "value": ', v_txt.slice(j * n, n),
                  ', "contribution": ', c_txt.slice(j * n, n), "}, "]
    parts += ['{"feature": "other", "value": null, "contribution": ', compute_number_text(other), "}]"]
    if n == 0:
        return pa.array([], type=pa.string())
    return pc.binary_join_element_wise(*parts, "")


def compute_attribution_json(names: Sequence[str], values: np.ndarray, contrib: np.ndarray, top_k: int) -> list[str]:
    """JSON attribution per row from feature values (n, p) and contributions (n, p) without the base column."""
    return compute_attribution_text(names, values, contrib, top_k).to_pylist()


def compute_signal_scores(model, frame: pd.DataFrame, top_k: int = 5, n_jobs: int = 0) -> pd.DataFrame:
    """Score `frame` (symbol, date, the model's feature columns) with a fitted `models.signals.SignalModel`.

    Returns symbol, date, probability (calibrated), raw_score (log-odds of the base model), base_value and
    attribution (JSON). Pure: no I/O. Rows are scored independently of each
    other, except the cross-sectional ranks, which need each date's whole cross-section; `n_jobs` threads
    for the contributions (0 = every core).
    """
    if frame.empty:
        return pd.DataFrame(columns=["symbol", "date", "probability", "raw_score", "base_value", "attribution"])
    # The feature columns copied out once: the booster's input and the reported values both come from here.
    values = frame[model.feature_columns].to_numpy(dtype=float)
    contrib = model.contributions(frame, n_jobs, values)
    raw = contrib.sum(axis=1)
    out = pd.DataFrame({"symbol": frame["symbol"].to_numpy(), "date": frame["date"].to_numpy()})
    out["probability"] = model.calibrator.predict(raw)
    out["raw_score"] = raw
    out["base_value"] = contrib[:, -1]
    text = compute_attribution_text(
        # The reported value is the feature as stored (the booster may have seen its cross-sectional rank).
        model.feature_columns, values, contrib[:, :-1], top_k
    )
    out["attribution"] = text.to_numpy(zero_copy_only=False)
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
    "compute_attribution_text",
    "compute_cs_rank",
    "compute_number_text",
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

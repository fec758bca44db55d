"""The vectorised scorer equals the plain reference (pandas ranks, one JSON string per row built in Python,
one thread) to 1e-9, for both families, and its building blocks equal what they replace exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from models.signals import (
    SignalModel,
    compute_cs_rank,
    compute_number_text,
    compute_signal_scores,
    compute_top_k,
    fit_booster,
    fit_calibrator,
    get_family,
)


def _reference_rank(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    X = frame[cols].astype(np.float32)
    return (X.groupby(frame["date"].to_numpy()).rank(pct=True) - 0.5).astype(np.float32)


def _reference_num(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else "null"


def _reference_scores(model: SignalModel, frame: pd.DataFrame, top_k: int) -> pd.DataFrame:
    X = _reference_rank(frame, model.feature_columns) if model.cs_rank else frame[model.feature_columns].astype(np.float32)
    contrib = get_family(model.family).contributions(model.booster, X, n_jobs=1)
    raw = contrib.sum(axis=1)
    values = frame[model.feature_columns].to_numpy(dtype=float)
    rows = []
    for i in range(len(frame)):
        c = contrib[i, :-1]
        top = sorted(range(len(c)), key=lambda j: -abs(c[j]))[:top_k]
        items = [{"feature": model.feature_columns[j], "value": values[i, j], "contribution": c[j]} for j in top]
        items.append({"feature": "other", "value": None, "contribution": float(c.sum() - c[top].sum())})
        text = "[" + ", ".join(
            f'{{"feature": {json.dumps(it["feature"])}, "value": '
            f'{"null" if it["value"] is None else _reference_num(it["value"])}, '
            f'"contribution": {_reference_num(it["contribution"])}}}' for it in items) + "]"
        rows.append(text)
    return pd.DataFrame({"probability": model.calibrator.predict(raw), "raw_score": raw,
                         "base_value": contrib[:, -1], "attribution": rows})


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    # Given: several dates of uneven cross-sections, shuffled rows, ties, missing values, tiny and huge values
    rng = np.random.default_rng(3)
    n_d, n_s = 40, 30
    frame = pd.DataFrame({
        "symbol": np.tile([f"S{i}" for i in range(n_s)], n_d),
        "date": np.repeat(pd.bdate_range("2024-01-01", periods=n_d).values, n_s),
    })
    for j in range(10):
        frame[f"f{j}"] = rng.standard_normal(len(frame))
    frame["f2"] = np.round(frame["f2"])                      # many ties
    frame["f4"] = frame["f4"] * 1e-5                          # Arrow and Python write these differently
    frame["f5"] = np.round(frame["f5"] * 1e12)                # ... and these
    frame.loc[rng.uniform(size=len(frame)) < 0.08, "f3"] = np.nan
    frame["label"] = ((frame["f0"] - 0.5 * frame["f1"] + frame["f4"] * 1e5 + rng.standard_normal(len(frame))) > 0).astype(float)
    frame = frame.drop(index=rng.choice(len(frame), 50, replace=False))  # uneven cross-sections
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.mark.parametrize("family,params", [
    ("lightgbm", {"num_boost_round": 40, "num_leaves": 7, "min_data_in_leaf": 20, "learning_rate": 0.1}),
    ("catboost", {"iterations": 40, "depth": 3, "learning_rate": 0.1}),
])
@pytest.mark.parametrize("cs_rank", [True, False])
def test_scores_equal_the_reference_to_1e9(market, family, params, cs_rank):
    cols = [f"f{j}" for j in range(10)]
    X = _reference_rank(market, cols) if cs_rank else market[cols].astype(np.float32)
    booster = fit_booster(family, params, X, market["label"].to_numpy(), seed=1)
    cal = fit_calibrator("platt", get_family(family).predict_raw(booster, X), market["label"].to_numpy())
    model = SignalModel(family, booster, cal, cols, cs_rank=cs_rank)

    # When: scored by the scorer (every core) and by the reference
    got = compute_signal_scores(model, market, top_k=4)
    want = _reference_scores(model, market, top_k=4)

    # Then: the same numbers, and the same attribution (features in the same order, values to 1e-9)
    for c in ("probability", "raw_score", "base_value"):
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=0, atol=1e-9)
    for a, b in zip(got["attribution"], want["attribution"], strict=True):
        ga, wa = json.loads(a), json.loads(b)
        assert [i["feature"] for i in ga] == [i["feature"] for i in wa]
        for gi, wi in zip(ga, wa, strict=True):
            assert (gi["value"] is None) == (wi["value"] is None)
            if gi["value"] is not None:
                assert abs(gi["value"] - wi["value"]) <= 1e-9 * max(1.0, abs(wi["value"]))
            assert abs(gi["contribution"] - wi["contribution"]) <= 1e-9
    # Byte for byte the same text, so a re-run over rows written before leaves them unchanged.
    assert got["attribution"].tolist() == want["attribution"].tolist()


def test_cs_rank_equals_pandas_rank_exactly(market):
    cols = [f"f{j}" for j in range(10)]
    want = _reference_rank(market, cols).to_numpy()
    got = compute_cs_rank(market[cols].to_numpy(), market["date"].to_numpy())
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_cs_rank_of_one_date_with_ties_and_missing_values():
    x = np.array([[3.0], [1.0], [np.nan], [1.0], [2.0]])
    got = compute_cs_rank(x, np.zeros(5))
    # ranks among the 4 present values: 1 -> 1.5 (tie), 2 -> 3, 3 -> 4; pct = rank / 4, minus 0.5
    np.testing.assert_array_equal(got[:, 0], np.float32([0.5, -0.125, np.nan, -0.125, 0.25]))


def test_number_text_is_python_repr_for_every_magnitude():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(20_000) * 10.0 ** rng.integers(-30, 30, 20_000)
    x[::5] = np.round(x[::5])
    x[::7] = x[::7].astype(np.float32)
    x[:6] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16]
    got = compute_number_text(x).to_pylist()
    assert got == [_reference_num(v) for v in x]


def test_top_k_keeps_the_largest_contributions_in_the_reference_order_ties_included():
    # Given: contributions with many exact ties (zeros of unused features, equal magnitudes of both signs)
    rng = np.random.default_rng(5)
    for _ in range(200):
        n, p = int(rng.integers(1, 20)), int(rng.integers(1, 12))
        k = int(rng.integers(0, p + 2))
        c = np.round(rng.standard_normal((n, p)), 1) * rng.choice([1.0, -1.0], size=(n, p))
        c[rng.uniform(size=(n, p)) < 0.4] = 0.0
        # When / Then: the reference's stable sort by -|c| (equal magnitudes in column order), first k
        want = [sorted(range(p), key=lambda j, r=r: -abs(c[r, j]))[:k] for r in range(n)]
        assert compute_top_k(c, k).tolist() == want

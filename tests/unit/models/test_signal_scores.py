"""Attribution: base + top-k + other = raw score to 1e-6, for LightGBM and CatBoost; probability calibrated."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.signals import (
    SignalModel,
    attribution_total,
    compute_signal_scores,
    fit_booster,
    fit_calibrator,
    prepare_features,
)


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n_d, n_s = 60, 25
    frame = pd.DataFrame({
        "symbol": np.tile([f"S{i}" for i in range(n_s)], n_d),
        "date": np.repeat(pd.bdate_range("2024-01-01", periods=n_d).values, n_s),
    })
    for j in range(8):
        frame[f"f{j}"] = rng.standard_normal(len(frame))
    frame.loc[rng.uniform(size=len(frame)) < 0.05, "f3"] = np.nan  # missing values are allowed
    frame["label"] = ((frame["f0"] - 0.5 * frame["f1"] + rng.standard_normal(len(frame))) > 0).astype(float)
    return frame


@pytest.mark.parametrize("family,params", [
    ("lightgbm", {"num_boost_round": 30, "num_leaves": 7, "min_data_in_leaf": 20, "learning_rate": 0.1}),
    ("catboost", {"iterations": 30, "depth": 3, "learning_rate": 0.1}),
])
@pytest.mark.parametrize("cs_rank", [True, False])
def test_attribution_is_additive_and_probability_is_the_calibrated_raw_score(toy, family, params, cs_rank):
    cols = [f"f{j}" for j in range(8)]
    X = prepare_features(toy, cols, cs_rank)
    booster = fit_booster(family, params, X, toy["label"].to_numpy(), seed=1)
    raw_native = (booster.predict(X, raw_score=True) if family == "lightgbm"
                  else booster.predict(X, prediction_type="RawFormulaVal"))
    cal = fit_calibrator("platt", raw_native, toy["label"].to_numpy())
    model = SignalModel(family, booster, cal, cols, cs_rank=cs_rank)

    out = compute_signal_scores(model, toy, top_k=3)

    assert len(out) == len(toy)
    np.testing.assert_allclose(out["raw_score"], raw_native, atol=1e-6)
    np.testing.assert_allclose(out["probability"], cal.predict(raw_native), atol=1e-12)
    totals = np.array([attribution_total(a, b) for a, b in zip(out["attribution"], out["base_value"], strict=True)])
    np.testing.assert_allclose(totals, out["raw_score"], atol=1e-6)
    first = json.loads(out["attribution"].iloc[0])
    assert len(first) == 4 and first[-1]["feature"] == "other" and first[-1]["value"] is None
    contribs = [abs(item["contribution"]) for item in first[:-1]]
    assert contribs == sorted(contribs, reverse=True)
    # The reported value is the raw feature value of that row (not the rank the booster saw).
    row = toy.iloc[0]
    for item in first[:-1]:
        v = row[item["feature"]]
        assert (item["value"] is None and np.isnan(v)) or abs(item["value"] - v) < 1e-12


def test_top_k_larger_than_feature_count_leaves_other_at_zero(toy):
    cols = ["f0", "f1"]
    X = prepare_features(toy, cols, False)
    booster = fit_booster("lightgbm", {"num_boost_round": 10, "num_leaves": 4}, X, toy["label"].to_numpy(), seed=1)
    model = SignalModel("lightgbm", booster, fit_calibrator("identity", np.zeros(1), np.zeros(1)), cols, cs_rank=False)
    out = compute_signal_scores(model, toy, top_k=10)
    items = json.loads(out["attribution"].iloc[5])
    assert [i["feature"] for i in items][-1] == "other" and len(items) == 3
    assert abs(items[-1]["contribution"]) < 1e-12

"""The causal forward filter (vs hmmlearn's likelihood, cut-at-t identity), hysteresis, baseline, Sharpe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.regimes import (
    RegimeParams,
    compute_filtered_probabilities,
    compute_hysteresis,
    compute_regime_frame,
    compute_regime_runs,
    compute_regime_sharpe,
    compute_switches_per_year,
    compute_vol_threshold_states,
    fit_vol_thresholds,
)

MU = np.array([0.0008, 0.0, -0.0015])
SD = np.array([0.007, 0.012, 0.025])
TM = np.array([[0.985, 0.012, 0.003], [0.02, 0.97, 0.01], [0.01, 0.04, 0.95]])
SP = np.array([0.5, 0.3, 0.2])


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    rng = np.random.default_rng(0)
    r = rng.standard_normal(600) * 0.012
    r[200:260] *= 2.5  # a turbulent stretch
    return r


def test_filter_log_likelihood_matches_hmmlearn(returns):
    # Known number: the sum of one-step predictive log-densities is the model likelihood hmmlearn computes.
    from hmmlearn.hmm import GaussianHMM

    hmm = GaussianHMM(n_components=3, covariance_type="diag", init_params="", params="")
    hmm.startprob_, hmm.transmat_ = SP, TM
    hmm.means_, hmm.covars_ = MU[:, None], (SD**2)[:, None]
    probs, logdens = compute_filtered_probabilities(returns, MU, SD, TM, SP)
    assert logdens.sum() == pytest.approx(hmm.score(returns[:, None]), rel=1e-9)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # filtered != smoothed: hmmlearn's posteriors use the future, ours must not equal them everywhere
    smoothed = hmm.predict_proba(returns[:, None])
    assert np.abs(probs - smoothed).max() > 0.05


def test_filter_is_causal_cut_at_t(returns):
    # Given the filter on the full series, When recomputed on the data cut at t, Then rows <= t are identical.
    full, _ = compute_filtered_probabilities(returns, MU, SD, TM, SP)
    for t in (0, 1, 57, 230, 599):
        cut, _ = compute_filtered_probabilities(returns[: t + 1], MU, SD, TM, SP)
        np.testing.assert_array_equal(cut, full[: t + 1])
    # and a change after t leaves rows <= t untouched
    changed = returns.copy()
    changed[400:] = 0.05
    other, _ = compute_filtered_probabilities(changed, MU, SD, TM, SP)
    np.testing.assert_array_equal(other[:400], full[:400])
    assert not np.array_equal(other[400:], full[400:])


def test_filter_reacts_to_volatility(returns):
    probs, _ = compute_filtered_probabilities(returns, MU, SD, TM, SP)
    assert probs[215:260, 2].mean() > 0.6
    assert probs[300:600, 2].mean() < 0.2


def test_filter_skips_missing_returns():
    r = np.array([0.001, np.nan, 0.002])
    probs, logdens = compute_filtered_probabilities(r, MU, SD, TM, SP)
    np.testing.assert_allclose(probs[1], probs[0] @ TM)
    assert np.isnan(logdens[1]) and np.isfinite(logdens[2])


def test_hysteresis_limits_whipsaw():
    p_calm = np.array([0.9, 0.6, 0.4, 0.35, 0.25, 0.45, 0.65, 0.75, 0.8])
    probs = np.c_[p_calm, 1 - p_calm]
    #                        0.9 0.6 0.4 .35 .25 .45 .65 .75 0.8
    np.testing.assert_array_equal(compute_hysteresis(probs, 0.7, 0.3), [0, 0, 0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(probs.argmax(axis=1), [0, 0, 1, 1, 1, 1, 0, 0, 0])
    flicker = np.array([0.9, 0.45, 0.55, 0.45, 0.55, 0.45, 0.9])
    flicker = np.c_[flicker, 1 - flicker]
    assert compute_switches_per_year(compute_hysteresis(flicker)) == 0.0
    assert compute_switches_per_year(flicker.argmax(axis=1)) == pytest.approx(6 * 252 / 6)
    # causal: the path on a prefix is the prefix of the path
    np.testing.assert_array_equal(compute_hysteresis(probs[:5]), compute_hysteresis(probs)[:5])
    with pytest.raises(ValueError):
        compute_hysteresis(probs, 0.3, 0.7)
    np.testing.assert_array_equal(compute_regime_runs(np.array([0, 0, 1, 1, 1, 0])), [1, 2, 1, 2, 3, 1])


def test_vol_threshold_baseline():
    rvol = np.r_[np.full(70, 0.01), np.full(30, 0.03)]
    thresholds = fit_vol_thresholds(rvol, np.array([0.7, 0.3]))
    assert thresholds.shape == (1,)
    states = compute_vol_threshold_states(np.array([np.nan, 0.009, 0.02, 0.031]), np.array([0.015]))
    np.testing.assert_array_equal(states, [0, 0, 1, 1])
    three = compute_vol_threshold_states(np.array([0.005, 0.015, 0.04]), np.array([0.01, 0.02]))
    np.testing.assert_array_equal(three, [0, 1, 2])


def test_regime_frame_rows(returns):
    params = RegimeParams(means=tuple(MU), vols=tuple(SD), transmat=tuple(map(tuple, TM)), startprob=tuple(SP),
                          labels=("calm_bull", "neutral", "high_vol_bear"))
    dates = pd.bdate_range("2024-01-01", periods=len(returns))
    frame = compute_regime_frame(dates, returns, params, 0.7, 0.3)
    assert len(frame) == len(returns)
    probs = [json.loads(p) for p in frame["probabilities"]]
    assert set(probs[0]) == {"calm_bull", "neutral", "high_vol_bear"}
    assert all(abs(sum(p.values()) - 1) < 1e-8 for p in probs)
    assert (frame["raw_probability"] >= frame["regime_probability"] - 1e-12).all()
    assert set(frame["regime"]) <= set(params.labels)
    assert frame["regime_age"].iloc[0] == 1


def test_regime_sharpe_known_numbers():
    idx = pd.bdate_range("2024-01-01", periods=7)
    ret = pd.Series([0.0, 0.01, 0.03, -0.02, -0.04, 0.02, 0.02], index=idx)
    reg = pd.Series(["a", "a", "a", "b", "b", "a", "a"], index=idx)
    out = compute_regime_sharpe(ret, reg).set_index("regime")
    # the return at t is attributed to the regime at t-1: a <- [0.01, 0.03, -0.02, 0.02], b <- [-0.04, 0.02]
    a = np.array([0.01, 0.03, -0.02, 0.02])
    assert out.loc["a", "sessions"] == 4
    assert out.loc["a", "sharpe"] == pytest.approx(a.mean() / a.std(ddof=1) * np.sqrt(252))
    assert out.loc["b", "mean"] == pytest.approx(-0.01)


def _wf_params(train_end: str, schedule: list[tuple[str, np.ndarray]]) -> RegimeParams:
    """Final parameters (MU, SD) fitted up to train_end, with walk-forward refits (end, vol scale)."""
    wf = [{"means": list(MU), "vols": list(SD * scale), "transmat": TM.tolist(), "startprob": list(SP),
           "train_end": end} for end, scale in schedule]
    return RegimeParams(means=tuple(MU), vols=tuple(SD), transmat=tuple(map(tuple, TM)), startprob=tuple(SP),
                        labels=("calm_bull", "neutral", "high_vol_bear"), train_end=train_end,
                        extra={"walk_forward": wf})


def test_walk_forward_schedule_is_causal_and_continuous(returns):
    from models.regimes import compute_scheduled_probabilities

    dates = pd.bdate_range("2024-01-01", periods=len(returns))
    d = [x.date() for x in dates]
    # Identical parameters in every refit: switching sets must not disturb the filter at all
    same = _wf_params(str(d[500]), [(str(d[99]), 1.0), (str(d[299]), 1.0)])
    probs, _, fit_end = compute_scheduled_probabilities(dates, returns, same)
    plain, _ = compute_filtered_probabilities(returns, MU, SD, TM, SP)
    np.testing.assert_allclose(probs, plain, atol=1e-12)
    # the parameters in force on day t were fitted on sessions before t (first refit covers the burn-in)
    assert fit_end[0] == d[99] and fit_end[100] == d[99] and fit_end[300] == d[299] and fit_end[501] == d[500]
    assert all(e < day for e, day in zip(fit_end[100:], d[100:], strict=True))
    # Different refits: cutting the data at t gives the same rows up to t
    moving = _wf_params(str(d[500]), [(str(d[99]), 1.3), (str(d[299]), 0.8)])
    full, _, _ = compute_scheduled_probabilities(dates, returns, moving)
    for t in (50, 150, 299, 300, 450, 599):
        cut, _, _ = compute_scheduled_probabilities(dates[: t + 1], returns[: t + 1], moving)
        np.testing.assert_array_equal(cut, full[: t + 1])
    frame = compute_regime_frame(dates, returns, moving)
    assert frame["in_sample"].iloc[:100].all() and not frame["in_sample"].iloc[100:].any()


def test_hysteresis_boundaries():
    # Day 0 starts in the argmax, even when that argmax is below the entry threshold
    np.testing.assert_array_equal(compute_hysteresis(np.array([[0.6, 0.4]])), [0])
    np.testing.assert_array_equal(compute_hysteresis(np.array([[0.4, 0.6]])), [1])
    # With enter + leave < 1 a state can be entered while the current one is still above `leave`
    probs = np.array([[0.9, 0.1], [0.35, 0.65], [0.45, 0.55]])
    np.testing.assert_array_equal(compute_hysteresis(probs, enter=0.6, leave=0.3), [0, 1, 1])
    np.testing.assert_array_equal(compute_hysteresis(probs, enter=0.7, leave=0.3), [0, 0, 0])
    # thresholds are probabilities
    for enter, leave in ((1.5, 0.3), (0.7, -0.1)):
        with pytest.raises(ValueError):
            compute_hysteresis(probs, enter, leave)
    compute_hysteresis(probs, 1.0, 0.0)  # the extremes are allowed


def test_vol_baseline_one_state_and_zero_thresholds():
    # A one-state rule has no threshold: every day is state 0
    thresholds = fit_vol_thresholds(np.array([0.01, 0.02, 0.03]), np.array([1.0]))
    assert thresholds.shape == (0,)
    np.testing.assert_array_equal(compute_vol_threshold_states(np.array([0.01, 0.5]), thresholds), [0, 0])
    # A day without realised volatility (NaN) is the calm state even when the threshold is 0 (flat prices)
    np.testing.assert_array_equal(compute_vol_threshold_states(np.array([np.nan, 0.0, 0.01]), np.array([0.0])),
                                  [0, 1, 1])


def test_vol_rule_log_density_known_numbers():
    from models.regimes import compute_vol_rule_log_density

    lo, hi = 0.01, 0.03
    # the state of day t is that of rvol[t-1]; training days 1..4 are calm, 5..7 volatile (3 rows: enough)
    rvol = np.array([lo, lo, lo, lo, hi, hi, hi, hi, lo, lo])
    r = np.array([9.0, 0.01, -0.01, 0.02, 0.0, 0.05, -0.03, 0.01, 0.02, -0.02])
    out = compute_vol_rule_log_density(r, rvol, 8, np.array([0.6, 0.4]))

    def logpdf(x, sample):
        mu, sd = np.mean(sample), np.std(sample, ddof=1)
        return -0.5 * (((x - mu) / sd) ** 2 + np.log(2 * np.pi)) - np.log(sd)

    assert np.isnan(out[0])
    assert out[8] == pytest.approx(logpdf(0.02, r[5:8]))  # volatile state, fitted on its 3 training days
    assert out[9] == pytest.approx(logpdf(-0.02, r[1:5]))  # calm state
    # a state with only 2 training days (6, 7) has no density
    rvol2 = np.array([lo, lo, lo, lo, lo, hi, hi, hi, lo, lo])
    out2 = compute_vol_rule_log_density(r, rvol2, 8, np.array([0.7, 0.3]))
    assert np.isnan(out2[8]) and np.isfinite(out2[9])

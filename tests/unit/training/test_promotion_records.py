"""Every promotion rule records the whole decision: each field of the PromotionDecision, for a first version
and against a champion, and the skill numbers it looked at."""

from __future__ import annotations

import math

import pytest

from registry.core import CHALLENGER, CHAMPION, FORECAST_MODEL, REGIME_MODEL, SIGNAL_MODEL
from training.promotion import (
    RegimeSkill,
    SignalSkill,
    compute_forecast_promotion,
    compute_regime_promotion,
    compute_signal_promotion,
)

WINDOW = ("2025-01-02", "2025-06-30")
SKILL = SignalSkill(auc=0.56, auc_se=0.005, log_loss_gain=0.004, log_loss_gain_se=0.001)
REGIME = RegimeSkill(gain=0.05, gain_se=0.01, sessions=500)


def test_signal_decisions_record_every_field():
    first = compute_signal_promotion({"log_loss": 0.68, "ece": 0.02}, None, new_version=2, champion_version=None,
                                     suspect=False, margin=0.001, ece_tolerance=0.003, window=WINDOW, rows=900,
                                     skill=SKILL, skill_z=2.0)
    assert (first.model_name, first.alias, first.promoted, first.new_version) == (SIGNAL_MODEL, CHAMPION, True, "2")
    assert (first.metric, first.higher_is_better, first.new_value) == ("log_loss", False, 0.68)
    assert (first.champion_version, first.champion_value, first.margin) == (None, None, 0.001)
    assert (first.window_start, first.window_end, first.rows) == (*WINDOW, 900)
    assert first.checks == {"new_ece": 0.02, "champion_ece": None, "ece_tolerance": 0.003, "skill_auc": 0.56,
                            "skill_auc_z": pytest.approx(12.0), "skill_log_loss_gain": 0.004,
                            "skill_log_loss_gain_z": pytest.approx(4.0), "skill_min_z": 2.0}
    assert first.reason == f"no current champion; skill: {SKILL.describe()}"
    versus = compute_signal_promotion({"log_loss": 0.68, "ece": 0.02}, {"log_loss": 0.69, "ece": 0.021},
                                      new_version="3", champion_version="2", suspect=False, margin=0.001,
                                      ece_tolerance=0.0, window=WINDOW, rows=900, skill=SKILL, skill_z=2.0)
    assert (versus.model_name, versus.alias, versus.champion_version, versus.champion_value) == (
        SIGNAL_MODEL, CHAMPION, "2", 0.69)
    assert versus.checks["champion_ece"] == 0.021
    assert versus.reason == "log-loss better by 0.01000 (>= 0.001) and ECE no worse"
    margin = compute_signal_promotion({"log_loss": 0.6895, "ece": 0.02}, {"log_loss": 0.69, "ece": 0.021},
                                      new_version="3", champion_version="2", suspect=False, margin=0.001,
                                      ece_tolerance=0.0, window=WINDOW, rows=900, skill=SKILL, skill_z=2.0)
    assert (margin.model_name, margin.alias) == (SIGNAL_MODEL, CHALLENGER)
    assert margin.reason == "log-loss gain 0.00050 below margin 0.001"
    worse = compute_signal_promotion({"log_loss": 0.68, "ece": 0.03}, {"log_loss": 0.69, "ece": 0.02},
                                     new_version="3", champion_version="2", suspect=False, margin=0.001,
                                     ece_tolerance=0.005, window=WINDOW, rows=900, skill=SKILL, skill_z=2.0)
    assert (worse.model_name, worse.alias) == (SIGNAL_MODEL, CHALLENGER)
    assert worse.reason == "calibration worse: ECE 0.0300 > 0.0200 + 0.005"
    suspect = compute_signal_promotion({"log_loss": 0.5, "ece": 0.0}, None, new_version="3", champion_version=None,
                                       suspect=True, margin=0.001, ece_tolerance=0.0, window=WINDOW, rows=9,
                                       skill=SKILL, skill_z=2.0)
    assert (suspect.model_name, suspect.alias) == (SIGNAL_MODEL, CHALLENGER)
    assert suspect.reason == ("suspect model (honesty controls) cannot be promoted; there is no champion, so the "
                              "night serves no signals until a version passes")
    kept = compute_signal_promotion({"log_loss": 0.5, "ece": 0.0}, {"log_loss": 0.69, "ece": 0.1}, new_version="3",
                                    champion_version="2", suspect=True, margin=0.001, ece_tolerance=0.0,
                                    window=WINDOW, rows=9, skill=SKILL, skill_z=2.0)
    assert kept.reason == "suspect model (honesty controls) cannot be promoted"


def test_skill_numbers_are_recorded_and_described():
    assert SKILL.as_checks() == {"skill_auc": 0.56, "skill_auc_z": pytest.approx(12.0), "skill_log_loss_gain": 0.004,
                                 "skill_log_loss_gain_z": pytest.approx(4.0)}
    assert SKILL.describe() == ("holdout AUC 0.5600 is 12.0 date-clustered SE above 0.5 and the log-loss gain over "
                                "one probability per date is +0.00400 (4.0 SE)")
    assert REGIME.as_checks() == {"skill_gain_vs_vol_rule": 0.05, "skill_gain_z": pytest.approx(5.0)}
    assert REGIME.describe() == "holdout log-density gain over the volatility rule +0.05000 per session (5.0 SE over 500 sessions)"
    # exactly at the floor passes, just under does not; an SE of zero or NaN never passes
    assert SignalSkill(0.52, 0.01, 0.002, 0.001).passes(2.0)
    assert not SignalSkill(0.5199, 0.01, 0.002, 0.001).passes(2.0)
    assert not SignalSkill(0.52, 0.01, 0.0019, 0.001).passes(2.0)
    assert math.isnan(SignalSkill(0.6, 0.0, 0.01, 0.001).auc_z) and not SignalSkill(0.6, 0.0, 0.01, 0.001).passes(0)
    assert RegimeSkill(0.02, 0.01, 10).passes(2.0) and not RegimeSkill(0.0199, 0.01, 10).passes(2.0)
    assert math.isnan(RegimeSkill(float("nan"), 0.01, 0).z)


def test_regime_and_forecast_decisions_record_every_field():
    first = compute_regime_promotion(-1.3, None, new_version=4, champion_version=None, margin=0.002, window=WINDOW,
                                     rows=120, skill=REGIME, skill_z=2.0)
    assert (first.model_name, first.alias, first.promoted, first.new_version) == (REGIME_MODEL, CHAMPION, True, "4")
    assert (first.metric, first.higher_is_better, first.new_value, first.champion_value) == (
        "oos_loglik_per_session", True, -1.3, None)
    assert (first.window_start, first.window_end, first.rows, first.margin) == (*WINDOW, 120, 0.002)
    assert first.checks == {"skill_gain_vs_vol_rule": 0.05, "skill_gain_z": pytest.approx(5.0), "skill_min_z": 2.0}
    assert first.reason == f"no current champion; skill: {REGIME.describe()}"
    better = compute_regime_promotion(-1.29, -1.30, new_version="5", champion_version="4", margin=0.002,
                                      window=WINDOW, rows=120, skill=REGIME, skill_z=2.0)
    assert (better.model_name, better.alias, better.champion_version, better.champion_value) == (
        REGIME_MODEL, CHAMPION, "4", -1.30)
    assert better.reason == "holdout log-likelihood per session better by 0.01000 (>= 0.002)"
    equal = compute_regime_promotion(-1.298, -1.30, new_version="5", champion_version="4", margin=0.002,
                                     window=WINDOW, rows=120, skill=REGIME, skill_z=2.0)
    assert equal.promoted  # a gain equal to the margin is enough
    worse = compute_regime_promotion(-1.2995, -1.30, new_version="5", champion_version="4", margin=0.002,
                                     window=WINDOW, rows=120, skill=REGIME, skill_z=2.0)
    assert (worse.model_name, worse.alias) == (REGIME_MODEL, CHALLENGER)
    assert worse.reason == "holdout log-likelihood per session gain 0.00050 below margin 0.002"
    flat = compute_regime_promotion(-1.0, None, new_version="5", champion_version=None, margin=0.0, window=WINDOW,
                                    rows=120, skill=RegimeSkill(0.01, 0.01, 120), skill_z=2.0)
    assert (flat.model_name, flat.alias) == (REGIME_MODEL, CHALLENGER)
    assert flat.reason == ("no skill over the volatility rule: holdout log-density gain over the volatility rule "
                           "+0.01000 per session (1.0 SE over 120 sessions) (needs >= 2.0); there is no champion, "
                           "so the night serves no regimes until a version passes")
    no_version = compute_regime_promotion(-1.0, -1.1, new_version="5", champion_version=None, margin=0.0,
                                          window=WINDOW, rows=120, skill=REGIME, skill_z=2.0)
    assert no_version.reason.startswith("no current champion")

    f = compute_forecast_promotion(0.03, None, new_version=7, champion_version=None, margin=0.01, window=WINDOW,
                                   rows=300)
    assert (f.model_name, f.alias, f.promoted, f.new_version, f.metric, f.higher_is_better) == (
        FORECAST_MODEL, CHAMPION, True, "7", "mean_champion_skill_vs_gaussian", True)
    assert (f.new_value, f.champion_version, f.champion_value, f.margin, f.rows) == (0.03, None, None, 0.01, 300)
    assert (f.window_start, f.window_end, f.reason) == (*WINDOW, "no current champion")
    g = compute_forecast_promotion(0.02, 0.03, new_version="8", champion_version="7", margin=0.01, window=WINDOW,
                                   rows=300)
    assert (g.model_name, g.alias, g.champion_version, g.champion_value) == (FORECAST_MODEL, CHAMPION, "7", 0.03)
    assert g.reason == "pinball skill 0.02000 >= champion's 0.03000 - 0.01"
    h = compute_forecast_promotion(0.01, 0.03, new_version="8", champion_version="7", margin=0.01, window=WINDOW,
                                   rows=300)
    assert (h.model_name, h.alias) == (FORECAST_MODEL, CHALLENGER)
    assert h.reason == "pinball skill 0.01000 < champion's 0.03000 - 0.01"
    assert compute_forecast_promotion(0.01, 0.03, new_version="8", champion_version=None, margin=0.0, window=WINDOW,
                                      rows=3).reason == "no current champion"

"""Promotion gate decisions: better -> champion, worse or worse-calibrated -> challenger, suspect -> never,
no skill over the no-skill baselines -> never (and the decision says the night serves nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.core import CHALLENGER, CHAMPION
from training.promotion import (
    RegimeSkill,
    SignalSkill,
    compute_regime_skill,
    compute_signal_promotion,
    compute_signal_skill,
)

SKILLED = SignalSkill(auc=0.56, auc_se=0.005, log_loss_gain=0.004, log_loss_gain_se=0.001)
REGIME_SKILLED = RegimeSkill(gain=0.05, gain_se=0.01, sessions=500)


def _decide(new, champ, suspect=False, margin=0.001, tol=0.0, skill=SKILLED):
    return compute_signal_promotion(new, champ, new_version="2", champion_version=None if champ is None else "1",
                                    suspect=suspect, margin=margin, ece_tolerance=tol,
                                    window=("2025-01-01", "2025-06-30"), rows=1000, skill=skill, skill_z=2.0)


def test_better_by_margin_with_no_worse_calibration_becomes_champion():
    d = _decide({"log_loss": 0.680, "ece": 0.010}, {"log_loss": 0.690, "ece": 0.012})
    assert d.alias == CHAMPION and d.promoted
    assert d.as_tags()["promotion.champion_value"] == "0.69" and d.as_tags()["promotion.check.champion_ece"] == "0.012"
    assert "0.68000" in d.describe() and "v1" in d.describe()


def test_gain_below_margin_is_challenger():
    d = _decide({"log_loss": 0.6895, "ece": 0.010}, {"log_loss": 0.690, "ece": 0.012})
    assert d.alias == CHALLENGER and not d.promoted and "margin" in d.reason


def test_worse_log_loss_is_challenger():
    assert _decide({"log_loss": 0.70, "ece": 0.01}, {"log_loss": 0.69, "ece": 0.02}).alias == CHALLENGER


def test_worse_calibration_blocks_promotion_unless_within_tolerance():
    new, champ = {"log_loss": 0.680, "ece": 0.030}, {"log_loss": 0.690, "ece": 0.020}
    d = _decide(new, champ)
    assert d.alias == CHALLENGER and "ECE" in d.reason
    assert _decide(new, champ, tol=0.02).alias == CHAMPION


def test_suspect_is_never_champion_even_without_a_champion():
    assert _decide({"log_loss": 0.5, "ece": 0.0}, None, suspect=True).alias == CHALLENGER
    assert _decide({"log_loss": 0.5, "ece": 0.0}, {"log_loss": 0.69, "ece": 0.1}, suspect=True).alias == CHALLENGER


def test_first_model_becomes_champion_only_with_skill():
    d = _decide({"log_loss": 0.69, "ece": 0.02}, None)
    assert d.alias == CHAMPION and d.champion_version is None and "skill" in d.reason
    assert float(d.as_tags()["promotion.check.skill_auc_z"]) == pytest.approx(12.0)


@pytest.mark.parametrize("skill", [
    SignalSkill(auc=0.507, auc_se=0.0039, log_loss_gain=0.004, log_loss_gain_se=0.001),  # AUC 1.8 SE: no ranking skill
    SignalSkill(auc=0.56, auc_se=0.005, log_loss_gain=0.001, log_loss_gain_se=0.001),  # probabilities carry 1 SE
    SignalSkill(auc=0.56, auc_se=0.005, log_loss_gain=-0.01, log_loss_gain_se=0.001),  # over-confident
    SignalSkill(auc=float("nan"), auc_se=0.005, log_loss_gain=0.004, log_loss_gain_se=0.001),
])
def test_a_model_without_skill_is_never_champion_and_says_the_night_serves_nothing(skill):
    # Given no champion (the case that promoted a no-skill model on real data) and a holdout without skill
    d = _decide({"log_loss": 0.60, "ece": 0.0}, None, skill=skill)
    # Then it stays challenger, and the reason names the numbers and what it means for the night
    assert d.alias == CHALLENGER and not d.promoted
    assert d.reason.startswith("no skill over the no-skill baselines") and "SE" in d.reason
    assert "the night serves no signals" in d.reason
    # With a champion to beat by far, the floor still holds
    assert _decide({"log_loss": 0.60, "ece": 0.0}, {"log_loss": 0.69, "ece": 0.1}, skill=skill).alias == CHALLENGER
    assert _decide({"log_loss": 0.60, "ece": 0.0}, None, skill=SKILLED).alias == CHAMPION


def test_signal_skill_is_measured_in_date_clustered_se_over_a_coin_and_the_models_own_level():
    rng = np.random.default_rng(3)
    dates = np.repeat(pd.bdate_range("2024-01-01", periods=300), 40)
    n = len(dates)
    # A market factor moves every name of a date together; a name's edge is `edge`
    shock = np.repeat(rng.normal(0, 1.0, 300), 40)
    edge = rng.normal(0, 1, n)

    def draw(strength):
        y = (shock + strength * edge + rng.normal(0, 1, n) > 0).astype(float)
        return y

    # Given probabilities that carry the names' edge (but not the market), skill is many SE
    y = draw(0.5)
    p = 1 / (1 + np.exp(-(0.25 * edge)))
    skilled = compute_signal_skill(dates, y, p, lags=5)
    assert skilled.passes(2.0) and skilled.auc_z > 4 and skilled.log_loss_gain_z > 2
    # When the outcome ignores the edge, neither score passes, whatever the probabilities' level
    y0 = draw(0.0)
    for level in (0.0, 0.3, -0.3):
        none = compute_signal_skill(dates, y0, 1 / (1 + np.exp(-(0.25 * edge + level))), lags=5)
        assert not none.passes(2.0) and abs(none.auc_z) < 2.5
    # And the date-clustered SE is wider than the iid one here (the market moves 40 names at once)
    from models.metrics import compute_auc_se_null

    assert skilled.auc_se > 1.1 * compute_auc_se_null(y)


def test_regime_skill_is_the_mean_log_density_gain_in_hac_se():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 600)
    better = base + 0.1 + rng.normal(0, 0.3, 600)
    s = compute_regime_skill(better, base, lags=5)
    assert s.gain == pytest.approx(np.mean(better - base)) and s.passes(2.0) and s.sessions == 600
    same = compute_regime_skill(base + rng.normal(0, 0.3, 600), base, lags=5)
    assert not same.passes(2.0)


def test_regime_rule_needs_the_margin_and_records_the_numbers():
    from training.promotion import compute_regime_promotion

    def decide(new, champ, skill=REGIME_SKILLED):
        return compute_regime_promotion(new, champ, new_version="3", champion_version=None if champ is None else "2",
                                        margin=0.001, window=("2025-01-01", "2025-12-31"), rows=250,
                                        skill=skill, skill_z=2.0)

    assert decide(-1.30, None).alias == CHAMPION
    # a model that does not beat the volatility rule is never champion, and says the night serves nothing
    flat = decide(-1.30, None, RegimeSkill(gain=0.01, gain_se=0.01, sessions=300))
    assert flat.alias == CHALLENGER and "volatility rule" in flat.reason and "serves no regimes" in flat.reason
    assert decide(-1.0, -1.302, RegimeSkill(gain=0.01, gain_se=0.01, sessions=300)).alias == CHALLENGER
    better = decide(-1.300, -1.302)
    assert better.promoted and better.metric == "oos_loglik_per_session" and better.higher_is_better
    not_enough = decide(-1.3015, -1.302)
    assert not not_enough.promoted and not_enough.alias == CHALLENGER and "below margin" in not_enough.reason
    assert not_enough.as_tags()["promotion.champion_version"] == "2"


def test_forecast_rule_keeps_the_champion_unless_skill_holds_up():
    from training.promotion import compute_forecast_promotion

    def decide(new, champ, margin=0.0):
        return compute_forecast_promotion(new, champ, new_version="2", champion_version=None if champ is None else "1",
                                          margin=margin, window=("2025-01-01", "2025-12-31"), rows=500)

    assert decide(0.0, None).promoted
    assert decide(0.02, 0.01).promoted
    assert not decide(0.005, 0.01).promoted
    assert decide(0.005, 0.01, margin=0.01).promoted
    assert "Promotion of foresight-forecast v2 -> challenger" in decide(0.005, 0.01).describe()


def test_signal_skill_uses_blocks_of_the_labels_span_and_the_models_own_level():
    from models.metrics import compute_auc_se_by_date, compute_log_loss_gain_by_date

    rng = np.random.default_rng(5)
    dates = np.repeat(pd.bdate_range("2024-01-01", periods=120), 10)
    y = rng.integers(0, 2, 1200).astype(float)
    p = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.1, 1200), 0.01, 0.99)
    s = compute_signal_skill(dates, y, p, lags=6, seed=2)
    assert s.auc_se == compute_auc_se_by_date(dates, y, p, seed=2, block=6)
    assert s.auc_se != compute_auc_se_by_date(dates, y, p, seed=2, block=1)
    level = pd.Series(p).groupby(dates).transform("mean").to_numpy()
    assert (s.log_loss_gain, s.log_loss_gain_se) == compute_log_loss_gain_by_date(dates, y, p, level, 6)
    assert compute_signal_skill(dates, y, p, lags=0, seed=2).auc_se == compute_auc_se_by_date(dates, y, p, seed=2)


def test_a_gain_of_exactly_the_margin_promotes_and_a_refusal_is_recorded_as_false():
    # "better by `margin`": a gain equal to the margin is enough (0.75 - 0.5 == 0.25 exactly in binary)
    d = _decide({"log_loss": 0.5, "ece": 0.01}, {"log_loss": 0.75, "ece": 0.01}, margin=0.25)
    assert d.promoted and d.alias == CHAMPION
    # every refusal is recorded as promoted=False (the registry tag reads "False", not empty)
    for refused in (_decide({"log_loss": 0.68, "ece": 0.03}, {"log_loss": 0.69, "ece": 0.02}),
                    _decide({"log_loss": 0.6895, "ece": 0.01}, {"log_loss": 0.69, "ece": 0.01}),
                    _decide({"log_loss": 0.5, "ece": 0.0}, None, suspect=True)):
        assert refused.promoted is False and refused.as_tags()["promotion.promoted"] == "False"


def test_a_regime_model_without_skill_against_a_champion_does_not_say_the_night_serves_nothing():
    from training.promotion import compute_regime_promotion

    flat = RegimeSkill(gain=0.01, gain_se=0.01, sessions=300)
    d = compute_regime_promotion(-1.0, -1.302, new_version="3", champion_version="2", margin=0.001,
                                 window=("2025-01-01", "2025-12-31"), rows=250, skill=flat, skill_z=2.0)
    assert d.reason == f"no skill over the volatility rule: {flat.describe()} (needs >= 2.0)"

"""Promotion gate decisions: better -> champion, worse or worse-calibrated -> challenger, suspect -> never."""

from __future__ import annotations

from registry.core import CHALLENGER, CHAMPION
from training.promotion import compute_signal_promotion


def _decide(new, champ, suspect=False, margin=0.001, tol=0.0):
    return compute_signal_promotion(new, champ, new_version="2", champion_version=None if champ is None else "1",
                                      suspect=suspect, margin=margin, ece_tolerance=tol,
                                      window=("2025-01-01", "2025-06-30"), rows=1000)


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


def test_first_model_becomes_champion():
    d = _decide({"log_loss": 0.69, "ece": 0.02}, None)
    assert d.alias == CHAMPION and d.champion_version is None


def test_regime_rule_needs_the_margin_and_records_the_numbers():
    from training.promotion import compute_regime_promotion

    def decide(new, champ):
        return compute_regime_promotion(new, champ, new_version="3", champion_version=None if champ is None else "2",
                                        margin=0.001, window=("2025-01-01", "2025-12-31"), rows=250)

    assert decide(-1.30, None).alias == CHAMPION
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

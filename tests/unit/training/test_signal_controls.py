"""Suspicion gate, always on: real data above the configured ceiling, the sample above its planted signal's
oracle skill; the oracle itself is checked against the sample's known structure."""

from __future__ import annotations

import pytest

from marketdata.config import SampleSettings
from marketdata.sample import compute_planted_skill
from training.config import SignalTrainingSettings
from training.signals import SkillCeiling, compute_skill_ceiling, compute_suspicion

S = SignalTrainingSettings()


def test_real_data_ceiling_is_the_configured_one():
    real = compute_skill_ceiling({"auc_se_date": 0.01}, 0.01, S, None)
    assert (real.auc, real.rank_ic) == (0.55, 0.10)
    assert compute_suspicion({"auc": 0.58, "rank_ic_mean": 0.05}, real) == [
        "holdout AUC 0.5800 > 0.5500 (the configured ceiling for real data)"]
    assert compute_suspicion({"auc": 0.52, "rank_ic_mean": 0.12}, real)[0].startswith("daily rank IC 0.1200 > 0.1000")
    assert compute_suspicion({"auc": 0.53, "rank_ic_mean": 0.03}, real) == []


def test_sample_ceiling_comes_from_the_planted_signal():
    # Given the demo's market (reversal 0.6, 3 regimes) and a random walk
    planted = compute_planted_skill(SampleSettings(), 5, 1)
    flat = compute_planted_skill(SampleSettings(signal_strength=0.0, n_regimes=1), 5, 1)
    # Then the oracle's skill is what the structure allows: real but modest, none on a random walk,
    # weaker with a weaker reversal
    assert 0.58 < planted.auc < 0.63 and 0.15 < planted.rank_ic_mean < 0.30
    assert flat.auc == pytest.approx(0.5)
    assert compute_planted_skill(SampleSettings(signal_strength=0.3), 5, 1).auc < planted.auc
    # The gate is on for the sample: a model beyond the oracle plus 3 SE is suspect, one below it is not
    ceiling = compute_skill_ceiling({"auc_se_date": 0.004, "auc_se_null": 0.0035}, 0.01, S, planted)
    assert ceiling.auc == pytest.approx(planted.auc + 3 * 0.004)
    assert ceiling.rank_ic == pytest.approx(planted.rank_ic_mean + 3 * 0.01)
    assert "planted signal" in ceiling.source
    assert compute_suspicion({"auc": 0.737, "rank_ic_mean": 0.2}, ceiling)[0].startswith("holdout AUC 0.7370 >")
    assert compute_suspicion({"auc": 0.577, "rank_ic_mean": 0.21}, ceiling) == []
    walk = compute_skill_ceiling({"auc_se_date": 0.01}, 0.01, S, flat)
    assert walk.auc == pytest.approx(0.53) and compute_suspicion({"auc": 0.56}, walk)


def test_nan_scores_are_not_suspect_by_accident():
    assert compute_suspicion({"auc": float("nan")}, SkillCeiling(0.55, 0.1, "x")) == []


def test_the_ceiling_takes_the_larger_standard_error_and_missing_scores_are_not_suspect():
    planted = compute_planted_skill(SampleSettings(), 5, 1)
    wide_null = compute_skill_ceiling({"auc_se_date": 0.002, "auc_se_null": 0.006}, 0.0, S, planted)
    assert wide_null.auc == pytest.approx(planted.auc + 3 * 0.006) and wide_null.rank_ic == pytest.approx(
        planted.rank_ic_mean)
    only_null = compute_skill_ceiling({"auc_se_null": 0.006}, 0.0, S, planted)
    assert only_null.auc == pytest.approx(planted.auc + 3 * 0.006)
    no_ic = compute_skill_ceiling({"auc_se_date": 0.01}, float("nan"), S, planted)
    assert no_ic.rank_ic == pytest.approx(planted.rank_ic_mean)
    assert compute_suspicion({}, SkillCeiling(0.55, 0.1, "x")) == []
    assert compute_suspicion({"auc": 0.5501, "rank_ic_mean": 0.1001}, SkillCeiling(0.55, 0.1, "x")) == [
        "holdout AUC 0.5501 > 0.5500 (x)", "daily rank IC 0.1001 > 0.1000 (x)"]
    assert compute_suspicion({"auc": 0.55, "rank_ic_mean": 0.1}, SkillCeiling(0.55, 0.1, "x")) == []

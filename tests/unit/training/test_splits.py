"""Purged walk-forward plan: no training label window overlaps a test block; the holdout stays unseen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.splits import compute_split_plan


def _dates(n: int) -> pd.Series:
    return pd.Series(pd.bdate_range("2020-01-01", periods=n))


@pytest.mark.parametrize("horizon,entry_lag,embargo,n_folds", [(5, 1, 5, 4), (1, 1, 0, 3), (21, 1, 10, 5), (5, 0, 2, 2)])
@pytest.mark.parametrize("train_after_test", [False, True])
def test_no_training_label_window_overlaps_a_test_block(horizon, entry_lag, embargo, n_folds, train_after_test):
    # Given rows on 700 sessions (3 symbols each) and a plan
    dates = _dates(700)
    frame = pd.DataFrame({"date": np.repeat(dates.values, 3), "symbol": np.tile(["A", "B", "C"], 700)})
    plan = compute_split_plan(frame["date"], horizon=horizon, entry_lag=entry_lag, n_folds=n_folds, embargo=embargo,
                              holdout_fraction=0.15, calibration_fraction=0.15, train_after_test=train_after_test)
    idx = plan.session_index(frame["date"])
    assert plan.purge == horizon + entry_lag
    for fold in plan.folds:
        train = plan.train_mask(frame["date"], fold)
        test = plan.test_mask(frame["date"], fold)
        assert train.sum() > 0 and test.sum() > 0 and not (train & test).any()
        # When: the label window of a training row spans sessions [t + entry_lag, t + entry_lag + horizon]
        lab_lo = idx[train] + entry_lag
        lab_hi = idx[train] + entry_lag + horizon
        t_lo, t_hi = idx[test].min(), idx[test].max()
        # Then: no training label window touches the test block's sessions ...
        assert not ((lab_hi >= t_lo) & (lab_lo <= t_hi)).any()
        # ... and training rows after the block (purged k-fold style) keep purge + embargo away from it
        after = idx[train][idx[train] > t_hi]
        if len(after):
            assert after.min() - t_hi > plan.purge + embargo
        # ... and nothing of a fold reaches into the calibration gap or holdout
        assert idx[train | test].max() <= plan.development.end_idx
    # The refit range's labels end before the calibration slice, the development range's before the holdout.
    assert plan.fit.end_idx + plan.purge < plan.calibration.start_idx
    assert plan.development.end_idx + plan.purge + plan.embargo < plan.holdout.start_idx
    assert plan.holdout.end_idx == 699


def test_exact_purge_is_tight():
    # The last training session sits exactly purge + 1 sessions before the test block: nothing more is dropped.
    plan = compute_split_plan(_dates(500), horizon=5, entry_lag=1, n_folds=4, embargo=5,
                              holdout_fraction=0.1, calibration_fraction=0.1)
    for fold in plan.folds:
        assert fold.train_idx[0][1] == fold.test.start_idx - plan.purge - 1
    # Consecutive test blocks tile the development range after the first block.
    starts = [f.test.start_idx for f in plan.folds]
    ends = [f.test.end_idx for f in plan.folds]
    assert all(e + 1 == s for e, s in zip(ends[:-1], starts[1:], strict=True))
    assert ends[-1] == plan.development.end_idx


def test_too_few_sessions_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        compute_split_plan(_dates(40), horizon=5, entry_lag=1, n_folds=4, embargo=5,
                           holdout_fraction=0.15, calibration_fraction=0.15)


def test_dates_outside_the_calendar_are_refused():
    plan = compute_split_plan(_dates(300), horizon=5, entry_lag=1, n_folds=2, embargo=0,
                              holdout_fraction=0.1, calibration_fraction=0.1)
    with pytest.raises(ValueError, match="calendar"):
        plan.session_index(pd.Series(pd.to_datetime(["1999-01-01"])))

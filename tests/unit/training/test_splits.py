"""Purged walk-forward plan: no training label window overlaps a test block, the embargo holds in the production
mode and before the calibration slice and the holdout, the purge counts each symbol's own sessions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from training.splits import LABEL_END, compute_plan_problems, compute_split_plan


def _dates(n: int) -> pd.Series:
    return pd.Series(pd.bdate_range("2020-01-01", periods=n))


def panel_with_missing_bars(n_sessions: int, horizon: int, entry_lag: int, seed: int = 0) -> pd.DataFrame:
    """Rows of 4 symbols on `n_sessions` sessions; symbol C misses one session in ten and D a run of 12
    sessions every 100. `label_end` is the date of the exit close in each symbol's own bars (what
    features.load_training_frame gives); the last entry_lag + horizon bars of a symbol have no label."""
    sessions = pd.bdate_range("2020-01-01", periods=n_sessions)
    rng = np.random.default_rng(seed)
    rows = []
    for sym in "ABCD":
        keep = np.ones(n_sessions, dtype=bool)
        if sym == "C":
            keep[rng.choice(n_sessions, n_sessions // 10, replace=False)] = False
        if sym == "D":
            for start in range(50, n_sessions, 100):
                keep[start:start + 12] = False
        own = sessions[keep]
        end = pd.Series(own).shift(-(entry_lag + horizon))
        rows.append(pd.DataFrame({"symbol": sym, "date": own, LABEL_END: end.to_numpy()}))
    frame = pd.concat(rows).dropna(subset=[LABEL_END])
    return frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)


CASES = [(5, 1, 5, 4), (1, 1, 0, 3), (21, 1, 10, 5), (5, 0, 2, 2), (5, 1, 3, 3)]


@pytest.mark.parametrize("horizon,entry_lag,embargo,n_folds", CASES)
@pytest.mark.parametrize("train_after_test", [False, True])
def test_no_training_label_window_overlaps_a_test_block(horizon, entry_lag, embargo, n_folds, train_after_test):
    # Given a panel with missing bars (labels span each symbol's own next entry_lag + H bars) and a plan
    frame = panel_with_missing_bars(700, horizon, entry_lag)
    plan = compute_split_plan(frame["date"], horizon=horizon, entry_lag=entry_lag, n_folds=n_folds, embargo=embargo,
                              holdout_fraction=0.15, calibration_fraction=0.15, train_after_test=train_after_test)
    idx = plan.session_index(frame["date"])
    end = plan.label_end_index(frame)
    assert plan.purge == horizon + entry_lag and plan.embargo == embargo
    assert compute_plan_problems(plan, embargo=embargo, holdout_fraction=0.15) == []
    for fold in plan.folds:
        train = plan.train_mask(frame, fold)
        test = plan.test_mask(frame, fold)
        assert train.sum() > 0 and test.sum() > 0 and not (train & test).any()
        t_lo, t_hi = idx[test].min(), idx[test].max()
        before = train & (idx < t_lo)
        # Then: a training row's label (entry after t .. its own exit) ends `embargo` sessions before the
        # test block, whatever bars its symbol misses (the embargo holds in the walk-forward mode too) ...
        assert (end[before] + embargo < t_lo).all()
        # ... and training rows after the block (purged k-fold style) keep purge + embargo away from it
        after = idx[train & (idx > t_hi)]
        if len(after):
            assert after.min() - t_hi > plan.purge + embargo
        else:
            assert not train_after_test or fold.number == n_folds or t_hi + plan.purge + embargo >= idx.max()
        # ... and nothing of a fold reaches into the calibration gap or holdout
        assert idx[train | test].max() <= plan.development.end_idx
    fit, cal, hold = plan.fit_mask(frame), plan.calibration_mask(frame), plan.holdout_mask(frame)
    assert fit.any() and cal.any() and hold.any() and not (fit & cal).any() and not (cal & hold).any()
    # The refit's labels end `embargo` sessions before the calibration slice, the calibrator's before the holdout:
    # checked on the rows and on the layout, against the embargo asked for.
    assert (end[fit] + embargo < plan.calibration.start_idx).all()
    assert (end[cal] + embargo < plan.holdout.start_idx).all()
    assert plan.fit.end_idx + plan.purge + embargo < plan.calibration.start_idx
    assert plan.development.end_idx + plan.purge + embargo < plan.holdout.start_idx
    assert plan.holdout.end_idx == len(plan.sessions) - 1
    assert plan.holdout.n_sessions == int(np.ceil(0.15 * len(plan.sessions)))


def test_the_purge_counts_each_symbols_own_sessions():
    # Given a symbol that misses sessions: its label window spans more panel sessions than the purge
    frame = panel_with_missing_bars(700, 5, 1)
    plan = compute_split_plan(frame["date"], horizon=5, entry_lag=1, n_folds=3, embargo=2,
                              holdout_fraction=0.15, calibration_fraction=0.15)
    idx = plan.session_index(frame["date"])
    end = plan.label_end_index(frame)
    stretched = (end - idx > plan.purge) & plan.block_mask(frame["date"], plan.fit)
    # Then rows a panel-session purge would keep (t + purge + embargo < calibration start) but whose own
    # label reaches further are left out of the fit; full-panel rows at the same dates stay in
    late = stretched & (end + plan.embargo >= plan.calibration.start_idx)
    assert late.any() and set(frame.loc[late, "symbol"]) <= {"C", "D"}
    assert (idx[late] + plan.purge + plan.embargo < plan.calibration.start_idx).all()
    assert not plan.fit_mask(frame)[late].any()
    same_day_full = plan.block_mask(frame["date"], plan.fit) & frame["symbol"].isin(["A", "B"]).to_numpy() \
        & np.isin(idx, idx[late])
    assert plan.fit_mask(frame)[same_day_full].all()
    # and in every fold, before each test block
    for fold in plan.folds:
        near = (end + plan.embargo >= fold.test.start_idx) & (idx < fold.test.start_idx)
        assert not plan.train_mask(frame, fold)[near].any()


def test_exact_purge_and_embargo_are_tight():
    # On a full panel the last training session sits exactly purge + embargo + 1 sessions before the test
    # block: nothing more is dropped.
    plan = compute_split_plan(_dates(500), horizon=5, entry_lag=1, n_folds=4, embargo=5,
                              holdout_fraction=0.1, calibration_fraction=0.1)
    for fold in plan.folds:
        assert fold.train_idx[0][1] == fold.test.start_idx - plan.purge - plan.embargo - 1
    assert plan.fit.end_idx + plan.purge + plan.embargo + 1 == plan.calibration.start_idx
    assert plan.development.end_idx + plan.purge + plan.embargo + 1 == plan.holdout.start_idx
    # Consecutive test blocks tile the development range after the first block.
    starts = [f.test.start_idx for f in plan.folds]
    ends = [f.test.end_idx for f in plan.folds]
    assert all(e + 1 == s for e, s in zip(ends[:-1], starts[1:], strict=True))
    assert ends[-1] == plan.development.end_idx


def test_plan_problems_name_each_broken_layout():
    plan = compute_split_plan(_dates(600), horizon=5, entry_lag=1, n_folds=3, embargo=5,
                              holdout_fraction=0.15, calibration_fraction=0.15)
    ok = dict(embargo=5, holdout_fraction=0.15)
    assert compute_plan_problems(plan, **ok) == []
    over = dataclasses.replace(plan, fit=dataclasses.replace(plan.fit, end_idx=plan.holdout.end_idx,
                                                              end=plan.holdout.end))
    assert any("fit range" in p for p in compute_plan_problems(over, **ok))
    assert any("embargo 0" in p for p in compute_plan_problems(dataclasses.replace(plan, embargo=0), **ok))
    short = dataclasses.replace(plan, holdout=dataclasses.replace(plan.holdout, start_idx=plan.holdout.start_idx + 9))
    assert any("holdout" in p for p in compute_plan_problems(short, **ok))
    f0 = plan.folds[0]
    tight = dataclasses.replace(f0, train_idx=((0, f0.test.start_idx - plan.purge - 1),))
    assert any("fold 1" in p for p in compute_plan_problems(dataclasses.replace(plan, folds=(tight, *plan.folds[1:])),
                                                            **ok))


def test_too_few_sessions_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        compute_split_plan(_dates(40), horizon=5, entry_lag=1, n_folds=4, embargo=5,
                           holdout_fraction=0.15, calibration_fraction=0.15)


def test_dates_outside_the_calendar_and_a_frame_without_label_end_are_refused():
    plan = compute_split_plan(_dates(300), horizon=5, entry_lag=1, n_folds=2, embargo=0,
                              holdout_fraction=0.1, calibration_fraction=0.1)
    with pytest.raises(ValueError, match="calendar"):
        plan.session_index(pd.Series(pd.to_datetime(["1999-01-01"])))
    with pytest.raises(ValueError, match="label_end"):
        plan.fit_mask(pd.DataFrame({"date": _dates(300)}))

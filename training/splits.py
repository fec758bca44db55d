"""Purged walk-forward validation with an embargo, a calibration slice and an out-of-time holdout.

Timing (in sessions of the dataset's own calendar, i.e. its sorted unique dates): the row at session t has
features from bars with date <= t and a label whose window spans the symbol's own next entry_lag + H bars
(entry at the close entry_lag bars after t, exit H bars later). Its last label session is the row's
`label_end` (the date of the exit close). On a full panel label_end = t + purge with purge = H + entry_lag;
a symbol with missing bars reaches further, so every purge below is decided per row from `label_end`, never
from the panel's session count.

Layout of the range (oldest to newest):

    [ development: walk-forward folds ...................... ] gap [ holdout ]
    [ fit .............................. ] gap [ calibration ]

- folds: the development range is cut into n_folds + 1 equal blocks; fold k tests block k and trains on
  the rows before it whose label ends at least `embargo` sessions before the block starts (expanding window,
  purged and embargoed). Rows after a test block are never used by that fold; when `train_after_test` is set
  (purged k-fold style) they are, from purge + embargo sessions after the block, because features at t > s
  see returns inside the test labels.
- gaps before the calibration slice and before the holdout are purge + embargo sessions, and a row of the fit
  range (of the calibration slice) is used only if its label ends at least `embargo` sessions before the
  calibration slice (the holdout) starts: the refit model never sees a label that overlaps either, and
  serial correlation gets a buffer.
- the holdout is the last `holdout_fraction` of sessions; tuning, early stopping and the calibrator's choice
  never see it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LABEL_END = "label_end"
"""Column of a training frame: the date of the row's exit close (its last label session)."""


@dataclass(frozen=True)
class Block:
    """An inclusive range of sessions [start, end] given by session index and date."""

    start_idx: int
    end_idx: int
    start: dt.date
    end: dt.date

    @property
    def n_sessions(self) -> int:
        return self.end_idx - self.start_idx + 1


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: training sessions (by index, possibly with a hole) and a test block."""

    number: int
    train_idx: tuple[tuple[int, int], ...]
    """Inclusive index ranges of the sessions whose rows may train (each row still needs its label to end
    `embargo` sessions before the test block)."""
    test: Block


@dataclass(frozen=True)
class SplitPlan:
    """Where every session goes; row masks come from a frame's `date` and `label_end` columns."""

    sessions: tuple[dt.date, ...]
    purge: int
    embargo: int
    folds: tuple[Fold, ...]
    development: Block
    fit: Block
    calibration: Block
    holdout: Block

    def session_index(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        """Session index of each date (dates must come from the plan's calendar)."""
        cal = np.asarray(self.sessions, dtype="datetime64[D]")
        d = np.asarray(pd.to_datetime(pd.Series(dates)).dt.date.values, dtype="datetime64[D]")
        idx = np.searchsorted(cal, d)
        if len(d) and ((idx >= len(cal)).any() or (cal[np.minimum(idx, len(cal) - 1)] != d).any()):
            raise ValueError("dates outside the split plan's calendar")
        return idx

    def label_end_index(self, frame: pd.DataFrame) -> np.ndarray:
        """Session index of each row's last label session: the first session on or after its `label_end`.

        Past the calendar (a label ending after the last labelled date) or unknown (NaT) counts as beyond
        every block, so such a row never trains before anything."""
        if LABEL_END not in frame.columns:
            raise ValueError(
                f"the training frame has no `{LABEL_END}` column (the date of each label's exit close), which the "
                "purge needs: load it with features.load_training_frame"
            )
        end = pd.to_datetime(frame[LABEL_END])
        cal = np.asarray(self.sessions, dtype="datetime64[D]")
        idx = np.searchsorted(cal, end.to_numpy(dtype="datetime64[D]"), side="left")
        beyond = len(cal) + self.purge + self.embargo + 1
        return np.where(end.isna().to_numpy(), beyond, idx)

    def block_mask(self, dates, block: Block) -> np.ndarray:
        """Rows dated inside `block` (evaluation rows: no purge)."""
        idx = self.session_index(dates)
        return (idx >= block.start_idx) & (idx <= block.end_idx)

    def _clear_before(self, frame: pd.DataFrame, start_idx: int) -> np.ndarray:
        """Rows whose label ends at least `embargo` sessions before session `start_idx`."""
        return self.label_end_index(frame) + self.embargo < start_idx

    def fit_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows the refit trains on: dated in the fit range, label ending >= embargo before the calibration."""
        return self.block_mask(frame["date"], self.fit) & self._clear_before(frame, self.calibration.start_idx)

    def calibration_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows the calibrator is fit on: dated in the slice, label ending >= embargo before the holdout."""
        return self.block_mask(frame["date"], self.calibration) & self._clear_before(frame, self.holdout.start_idx)

    def holdout_mask(self, frame: pd.DataFrame) -> np.ndarray:
        return self.block_mask(frame["date"], self.holdout)

    def development_mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows known at training time whose label ends >= embargo before the holdout (the base rate's rows)."""
        return self.block_mask(frame["date"], self.development) & self._clear_before(frame, self.holdout.start_idx)

    def train_mask(self, frame: pd.DataFrame, fold: Fold) -> np.ndarray:
        """Rows fold `fold` trains on: in its training sessions; before the test block only when the label
        ends >= embargo sessions before it."""
        idx = self.session_index(frame["date"])
        mask = np.zeros(len(idx), dtype=bool)
        for lo, hi in fold.train_idx:
            mask |= (idx >= lo) & (idx <= hi)
        before = idx < fold.test.start_idx
        return mask & (~before | self._clear_before(frame, fold.test.start_idx))

    def test_mask(self, frame: pd.DataFrame, fold: Fold) -> np.ndarray:
        return self.block_mask(frame["date"], fold.test)

    def describe(self) -> dict[str, object]:
        """Date ranges as plain values (logged as MLflow params)."""
        out: dict[str, object] = {
            "purge_sessions": self.purge,
            "embargo_sessions": self.embargo,
            "n_folds": len(self.folds),
        }
        for name in ("development", "fit", "calibration", "holdout"):
            b: Block = getattr(self, name)
            out[f"{name}_start"] = b.start.isoformat()
            out[f"{name}_end"] = b.end.isoformat()
        return out


def compute_plan_problems(plan: SplitPlan, *, embargo: int, holdout_fraction: float) -> list[str]:
    """What is wrong with a plan's layout, judged against the requested `embargo` and `holdout_fraction`
    (empty when nothing is): a range that reaches into the next one, a gap shorter than purge + embargo, a
    holdout that is not the last sessions. The leak control runs this on every training."""
    n = len(plan.sessions)
    gap = plan.purge + int(embargo)
    problems = []
    if plan.embargo < embargo:
        problems.append(f"plan embargo {plan.embargo} < the {embargo} sessions asked for")
    if plan.holdout.end_idx != n - 1 or plan.holdout.n_sessions < math.ceil(holdout_fraction * n):
        problems.append(f"holdout {plan.holdout.start}..{plan.holdout.end} is not the last "
                        f"{holdout_fraction:.0%} of the {n} sessions")
    if plan.development.end_idx + gap >= plan.holdout.start_idx:
        problems.append(f"development ends {plan.development.end} within purge + embargo ({gap} sessions) of "
                        f"the holdout ({plan.holdout.start})")
    if plan.calibration.end_idx > plan.development.end_idx or plan.fit.start_idx < plan.development.start_idx:
        problems.append("the fit range or the calibration slice lies outside the development range")
    if plan.fit.end_idx + gap >= plan.calibration.start_idx:
        problems.append(f"fit range ends {plan.fit.end} within purge + embargo ({gap} sessions) of the "
                        f"calibration slice ({plan.calibration.start})")
    for fold in plan.folds:
        if fold.test.end_idx > plan.development.end_idx:
            problems.append(f"fold {fold.number} tests past the development range")
        for lo, hi in fold.train_idx:
            if lo < fold.test.start_idx and hi + gap >= fold.test.start_idx:
                problems.append(f"fold {fold.number} trains within purge + embargo of its test block")
            if lo <= fold.test.end_idx and hi >= fold.test.start_idx:
                problems.append(f"fold {fold.number} trains inside its test block")
            if lo > fold.test.end_idx and lo - fold.test.end_idx <= gap:
                problems.append(f"fold {fold.number} trains within purge + embargo after its test block")
    return problems


def _block(sessions: list[dt.date], lo: int, hi: int) -> Block:
    return Block(lo, hi, sessions[lo], sessions[hi])


def compute_split_plan(
    dates: pd.Series | np.ndarray | list,
    *,
    horizon: int,
    entry_lag: int,
    n_folds: int,
    embargo: int,
    holdout_fraction: float,
    calibration_fraction: float,
    train_after_test: bool = False,
) -> SplitPlan:
    """The purged walk-forward plan over the sorted unique `dates` (pure)."""
    sessions = sorted(set(pd.to_datetime(pd.Series(dates)).dt.date))
    n = len(sessions)
    purge = int(horizon) + int(entry_lag)
    gap = purge + int(embargo)
    n_hold = max(1, math.ceil(holdout_fraction * n))
    dev_end = n - n_hold - gap - 1
    n_cal = max(1, math.ceil(calibration_fraction * n))
    fit_end = dev_end - n_cal - gap
    block_len = (dev_end + 1) // (n_folds + 1)
    if n_folds < 1 or block_len <= gap or fit_end < 1:
        raise ValueError(
            f"{n} sessions are too few for {n_folds} folds, holdout {holdout_fraction:.0%}, "
            f"calibration {calibration_fraction:.0%} and a purge + embargo of {gap} sessions"
        )
    folds = []
    for k in range(1, n_folds + 1):
        lo = k * block_len
        hi = dev_end if k == n_folds else (k + 1) * block_len - 1
        ranges = [(0, lo - gap - 1)]
        if train_after_test and hi + gap + 1 <= dev_end:
            ranges.append((hi + gap + 1, dev_end))
        folds.append(Fold(k, tuple(ranges), _block(sessions, lo, hi)))
    return SplitPlan(
        sessions=tuple(sessions),
        purge=purge,
        embargo=int(embargo),
        folds=tuple(folds),
        development=_block(sessions, 0, dev_end),
        fit=_block(sessions, 0, fit_end),
        calibration=_block(sessions, dev_end - n_cal + 1, dev_end),
        holdout=_block(sessions, n - n_hold, n - 1),
    )


__all__ = ["LABEL_END", "Block", "Fold", "SplitPlan", "compute_plan_problems", "compute_split_plan"]

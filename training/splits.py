"""Purged walk-forward validation with an embargo, a calibration slice and an out-of-time holdout.

Timing (in sessions of the dataset's own calendar, i.e. its sorted unique dates): the row at session
t has features from bars with date <= t and a label whose window spans sessions t+entry_lag .. t+entry_lag+H
(entry at the close of t+entry_lag, exit at the close H sessions later). So the last session a label
touches is t + purge with purge = H + entry_lag, and a training row t may sit before a block starting at
session s only if t + purge < s: exactly `purge` sessions are removed between train and test.

Layout of the range (oldest to newest):

    [ development: walk-forward folds ...................... ] gap [ holdout ]
    [ fit .............................. ] gap [ calibration ]

- folds: the development range is cut into n_folds + 1 equal blocks; fold k tests block k and trains on
  every session before it minus the purge (expanding window). Rows after a test block are never used
  by that fold; when `train_after_test` is set (purged k-fold style) they are, after an embargo of
  `embargo` sessions plus the purge, because features at t > s see returns inside the test labels.
- gaps before the calibration slice and before the holdout are purge + embargo sessions: the refit
  model never sees a label that overlaps either, and serial correlation gets a buffer.
- the holdout is the last `holdout_fraction` of sessions; tuning never sees it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


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
    """Inclusive index ranges of training sessions."""
    test: Block


@dataclass(frozen=True)
class SplitPlan:
    """Where every session goes; masks are built from a frame's dates with `session_index`."""

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

    def block_mask(self, dates, block: Block) -> np.ndarray:
        idx = self.session_index(dates)
        return (idx >= block.start_idx) & (idx <= block.end_idx)

    def train_mask(self, dates, fold: Fold) -> np.ndarray:
        idx = self.session_index(dates)
        mask = np.zeros(len(idx), dtype=bool)
        for lo, hi in fold.train_idx:
            mask |= (idx >= lo) & (idx <= hi)
        return mask

    def test_mask(self, dates, fold: Fold) -> np.ndarray:
        return self.block_mask(dates, fold.test)

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
    if n_folds < 1 or block_len <= purge or fit_end < 1:
        raise ValueError(
            f"{n} sessions are too few for {n_folds} folds, holdout {holdout_fraction:.0%}, "
            f"calibration {calibration_fraction:.0%} and a purge + embargo of {gap} sessions"
        )
    folds = []
    for k in range(1, n_folds + 1):
        lo = k * block_len
        hi = dev_end if k == n_folds else (k + 1) * block_len - 1
        ranges = [(0, lo - purge - 1)]
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


__all__ = ["Block", "Fold", "SplitPlan", "compute_split_plan"]

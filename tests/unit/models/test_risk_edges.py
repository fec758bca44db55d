"""VaR tests at their edges: degenerate inputs give NaN with the right degrees of freedom, exceptions are any
truthy hit, P&L and VaR given as integers or lists are read as numbers, the backtest's record is complete."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.risk import (
    TestResult as LRTest,
)
from models.risk import (
    christoffersen_conditional_coverage,
    christoffersen_independence,
    compute_var_backtest,
    kupiec_pof,
    transition_counts,
)


def _nan_result(r: LRTest, df: int) -> bool:
    return math.isnan(r.statistic) and math.isnan(r.p_value) and r.df == df


def test_degenerate_inputs_give_nan_with_their_degrees_of_freedom():
    assert _nan_result(kupiec_pof(0, 0, 0.01), 1)
    assert _nan_result(christoffersen_independence(np.array([1])), 1)
    assert _nan_result(christoffersen_independence(np.array([], dtype=bool)), 1)
    assert kupiec_pof(250, 8, 0.01).df == 1 and christoffersen_independence(np.array([0, 1, 0, 1])).df == 1
    assert christoffersen_conditional_coverage(np.array([0, 1, 0, 0, 1]), 0.05).df == 2
    with pytest.raises(ValueError, match=r"^exceptions must lie in \[0, n\]: 11 of 10$"):
        kupiec_pof(10, 11, 0.01)


def test_any_truthy_hit_is_an_exception():
    assert transition_counts(np.array([0, 2, 0, 3, 3])) == (0, 2, 1, 1) == transition_counts([0, 1, 0, 1, 1])
    assert transition_counts(np.array([0.0, 0.5, 0.0])) == (0, 1, 1, 0)
    assert transition_counts([1]) == (0, 0, 0, 0)


def test_the_backtest_record_reads_integers_and_lists_and_is_complete():
    pnl = [0, -3, 1, -1, 2, -5, 0, 0, 1, -2]
    var = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    bt = compute_var_backtest(pnl, var, 0.9)
    # exceptions: P&L below -VaR, i.e. -3 and -5
    assert (bt.level, bt.n, bt.exceptions) == (0.9, 10, 2)
    assert bt.expected == pytest.approx(1.0) and bt.rate == pytest.approx(0.2)
    uc, ind = kupiec_pof(10, 2, 0.1), christoffersen_independence(np.array(pnl) < -2)
    assert (bt.kupiec_stat, bt.kupiec_p) == pytest.approx((uc.statistic, uc.p_value))
    assert (bt.independence_stat, bt.independence_p) == pytest.approx((ind.statistic, ind.p_value))
    cc = christoffersen_conditional_coverage(np.array(pnl) < -2, 0.1)
    assert (bt.cc_stat, bt.cc_p) == pytest.approx((cc.statistic, cc.p_value))
    empty = compute_var_backtest([np.nan], [1.0], 0.99)
    assert empty.n == 0 and math.isnan(empty.rate) and empty.expected == 0.0
    d = bt.to_dict()
    assert set(d) == {"level", "n", "exceptions", "expected", "rate", "kupiec_stat", "kupiec_p", "independence_stat",
                      "independence_p", "cc_stat", "cc_p"} and d["exceptions"] == 2

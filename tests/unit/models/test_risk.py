"""VaR backtest statistics against hand-computed values and Jorion's textbook tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.risk import (
    basel_zone,
    christoffersen_conditional_coverage,
    christoffersen_independence,
    compute_var_backtest,
    compute_var_report,
    drawdown_percentile,
    kupiec_pof,
    max_drawdown,
    max_drawdowns,
    transition_counts,
)


def test_kupiec_hand_computed():
    # LR = 2 [242 ln(0.968 / 0.99) + 8 ln(0.032 / 0.01)] = 2 [-5.43843 + 9.30521] = 7.73355
    res = kupiec_pof(250, 8, 0.01)
    assert res.statistic == pytest.approx(7.73355, abs=1e-4)
    assert res.p_value == pytest.approx(0.005420, abs=1e-5)
    # zero exceptions: LR = -2 * 250 * ln(0.99) = 5.02517
    assert kupiec_pof(250, 0, 0.01).statistic == pytest.approx(-500 * math.log(0.99), abs=1e-9)
    # exactly the expected rate: no evidence against the model
    assert kupiec_pof(200, 10, 0.05).statistic == pytest.approx(0.0, abs=1e-12)
    assert kupiec_pof(200, 10, 0.05).p_value == pytest.approx(1.0)


@pytest.mark.parametrize(
    "n,p,lo,hi",
    [  # Jorion, Value at Risk, Kupiec's 95% non-rejection regions: lo < N < hi
        (255, 0.01, -1, 7), (510, 0.01, 1, 11), (1000, 0.01, 4, 17),
        (255, 0.05, 6, 21), (510, 0.05, 16, 36), (1000, 0.05, 37, 65),
    ],
)
def test_kupiec_matches_textbook_nonrejection_regions(n, p, lo, hi):
    crit = stats.chi2.ppf(0.95, 1)
    accepted = [x for x in range(0, 100) if kupiec_pof(n, x, p).statistic < crit]
    assert min(accepted) == lo + 1 or (lo == -1 and min(accepted) <= 1)
    assert max(accepted) == hi - 1


def test_christoffersen_independence_hand_computed():
    # Clustered: 0 0 0 0 0 1 1 1 1 1 -> n00=4, n01=1, n10=0, n11=4; pi=5/9, pi01=1/5, pi11=1.
    hits = np.array([0] * 5 + [1] * 5)
    assert transition_counts(hits) == (4, 1, 0, 4)
    # LR = -2 [4 ln(4/9) + 5 ln(5/9) - 4 ln(0.8) - ln(0.2)] = 7.36128
    res = christoffersen_independence(hits)
    assert res.statistic == pytest.approx(7.36128, abs=1e-4)
    assert res.p_value == pytest.approx(0.006664, abs=1e-5)
    # Transitions with pi01 = pi11 = pi = 1/3: no dependence at all.
    flat = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    assert transition_counts(flat) == (4, 2, 2, 1)
    assert christoffersen_independence(flat).statistic == pytest.approx(0.0, abs=1e-12)


def test_conditional_coverage_is_sum_with_two_degrees_of_freedom():
    hits = np.array([0] * 5 + [1] * 5)
    # LR_uc(n=10, x=5, p=0.05) = -2 [5 ln .95 + 5 ln .05 - 10 ln .5] = 16.60731
    assert kupiec_pof(10, 5, 0.05).statistic == pytest.approx(16.60731, abs=1e-4)
    cc = christoffersen_conditional_coverage(hits, 0.05)
    assert cc.statistic == pytest.approx(16.60731 + 7.36128, abs=1e-4)
    # chi2(2) survival is exp(-x/2)
    assert cc.p_value == pytest.approx(math.exp(-cc.statistic / 2), rel=1e-9)
    assert cc.df == 2


def test_basel_zones_match_the_basel_table():
    zones = [basel_zone(x, 250, 0.01) for x in range(0, 13)]
    assert zones == ["green"] * 5 + ["yellow"] * 5 + ["red"] * 3


def test_max_drawdown_and_percentile():
    # equity 1 -> 1.1 -> 0.55 -> 0.66: worst peak-to-trough is 1.1 -> 0.55 = -50%
    assert max_drawdown(np.array([0.1, -0.5, 0.2])) == pytest.approx(0.5)
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0
    paths = np.array([[0.1, -0.5, 0.2], [0.0, -0.1, -0.1]])
    assert max_drawdowns(paths) == pytest.approx([0.5, 0.19])
    # 0.2 among [0.1, 0.2, 0.3, 0.4]: one below, one tie counted half -> 1.5 / 4
    assert drawdown_percentile(0.2, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.375)


def test_var_backtest_counts_exceptions_below_minus_var():
    pnl = np.array([-0.03, 0.01, -0.011, 0.0, -0.02])
    var = np.full(5, 0.015)
    res = compute_var_backtest(pnl, var, 0.99)
    assert (res.n, res.exceptions) == (5, 2)
    assert res.kupiec_stat == pytest.approx(kupiec_pof(5, 2, 0.01).statistic)


def test_var_report_on_correct_and_too_narrow_var():
    # Given iid N(0, 1%) P&L and the true VaR, the tests should not reject; with VaR at half the true
    # level they must.
    rng = np.random.default_rng(3)
    pnl = rng.normal(0.0, 0.01, 1000)
    v95, v99 = np.full(1000, 1.6449 * 0.01), np.full(1000, 2.3263 * 0.01)
    good = compute_var_report(pnl, v95, v99, simulated_mdd=max_drawdowns(rng.normal(0, 0.01, (500, 1000))))
    assert good["var95"]["kupiec_p"] > 0.05 and good["var99"]["kupiec_p"] > 0.05
    assert good["basel_zone"] == "green" and good["basel_window"] == 250
    assert 0.05 < good["max_drawdown_percentile"] < 0.95
    bad = compute_var_report(pnl, v95 / 2, v99 / 2)
    assert bad["var95"]["kupiec_p"] < 1e-6 and bad["var99"]["kupiec_p"] < 1e-6
    assert bad["basel_zone"] == "red"

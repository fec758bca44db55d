"""Regime drift on the regime model's own output with known answers: quiet windows of a persistent chain are
rarely flagged (and almost always when sessions are counted as independent), a market in a state the
reference never saw is state-probability drift, output that flickers is duration drift; the report leads
with the status, then the state mix, then the durations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.config import MonitoringSettings
from monitoring.regimes import STATE_PREFIX, compute_exit_counts, compute_run_lengths, compute_state_columns
from monitoring.reports import OK, WARN, compute_regime_report, compute_regime_summary
from monitoring.synthetic import make_regime_params, make_regime_returns, make_regime_rows

PARAMS = make_regime_params()
N_REF, N_CUR = 1260, 126
SETTINGS = MonitoringSettings(regime_null_paths=500)
CRASH, CALM = "high_vol_bear", "calm_bull"


def _split(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return rows.iloc[:N_REF].reset_index(drop=True), rows.iloc[N_REF:].reset_index(drop=True)


def _crash_rows(seed: int) -> pd.DataFrame:
    """A reference of the model's own world, then a window of a market twice as volatile as its worst state."""
    rng = np.random.default_rng(seed)
    _, ref = make_regime_returns(N_REF, rng, PARAMS)
    crash = PARAMS.means[2] + 2.0 * PARAMS.vols[2] * rng.normal(size=N_CUR)
    return make_regime_rows(np.r_[ref, crash], PARAMS)


def test_exit_counts_and_run_lengths_known_answer():
    labels = list("aaabbaaaac")
    # a: sessions 0-2 and 5-8 have a next session (7 at risk), two of them leave; c's only session is the last
    assert compute_exit_counts(labels) == {"a": (7, 2), "b": (2, 1), "c": (0, 0)}
    runs = compute_run_lengths(labels)
    assert runs.to_dict("list") == {"state": ["a", "b", "a", "c"], "length": [3, 2, 4, 1],
                                    "complete": [False, True, True, False]}
    cols = compute_state_columns(['{"a": 0.25, "b": 0.75}', {"a": 1.0, "b": 0.0}])
    assert list(cols.columns) == ["p_a", "p_b"] and cols["p_b"].tolist() == [0.75, 0.0]


def test_quiet_windows_are_rarely_flagged_and_counting_sessions_flags_nearly_all():
    # Given one long path of the model's own world (no change at all), 20 windows each with its 1,260 sessions
    rng = np.random.default_rng(3)
    _, returns = make_regime_returns(N_REF + 20 * N_CUR, rng, PARAMS)
    rows = make_regime_rows(returns, PARAMS)
    aware, naive = [], []
    for w in range(20):
        ref = rows.iloc[w * N_CUR: w * N_CUR + N_REF].reset_index(drop=True)
        cur = rows.iloc[w * N_CUR + N_REF: (w + 1) * N_CUR + N_REF].reset_index(drop=True)
        aware.append(compute_regime_summary(ref, cur, SETTINGS).status)
        naive.append(compute_regime_summary(ref, cur, SETTINGS.model_copy(update={"dependence_aware": False})).status)
    # Then the Markov null flags at most 2 of 20 (bench: 2.5% of 120 windows); sessions counted as
    # independent flag nearly every window, quiet as it is
    assert aware.count(OK) >= 18, aware
    assert naive.count(WARN) >= 17, naive


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_market_in_a_never_seen_state_is_state_probability_drift(seed):
    ref, cur = _split(_crash_rows(seed))
    s = compute_regime_summary(ref, cur, SETTINGS)
    assert s.status == WARN
    assert CRASH in s.drifted_states
    assert s.share_current[CRASH] > 0.9 > s.share_reference[CRASH] + s.share_bound[CRASH] - 0.1
    assert any(r.startswith("state-probability drift") and CRASH in r for r in s.reasons)


def test_output_that_flickers_is_duration_drift_not_state_drift():
    # Given the model's output switching between calm and crash every 2 sessions (a broken hysteresis), with
    # each session's probabilities taken from reference sessions of that label
    rng = np.random.default_rng(5)
    _, returns = make_regime_returns(N_REF, rng, PARAMS)
    ref = make_regime_rows(returns, PARAMS)
    labels = np.where((np.arange(N_CUR) // 2) % 2 == 0, CALM, CRASH)
    pools = {k: ref.index[ref["regime"] == k].to_numpy() for k in (CALM, CRASH)}
    cur = ref.loc[[rng.choice(pools[k]) for k in labels]].reset_index(drop=True)
    s = compute_regime_summary(ref, cur, SETTINGS)
    assert s.status == WARN
    assert set(s.duration_drifted_states) == {CALM, CRASH}
    assert s.exits_current[CALM][1] >= 30 and s.sessions_per_exit_current[CALM] == pytest.approx(2.0, abs=0.1)
    assert any(r.startswith("regime-duration drift") for r in s.reasons)


def test_too_short_a_reference_is_not_judged():
    rows = _crash_rows(11)
    s = compute_regime_summary(rows.iloc[:20], rows.iloc[N_REF:], SETTINGS)
    assert s.status == OK and s.share_drift_pvalue is None
    assert s.reasons[0].startswith("regime drift not judged")


def test_regime_report_leads_with_the_status_then_the_state_mix_then_durations(tmp_path):
    ref, cur = _split(_crash_rows(11))
    snapshot, summary = compute_regime_report(ref, cur, SETTINGS)
    metrics = snapshot.dict()["metrics"]
    kinds = [(m["config"]["type"].rsplit(":", 1)[-1], m["config"].get("column") or m["config"].get("state"))
             for m in metrics]
    states = summary.states
    assert kinds == [("MonitoringStatus", None), *[("MeanValue", f"{STATE_PREFIX}{k}") for k in states],
                     *[("RegimeDuration", "regime") for _ in states]]
    assert metrics[0]["value"] == 1.0  # WARN
    # the crash state's mean probability fails its Evidently test (limits from the Markov null)
    failed = {t["metric_config"]["params"]["column"] for t in snapshot.dict()["tests"] if t["status"] == "FAIL"}
    assert f"{STATE_PREFIX}{CRASH}" in failed
    # the crash state never ends in the window: its duration is the sessions spent there, a lower bound
    crash = next(m for m in metrics if m["config"].get("state") == CRASH)
    at_risk, exits = compute_exit_counts(cur["regime"])[CRASH]
    assert exits == 0 or crash["value"] == pytest.approx(at_risk / exits)
    snapshot.save_html(str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    board, _ = json.JSONDecoder().raw_decode(html[html.index('{"name": "Report", "widgets": '):])
    titles = [w["title"] for w in board["widgets"][0]["widgets"]]
    assert titles[:3] == ["Monitoring status", "WARN: the reasons", titles[2]]
    assert titles[2].startswith("State mix")
    first_duration = next(i for i, t in enumerate(titles) if t.startswith("Duration of regime"))
    assert first_duration > 2

"""Regime drift monitoring on the regime model's own synthetic world: how often quiet windows are flagged
(Markov null vs sessions counted as independent) and how often planted changes are found.

Writes bench/results/monitoring_regimes.json. The world: three states with the durations the regime model
finds on the sample market (77, 42, 27 sessions), filtered and labelled by the model itself."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from monitoring.config import MonitoringSettings
from monitoring.reports import compute_regime_report, compute_regime_summary
from monitoring.synthetic import REGIME_STATES, make_regime_params, make_regime_returns, make_regime_rows

OUT = Path(__file__).resolve().parent / "results" / "monitoring_regimes.json"
PARAMS = make_regime_params()
CRASH, CALM = "high_vol_bear", "calm_bull"


def _rates(summaries) -> dict:
    n = len(summaries)
    return {
        "windows": n,
        "flagged_rate": sum(s.status != "OK" for s in summaries) / n,
        "state_probability_drift_rate": sum(bool(s.drifted_states) for s in summaries) / n,
        "duration_drift_rate": sum(bool(s.duration_drifted_states) for s in summaries) / n,
    }


def _quiet(settings: MonitoringSettings, seeds: int, windows: int) -> dict:
    n_ref, n_cur = settings.regime_reference_sessions, settings.regime_window_sessions
    out = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        _, returns = make_regime_returns(n_ref + n_cur * (windows + 1), rng, PARAMS)
        rows = make_regime_rows(returns, PARAMS)
        for w in range(windows):
            ref = rows.iloc[w * n_cur: w * n_cur + n_ref].reset_index(drop=True)
            cur = rows.iloc[w * n_cur + n_ref: (w + 1) * n_cur + n_ref].reset_index(drop=True)
            out.append(compute_regime_summary(ref, cur, settings))
    return _rates(out)


def _planted(settings: MonitoringSettings, kind: str, seeds: int) -> dict:
    n_ref, n_cur = settings.regime_reference_sessions, settings.regime_window_sessions
    out = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        _, ref_returns = make_regime_returns(n_ref, rng, PARAMS)
        if kind == "flicker":
            ref = make_regime_rows(ref_returns, PARAMS)
            labels = np.where((np.arange(n_cur) // 2) % 2 == 0, CALM, CRASH)
            pools = {k: ref.index[ref["regime"] == k].to_numpy() for k in (CALM, CRASH)}
            cur = ref.loc[[rng.choice(pools[k]) for k in labels]].reset_index(drop=True)
        else:
            vol = 2.0 if kind == "crash_2x_vol" else 1.0
            window = PARAMS.means[2] + vol * PARAMS.vols[2] * rng.normal(size=n_cur)
            rows = make_regime_rows(np.r_[ref_returns, window], PARAMS)
            ref, cur = rows.iloc[:n_ref].reset_index(drop=True), rows.iloc[n_ref:].reset_index(drop=True)
        out.append(compute_regime_summary(ref, cur, settings))
    return _rates(out)


def main() -> None:
    settings = MonitoringSettings()
    seeds, windows = int(os.environ.get("BENCH_SEEDS", 4)), int(os.environ.get("BENCH_WINDOWS", 30))
    rng = np.random.default_rng(99)
    _, returns = make_regime_returns(settings.regime_reference_sessions + settings.regime_window_sessions, rng, PARAMS)
    rows = make_regime_rows(returns, PARAMS)
    t0 = time.perf_counter()
    compute_regime_report(rows.iloc[:-settings.regime_window_sessions], rows.iloc[-settings.regime_window_sessions:],
                          settings)
    report_s = time.perf_counter() - t0
    results = {
        "method": ("share of each state's filtered probability and its exit deviance over the last "
                   f"{settings.regime_window_sessions} sessions vs the {settings.regime_reference_sessions} before; "
                   f"p-values from a Markov null on the labels ({settings.regime_null_paths} paths, transition "
                   f"matrices drawn from their posterior, shares on {settings.regime_share_lag}-session steps), "
                   f"min over states x states < {settings.regime_pvalue}"),
        "world_durations": {k: d for k, (_, _, d) in REGIME_STATES.items()},
        "quiet_markov_null": _quiet(settings, seeds, windows),
        "quiet_sessions_counted_independent": _quiet(settings.model_copy(update={"dependence_aware": False}),
                                                     max(1, seeds // 2), windows),
        "planted_market_twice_as_volatile_as_its_worst_state": _planted(settings, "crash_2x_vol", 10),
        "planted_market_stays_in_its_worst_state": _planted(settings, "stuck_in_worst_state", 10),
        "planted_output_flickers_every_2_sessions": _planted(settings, "flicker", 10),
        "report_seconds": report_s,
        "load_avg_1m": os.getloadavg()[0],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

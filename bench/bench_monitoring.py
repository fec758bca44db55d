"""Monitoring bench: false-alarm rate over quiet windows, detection power for planted shift and sharpened
probabilities, on independent rows and on a market-like panel (dates x symbols, common and persistent
moves; with the dependence counted and without), and the cost of a full-width report (166 features).
Writes bench/results/monitoring.json. The sample market's own rate: bench/bench_monitoring_sample.py."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("DO_NOT_TRACK", "1")

OUT = Path(__file__).parent / "results" / "monitoring.json"


def _windows(n_windows, n_current, n_cal, seed, shift=None, sharpen=1.0):
    from monitoring.config import MonitoringSettings
    from monitoring.reports import compute_signal_report
    from monitoring.synthetic import make_signal_rows

    settings = MonitoringSettings()
    ref = make_signal_rows(20_000, np.random.default_rng(seed))
    statuses, shares, drift_flags, cal_flags, named_ok = [], [], [], [], []
    t0 = time.perf_counter()
    for i in range(n_windows):
        rng = np.random.default_rng(seed * 1000 + i)
        cur = make_signal_rows(n_current, rng, shift=shift).drop(columns="label")
        cal = make_signal_rows(n_cal, rng, sharpen=sharpen)[["probability", "label"]]
        _, s = compute_signal_report(ref, cur, cal, settings)
        statuses.append(s.status)
        shares.append(s.drift_share)
        drift_flags.append(len(s.drifted_features))
        cal_flags.append(any(r.startswith("calibration") for r in s.reasons))
        if shift:
            named_ok.append(set(s.drifted_features) == set(shift))
    secs = time.perf_counter() - t0
    out = {
        "windows": n_windows, "current_rows": n_current, "calibration_rows": n_cal,
        "alert_rate": statuses.count("ALERT") / n_windows, "warn_rate": statuses.count("WARN") / n_windows,
        "ok_rate": statuses.count("OK") / n_windows,
        "per_feature_drift_rate": float(np.sum(drift_flags) / (n_windows * 6)),
        "calibration_finding_rate": float(np.mean(cal_flags)),
        "mean_drift_share": float(np.mean(shares)), "seconds_per_window": secs / n_windows,
    }
    if shift:
        out["shifted_features_named_exactly_rate"] = float(np.mean(named_ok))
    return out


def _panel_windows(n_windows, seed, aware=True, **panel_kw):
    """Windows of a market-like panel (monitoring.synthetic.make_signal_panel): 21 drift dates and 63
    calibration dates x 50 symbols, judged against a reference of 1,000 earlier dates (20k sampled rows)."""
    from monitoring.config import MonitoringSettings
    from monitoring.reports import compute_signal_report
    from monitoring.synthetic import make_signal_panel

    settings = MonitoringSettings(dependence_aware=aware)
    base = make_signal_panel(1000, 50, np.random.default_rng(seed))
    ref = base.sample(20_000, random_state=0).sort_values(["date", "symbol"])
    statuses, drift_flags, cal_flags = [], [], []
    t0 = time.perf_counter()
    for i in range(n_windows):
        win = make_signal_panel(84, 50, np.random.default_rng(seed * 1000 + i), start="2020-01-01", **panel_kw)
        d = win["date"].unique()
        cur = win[win["date"].isin(d[-21:])].drop(columns="label")
        cal = win[win["date"].isin(d[:63])]
        _, s = compute_signal_report(ref, cur, cal, settings)
        statuses.append(s.status)
        drift_flags.append(sorted(s.drifted_features))
        cal_flags.append(any(r.startswith("calibration:") for r in s.reasons))
    secs = time.perf_counter() - t0
    return {
        "windows": n_windows, "dependence_aware": aware, "panel": {k: str(v) for k, v in panel_kw.items()},
        "alert_rate": statuses.count("ALERT") / n_windows, "warn_rate": statuses.count("WARN") / n_windows,
        "calibration_finding_rate": float(np.mean(cal_flags)),
        "per_feature_drift_rate": {
            f: float(np.mean([f in flags for flags in drift_flags])) for f in sorted({x for fl in drift_flags for x in fl})
        },
        "seconds_per_window": secs / n_windows,
    }


def _full_width():
    from monitoring.config import MonitoringSettings
    from monitoring.reports import compute_signal_report
    from monitoring.synthetic import make_signal_rows
    from stores.migrations.m010_features import V10_FEATURE_COLUMNS

    feats = tuple(V10_FEATURE_COLUMNS)
    rng = np.random.default_rng(1)
    ref = make_signal_rows(50_000, rng, features=feats)
    cur = make_signal_rows(50 * 21, rng, features=feats).drop(columns="label")
    cal = make_signal_rows(50 * 63, rng, features=feats)[["probability", "label"]]
    t0 = time.perf_counter()
    snap, s = compute_signal_report(ref, cur, cal, MonitoringSettings())
    secs = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        snap.save_html(f"{tmp}/r.html")
        snap.save_json(f"{tmp}/r.json")
        save_s = time.perf_counter() - t1
        html_mb = Path(f"{tmp}/r.html").stat().st_size / 1e6
        json_kb = Path(f"{tmp}/r.json").stat().st_size / 1e3
    return {"features": len(feats), "reference_rows": 50_000, "current_rows": 1050, "calibration_rows": 3150,
            "report_seconds": secs, "save_seconds": save_s, "html_mb": html_mb, "json_kb": json_kb,
            "status_on_quiet_data": s.status}


def main() -> None:
    results = {
        "method": "per-feature Evidently ValueDrift, wasserstein (normed) >= max(0.1, 2.8/sqrt(effective rows)); share warn 0.3 / "
                  "alert 0.5; ECE excess vs reference warn 0.05 / alert 0.10 gated by consistency p < 0.01 (market-shock null "
                  "when the reference has dated labels); 6 features",
        "quiet_50_symbols": _windows(100, 1050, 1260, seed=1),
        "quiet_20_symbols": _windows(60, 420, 1260, seed=2),
        "shift_0.25sd_3_of_6_20_symbols": _windows(20, 420, 1260, seed=8, shift={"f2": 0.25, "f3": 0.25, "f4": 0.25}),
        "shift_0.25sd_3_of_6": _windows(20, 1050, 1260, seed=3, shift={"f2": 0.25, "f3": 0.25, "f4": 0.25}),
        "shift_0.5sd_3_of_6": _windows(20, 1050, 1260, seed=4, shift={"f2": 0.5, "f3": 0.5, "f4": 0.5}),
        "sharpen_1.5": _windows(20, 1050, 1260, seed=5, sharpen=1.5),
        "sharpen_2": _windows(20, 1050, 1260, seed=6, sharpen=2.0),
        "sharpen_3": _windows(20, 1050, 1260, seed=7, sharpen=3.0),
        "panel_quiet": _panel_windows(40, seed=11),
        "panel_quiet_rows_counted_independent": _panel_windows(40, seed=11, aware=False),
        "panel_sharpen_2": _panel_windows(20, seed=12, sharpen=2.0),
        "panel_sharpen_3": _panel_windows(20, seed=13, sharpen=3.0),
        "panel_shift_0.3sd_idiosyncratic": _panel_windows(20, seed=14, shift={"idio_a": 0.3, "idio_b": 0.3}),
        "full_width_report": _full_width(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

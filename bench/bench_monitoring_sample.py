"""False-alarm rate of monitoring on the sample market: `run_monitor` on dates spread over the scored history.

Needs a FORESIGHT_HOME where `foresight demo` ran (models trained, a year of signals backfilled); the
demo's model has not changed, so every alarm on these dates is a false one. Each date is also judged with
`dependence_aware=False` (every row an independent draw) for comparison, without touching the workspace.
Writes bench/results/monitoring_sample.json.

    FORESIGHT_HOME=/path/.foresight MLFLOW_TRACKING_URI=sqlite:////path/mlruns/mlflow.db \\
        python bench/bench_monitoring_sample.py --dates 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results" / "monitoring_sample.json"
MODEL = "foresight-signal"


def _row(run) -> dict:
    s = run.summary
    return {
        "status": run.status, "drift_share": s.get("drift_share"), "drifted": s.get("drifted_features"),
        "prediction_drifted": s.get("prediction_drifted"), "ece": s.get("ece"),
        "ece_reference": s.get("ece_reference"), "ece_pvalue": s.get("ece_pvalue"), "ece_null": s.get("ece_null"),
        "level_gap": s.get("level_gap"), "reasons": run.reasons,
        "median_effective_rows": float(np.median(list(s["effective_rows"].values()))) if s.get("effective_rows") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dates", type=int, default=20, help="monitoring dates, spread evenly")
    parser.add_argument("--compare-every", type=int, default=1, help="judge every k-th date the iid way too")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from tqdm import tqdm

    from foresight.context import build_context
    from monitoring.config import MonitoringSettings
    from monitoring.service import run_monitor

    ctx = build_context()
    ms = ctx.settings.monitoring
    with ctx.warehouse.session(read_only=True) as con:
        dates = [r[0] for r in con.execute(
            "SELECT DISTINCT date FROM signals WHERE model_name = ? ORDER BY date", [MODEL]).fetchall()]
    if len(dates) < ms.current_window_sessions:
        raise SystemExit(f"{len(dates)} scored dates in {ctx.settings.home}: run `foresight demo` there first")
    idx = np.unique(np.linspace(ms.current_window_sessions - 1, len(dates) - 1, args.dates).round().astype(int))
    picks = [dates[i] for i in idx]
    iid_ctx = build_context(monitoring=MonitoringSettings(**{**ms.model_dump(), "dependence_aware": False}))

    rows = []
    for k, d in enumerate(tqdm(picks, desc="monitoring dates", unit="date")):
        iid_row = None
        if k % args.compare_every == 0:  # first, so that the aware run below is the date's stored record
            iid = run_monitor(iid_ctx, date=d, workspace=False)
            iid_row = _row(next(r for r in iid.runs if r.model == MODEL))
        t0 = time.perf_counter()
        res = run_monitor(ctx, date=d)
        secs = time.perf_counter() - t0
        sig = next(r for r in res.runs if r.model == MODEL)
        row = {"date": d.isoformat(), "seconds": round(secs, 2), **_row(sig)}
        if iid_row is not None:
            row["independent_rows"] = iid_row
        rows.append(row)
        print(f"{d} {row['status']:5s} share={row['drift_share']} ece={row['ece']:.3f} p={row['ece_pvalue']:.3f} "
              f"gap={row['level_gap']:+.3f} | iid {iid_row and iid_row['status']} {secs:.1f}s", flush=True)

    def rates(key):
        sts = [r[key]["status"] if key else r["status"] for r in rows if not key or key in r]
        return {"n": len(sts), "alert_rate": sts.count("ALERT") / len(sts), "warn_rate": sts.count("WARN") / len(sts)}

    out = {
        "home": str(ctx.settings.home), "model": MODEL, "dates": [r["date"] for r in rows],
        "dependence_aware": rates(None), "independent_rows": rates("independent_rows"),
        "seconds_per_run": {"mean": float(np.mean([r["seconds"] for r in rows])),
                            "first": rows[0]["seconds"], "last": rows[-1]["seconds"]},
        "settings": ms.model_dump(), "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps({k: v for k, v in out.items() if k not in ("rows", "settings")}, indent=1, default=str))


if __name__ == "__main__":
    main()

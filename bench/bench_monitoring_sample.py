"""False-alarm rate of monitoring on the sample market: `run_monitor` on dates spread over the scored history.

Needs a FORESIGHT_HOME where `foresight demo` ran (models trained, a year of signals backfilled); the
demo's model has not changed, so every alarm on these dates is a false one. Each date is also judged with
`dependence_aware=False` (every row an independent draw) for comparison, without touching the workspace.
Writes bench/results/monitoring_sample.json.

It also checks the drift thresholds on the training period itself: every non-overlapping 21-session window
of the reference period is scored against the reference as the report does (normed Wasserstein, on a
quantile grid), and the share of windows past each feature's threshold is the per-feature false-flag rate
(`historical_windows`; `--historical-only` computes just that).

Power on the same data (`planted`): on a few dates the real windows are changed before the report runs:
probabilities sharpened (log-odds x3 around each date's mean), a unit bug (5 features x100), and a
0.5 sd shift of every feature the dependence leaves > 100 effective rows.

    FORESIGHT_HOME=/path/.foresight MLFLOW_TRACKING_URI=sqlite:////path/mlruns/mlflow.db \\
        python bench/bench_monitoring_sample.py --dates 20
"""

from __future__ import annotations

import argparse
import datetime as dt
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
        "level_gap": s.get("level_gap"), "calibration_slope": s.get("calibration_slope"),
        "calibration_slope_se": s.get("calibration_slope_se"),
        "calibration_slope_reference": s.get("calibration_slope_reference"), "reasons": run.reasons,
        "median_effective_rows": float(np.median(list(s["effective_rows"].values()))) if s.get("effective_rows") else None,
    }


def _dates(ctx) -> list[dt.date]:
    with ctx.warehouse.session(read_only=True) as con:
        return [r[0] for r in con.execute(
            "SELECT DISTINCT date FROM signals WHERE model_name = ? ORDER BY date", [MODEL]).fetchall()]


def _reference(ctx, con):
    """(version, reference frame, holdout metrics, source) of the newest scored version, as run_monitor loads it."""
    from monitoring.store import load_reference

    s = ctx.settings
    version = con.execute("SELECT max(CAST(model_version AS VARCHAR)) FROM signals WHERE model_name = ?",
                          [MODEL]).fetchall()[0][0]
    ref, holdout, source = load_reference(ctx.mlflow, MODEL, version, con, feature_set=s.features.feature_set,
                                          horizon=s.signals.horizon, max_rows=s.monitoring.max_reference_rows)
    return version, ref, holdout, source


def historical_windows(ctx, n_grid: int = 2001) -> dict:
    """Per-feature share of the reference period's own 21-session windows whose drift score reaches the
    threshold: with the dependence counted, and with every row counted as independent."""
    from monitoring.dependence import compute_effective_rows
    from monitoring.reports import compute_drift_threshold, compute_feature_columns

    s, ms = ctx.settings, ctx.settings.monitoring
    with ctx.warehouse.session(read_only=True) as con:
        _, ref, _, source = _reference(ctx, con)
        feats = compute_feature_columns(ref, ref)
        first, last = ref["date"].min(), ref["date"].max()
        cols = ", ".join(f'"{c}"' for c in feats)
        panel = con.execute(
            f"SELECT date, {cols} FROM features WHERE feature_set = ? AND date BETWEEN ? AND ? ORDER BY date",
            [s.features.feature_set, first, last]).df()
        n_symbols = len(con.execute("SELECT DISTINCT symbol FROM features WHERE date = ?",
                                    [panel["date"].max()]).fetchall())
    window = ms.current_window_sessions
    eff = compute_effective_rows(ref, feats, window, n_symbols)
    aware = np.array([compute_drift_threshold(ms, eff.get(f, window * n_symbols)) for f in feats])
    iid = np.full(len(feats), compute_drift_threshold(ms, window * n_symbols))
    grid = np.linspace(0.0005, 0.9995, n_grid)
    r = ref[feats].to_numpy(float)
    q_ref = np.nanquantile(r, grid, axis=0)
    norm = np.maximum(np.nanstd(r, axis=0), 0.001)
    dates = np.sort(panel["date"].unique())
    scores = []
    for start in range(0, len(dates) - window + 1, window):
        block = panel[panel["date"].isin(dates[start:start + window])][feats].to_numpy(float)
        scores.append(np.nanmean(np.abs(np.nanquantile(block, grid, axis=0) - q_ref), axis=0) / norm)
    scores = np.array(scores)
    flag_aware, flag_iid = scores >= aware, scores >= iid
    share_aware, share_iid = flag_aware.mean(axis=1), flag_iid.mean(axis=1)
    worst = np.argsort(-flag_aware.mean(axis=0))[:5]
    return {
        "reference_source": source, "windows": int(len(scores)), "window_sessions": window, "symbols": n_symbols,
        "features": len(feats),
        "per_feature_flag_rate": {"dependence_aware": float(flag_aware.mean()), "independent_rows": float(flag_iid.mean())},
        "windows_at_alert_share": {"dependence_aware": float(np.mean(share_aware >= ms.drift_share_alert)),
                                   "independent_rows": float(np.mean(share_iid >= ms.drift_share_alert))},
        "windows_at_warn_share": {"dependence_aware": float(np.mean(share_aware >= ms.drift_share_warn)),
                                  "independent_rows": float(np.mean(share_iid >= ms.drift_share_warn))},
        "effective_rows_quantiles": {q: float(np.quantile(list(eff.values()), q)) for q in (0.1, 0.5, 0.9)},
        "most_flagged_features": {feats[i]: float(flag_aware[:, i].mean()) for i in worst},
    }


def planted(ctx, picks, n: int = 4) -> dict:
    """Status and findings when known changes are planted into real windows of the sample market."""
    from monitoring.dependence import compute_effective_rows
    from monitoring.reports import compute_feature_columns, compute_signal_report
    from monitoring.store import load_signal_windows

    s, ms = ctx.settings, ctx.settings.monitoring
    dates = [picks[i] for i in np.linspace(0, len(picks) - 1, n).round().astype(int)]
    with ctx.warehouse.session(read_only=True) as con:
        version, ref, holdout, _ = _reference(ctx, con)
        windows = [load_signal_windows(con, MODEL, version, d, drift_sessions=ms.current_window_sessions,
                                       calibration_sessions=ms.calibration_window_sessions,
                                       horizon=s.signals.horizon, entry_lag=s.features.entry_lag,
                                       feature_set=s.features.feature_set) for d in dates]
    feats = [f for f in compute_feature_columns(ref, windows[0][0]) if ref[f].std() > 0]
    n_symbols = windows[0][0]["symbol"].nunique()
    eff = compute_effective_rows(ref, feats, ms.current_window_sessions, n_symbols)
    idio = [f for f in feats if eff.get(f, 0) > 100]
    bug = idio[:5]

    def sharpen(cal):
        logit = np.log(cal["probability"] / (1 - cal["probability"]))
        centre = logit.groupby(cal["date"]).transform("mean")
        return cal.assign(probability=1 / (1 + np.exp(-(centre + 3 * (logit - centre)))))

    cases = {
        "sharpen_x3": lambda cur, cal: (cur, sharpen(cal)),
        "unit_bug_x100_5_features": lambda cur, cal: (cur.assign(**{f: cur[f] * 100 for f in bug}), cal),
        "shift_0.5sd_idiosyncratic": lambda cur, cal: (
            cur.assign(**{f: cur[f] + 0.5 * ref[f].std() for f in idio}), cal),
    }
    out = {"dates": [d.isoformat() for d in dates], "idiosyncratic_features": len(idio), "bug_features": bug}
    for name, change in cases.items():
        rows = []
        for cur, cal in windows:
            c2, k2 = change(cur, cal)
            _, summ = compute_signal_report(ref, c2, k2, ms, holdout_metrics=holdout,
                                            max_reference_rows=ms.max_reference_rows)
            rows.append({"status": summ.status, "drift_share": summ.drift_share,
                         "named": len(set(summ.drifted_features) & set(bug if "bug" in name else idio)),
                         "ece": summ.ece, "ece_pvalue": summ.ece_pvalue, "reasons": summ.reasons})
        sts = [r["status"] for r in rows]
        out[name] = {"alert_rate": sts.count("ALERT") / len(sts), "warn_or_alert_rate":
                     (sts.count("ALERT") + sts.count("WARN")) / len(sts), "rows": rows}
        print(name, sts, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dates", type=int, default=20, help="monitoring dates, spread evenly")
    parser.add_argument("--compare-every", type=int, default=1, help="judge every k-th date the iid way too")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--historical-only", action="store_true",
                        help="only the training-period windows; merged into an existing --out file")
    args = parser.parse_args()

    from tqdm import tqdm

    from foresight.context import build_context
    from monitoring.config import MonitoringSettings
    from monitoring.service import run_monitor

    ctx = build_context()
    ms = ctx.settings.monitoring
    hist = historical_windows(ctx)
    print(json.dumps(hist, indent=1), flush=True)
    if args.historical_only:
        out = json.loads(args.out.read_text()) if args.out.exists() else {}
        out["historical_windows"] = hist
        out["planted"] = planted(ctx, [dt.date.fromisoformat(d) for d in out.get("dates", [])] or _dates(ctx))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, default=str))
        return
    dates = _dates(ctx)
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
        "historical_windows": hist, "planted": planted(ctx, picks), "settings": ms.model_dump(), "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps({k: v for k, v in out.items() if k not in ("rows", "settings")}, indent=1, default=str))


if __name__ == "__main__":
    main()

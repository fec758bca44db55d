"""Signal backfill A/B: the same homes (bench/bench_home.py), the old code and this code, interleaved.

    .venv/bin/python bench/bench_backfill.py --before /path/to/old/worktree [--homes DIR ...] [--dates 500]
        [--reps 2] [--full] -> bench/results/backfill.json

Each run empties `signals`, then times `run_score_signals` in a fresh process (imports excluded) over the last
--dates dates (0 = all) of each home's features; --full adds one run of this code over every date. The rows
of the first before/after pair are compared (raw score, probability, base value to 1e-9, attribution text).
The 1-minute load average is recorded beside every figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN = r"""
import json, os, sys, time
code, home, n_dates, dump = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, code)
os.environ.update(json.load(open(os.path.join(home, "env.json"))))
from foresight.context import build_context
from scoring.signals import run_score_signals
ctx = build_context()
with ctx.warehouse.session() as con:
    con.execute("DELETE FROM signals")
    con.execute("CHECKPOINT")
    dates = [r[0] for r in con.execute(
        "SELECT DISTINCT date FROM features WHERE feature_set = 'alpha158' ORDER BY date").fetchall()]
start = dates[-n_dates] if n_dates else None
load = os.getloadavg()[0]
t, c = time.perf_counter(), time.process_time()
rep = run_score_signals(ctx, start=start)
wall, cpu = time.perf_counter() - t, time.process_time() - c
if dump != "-":
    with ctx.warehouse.session() as con:
        con.execute(f"COPY (SELECT symbol, date, probability, raw_score, base_value, attribution FROM signals) "
                    f"TO '{dump}' (FORMAT parquet)")
print(json.dumps({"rows": rep.rows_scored, "dates": rep.dates, "wall_s": round(wall, 2),
                  "rows_per_s": round(rep.rows_scored / wall), "cpu_s": round(cpu, 2),
                  "rows_per_cpu_s": round(rep.rows_scored / cpu), "load_1m_start": round(load, 2),
                  "load_1m_end": round(os.getloadavg()[0], 2)}))
"""


def run(code: Path, home: Path, n_dates: int, dump: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", _RUN, str(code), str(home), str(n_dates), dump], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(a: str, b: str) -> dict:
    import duckdb

    r = duckdb.sql(f"""
        SELECT count(*), max(abs(x.raw_score - y.raw_score)), max(abs(x.probability - y.probability)),
               max(abs(x.base_value - y.base_value)), count(*) FILTER (WHERE x.attribution <> y.attribution)
        FROM '{a}' x JOIN '{b}' y USING (symbol, date)""").fetchall()[0]
    n = duckdb.sql(f"SELECT (SELECT count(*) FROM '{a}'), (SELECT count(*) FROM '{b}')").fetchall()[0]
    return {"rows_before": n[0], "rows_after": n[1], "rows_joined": r[0], "max_abs_raw_score": r[1],
            "max_abs_probability": r[2], "max_abs_base_value": r[3], "attribution_text_differs": r[4]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, default=None,
                    help="a worktree of the code to compare with (without: this code only, no comparison)")
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--homes", type=Path, nargs="+", default=[Path("/work/bench17/lgb"), Path("/work/bench17/cb")])
    ap.add_argument("--dates", type=int, default=500)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backfill.json")
    args = ap.parse_args()
    # Both sides run as the CLI and `make` run them (foresight.commands.common.share_cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    tmp = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    result: dict = {"benchmark": "signal backfill with attribution, before/after interleaved",
                    "dates_per_run": args.dates, "reps": args.reps, "cpus": os.cpu_count(), "homes": {}}
    for home in args.homes:
        family = json.loads(subprocess.run(
            [sys.executable, "-c", "import json,sys,os; os.environ.update(json.load(open(sys.argv[1]+'/env.json')));"
             "sys.path.insert(0, sys.argv[2]); from foresight.context import build_context;"
             "from registry.signals import load_signal_model; b = load_signal_model(build_context().mlflow);"
             "print(json.dumps({'family': b.model.family, 'params': b.model.params}))", str(home), str(args.after)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(args.after)},
        ).stdout.strip().splitlines()[-1])
        runs: dict[str, list] = {"before": [], "after": []} if args.before else {"after": []}
        for rep in range(args.reps):
            order = ("before", "after") if rep % 2 == 0 else ("after", "before")
            for side in (s for s in order if s in runs):
                dump = str(tmp / f"{home.name}-{side}.parquet") if rep == 0 else "-"
                r = run(getattr(args, side), home, args.dates, dump)
                runs[side].append(r)
                print(home.name, side, r, flush=True)
        entry = {"model": family, "runs": runs,
                 **{f"{s}_median_rows_per_s": statistics.median(r["rows_per_s"] for r in runs[s]) for s in runs}}
        if args.before:
            entry["same_results"] = compare(str(tmp / f"{home.name}-before.parquet"),
                                            str(tmp / f"{home.name}-after.parquet"))
            entry["speedup"] = round(entry["after_median_rows_per_s"] / entry["before_median_rows_per_s"], 1)
        if args.full:
            entry["after_full"] = run(args.after, home, 0, "-")
            print(home.name, "after full", entry["after_full"], flush=True)
        result["homes"][home.name] = entry
        print(json.dumps(entry.get("same_results")), flush=True)
    result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

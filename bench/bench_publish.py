"""Publishing the read snapshot A/B: the old code and this code publish the same warehouse (a bench home from
bench/bench_home.py after a backfill), first cold, then after each of several simulated nights (one new
session of bars and signals for every symbol), interleaved; this code's snapshot is checked against the
warehouse (row count and content hash of every served table).

    .venv/bin/python bench/bench_publish.py --before /path/to/old/worktree [--home /work/bench17/lgb]
        [--nights 3] -> bench/results/publish.json
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
code, home, snaps = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, code)
os.environ.update(json.load(open(os.path.join(home, "env.json"))))
from foresight.context import build_context
from stores.snapshots import publish_snapshot
ctx = build_context()
load = os.getloadavg()[0]
with ctx.warehouse.session() as con:
    con.execute("SET enable_progress_bar = false")
    t, c = time.perf_counter(), time.process_time()
    info = publish_snapshot(con, snaps)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "tables": info.tables, "load_1m_start": round(load, 2),
                  "load_1m_end": round(os.getloadavg()[0], 2)}))
"""

_NIGHT = r"""
import json, os, sys
home = sys.argv[1]
sys.path.insert(0, sys.argv[2])
os.environ.update(json.load(open(os.path.join(home, "env.json"))))
from foresight.context import build_context
with build_context().warehouse.session() as con:
    last = con.execute("SELECT max(date) FROM bars").fetchall()[0][0]
    con.execute("INSERT INTO bars SELECT * REPLACE (date + INTERVAL 1 DAY AS date, now()::TIMESTAMP AS ingested_at) "
                "FROM bars WHERE date = ?", [last])
    con.execute("INSERT INTO signals SELECT * REPLACE (date + INTERVAL 1 DAY AS date, now()::TIMESTAMP AS scored_at) "
                "FROM signals WHERE date = (SELECT max(date) FROM signals)")
    print(last)
"""

_CHECK = r"""
import json, os, sys
home, snaps = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
os.environ.update(json.load(open(os.path.join(home, "env.json"))))
from foresight.context import build_context
from stores.snapshots import SERVING_TABLES, SnapshotReader
q = "SELECT count(*), bit_xor(hash(x)) FROM {} x"
reader = SnapshotReader(snaps)
with reader.cursor() as con:
    served = {t: con.execute(q.format(t)).fetchall()[0] for t in SERVING_TABLES if t in reader.tables()}
reader.close()
with build_context().warehouse.session(read_only=True) as con:
    stored = {t: con.execute(q.format(t)).fetchall()[0] for t in served}
print(json.dumps({"tables_equal": served == stored, "tables": sorted(served)}))
"""


def _py(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": args[0] if script is _RUN else str(ROOT)})
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    # DuckDB may draw a progress bar on stdout: the answer is the last JSON line.
    return [ln for ln in out.stdout.strip().splitlines() if ln.startswith(("{", "[", "\"")) or ln[:1].isdigit()][-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--home", type=Path, default=Path("/work/bench17/lgb"))
    ap.add_argument("--nights", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "publish.json")
    args = ap.parse_args()
    # Both sides run as the CLI and `make` run them (foresight.commands.common.share_cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    tmp = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    runs: dict[str, dict[str, list]] = {"before": {"cold": [], "night": []}, "after": {"cold": [], "night": []}}
    for k in range(args.nights + 1):
        if k:
            _py(_NIGHT, str(args.home), str(ROOT))
        for side in (("before", "after") if k % 2 == 0 else ("after", "before")):
            r = json.loads(_py(_RUN, str(getattr(args, side)), str(args.home), str(tmp / side)))
            runs[side]["cold" if k == 0 else "night"].append(r)
            print(side, "cold" if k == 0 else f"night {k}", r, flush=True)
    check = json.loads(_py(_CHECK, str(args.home), str(tmp / "after"), str(args.after)))
    parts = sorted(p.name for p in (tmp / "after" / "parts").glob("*.duckdb"))
    result = {
        "benchmark": "publish the read snapshot, before/after interleaved", "home": str(args.home),
        "rows": runs["after"]["cold"][0]["tables"], "runs": runs,
        **{f"{s}_{kind}_median_s": statistics.median(r["wall_s"] for r in runs[s][kind])
           for s in runs for kind in ("cold", "night")},
        "after_snapshot_equals_warehouse": check, "after_parts": len(parts), "cpus": os.cpu_count(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()

"""Where the Alpha158 full build spends its time: DuckDB's operator profile of the feature SELECT over every
symbol of a warehouse (read-only; nothing written to it). JSON to bench/results/features_profile.json.

    .venv/bin/python bench/profile_features.py path/to/foresight.duckdb [--set alpha158]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import duckdb

    from features.definitions import FEATURE_SETS
    from features.sql import build_feature_select

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--set", default="alpha158")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "features_profile.json")
    args = ap.parse_args()
    fs = FEATURE_SETS[args.set]
    con = duckdb.connect(str(args.warehouse), read_only=True)
    con.execute("CREATE TEMP TABLE _fs_chunk AS "
                "SELECT DISTINCT symbol, NULL::DATE AS read_from, NULL::DATE AS target_from FROM bars")
    rows, symbols = con.execute("SELECT count(*), count(DISTINCT symbol) FROM bars").fetchall()[0]
    prof_path = Path(tempfile.mkdtemp()) / "profile.json"
    con.execute("SET enable_profiling = 'json'")
    con.execute(f"SET profiling_output = '{prof_path}'")
    con.execute("SET profiling_mode = 'detailed'")
    load = os.getloadavg()[0]
    t = time.perf_counter()
    con.execute(f"SELECT * FROM ({build_feature_select(fs, scope='_fs_chunk')})").fetchnumpy()
    wall = time.perf_counter() - t
    prof = json.loads(prof_path.read_text())
    by_type: collections.Counter = collections.Counter()
    windows = []

    def walk(node: dict) -> None:
        by_type[node["type"]] += node.get("timing", 0.0)
        if node["type"] == "WINDOW":
            pr = node.get("extra_info", {}).get("Projections", "")
            windows.append({"seconds": round(node.get("timing", 0.0), 2),
                            "window_expressions": len(pr) if isinstance(pr, list) else pr.count(" OVER ")})
        for c in node.get("children", []):
            walk(c)

    for op in prof["operator"]:
        walk(op)
    total = sum(by_type.values())
    result = {
        "benchmark": f"{args.set} full build SELECT, DuckDB operator profile", "rows": rows, "symbols": symbols,
        "wall_s": round(wall, 2), "rows_per_s": round(rows / wall), "cpu_s": round(prof["query"]["cpu_time"], 2),
        "peak_buffer_mb": round(prof["system"]["peak_buffer_memory"] / 2**20),
        "operator_share": {k: round(v / total, 3) for k, v in by_type.most_common(6)},
        "window_operators": windows, "s3_window_items": len(fs.s3), "load_1m_start": round(load, 2),
        "load_1m_end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

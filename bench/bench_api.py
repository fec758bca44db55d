"""API benchmark: /signals/{symbol} latency p50/p99 and throughput, 32 concurrent clients on loopback,
with the API idle and while a writer commits nights and publishes snapshots.

uvicorn runs in a subprocess; the clients are httpx async in this process; the writer is another process.
Run: .venv/bin/python bench/bench_api.py [--symbols 500] [--dates 250] [--seconds 10] -> bench/results/api.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WRITER = r"""
import datetime as dt, sys, time, json
import numpy as np, pandas as pd
from stores.warehouse import Warehouse, transaction, upsert, utcnow
from stores.snapshots import publish_warehouse_snapshot
wh = Warehouse(sys.argv[1]); snaps = sys.argv[2]; until = time.time() + float(sys.argv[3])
symbols = json.loads(sys.argv[4]); day = dt.date.fromisoformat(sys.argv[5]); nights = 0; pub = []
rng = np.random.default_rng(1)
while time.time() < until:
    day += dt.timedelta(days=1)
    n = len(symbols)
    frame = pd.DataFrame({"symbol": symbols, "date": day, "model_name": "foresight-signal", "model_version": "1",
                          "probability": rng.random(n), "raw_score": rng.normal(size=n), "attribution": "[]",
                          "run_id": "bench", "scored_at": utcnow()})
    for part in (frame.iloc[: n // 2], frame.iloc[n // 2 :]):
        with wh.session() as con, transaction(con):
            upsert(con, "signals", part, ["symbol", "date", "model_name", "model_version"])
    t = time.perf_counter(); publish_warehouse_snapshot(wh, snaps, keep=3); pub.append(time.perf_counter() - t)
    nights += 1
print(json.dumps({"nights": nights, "publish_s_mean": sum(pub) / max(1, len(pub)), "publish_s_max": max(pub or [0])}))
"""


def build_warehouse(home: Path, n_symbols: int, n_dates: int) -> tuple[list[str], list[dt.date]]:
    from marketdata.calendar import sessions
    from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
    from stores.warehouse import Warehouse, transaction, utcnow

    wh = Warehouse(home / "foresight.duckdb")
    wh.migrate()
    symbols = [f"SYM{i:03d}" for i in range(n_symbols)]
    days = sessions(dt.date(2020, 1, 1), dt.date(2025, 12, 31))[-n_dates:].date
    rng = np.random.default_rng(0)
    n = n_symbols * len(days)
    attribution = json.dumps([{"feature": f"f{i}", "value": 0.1 * i, "contribution": 0.01 * i} for i in range(5)]
                             + [{"feature": "other", "value": None, "contribution": 0.02}])
    signals = pd.DataFrame({
        "symbol": np.tile(symbols, len(days)), "date": np.repeat(days, n_symbols),
        "model_name": "foresight-signal", "model_version": "1", "probability": rng.random(n),
        "raw_score": rng.normal(size=n), "attribution": attribution, "run_id": "bench", "scored_at": utcnow(),
    })
    bars = pd.DataFrame({
        "symbol": signals["symbol"], "date": signals["date"], "open": 10.0, "high": 11.0, "low": 9.0,
        "close": 10.0, "adj_close": 10.0, "volume": 1e5, "source": "bench", "ingested_at": utcnow(),
    })
    with wh.session() as con, transaction(con):
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'signals'").fetchall()]
        con.register("_s", signals[[c for c in signals.columns if c in cols]])
        con.execute(f"INSERT INTO signals ({', '.join(c for c in signals.columns if c in cols)}) SELECT * FROM _s")
        con.register("_b", bars)
        con.execute(f"INSERT INTO bars ({', '.join(bars.columns)}) SELECT * FROM _b")
    publish_warehouse_snapshot(wh, snapshot_dir(home))
    return symbols, list(days)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, symbols: list[str], seconds: float, clients: int, dates: list[dt.date] | None = None) -> dict:
    """32 clients in a loop; `dates` given = each request asks a random past date (mostly memo misses)."""
    import httpx

    lat: list[float] = []
    errors = 0
    until = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.perf_counter() < until:
                t = time.perf_counter()
                params = {"date": str(rnd.choice(dates))} if dates else None
                r = await client.get(f"/signals/{rnd.choice(symbols)}", params=params)
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - start
    a = np.array(lat) * 1000
    return {"requests": len(lat), "errors": errors, "seconds": round(wall, 2),
            "throughput_rps": round(len(lat) / wall, 1), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--dates", type=int, default=250)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api.json")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        symbols, days = build_warehouse(home, args.symbols, args.dates)
        last = days[-1]
        build_s = time.perf_counter() - t
        port = free_port()
        env = {**os.environ, "FORESIGHT_HOME": str(home), "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "foresight.api:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            for _ in range(200):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            asyncio.run(load(base, symbols, 2.0, args.clients))  # warm-up
            single = asyncio.run(load(base, symbols, args.seconds / 2, 1))
            idle = asyncio.run(load(base, symbols, args.seconds, args.clients))
            idle_dated = asyncio.run(load(base, symbols, args.seconds, args.clients, dates=days))
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(home / "foresight.duckdb"), str(home / "snapshots"),
                 str(args.seconds), json.dumps(symbols), str(last)],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            busy = asyncio.run(load(base, symbols, args.seconds / 2, args.clients))
            busy_dated = asyncio.run(load(base, symbols, args.seconds / 2, args.clients, dates=days))
            out, _ = writer.communicate(timeout=600)
            writer_stats = json.loads(out.strip().splitlines()[-1])
            final = httpx.get(f"{base}/health").json()
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "benchmark": "api /signals/{symbol}",
        "symbols": args.symbols, "dates": args.dates, "signal_rows": args.symbols * args.dates,
        "clients": args.clients, "server": "uvicorn, 1 worker, loopback",
        "setup_s": round(build_s, 2),
        "note": "latest-signal answers are memoised per immutable snapshot; `*_random_dates` ask random past "
                "dates (mostly DuckDB queries)",
        "idle_single_client": single, "idle": idle, "idle_random_dates": idle_dated,
        "while_writing": busy, "while_writing_random_dates": busy_dated, "writer": writer_stats,
        "served_as_of_after_writer": final["snapshot"]["as_of"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""API benchmark with wrk (a native load generator; `make bench` installs Debian's wrk): throughput and
p50/p99 of `/signals/{symbol}` (a random symbol per request), `/signals/{symbol}?date=` (random past dates,
mostly first asks) and `/dashboard/kpis`, 32 connections on loopback, with the API quiet and while a writer
commits nights and publishes a snapshot after each. Each figure carries the machine's 1-minute load average
before and after it (the machine may be shared).

uvicorn (1 worker) and the writer run in subprocesses; wrk runs with one thread so the server keeps a core.
Run: .venv/bin/python bench/bench_api.py [--symbols 500] [--dates 250] [--seconds 10] -> bench/results/api.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
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
symbols = json.loads(sys.argv[4]); day = dt.date.fromisoformat(sys.argv[5]); every = float(sys.argv[6])
nights = 0; pub = []
rng = np.random.default_rng(1)
while time.time() < until:
    began = time.time()
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
    time.sleep(max(0.0, every - (time.time() - began)))
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


ROUTES = ("/signals/{symbol}", "/dashboard/kpis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LUA = r"""
math.randomseed(%(seed)d)
local symbols = {%(symbols)s}
local dates = {%(dates)s}
request = function()
  local path = "%(path)s"
  path = path:gsub("{symbol}", symbols[math.random(#symbols)])
  if #dates > 0 then path = path .. "?date=" .. dates[math.random(#dates)] end
  return wrk.format("GET", path)
end
"""


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group())
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[re.search(r"(us|ms|s)$", text).group()]


def parse_wrk(out: str) -> dict:
    """Requests/sec, non-2xx count and the latency percentiles of `wrk --latency`."""
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {"requests": total, "throughput_rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": round(pct["50"], 3), "p90_ms": round(pct["90"], 3), "p99_ms": round(pct["99"], 3),
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else None}


def wrk(base: str, path: str, seconds: float, connections: int, symbols: list[str],
        dates: list[dt.date] | None = None, seed: int = 1) -> dict:
    """One bounded wrk run against 127.0.0.1 (`-d` seconds, then it stops by itself)."""
    script = LUA % {"seed": seed, "path": path, "symbols": ",".join(f'"{s}"' for s in symbols),
                    "dates": ",".join(f'"{d}"' for d in (dates or []))}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    load_before = os.getloadavg()[0]
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", f.name, base],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(f.name)
    # the machine is shared: each figure carries the 1-minute load average around it (uptime's first number)
    return {"path": path + ("?date=<random>" if dates else ""), **parse_wrk(out),
            "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--dates", type=int, default=250)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--night-every", type=float, default=2.0,
                    help="seconds between the writer's nights (0: publish back to back)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api.json")
    ap.add_argument("--label", default="", help="a note kept with the figures (e.g. what else ran on the machine)")
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
            load_before = os.getloadavg()
            for path in ROUTES:  # warm-up: first asks of this snapshot
                wrk(base, path, 2, args.clients, symbols)
            quiet = {path: wrk(base, path, args.seconds, args.clients, symbols) for path in ROUTES}
            quiet_dated = wrk(base, "/signals/{symbol}", args.seconds, args.clients, symbols, dates=days)
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(home / "foresight.duckdb"), str(home / "snapshots"),
                 str(args.seconds * len(ROUTES) + 2), json.dumps(symbols), str(last), str(args.night_every)],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            busy = {path: wrk(base, path, args.seconds, args.clients, symbols, seed=2) for path in ROUTES}
            out, _ = writer.communicate(timeout=600)
            writer_stats = json.loads(out.strip().splitlines()[-1])
            # a published night is served once its answers are prepared: how long after the last publish
            published = json.loads((home / "snapshots" / "current.json").read_text())["as_of"]
            t = time.perf_counter()
            while (final := httpx.get(f"{base}/health").json())["snapshot"]["as_of"] != published:
                if time.perf_counter() - t > 60:
                    break
                time.sleep(0.01)
            switch_s = time.perf_counter() - t
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "benchmark": "api: wrk at 32 connections, quiet and while nights publish",
        "symbols": args.symbols, "dates": args.dates, "signal_rows": args.symbols * args.dates,
        "connections": args.clients, "load_generator": "wrk -t1 --latency, loopback",
        "server": "uvicorn, 1 worker (httptools, uvloop), loopback",
        "setup_s": round(build_s, 2),
        "goal": ">= 3000 req/s and p99 <= 25 ms quiet; p99 <= 50 ms while a night publishes",
        "note": "answers are kept per immutable snapshot (foresight.http_cache); a published snapshot is served "
                "once every symbol's latest signal, the KPIs and the answers asked before are prepared on it; "
                "`quiet_random_dates` asks random past dates (mostly first asks)",
        "label": args.label,
        "quiet": quiet, "quiet_random_dates": quiet_dated, "while_publishing": busy,
        "writer": {**writer_stats, "night_every_s": args.night_every},
        "served_after_last_publish_s": round(switch_s, 3),
        "load_avg_1m_before": round(load_before[0], 2),
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

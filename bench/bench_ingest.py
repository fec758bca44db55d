"""Ingest benchmark: sample market (500 symbols x 10 years by default) into a fresh DuckDB; rows/s and peak RSS.

Run: .venv/bin/python bench/bench_ingest.py [--symbols 500] [--years 10] -> bench/results/ingest.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import threading
import time
from pathlib import Path

import psutil


class PeakRss:
    """Samples this process's RSS every 20 ms; `peak` is the highest seen (MiB)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=50, help="symbols per batch (one transaction each)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ingest.json")
    args = parser.parse_args()

    from marketdata.config import GuardrailSettings, SampleSettings
    from marketdata.ingest import run_ingest
    from marketdata.sources import SampleSource
    from stores.warehouse import Warehouse

    cfg = SampleSettings(n_symbols=args.symbols, n_years=args.years)
    src = SampleSource(cfg, chunk_symbols=args.chunk)
    with tempfile.TemporaryDirectory() as tmp, PeakRss() as rss:
        rss_start = psutil.Process().memory_info().rss / 2**20
        t0 = time.perf_counter()
        market = src.market  # generation is timed apart from the ingest itself
        t_gen = time.perf_counter() - t0
        rss_gen = psutil.Process().memory_info().rss / 2**20
        wh = Warehouse(Path(tmp) / "foresight.duckdb")
        cpu0 = sum(psutil.Process().cpu_times()[:2])
        t1 = time.perf_counter()
        report = run_ingest(wh, src, GuardrailSettings())
        t_ingest = time.perf_counter() - t1
        cpu_ingest = sum(psutil.Process().cpu_times()[:2]) - cpu0
        # The same input again: the idempotent path (compare, write nothing).
        t2 = time.perf_counter()
        again = run_ingest(wh, src, GuardrailSettings())
        t_again = time.perf_counter() - t2
        db_mb = wh.path.stat().st_size / 2**20
    rows = len(market.bars)
    result = {
        "benchmark": "ingest",
        "source": "sample",
        "symbols": args.symbols,
        "years": args.years,
        "rows": rows,
        "batch_symbols": args.chunk,
        "generate_s": round(t_gen, 2),
        "ingest_s": round(t_ingest, 2),
        "rows_per_s": round(rows / t_ingest),
        "ingest_cpu_s": round(cpu_ingest, 2),
        "rows_per_cpu_s": round(rows / cpu_ingest),
        "reingest_s": round(t_again, 2),
        "reingest_rows_per_s": round(rows / t_again),
        "rows_inserted": report.rows_inserted,
        "reingest_rows_unchanged": again.rows_unchanged,
        "quarantined": report.rows_quarantined,
        "flags": report.flags,
        "peak_rss_mib": round(rss.peak, 1),
        "rss_at_start_mib": round(rss_start, 1),
        "rss_after_generate_mib": round(rss_gen, 1),
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "duckdb_file_mib": round(db_mb, 1),
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),  # the machine is shared: wall times vary with it
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

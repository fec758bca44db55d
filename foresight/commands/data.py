"""`foresight ingest` and `foresight status`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from foresight.commands.common import console, fail, progress_bar
from foresight.context import build_context


class SourceName(StrEnum):
    sample = "sample"
    csv = "csv"
    alphavantage = "alphavantage"


def ingest(
    source: SourceName = typer.Option(SourceName.sample, "--source", help="where bars come from"),
    path: Path | None = typer.Option(None, "--path", help="csv: a directory of SYMBOL.csv/.parquet files or one long file"),
    symbols: str | None = typer.Option(None, "--symbols", help="alphavantage: comma-separated symbols"),
    n_symbols: int | None = typer.Option(None, "--n-symbols", help="sample: number of symbols (default 50)"),
    n_years: float | None = typer.Option(None, "--years", help="sample: years of history (default 10)"),
    variant: str = typer.Option("default", "--variant", help="sample: default | random_walk (nothing to find)"),
    reference: Path | None = typer.Option(
        None, "--reference", help="a second source (csv/parquet file or folder) to confirm suspected bad ticks"),
    max_rejected_share: float | None = typer.Option(
        None, "--max-rejected-share", help="end `partial` (exit 6) above this share of rejected rows (default 0.05)"),
) -> None:
    """Ingest daily bars through the guardrails into the warehouse (idempotent; re-runs change nothing).

    Rows that are provably wrong go to `quarantine`; every true price is kept, a blank open/high/low/volume as
    NULL, and findings (gaps, stale runs, splits, suspected bad ticks with their evidence) go to `data_quality`.

    Exit codes: 0 ok; 3 partial, the source skipped some symbols or files; 6 partial, more than
    --max-rejected-share of the rows read were rejected; 5 failed, nothing was accepted (no rows, or every row
    rejected); 2 bad arguments or an unreadable input file (nothing written); 1 the warehouse cannot be opened.
    """
    from marketdata.ingest import load_reference, run_ingest
    from marketdata.sample import random_walk_settings
    from marketdata.sources import SampleSource

    ctx = build_context()
    s = ctx.settings
    guard = s.guardrails
    if reference is not None:
        guard = guard.model_copy(update={"reference_path": reference})
    if max_rejected_share is not None:
        if not 0 <= max_rejected_share <= 1:
            raise fail("--max-rejected-share must be between 0 and 1", 2)
        guard = guard.model_copy(update={"max_rejected_share": max_rejected_share})
    reference_bars = None
    if guard.reference_path is not None:
        try:
            reference_bars = load_reference(guard.reference_path)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(f"second source: {exc}", 2) from exc
    if source is SourceName.sample:
        cfg = s.sample.model_copy(
            update={k: v for k, v in {"n_symbols": n_symbols, "n_years": n_years}.items() if v is not None}
        )
        if variant == "random_walk":
            cfg = random_walk_settings(cfg)
        elif variant != "default":
            raise fail(f"unknown sample variant {variant!r}: use default or random_walk", 2)
        src = SampleSource(cfg, s.calendar)
        total = -(-cfg.n_symbols // src.chunk_symbols)
    elif source is SourceName.csv:
        if path is None:
            raise fail("--source csv needs --path (a directory of SYMBOL.csv files or one long file)", 2)
        from marketdata.csvsource import CsvSource

        try:
            src = CsvSource(path)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc), 2) from exc
        total = None
    else:
        from marketdata.alphavantage import AlphaVantageSource

        if not symbols:
            raise fail("--source alphavantage needs --symbols, e.g. --symbols MSFT,IBM", 2)
        if s.alphavantage.api_key is None:
            raise fail("set ALPHAVANTAGE_API_KEY to use the alphavantage source", 2)
        sym_list = [x.strip().upper() for x in symbols.split(",") if x.strip()]
        src = AlphaVantageSource(sym_list, s.alphavantage, ctx.warehouse)
        total = len(sym_list)
    import duckdb

    with progress_bar(f"ingest {source.value}", total) as bar:
        try:
            report = run_ingest(
                ctx.warehouse, src, guard, s.calendar, on_batch=lambda label, n: bar.advance(0),
                reference=reference_bars,
            )
        except ValueError as exc:
            raise fail(str(exc), 2) from exc
        except duckdb.IOException as exc:
            raise fail(f"cannot open the warehouse {ctx.warehouse.path}: {exc}", 1) from exc
    print_ingest_report(report)
    saved = save_ingest_report(report, s.reports_dir)
    console.print(f"report stored in ingest_runs (run {report.run_id}) and {saved}")
    if report.exit_code:
        raise fail(f"ingest {report.status}: {report.status_reason}", report.exit_code)


def save_ingest_report(report, reports_dir: Path) -> Path:
    """Write the run's report as JSON under reports/ingest/ (it is also in `ingest_runs.report`)."""
    out = reports_dir / "ingest" / f"{report.run_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.to_json())
    return out


def print_ingest_report(report) -> None:
    t = Table(title=f"ingest {report.source} run {report.run_id}: {report.status}")
    t.add_column("what")
    t.add_column("rows", justify="right")
    optional = ("flags cleared", "quarantine resolved")
    for label, value in [
        ("read", report.rows_read), ("accepted", report.rows_accepted), ("quarantined", report.rows_quarantined),
        ("inserted", report.rows_inserted), ("updated", report.rows_updated),
        ("unchanged", report.rows_unchanged), ("flagged", report.flags),
        ("flags cleared", report.flags_cleared), ("quarantine resolved", report.quarantine_resolved),
    ]:
        if value or label not in optional:
            t.add_row(label, f"{value:,}")
    for reason, n in sorted(report.quarantined_by_reason.items()):
        t.add_row(f"  quarantined: {reason}", f"{n:,}")
    for check, n in sorted(report.flags_by_check.items()):
        t.add_row(f"  flagged: {check}", f"{n:,}")
    console.print(t)
    for line in compute_ingest_notes(report):
        console.print(line)
    for err in report.errors:
        console.print(f"[yellow]skipped[/] {err}")


def compute_ingest_notes(report) -> list[str]:
    """What a person should know about the run beyond the counts: suspects kept and why, missing fields and
    the feature families they leave NULL, and why the run is not `ok`."""
    from features import compute_field_families, compute_missing_field_gaps

    lines = []
    if report.suspects:
        why = ", ".join(f"{k} {v:,}" for k, v in report.suspects_by_verdict.items())
        by = ", ".join(f"{k} {v:,}" for k, v in report.suspects_by_evidence.items())
        lines.append(f"suspected bad ticks kept in bars: {report.suspects:,} ({why})"
                     + (f"; corroborated by {by}" if by else "")
                     + " - see data_quality check 'spike_reverted'")
    whole: dict[str, tuple[str, ...]] = {}
    for field, counts in report.missing_fields.items():
        for sym, n in counts.items():
            if n == report.rows_by_symbol.get(sym):
                whole[sym] = (*whole.get(sym, ()), field)
    for gap in compute_missing_field_gaps(whole, "alpha158"):
        lines.append(f"no {', '.join(gap.fields)} for {len(gap.symbols)} symbol(s) "
                     f"({', '.join(gap.symbols[:10])}{' ...' if len(gap.symbols) > 10 else ''}): stored as NULL; "
                     f"features needing it ({', '.join(gap.families)}) are NULL for them")
    families = compute_field_families("alpha158")
    for field, counts in report.missing_fields.items():
        part = [f"{sym} {n:,}/{report.rows_by_symbol.get(sym, 0):,}" for sym, n in counts.items()
                if n != report.rows_by_symbol.get(sym)]
        if part:
            lines.append(f"{field} blank on some rows ({', '.join(part[:10])}): stored as NULL; features needing "
                         f"it ({', '.join(families.get(field, [])) or 'none'}) are NULL on those rows")
    if report.status_reason:
        lines.append(f"[bold]{report.status}[/]: {report.status_reason}")
    return lines


def status(as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON")) -> None:
    """Symbols, date ranges, row counts, open quarantine counts, data-quality findings and the last runs."""
    import duckdb

    from foresight.operations import load_operations
    from foresight.status import load_status

    ctx = build_context()
    try:
        info = load_status(ctx.warehouse, settings=ctx.settings)
        info["operations"] = load_operations(ctx.warehouse, ctx.mlflow, ctx.settings)
    except duckdb.IOException as exc:
        raise fail(f"cannot read the warehouse {ctx.warehouse.path} (another process writing?): {exc}", 1) from exc
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    if not info.get("exists"):
        console.print(f"no warehouse at {info['warehouse']} yet: run `foresight ingest` or `make demo`")
        return
    console.print(f"[bold]warehouse[/] {info['warehouse']} (schema v{info['schema_version']})")
    t = Table(title="tables")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in info["tables"].items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    if "bars" in info:
        b = info["bars"]
        console.print(f"[bold]bars[/] {b['symbols']} symbols, {b['first_date']} .. {b['last_date']}")
        shown = info["symbols"][:10]
        console.print(
            "  " + ", ".join(f"{x['symbol']} ({x['first_date']}..{x['last_date']}, {x['rows']})" for x in shown)
            + (f", ... {len(info['symbols']) - len(shown)} more" if len(info["symbols"]) > len(shown) else "")
        )
    if info.get("quarantine_by_reason") or info.get("quarantine_resolved"):
        console.print(f"[bold]quarantine[/] {info.get('quarantine_open', 0):,} open"
                      + "".join(f", {k}: {v}" for k, v in info["quarantine_by_reason"].items())
                      + f" ({info.get('quarantine_resolved', 0):,} resolved by a later accepted bar)")
    if info.get("data_quality_by_check"):
        console.print("[bold]flags[/] " + ", ".join(f"{k}: {v}" for k, v in info["data_quality_by_check"].items()))
    if info.get("suspects_by_verdict"):
        console.print("[bold]suspected bad ticks (kept)[/] "
                      + ", ".join(f"{k}: {v}" for k, v in info["suspects_by_verdict"].items()))
    if info.get("last_ingest_runs"):
        t = Table(title="last ingest runs")
        cols = ("run_id", "source", "status", "started", "read", "accepted", "quarantined", "inserted", "updated",
                "flags")
        for col in cols:
            t.add_column(col, justify="left" if col in ("run_id", "source", "status", "started") else "right")
        for r in info["last_ingest_runs"]:
            t.add_row(r["run_id"], r["source"], r["status"], str(r["started_at"])[:19], *(
                f"{r[c] or 0:,}" for c in ("rows_read", "rows_accepted", "rows_quarantined", "rows_inserted",
                                           "rows_updated", "flags")
            ))
        console.print(t)
    print_operations(info["operations"])


def print_operations(ops: dict) -> None:
    """Last runs, champions, SLA and the other operating indicators (`foresight status`)."""
    from monitoring.indicators import summarise_indicators

    t = Table(title="last run of every flow")
    for col in ("flow", "outcome", "when (UTC)", "detail"):
        t.add_column(col)
    for flow, r in ops["last_runs"].items():
        if r is None:
            t.add_row(flow, "never ran", "", "")
            continue
        when = str(r.get("started_at") or r.get("created_at") or "")[:19]
        detail = ", ".join(f"{k}={v}" for k, v in r.items()
                           if k not in ("started_at", "created_at", "status", "outcome") and v not in (None, ""))
        t.add_row(flow, str(r["outcome"]), when, detail[:110])
    console.print(t)
    t = Table(title="champions")
    for col in ("model", "version", "trained on", "promoted (UTC)", "why"):
        t.add_column(col)
    for name, c in ops["champions"].items():
        if c is None:
            t.add_row(name, "none", "", "", "no champion: `foresight train ...`")
            continue
        on = c["trained_on"]
        span = " .. ".join(str(on[k]) for k in ("train_start", "train_end") if k in on) or on.get("data_end", "")
        t.add_row(name, f"v{c['version']}", span, str(c["promoted_at"])[:19], c["why"][:90])
    console.print(t)
    if ops["indicators"]:
        console.print("[bold]operating indicators[/] (as of " +
                      str(next(iter(ops["indicators"].values())).get("as_of")) + ")")
        for line in summarise_indicators(ops["indicators"]):
            console.print("  " + line, soft_wrap=True, highlight=False)
    else:
        console.print("operating indicators: none measured yet (the nightly flow measures them: `foresight score`)")

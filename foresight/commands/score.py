"""`foresight score`: the nightly batch (Prefect flow), or a vectorised backfill over a date range."""

from __future__ import annotations

import datetime as dt
import json
import os

import typer

from foresight.commands.common import console, fail


def score(
    start: dt.datetime | None = typer.Option(None, "--start", formats=["%Y-%m-%d"], help="backfill from this date"),
    end: dt.datetime | None = typer.Option(None, "--end", formats=["%Y-%m-%d"], help="backfill up to this date"),
    regimes_only: bool = typer.Option(False, "--regimes-only", help="score regimes only (no signals)"),
    as_of: dt.datetime | None = typer.Option(None, "--as-of", formats=["%Y-%m-%d"],
                                             help="nightly: the as-of date (default: the last session in bars)"),
    source: str = typer.Option("none", "--source", help="nightly: ingest first from sample | csv | alphavantage | none"),
    path: str | None = typer.Option(None, "--path", help="nightly: csv source path"),
    skip: list[str] = typer.Option([], "--skip", help="nightly: skip a step (repeatable), e.g. --skip monitoring"),
) -> None:
    """Without dates: run the nightly flow (ingest -> features -> signals -> regimes -> forecasts ->
    evaluation -> monitoring -> publish the API snapshot). With --start/--end: backfill signals (and
    regimes) over the range in vectorised batches, then publish. Re-runs give identical rows."""
    from flows import steps
    from foresight.commands.common import require_bars, require_champion
    from foresight.context import build_context

    d0 = start.date() if start else None
    d1 = end.date() if end else None
    if d0 and d1 and d0 > d1:
        raise fail(f"--start {d0} is after --end {d1}", 2)
    ctx = build_context()
    nightly_run = start is None and end is None and not regimes_only
    # What the run needs before it starts: a person gets one line naming what to run, not a failed flow.
    if not nightly_run or source == "none" or "ingest" in skip:
        require_bars(ctx)
    if not regimes_only and "signals" not in skip:
        require_champion(ctx, "foresight-signal", "foresight train signals")
    if nightly_run:
        # Without PREFECT_API_URL the flow starts Prefect's ephemeral API: give it time on a busy machine.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        from flows.nightly import nightly

        try:
            result = nightly(as_of=as_of.date() if as_of else None, source=source, path=path, skip=list(skip))
        except steps.StepFailed as exc:
            raise fail(str(exc)) from exc
        _print_steps(result["steps"], f"nightly {result['as_of']} (run {result['run_id']})")
        return
    done: dict[str, object] = {}
    try:
        if not regimes_only:
            with console.status(f"scoring signals {d0 or 'first'} .. {d1 or 'last'}"):
                done["signals"] = steps.step_signals(ctx, d0, d1).as_dict()
        with console.status("scoring regimes"):
            done["regimes"] = steps.step_regimes(ctx, d0, d1).as_dict()
        done["publish"] = steps.step_publish(ctx).as_dict()
    except steps.StepFailed as exc:
        raise fail(str(exc)) from exc
    _print_steps(done, f"backfill {d0 or '..'} -> {d1 or '..'}")


def _print_steps(result: dict, title: str) -> None:
    from rich.table import Table

    t = Table(title=title)
    t.add_column("step")
    t.add_column("result")
    for name, value in result.items():
        text = json.dumps(value, default=str)
        t.add_row(name, text if len(text) < 160 else text[:157] + "...")
    console.print(t)

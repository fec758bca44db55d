"""`foresight train forecasts`: train, compare and register the portfolio forecast model, then backfill."""

from __future__ import annotations

import datetime as dt

import typer

from foresight.commands.common import console, fail


def train_forecasts(
    backfill: int | None = typer.Option(
        None, "--backfill", help="sessions to forecast and evaluate after training (default: settings, 250; 0 = none)"
    ),
    evaluate_only: bool = typer.Option(
        False, "--evaluate-only", help="no training: score the latest session and evaluate matured forecasts"
    ),
    as_of: dt.datetime | None = typer.Option(
        None, "--as-of", formats=["%Y-%m-%d"], help="--evaluate-only: the as-of date (default: the last bar)"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="backfill: replace forecasts already published by an earlier model version"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Fit LightGBM quantile models (+ rolling conformal calibration), the stationary-bootstrap and
    Gaussian baselines on the portfolio equity; the lowest holdout pinball per horizon is champion.
    Logs fan chart and calibration plots to MLflow and registers `foresight-forecast`."""
    import json

    from rich.table import Table

    from foresight.context import build_context

    ctx = build_context()
    if evaluate_only:
        from scoring.forecasts import load_forecast_kpis, run_evaluate_forecasts, run_score_forecasts

        day = as_of.date() if as_of else None
        try:
            scored = run_score_forecasts(ctx, day)
        except (LookupError, ValueError) as exc:
            raise fail(str(exc)) from exc
        evaluated = run_evaluate_forecasts(ctx, day)
        with ctx.warehouse.session(read_only=True) as con:
            kpis = load_forecast_kpis(con, ctx.settings.forecasts.portfolio, cfg=ctx.settings.forecasts)
        console.print_json(json.dumps({"score": scored.as_dict(), "evaluate": evaluated.as_dict(), "kpis": kpis},
                                      default=str))
        return

    from flows.train import run_forecast_training

    try:
        with console.status("training forecast candidates") as status:
            report = run_forecast_training(ctx, backfill, on_step=lambda msg: status.update(msg), overwrite=overwrite)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if as_json:
        console.print_json(json.dumps(report.as_dict(), default=str))
        return
    t = Table(title=f"foresight-forecast v{report.model_version} ({report.alias}), data to {report.data_end}")
    for col in ("H", "champion", "pinball lgbm+CQR", "pinball bootstrap", "pinball gaussian", "coverage (champ)", "n"):
        t.add_column(col, no_wrap=True)
    for h, row in sorted(report.holdout.items(), key=lambda kv: int(kv[0])):
        pin, cov = row["pinball"], row["coverage"]
        t.add_row(h, row["champion"], f"{pin['lightgbm_cqr']:.5f}", f"{pin['bootstrap']:.5f}",
                  f"{pin['gaussian']:.5f}", f"{cov[row['champion']]:.3f}", str(row["n"]))
    console.print(t)
    for note in report.notes:
        console.print(f"- {note}")
    if report.var:
        v = report.var
        console.print(
            f"holdout 1-day VaR: 95% {v['var95']['exceptions']}/{v['var95']['n']} exceptions "
            f"(Kupiec p={v['var95']['kupiec_p']:.3f}, CC p={v['var95']['cc_p']:.3f}); 99% "
            f"{v['var99']['exceptions']}/{v['var99']['n']} (Kupiec p={v['var99']['kupiec_p']:.3f}); Basel zone "
            f"[bold]{v['basel_zone']}[/] ({v['basel_exceptions']} in {v['basel_window']}); realised max drawdown "
            f"{v['realized_max_drawdown']:.1%} at percentile {v['max_drawdown_percentile']}"
        )
    if report.backfill:
        b = report.backfill
        console.print(f"backfill: {b['as_of_dates']} sessions, {b['forecasts_written']} forecasts written, "
                      f"{b['evaluations_written']} evaluations")
    console.print(f"report: {report.report_path}")

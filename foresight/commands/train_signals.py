"""`foresight train signals`: the `train-signals` Prefect flow (tune, refit, calibrate, evaluate, register, gate)."""

from __future__ import annotations

import typer
from rich.table import Table

from foresight.commands.common import console, fail


def train_signals(
    trials: int | None = typer.Option(None, "--trials", help="Optuna trials to add to the study (default 20)"),
    timeout: float | None = typer.Option(None, "--timeout", help="stop tuning after this many seconds"),
    horizon: int | None = typer.Option(None, "--horizon", help="label horizon in sessions (default 5)"),
    families: str | None = typer.Option(None, "--families", help="comma-separated: lightgbm,catboost (default both)"),
) -> None:
    """Tune LightGBM / CatBoost with Optuna on purged walk-forward folds (the study resumes from its sqlite
    RDB under FORESIGHT_HOME), refit, calibrate (Platt or isotonic), evaluate on the out-of-time holdout,
    run the honesty controls, log everything to MLflow and register `foresight-signal`; the promotion gate
    makes it `champion` only when it beats the current champion on the same holdout window."""
    from flows.train import train_signals_flow

    if trials is not None and trials < 1:
        raise fail("--trials must be >= 1", 2)
    fams = [f.strip() for f in families.split(",") if f.strip()] if families else None
    bad = [f for f in fams or [] if f not in ("lightgbm", "catboost")]
    if bad:
        raise fail(f"unknown model family {bad[0]!r}: use lightgbm and/or catboost", 2)
    _require_training_rows(horizon)
    with console.status(f"train-signals: tuning {trials or 'the configured number of'} trials, then refit, "
                        "evaluation, registration, promotion"):
        try:
            report = train_signals_flow(trials=trials, timeout_s=timeout, horizon=horizon, families=fams)
        except (ValueError, RuntimeError, LookupError) as exc:
            raise fail(str(exc), 2) from exc
    print_train_report(report)


def _require_training_rows(horizon: int | None) -> None:
    """Exit 2 naming the command to run when there are no bars, or no labelled features to train on."""
    from foresight.commands.common import require_bars
    from foresight.context import build_context

    ctx = build_context()
    require_bars(ctx, "`foresight ingest` then `foresight features`")
    h = horizon or ctx.settings.signals.horizon
    with ctx.warehouse.session(read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        n = (con.execute("SELECT count(*) FROM labels WHERE horizon = ? AND label IS NOT NULL", [h]).fetchall()[0][0]
             if "labels" in tables else 0)
    if not n:
        raise fail(f"no labelled features at horizon {h} in {ctx.settings.duckdb_path}: run `foresight features` "
                   "first", 2)


def print_train_report(report: dict) -> None:
    m = report["metrics"]
    t = Table(title=f"foresight-signal v{report['version']} ({report['family']}) -> {report['alias']}")
    t.add_column("holdout metric")
    t.add_column("value", justify="right")
    for key in ("auc", "auc_se_date", "log_loss", "log_loss_base_rate", "brier_skill", "ece", "ece_raw",
                "rank_ic_mean", "rank_ic_ir", "top_decile_hit_rate", "n"):
        if key in m:
            t.add_row(key, f"{m[key]:.4f}")
    c = report["controls"]
    if "shuffled_auc" in c:
        t.add_row("control: shuffled-label AUC", f"{c['shuffled_auc']:.4f} ({c['shuffled_auc_z']:+.1f} SE)")
    console.print(t)
    console.print(f"holdout {report['holdout'][0]} .. {report['holdout'][1]}; study {report['study_name']} "
                  f"({report['n_trials']} trials); run {report['run_id']}")
    console.print(f"gate: {report['reason']}" + ("  [bold red]SUSPECT[/]" if report["suspect"] else ""))

"""`foresight train regimes`: fit, evaluate, register the regime model (and a backfill helper command)."""

from __future__ import annotations

import typer
from rich.table import Table

from foresight.commands.common import console, fail, progress_bar


def train_regimes(
    n_states: int | None = typer.Option(None, "--n-states", help="2 or 3 (default: chosen by BIC)"),
    models: str | None = typer.Option(None, "--models", help="comma-separated: hmm,markov (default both)"),
    starts: int | None = typer.Option(None, "--starts", help="seeded starts per fit (best likelihood kept)"),
    benchmark: str | None = typer.Option(None, "--benchmark", help="a symbol instead of the equal-weight universe"),
) -> None:
    """Fit the Markov-switching / HMM regime model on the warehouse bars, evaluate it out of sample
    (log-likelihood, accuracy vs truth and the volatility baseline when known) and register it in MLflow as
    `foresight-regime` (challenger; champion when it beats the current champion)."""
    from foresight.context import build_context
    from training.regimes import run_train_regimes

    ctx = build_context()
    updates = {"n_states": n_states, "n_starts": starts, "benchmark_symbol": benchmark,
               "models": tuple(m.strip() for m in models.split(",")) if models else None}
    cfg = ctx.settings.regimes.model_copy(update={k: v for k, v in updates.items() if v is not None})
    if cfg.n_states is not None and cfg.n_states not in (2, 3):
        raise fail("--n-states must be 2 or 3", 2)
    with progress_bar("train regimes", 3) as bar:
        def step(msg: str) -> None:
            bar.update(bar.task_ids[0], description=f"train regimes: {msg}", advance=1)

        try:
            report = run_train_regimes(ctx, cfg, on_step=step)
        except (ValueError, RuntimeError) as exc:
            raise fail(str(exc), 2) from exc
    t = Table(title=f"foresight-regime v{report.version} ({report.model_kind}, {report.n_states} states)"
              f" — {'champion' if report.promoted else 'challenger'}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key in ("bic", "oos_loglik_per_session", "switches_per_year", "accuracy", "accuracy_raw",
                "baseline_accuracy", "accuracy_walk_forward_oos", "walk_forward_refits",
                "champion_oos_loglik_per_session", "fit_seconds", "filter_seconds", "walk_forward_seconds"):
        if key in report.metrics:
            t.add_row(key, f"{report.metrics[key]:.4f}")
    for key, value in report.metrics.items():
        if key.startswith(("expected_duration_", "mean_", "vol_")):
            t.add_row(key, f"{value:.5f}")
    console.print(t)
    console.print(f"run {report.run_id}; champion is v{report.champion_version}")

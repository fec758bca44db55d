"""The `foresight` command line: one entry point, `--help` on every command."""

from __future__ import annotations

import typer

from foresight.commands import (
    api,
    backtest,
    data,
    demo,
    deploy,
    monitor,
    score,
    stack,
    train_forecasts,
    train_regimes,
)
from foresight.commands import features as features_cmd
from foresight.commands import promote as promote_cmd
from foresight.commands import train_signals as train_signals_cmd
from foresight.commands.common import quiet_telemetry

app = typer.Typer(
    name="foresight",
    help="Foresight: precomputed signals (D1), regimes (D2) and forecasts (D3) from daily market data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train, evaluate, register and promote models.", no_args_is_help=True)
app.add_typer(train_app, name="train")

# Each area registers its commands here, one line each (implementations in foresight/commands/<area>.py).
app.command("ingest")(data.ingest)
app.command("status")(data.status)
app.command("features")(features_cmd.features)
app.command("demo")(demo.demo)
app.command("score")(score.score)
app.command("backtest")(backtest.backtest)
app.command("api")(api.api)
app.command("deploy")(deploy.deploy)
train_app.command("regimes")(train_regimes.train_regimes)
train_app.command("forecasts")(train_forecasts.train_forecasts)
app.command("monitor")(monitor.monitor)
train_app.command("signals")(train_signals_cmd.train_signals)
app.command("promote")(promote_cmd.promote)
app.command("rollback")(promote_cmd.rollback)
app.add_typer(stack.stack_app, name="stack")


def main() -> None:
    quiet_telemetry()
    app()


if __name__ == "__main__":
    main()

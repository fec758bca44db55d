"""The `foresight` command line: one entry point, `--help` on every command."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import traceback

import typer
from rich.markup import escape
from typer._click import exceptions as click_exc  # typer's own click (pinned with typer)

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
from foresight.commands.common import err_console, quiet_logging, quiet_telemetry, share_cores

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
app.command("serve")(deploy.serve)
train_app.command("regimes")(train_regimes.train_regimes)
train_app.command("forecasts")(train_forecasts.train_forecasts)
app.command("monitor")(monitor.monitor)
train_app.command("signals")(train_signals_cmd.train_signals)
app.command("promote")(promote_cmd.promote)
app.command("rollback")(promote_cmd.rollback)
app.add_typer(stack.stack_app, name="stack")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. A usage error (unknown option, bad date) is one line naming
    the command's --help, exit code 2."""
    try:
        code = app(argv, standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        exc.show()
        return 2
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "foresight"
        err_console.print(f"[bold red]error:[/] {escape(exc.format_message())} (see `{where} --help`)",
                          soft_wrap=True, highlight=False)
        return 2
    except (click_exc.Abort, typer.Abort):
        err_console.print("aborted")
        return 130
    except click_exc.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - an unexpected failure keeps its traceback
        traceback.print_exc()
        return 1
    return code if isinstance(code, int) else 0


def exit_process(code: int) -> None:
    """Leave the process once its work is flushed: exit handlers (Prefect's log and event shipping,
    logging.shutdown) run, output is flushed, then the interpreter's teardown is skipped. That teardown
    is where DuckDB's nanobind module reports the module constants that Prefect's background threads
    keep reachable (`nanobind: leaked ... instances`); there is nothing left to release at that point."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main() -> None:
    quiet_telemetry()
    quiet_logging()
    share_cores()
    exit_process(run())


if __name__ == "__main__":
    main()

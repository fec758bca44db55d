"""`foresight stack up|down|status`: the team's multi-process stack on this machine, over loopback."""

from __future__ import annotations

import json

import typer

from foresight.commands.common import console, fail

stack_app = typer.Typer(help="Rehearse the team's stack on one machine: PostgreSQL, MLflow server, Prefect "
                             "server, Dask, MongoDB and the read API, all on 127.0.0.1.", no_args_is_help=True)


@stack_app.command("up")
def up(
    workers: int = typer.Option(2, "--workers", min=1, help="Dask worker processes"),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", help="start the Prefect server (on PostgreSQL)"),
    api: bool = typer.Option(True, "--api/--no-api", help="start the read API (token required)"),
) -> None:
    """Start every process of the stack under FORESIGHT_HOME/stack and write stack.env (mode 0600: the
    database password and the API token) with the settings that point Foresight at it."""
    from foresight.context import build_context
    from foresight.stack import stack_dir, stack_up

    home = build_context().settings.home
    try:
        state = stack_up(home, workers=workers, prefect=prefect, api=api,
                         on_step=lambda what: console.print(f"starting {what} ..."))
    except (RuntimeError, OSError) as exc:
        raise fail(f"stack up: {exc}") from exc
    for name, url in state.urls.items():
        console.print(f"  {name:9s} {url}")
    env_file = stack_dir(home) / "stack.env"
    console.print(f"\nPoint Foresight at it:  source {env_file}\nthen e.g. `foresight train signals`, "
                  "`foresight score --start ... --end ...`; stop it with `foresight stack down`.")


@stack_app.command("down")
def down() -> None:
    """Stop what `stack up` started (data stays under FORESIGHT_HOME/stack)."""
    from foresight.context import build_context
    from foresight.stack import stack_down

    stopped = stack_down(build_context().settings.home)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Which processes of the stack are alive, and where they listen."""
    from foresight.context import build_context
    from foresight.stack import stack_status

    out = stack_status(build_context().settings.home)
    if as_json:
        console.print_json(json.dumps(out))
        return
    if not out["running"]:
        console.print("no stack recorded: `foresight stack up` starts one")
        return
    for name, alive in out["alive"].items():
        console.print(f"  {name:15s} {'up' if alive else 'DOWN'}")
    for name, url in out["urls"].items():
        console.print(f"  {name:9s} {url}")

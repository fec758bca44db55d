"""`foresight promote VERSION` and `foresight rollback`: a person's override of the signal champion."""

from __future__ import annotations

import getpass

import typer

from foresight.commands.common import console, fail


def promote(
    version: str = typer.Argument(..., help="version of foresight-signal to make champion"),
    reason: str = typer.Option("manual override", "--reason", help="why (recorded on the version)"),
) -> None:
    """Make VERSION of `foresight-signal` the champion, bypassing the gate (suspect versions are refused).
    Who, when and why are recorded as a tag on the version."""
    from foresight.context import build_context
    from registry.signals import promote_version

    ctx = build_context()
    try:
        prev = promote_version(ctx.mlflow, version, by=getpass.getuser(), reason=reason)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own type for an unknown version
        raise fail(f"cannot promote foresight-signal v{version}: {exc}", 2) from exc
    console.print(f"foresight-signal v{version} is champion (was: {'v' + prev if prev else 'none'})")


def rollback() -> None:
    """Give the champion alias back to the previous champion of `foresight-signal` (the current one
    becomes challenger); recorded as tags on both versions."""
    from foresight.context import build_context
    from registry.signals import rollback_champion

    ctx = build_context()
    try:
        old, new = rollback_champion(ctx.mlflow, by=getpass.getuser())
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    console.print(f"rolled back: champion v{old} -> v{new} (v{old} is challenger)")

"""`foresight promote VERSION` and `foresight rollback`: a person's override of a model's champion."""

from __future__ import annotations

import getpass

import typer

from foresight.commands.common import console, fail

_MODEL_HELP = "registered model: foresight-signal, foresight-regime or foresight-forecast"


def promote(
    version: str = typer.Argument(..., help="version of the model to make champion"),
    reason: str = typer.Option("manual override", "--reason", help="why (recorded on the version)"),
    model: str = typer.Option("foresight-signal", "--model", help=_MODEL_HELP),
) -> None:
    """Make VERSION of MODEL (default foresight-signal) the champion, bypassing the gate (suspect versions
    are refused). Who, when and why are recorded as a tag on the version."""
    from mlflow.exceptions import MlflowException

    from foresight.context import build_context
    from training.promotion import MODELS, promote_version

    if model not in MODELS:
        raise fail(f"unknown model {model!r}: use one of {', '.join(MODELS)}", 2)
    ctx = build_context()
    try:
        prev = promote_version(ctx.mlflow, version, by=getpass.getuser(), reason=reason, model_name=model)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    except MlflowException:
        raise fail(f"cannot promote {model} v{version}: no such registered version "
                   "(`foresight status` lists the models)", 2) from None
    console.print(f"{model} v{version} is champion (was: {'v' + prev if prev else 'none'})")


def rollback(model: str = typer.Option("foresight-signal", "--model", help=_MODEL_HELP)) -> None:
    """Give the champion alias of MODEL (default foresight-signal) back to the previous champion (the
    current one becomes challenger); recorded as tags on both versions."""
    from mlflow.exceptions import MlflowException

    from foresight.context import build_context
    from training.promotion import MODELS, rollback_champion

    if model not in MODELS:
        raise fail(f"unknown model {model!r}: use one of {', '.join(MODELS)}", 2)
    ctx = build_context()
    try:
        old, new = rollback_champion(ctx.mlflow, by=getpass.getuser(), model_name=model)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    except MlflowException:
        raise fail(f"nothing to roll back: {model} is not registered yet (train it first)", 2) from None
    console.print(f"rolled back: {model} champion v{old} -> v{new} (v{old} is challenger)")

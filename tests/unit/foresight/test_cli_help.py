"""Every command and sub-command of `foresight` answers --help (walks the app, so new commands are covered)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from foresight.cli import app


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Typer 0.29 vendors click: any command with a `commands` mapping is a group.
    paths = [prefix]
    subs = getattr(command, "commands", None) or {}
    for name, sub in sorted(subs.items()):
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_command_answers_help():
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    names = {p[0] for p in paths if p}
    # The foundation's commands are there; whatever else is registered is walked too.
    assert {"ingest", "status", "demo"} <= names
    assert any(len(p) == 2 for p in paths)  # sub-commands (e.g. `train signals`) are walked too
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"foresight {' '.join(path)} --help: {result.output}"
        assert "Usage" in result.output, path

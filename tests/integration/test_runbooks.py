"""Every command in docs/runbooks is real: each `foresight` command names an existing command with existing
options; the read-only ones run against a small demo-like home (and succeed), the ones that change state
answer --help; the other tools' commands (prefect, evidently) answer --help for the same sub-command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from foresight.cli import app
from tests.integration.dashboard_home import build_dashboard_home

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
BIN = Path(sys.executable).parent
# Commands that only read: run for real against the small home.
READ_ONLY = {("status",), ("deploy",)}
OTHER_TOOLS = {"prefect", "evidently"}
SITUATIONS = ("failed-night", "data-gap", "alphavantage", "mongodb", "drift-alert", "bad-champion",
              "restated-bars", "schedules")


def extract_commands(text: str) -> list[list[str]]:
    """argv of every command line in the ```bash blocks (leading VAR=value assignments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            argv = shlex.split(line)
            while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
                argv.pop(0)
            if argv and argv[0] != "export":
                out.append(argv)
    return out


def _all_commands() -> list[tuple[str, list[str]]]:
    return [(p.name, argv) for p in sorted(RUNBOOKS.glob("*.md")) for argv in extract_commands(p.read_text())]


def _resolve(argv: list[str]):
    """The click command `foresight argv...` names, the sub-command path and the rest of the arguments."""
    cmd = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while rest and getattr(cmd, "commands", None) and rest[0] in cmd.commands:
        cmd = cmd.commands[rest[0]]
        path.append(rest.pop(0))
    return cmd, tuple(path), rest


def test_every_situation_has_a_runbook_with_commands():
    for name in SITUATIONS:
        page = RUNBOOKS / f"{name}.md"
        assert page.exists(), page
        assert extract_commands(page.read_text()), f"{page.name} has no command"
    index = (RUNBOOKS / "README.md").read_text()
    assert all(f"({name}.md)" in index for name in SITUATIONS)


def test_extraction_finds_commands_and_drops_assignments():
    text = "```bash\n# a comment\nFOO=1 BAR=x foresight status --json\n\nexport X=1\n```\n```text\nnot me\n```"
    assert extract_commands(text) == [["foresight", "status", "--json"]]


@pytest.fixture(scope="module")
def small_home(tmp_path_factory):
    base = tmp_path_factory.mktemp("runbook")
    build_dashboard_home(base / "home")
    return base


def test_runbook_commands_are_real(small_home, monkeypatch):
    monkeypatch.setenv("FORESIGHT_HOME", str(small_home / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{small_home}/mlruns/mlflow.db")
    commands = _all_commands()
    assert len(commands) >= 30
    runner = CliRunner()
    ran, helped, other = [], [], set()
    for page, argv in commands:
        tool = argv[0]
        if tool in OTHER_TOOLS:
            subs = [a for a in argv[1:] if not a.startswith("-")]
            # The tool's sub-command words (not their values) answer --help.
            depth = {"prefect": 2, "evidently": 1}[tool]
            other.add((tool, *subs[:depth]))
            continue
        assert tool == "foresight", f"{page}: unknown tool in {argv}"
        cmd, path, rest = _resolve(argv[1:])
        assert path, f"{page}: `{shlex.join(argv)}` names no foresight command"
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
        used = {a.split("=")[0] for a in rest if a.startswith("--")}
        assert used <= known, f"{page}: `{shlex.join(argv)}` uses unknown options {sorted(used - known)}"
        if path in READ_ONLY and (path != ("deploy",) or "--dry-run" in rest):
            result = runner.invoke(app, argv[1:])
            assert result.exit_code == 0, f"{page}: `{shlex.join(argv)}` -> {result.exit_code}: {result.output}"
            ran.append(argv)
        else:
            result = runner.invoke(app, [*path, "--help"])
            assert result.exit_code == 0 and "Usage" in result.output, f"{page}: {path} --help"
            helped.append(argv)
    assert ran and helped
    env = {**os.environ, "PREFECT_HOME": str(small_home / "prefect")}
    for words in sorted(other):
        exe = BIN / words[0]
        done = subprocess.run([str(exe), *words[1:], "--help"], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, f"{' '.join(words)} --help: {done.stderr[-1000:]}"


def test_status_in_the_runbooks_shows_what_they_promise(small_home, monkeypatch):
    # Given the small home, `foresight status --json` has the sections the runbooks send people to.
    import json

    monkeypatch.setenv("FORESIGHT_HOME", str(small_home / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{small_home}/mlruns/mlflow.db")
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    ops = json.loads(result.output)["operations"]
    assert set(ops) >= {"last_runs", "champions", "freshness", "sla", "indicators"}
    assert set(ops["last_runs"]) >= {"nightly", "ingest", "features", "monitor", "backtest"}
    assert ops["last_runs"]["backtest"]["outcome"] == "ok"

"""A person's mistakes on an empty home end in one line that names what to run next, exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from foresight.cli import app


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FORESIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return tmp_path


@pytest.mark.parametrize(("args", "next_step"), [
    (["train", "signals", "--trials", "1"], "foresight ingest"),
    (["rollback"], "train"),
    (["promote", "1"], "foresight status"),
    (["score", "--start", "2025-01-02", "--end", "2025-01-03"], "foresight"),
    (["features"], "foresight ingest"),
])
def test_empty_home_errors_are_one_actionable_line(empty_home, args, next_step):
    result = CliRunner().invoke(app, args)
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text and next_step in text, text
    assert len([line for line in text.splitlines() if line.strip()]) <= 2, text  # one message (rich may wrap it)

"""A person's mistakes on an empty home end in one line that names what to run next, exit code 2 (through the
real `foresight` entry point, as a person runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FORESIGHT = str(Path(sys.executable).parent / "foresight")


@pytest.mark.parametrize(("args", "next_step"), [
    (["train", "signals", "--trials", "1"], "foresight ingest"),
    (["rollback"], "foresight train"),
    (["promote", "1"], "foresight status"),
    (["score", "--start", "2025-01-02", "--end", "2025-01-03"], "foresight"),
    (["features"], "foresight ingest"),
])
def test_empty_home_errors_are_one_actionable_line(tmp_path, args, next_step):
    env = {**os.environ, "FORESIGHT_HOME": str(tmp_path / "home"), "COLUMNS": "400",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    done = subprocess.run([FORESIGHT, *args], env=env, capture_output=True, text=True, timeout=300)
    text = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, text
    assert "Traceback" not in text and "nanobind" not in text and next_step in text, text
    assert len([line for line in text.splitlines() if line.strip()]) == 1, text

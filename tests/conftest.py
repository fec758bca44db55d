"""Shared fixtures: an isolated FORESIGHT_HOME and MLflow store per test, one Prefect harness, telemetry off."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh FORESIGHT_HOME and MLflow sqlite store under tmp_path, set in the environment."""
    monkeypatch.setenv("FORESIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(tmp_path / "mlruns" / "artifacts"))
    return tmp_path / "home"


@pytest.fixture(scope="session")
def prefect_harness():
    """ONE ephemeral Prefect API for the whole session (starting it costs 13-45 s): use it in every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

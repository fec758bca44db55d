"""Settings: FORESIGHT_ prefix, conventional MLFLOW_TRACKING_URI, and an Alpha Vantage key that never shows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from foresight.cli import app
from foresight.settings import Settings
from foresight.status import compute_settings_summary
from registry.core import compute_artifact_root

KEY = "AV-KEY-DO-NOT-LEAK-123"


def test_prefix_and_nested_sections(monkeypatch, tmp_path):
    monkeypatch.setenv("FORESIGHT_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("FORESIGHT_SAMPLE__N_SYMBOLS", "17")
    monkeypatch.setenv("FORESIGHT_GUARDRAILS__STALE_RUN_SESSIONS", "7")
    monkeypatch.setenv("HOME_NOT_PREFIXED", "x")
    s = Settings()
    assert s.home == tmp_path / "h"
    assert s.duckdb_path == tmp_path / "h" / "foresight.duckdb"
    assert s.sample.n_symbols == 17 and s.guardrails.stale_run_sessions == 7


def test_defaults(monkeypatch):
    for var in ("FORESIGHT_HOME", "MLFLOW_TRACKING_URI", "FORESIGHT_MLFLOW__TRACKING_URI", "ALPHAVANTAGE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.home == Path(".foresight")
    assert s.mlflow.tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert s.mlflow.artifact_root is None
    assert compute_artifact_root(s.mlflow.tracking_uri, s.mlflow.artifact_root) == Path("mlruns/artifacts")
    assert s.alphavantage.api_key is None


def test_mlflow_artifact_root_follows_the_tracking_uris_home_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/second/mlflow.db")
    s = Settings()
    # a second home keeps its artifacts beside its own database, not in ./mlruns/artifacts
    assert compute_artifact_root(s.mlflow.tracking_uri, s.mlflow.artifact_root) == tmp_path / "second" / "artifacts"
    assert compute_artifact_root("sqlite:///rel/dir/mlflow.db") == Path("rel/dir/artifacts")
    assert compute_artifact_root("http://mlflow.internal:5000") is None  # the server chooses
    monkeypatch.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(tmp_path / "explicit"))
    s = Settings()
    assert compute_artifact_root(s.mlflow.tracking_uri, s.mlflow.artifact_root) == tmp_path / "explicit"





def test_mlflow_tracking_uri_is_honoured_and_the_prefixed_one_wins(monkeypatch):
    monkeypatch.delenv("FORESIGHT_MLFLOW__TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert Settings().mlflow.tracking_uri == "http://mlflow.internal:5000"
    monkeypatch.setenv("FORESIGHT_MLFLOW__TRACKING_URI", "sqlite:///elsewhere.db")
    assert Settings().mlflow.tracking_uri == "sqlite:///elsewhere.db"


def test_alphavantage_key_is_secret_in_repr_dump_and_summary(monkeypatch):
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    s = Settings()
    assert isinstance(s.alphavantage.api_key, SecretStr)
    assert s.alphavantage.api_key.get_secret_value() == KEY
    for text in (repr(s), str(s), repr(s.alphavantage), json.dumps(s.public_dict()),
                 json.dumps(compute_settings_summary(s))):
        assert KEY not in text
    assert compute_settings_summary(s)["alphavantage_key_set"] is True


def test_key_never_in_status_json_or_logs(home, monkeypatch, caplog):
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:pa55word@mlflow.internal:5000")
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", "--source", "sample", "--n-symbols", "3", "--years", "1"])
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["settings"]["alphavantage_key_set"] is True
    assert info["settings"]["mlflow_tracking_uri"] == "http://***@mlflow.internal:5000"
    assert info["bars"]["symbols"] == 3
    for text in (result.output, ingest.output, caplog.text):
        assert KEY not in text and "pa55word" not in text

"""MLflow artifacts follow the tracking URI's home unless FORESIGHT_MLFLOW__ARTIFACT_ROOT is set."""

from __future__ import annotations

from mlflow import MlflowClient

from registry.core import MLflowTarget, ensure_experiment


def test_a_new_experiment_puts_its_artifacts_under_the_tracking_uris_home(tmp_path, monkeypatch):
    # Given a second home whose tracking URI is not ./mlruns, run from another directory
    monkeypatch.chdir(tmp_path)
    target = MLflowTarget(f"sqlite:///{tmp_path}/home2/mlflow.db")
    exp_id = ensure_experiment(target, "signals")
    # Then its experiment keeps artifacts beside its own database, and ./mlruns is never made
    location = MlflowClient(tracking_uri=target.tracking_uri).get_experiment(exp_id).artifact_location
    assert location == (tmp_path / "home2" / "artifacts" / "foresight-signals").as_uri()
    assert not (tmp_path / "mlruns").exists()
    # An explicit root wins
    explicit = MLflowTarget(f"sqlite:///{tmp_path}/home3/mlflow.db", tmp_path / "elsewhere")
    exp_id = ensure_experiment(explicit, "signals")
    location = MlflowClient(tracking_uri=explicit.tracking_uri).get_experiment(exp_id).artifact_location
    assert location == (tmp_path / "elsewhere" / "foresight-signals").as_uri()

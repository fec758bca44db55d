"""The random-walk sample (signal_strength 0): `foresight train signals` runs every control, finds no skill,
registers the version as challenger and says that the night serves no signals; the nightly signal step then
fails naming that decision."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import features
from foresight.cli import app
from foresight.context import build_context
from marketdata.ingest import run_ingest
from marketdata.sample import random_walk_settings
from marketdata.sources import SampleSource
from registry.core import CHALLENGER, CHAMPION, SIGNAL_MODEL, alias_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    root = tmp_path_factory.mktemp("walk")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORESIGHT_HOME", str(root / "home"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
        mp.setenv("FORESIGHT_MLFLOW__ARTIFACT_ROOT", str(root / "mlruns" / "artifacts"))
        for key, value in {"MAX_ROUNDS": "60", "N_FOLDS": "3", "CONTROL_SHUFFLES": "1", "MIN_FOLD_ROWS": "200"}.items():
            mp.setenv(f"FORESIGHT_SIGNALS__{key}", value)
        ctx = build_context()
        sample = random_walk_settings(ctx.settings.sample.model_copy(update={"n_symbols": 20, "n_years": 3}))
        run_ingest(ctx.warehouse, SampleSource(sample), ctx.settings.guardrails)
        features.run_features(ctx.warehouse, ctx.settings.features, sets=["alpha158"])
        yield ctx


def test_a_random_walk_ends_with_no_champion_and_says_why(walk, prefect_harness):
    from flows.steps import StepFailed, step_signals

    # When the model is trained through the CLI (the `train-signals` flow)
    res = CliRunner().invoke(app, ["train", "signals", "--trials", "1", "--families", "lightgbm"])
    assert res.exit_code == 0, res.output
    # Then the controls pass (nothing leaks, nothing is suspect), there is no skill and no champion
    out = " ".join(res.output.split())
    assert "-> challenger" in out and "SUSPECT" not in out
    assert "gate: no skill over the no-skill baselines: holdout AUC" in out
    assert "there is no champion, so the night serves no signals until a version passes" in out
    assert alias_version(walk.mlflow, SIGNAL_MODEL, CHAMPION) is None
    assert alias_version(walk.mlflow, SIGNAL_MODEL, CHALLENGER) == "1"
    # And the night's signal step fails with that reason and what to do
    with pytest.raises(StepFailed) as err:
        step_signals(walk, None, None)
    assert "v1, was not promoted: no skill over the no-skill baselines" in str(err.value)
    assert "train one with `foresight train signals`" in str(err.value)

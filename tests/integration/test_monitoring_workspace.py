"""The Evidently workspace of monitoring: runs added by `add_to_workspace` are an ordinary workspace for
Evidently, the project is bounded by `keep_runs`, re-runs replace, and opening reads no snapshot."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest

from monitoring.store import STATUS_PANEL, add_to_workspace

PROJECT = "foresight-signal"


@pytest.fixture(scope="module")
def snapshot():
    """A tiny real Evidently snapshot (two numeric columns, one metric)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    definition = DataDefinition(numerical_columns=["a", "b"])
    ref = Dataset.from_pandas(frame.iloc[:20], data_definition=definition)
    cur = Dataset.from_pandas(frame.iloc[20:], data_definition=definition)
    return Report([MeanValue(column="a")]).run(current_data=cur, reference_data=ref)


def _key(date: str) -> str:
    return f"{PROJECT}|3|{date}"


def _index(path) -> dict[str, str]:
    return json.loads((path / "foresight-runs.json").read_text())


DATES = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]


def test_runs_are_visible_to_the_real_workspace(tmp_path, snapshot):
    from evidently.ui.workspace import Workspace

    ids = [add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(d))[1] for d in DATES[:2]]
    pid, rid = add_to_workspace(tmp_path, "foresight-forecast", snapshot, "forecast", "foresight-forecast|1|x")

    ws = Workspace.create(str(tmp_path))  # the upstream handle (what `evidently ui` opens)
    found = ws.search_project(PROJECT)
    assert len(found) == 1 and found[0].description == f"Foresight monitoring of {PROJECT}"
    assert sorted(str(r) for r in ws.list_runs(found[0].id)) == sorted(ids)
    titles = [p.title for p in ws.get_dashboard(found[0].id).panels]
    assert titles == [STATUS_PANEL, "Share of drifted features", "Prediction drift (probability)",
                      "Calibration: ECE, Brier, log-loss (matured window)"]
    assert [str(r) for r in ws.list_runs(pid)] == [rid]
    # coverage and pinball loss on charts of their own (pinball is its own metric type)
    forecast = ws.get_dashboard(pid).panels
    assert [p.title for p in forecast] == [STATUS_PANEL, "Forecast band coverage (p05-p95, nominal 0.90)",
                                           "Forecast pinball loss"]
    metrics = [[v.metric.rsplit(":", 1)[-1] for v in p.values] for p in forecast]
    assert metrics == [["MonitoringStatus"], ["MeanValue"], ["PinballLoss"]]
    assert ws.get_run(pid, rid) is not None  # the stored run parses as an Evidently snapshot
    assert set(_index(tmp_path).values()) == {*ids, rid}


def test_keep_runs_keeps_the_newest_dates(tmp_path, snapshot):
    from evidently.ui.workspace import Workspace

    # out of order on purpose: the date in the key decides, not the insertion order
    added = {}
    for d in [DATES[2], DATES[0], DATES[4], DATES[1], DATES[3]]:
        pid, added[d] = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(d), keep_runs=3)
    runs = sorted(str(r) for r in Workspace.create(str(tmp_path)).list_runs(pid))
    assert runs == sorted(added[d] for d in DATES[2:])
    assert _index(tmp_path) == {_key(d): added[d] for d in DATES[2:]}


def test_keep_runs_is_per_project_and_prunes_unindexed_runs_first(tmp_path, snapshot):
    pid, _ = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[0]))
    other, other_run = add_to_workspace(tmp_path, "foresight-forecast", snapshot, "forecast", "f|1|2020-01-01")
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(str(tmp_path))
    stray = str(ws.add_run(pid, snapshot).id)  # a run the index does not know (e.g. added by hand)
    kept = [add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(d), keep_runs=2)[1] for d in DATES[1:3]]
    assert sorted(str(r) for r in ws.list_runs(pid)) == sorted(kept)
    assert stray not in _index(tmp_path).values()
    assert [str(r) for r in ws.list_runs(other)] == [other_run]  # the other project is untouched
    assert _index(tmp_path)["f|1|2020-01-01"] == other_run


def test_rerun_of_a_key_replaces_its_run(tmp_path, snapshot):
    from evidently.ui.workspace import Workspace

    pid, first = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[0]))
    add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[1]))
    _, again = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[0]), keep_runs=5)
    runs = [str(r) for r in Workspace.create(str(tmp_path)).list_runs(pid)]
    assert len(runs) == 2 and first not in runs and again in runs
    assert _index(tmp_path)[_key(DATES[0])] == again and len(_index(tmp_path)) == 2
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic index write left no temp file


def test_opening_reads_no_snapshot(tmp_path, snapshot):
    """A garbage snapshot file breaks the upstream `Workspace.create` (it parses every snapshot) but not
    `add_to_workspace`: the proof that adding a run costs nothing per stored snapshot."""
    from evidently.ui.workspace import Workspace

    pid, _ = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[0]))
    garbage = tmp_path / pid / "snapshots" / f"{uuid.UUID(int=1)}.json"
    garbage.write_text("{ this is not a snapshot")
    with pytest.raises(Exception, match="malformed|Expecting|JSON"):
        Workspace.create(str(tmp_path))
    pid2, rid = add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[1]))
    assert pid2 == pid and (tmp_path / pid / "snapshots" / f"{rid}.json").exists()
    # the garbage run sorts as the oldest (unindexed) run, so bounding the project removes it first
    add_to_workspace(tmp_path, PROJECT, snapshot, "signal", _key(DATES[2]), keep_runs=2)
    assert not garbage.exists()
    assert len(Workspace.create(str(tmp_path)).list_runs(pid)) == 2


def test_a_project_made_before_the_split_gets_the_new_panels_once(tmp_path, snapshot):
    """A forecast project whose dashboard holds only the old coverage chart (made by an earlier Foresight)
    gets the status and pinball charts appended, and adding more runs adds nothing again."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(str(tmp_path))
    old = ws.create_project("foresight-forecast", description="Foresight monitoring of foresight-forecast")
    old.dashboard.add_panel(line_plot_panel(title="Forecast band coverage (p05-p95, nominal 0.90)",
                                            values=[PanelMetric(legend="coverage {{column}}", metric="MeanValue")]))
    for day in DATES[:2]:
        pid, _ = add_to_workspace(tmp_path, "foresight-forecast", snapshot, "forecast", f"foresight-forecast|1|{day}")
    assert pid == str(old.id)
    titles = [p.title for p in Workspace.create(str(tmp_path)).get_dashboard(old.id).panels]
    assert titles == ["Forecast band coverage (p05-p95, nominal 0.90)", STATUS_PANEL, "Forecast pinball loss"]

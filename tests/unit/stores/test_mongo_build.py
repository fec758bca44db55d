"""The pure side of the Mongo regimes store: documents and the upsert operations (no server needed)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from stores.mongo import _build_regime_upserts, compute_regime_documents


def _row(day: int, regime: str = "calm_bull", p: float = 0.9, scored: int = 1) -> dict:
    return {
        "date": dt.date(2025, 1, day), "universe": "default", "regime": regime,
        "probabilities": f'{{"calm_bull": {p}, "high_vol_bear": {1 - p}}}', "model_name": "foresight-regime",
        "model_version": "3", "scored_at": dt.datetime(2025, 2, 1, scored), "regime_probability": np.float64(p),
        "regime_age": np.int64(4), "in_sample": np.bool_(False),
    }


def test_documents_are_bson_ready():
    (doc,) = compute_regime_documents([_row(2)])
    assert doc["date"] == dt.datetime(2025, 1, 2)
    assert doc["probabilities"] == {"calm_bull": 0.9, "high_vol_bear": 1 - 0.9}
    assert type(doc["regime_probability"]) is float and type(doc["regime_age"]) is int
    assert type(doc["in_sample"]) is bool


def test_upserts_only_for_new_or_changed_documents():
    stored = compute_regime_documents([_row(2), _row(3)])
    # same content, later scored_at: nothing to do (a re-run changes nothing)
    again = compute_regime_documents([_row(2, scored=9), _row(3, scored=9)])
    ops, res = _build_regime_upserts(again, stored)
    assert ops == [] and (res.inserted, res.updated, res.unchanged) == (0, 0, 2)
    # a changed probability and a new day: one update, one insert, keyed by (universe, date, model_version)
    new = compute_regime_documents([_row(2), _row(3, p=0.8), _row(6)])
    ops, res = _build_regime_upserts(new, stored)
    assert (res.inserted, res.updated, res.unchanged) == (1, 1, 1)
    assert [op._filter for op in ops] == [
        {"universe": "default", "date": dt.datetime(2025, 1, 3), "model_version": "3"},
        {"universe": "default", "date": dt.datetime(2025, 1, 6), "model_version": "3"},
    ]
    assert all(op._upsert for op in ops)
    assert ops[0]._doc["$set"]["probabilities"]["calm_bull"] == 0.8


def test_mongo_uri_settings(monkeypatch):
    from foresight.settings import Settings

    monkeypatch.delenv("FORESIGHT_MONGODB__URI", raising=False)
    monkeypatch.delenv("FORESIGHT_MONGODB_URI", raising=False)
    assert Settings().mongodb.uri is None  # unset: a local SecantusDB is started under FORESIGHT_HOME
    monkeypatch.setenv("FORESIGHT_MONGODB_URI", "mongodb://db.example:27017")
    assert Settings().mongodb.uri.get_secret_value() == "mongodb://db.example:27017"
    assert "db.example" not in str(Settings().public_dict()["mongodb"])
    monkeypatch.setenv("FORESIGHT_MONGODB__URI", "mongodb://nested:1")
    assert Settings().mongodb.uri.get_secret_value() == "mongodb://nested:1"

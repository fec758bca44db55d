"""Alpha158 names and formulas as Qlib defines them; versions pinned to the SQL; schema and docs in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from features import FEATURE_SET_VERSION, FEATURE_SETS, definition_hash, feature_columns, feature_set_version
from features.docs import render_markdown
from stores.migrations.m010_features import V10_FEATURE_COLUMNS

# A new definition needs a new version: add a line here, never edit an existing one.
PINNED = {
    ("alpha158", 1): "1a9c72ceefd9ab223053535c48610ec7493ce1ba179eadd6adbb1364f27de4c5",
    ("alpha158", 2): "246e404c017d9196e816236038f9af0df83b41c2f3e85a374a83078407c2768b",
    ("market", 1): "06a6a9d3345c46080cd2b089725881a94837273d8935d2e7979f249067751319",
}

QLIB_ROLLING = ["ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV", "IMAX",
                "IMIN", "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD", "VMA", "VSTD", "WVMA",
                "VSUMP", "VSUMN", "VSUMD"]


def test_alpha158_has_qlibs_158_names_in_qlibs_order():
    kbar = ["KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2"]
    price = ["OPEN0", "HIGH0", "LOW0", "VWAP0"]
    rolling = [f"{op}{d}" for op in QLIB_ROLLING for d in (5, 10, 20, 30, 60)]
    assert feature_columns("alpha158") == kbar + price + rolling
    assert len(feature_columns("alpha158")) == 158


@pytest.mark.parametrize(("name", "qlib"), [
    ("KSFT2", "(2*$close-$high-$low)/($high-$low+1e-12)"),
    ("ROC5", "Ref($close, 5)/$close"),
    ("RSV20", "($close-Min($low, 20))/(Max($high, 20)-Min($low, 20)+1e-12)"),
    ("IMXD60", "(IdxMax($high, 60)-IdxMin($low, 60))/60"),
    ("CORD10", "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), 10)"),
    ("WVMA30", "Std(Abs($close/Ref($close, 1)-1)*$volume, 30)/(Mean(Abs($close/Ref($close, 1)-1)*$volume, 30)+1e-12)"),
    ("VSUMD5", "(Sum(Greater($volume-Ref($volume, 1), 0), 5)-Sum(Greater(Ref($volume, 1)-$volume, 0), 5))"
               "/(Sum(Abs($volume-Ref($volume, 1)), 5)+1e-12)"),
])
def test_qlib_expressions_are_alpha158dl_strings(name, qlib):
    f = {x.name: x for x in FEATURE_SETS["alpha158"].features}[name]
    assert f.qlib == qlib


@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_definition_hash_is_pinned_to_the_declared_version(name):
    version = feature_set_version(name)
    key = (name, version)
    assert key in PINNED, f"{name} v{version} has no pinned hash: add ({name!r}, {version}): {definition_hash(name)!r}"
    assert definition_hash(name) == PINNED[key], (
        f"the SQL of {name!r} changed but its version is still {version}: bump FeatureSetDef.version and pin "
        f"({name!r}, {version + 1}): {definition_hash(name)!r}")
    assert FEATURE_SETS["alpha158"].version == FEATURE_SET_VERSION


def test_unknown_set_names_the_known_ones():
    with pytest.raises(KeyError, match="alpha158"):
        feature_columns("alpha999")


def test_schema_has_every_column():
    assert [c for fs in FEATURE_SETS.values() for c in fs.columns] == V10_FEATURE_COLUMNS


def test_reference_page_is_generated_from_the_code():
    page = render_markdown()
    for fs in FEATURE_SETS.values():
        for c in fs.columns:
            assert f"`{c}`" in page
        assert definition_hash(fs.name) in page
    assert "typical price" in page
    committed = Path(__file__).resolve().parents[3] / "docs" / "features.md"
    assert committed.read_text() == page, "docs/features.md is stale: run `make docs`"

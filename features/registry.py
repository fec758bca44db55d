"""Feature-set identity: name, declared version and a hash of the SQL that computes it."""

from __future__ import annotations

import hashlib

from features.definitions import FEATURE_SETS, FeatureSetDef
from features.sql import build_feature_select


def _parts(feature_set: str) -> list[str]:
    names = [p.strip() for p in feature_set.split("+") if p.strip()]
    unknown = [n for n in names if n not in FEATURE_SETS]
    if not names or unknown:
        raise KeyError(f"unknown feature set {feature_set!r}: known sets are {sorted(FEATURE_SETS)} "
                       "(join several with '+', e.g. 'alpha158+market')")
    return names


def get_feature_set(name: str) -> FeatureSetDef:
    """The definition of one set (KeyError naming the known sets otherwise)."""
    names = _parts(name)
    if len(names) != 1:
        raise KeyError(f"{name!r} joins several sets; ask for one of {names}")
    return FEATURE_SETS[names[0]]


def feature_columns(feature_set: str = "alpha158") -> list[str]:
    """Output columns of a set, in order; `"a+b"` concatenates the sets' columns."""
    return [c for n in _parts(feature_set) for c in FEATURE_SETS[n].columns]


def definition_hash(name: str) -> str:
    """sha256 of the full SQL text of one set: any change to a formula, window or the price adjustment changes it."""
    fs = get_feature_set(name)
    text = "\n".join([fs.name, ",".join(fs.columns), build_feature_select(fs)])
    return hashlib.sha256(text.encode()).hexdigest()


def feature_set_version(name: str) -> int:
    """Declared version of one set (bumped with every change of its definition)."""
    return get_feature_set(name).version


def feature_set_tag(feature_set: str) -> str:
    """What a model records as its feature version, e.g. `alpha158@1:3f2a9c1b+market@1:77aa01de`."""
    return "+".join(f"{n}@{FEATURE_SETS[n].version}:{definition_hash(n)[:8]}" for n in _parts(feature_set))


FEATURE_SET_VERSION: int = FEATURE_SETS["alpha158"].version
"""Version of the default set, alpha158."""

__all__ = [
    "FEATURE_SET_VERSION",
    "definition_hash",
    "feature_columns",
    "feature_set_tag",
    "feature_set_version",
    "get_feature_set",
]

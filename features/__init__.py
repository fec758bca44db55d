"""Point-in-time feature sets and labels, computed in DuckDB SQL.

Public interface (other packages import these names from `features`):

- `run_features(warehouse, settings, full=False) -> FeatureRunSummary`: update every configured set and the
  labels; incremental by default (new dates, and dates whose bars were corrected since they were computed,
  reading just the lookback rows the windows need).
- `feature_columns(feature_set="alpha158") -> list[str]`: the set's columns in order (`"alpha158+market"` joins).
- `FEATURE_SET_VERSION`, `feature_set_version(name)`, `feature_set_tag(name)`, `definition_hash(name)`:
  what a model records about the features it was trained on.
- `load_training_frame(con, feature_set, horizon, start=None, end=None)`: symbol, date, features, fwd_return,
  label for one horizon, ordered by (date, symbol), unlabeled rows left out.
- `load_feature_frame(con, feature_set, dates=None, start=None, end=None, symbols=None)`: rows to score.
- `load_market_series`, `load_portfolio_returns`, `load_extra_features` (features.series): the daily series
  the regime and forecast models read.
- `compute_usable_columns(frame, columns) -> (kept, dropped)`: training drops constant or all-NULL columns, and
  `describe_dropped(dropped, total)` is the line saying so; `compute_frame_gaps` / `compute_unavailable_families`
  name the feature families a symbol's data cannot feed (no volume, no open/high/low, flat OHLC).

Timing: a feature row at date t uses bars with date <= t only; its label spans the closes t+lag .. t+lag+H.
A feature needing a field its row lacks (a NULL open, high, low or volume) is NULL on that row.
"""

from features.availability import (
    FamilyGap,
    compute_field_families,
    compute_frame_gaps,
    compute_missing_field_gaps,
    compute_unavailable_families,
    compute_usable_columns,
    describe_dropped,
)
from features.definitions import FEATURE_SETS
from features.registry import (
    FEATURE_SET_VERSION,
    definition_hash,
    feature_columns,
    feature_set_tag,
    feature_set_version,
    get_feature_set,
)
from features.series import load_extra_features, load_market_series, load_portfolio_returns
from features.store import (
    FeatureRunSummary,
    StaleFeaturesError,
    load_feature_frame,
    load_training_frame,
    run_features,
)

__all__ = [
    "FEATURE_SETS",
    "FEATURE_SET_VERSION",
    "FamilyGap",
    "FeatureRunSummary",
    "StaleFeaturesError",
    "compute_field_families",
    "compute_frame_gaps",
    "compute_missing_field_gaps",
    "compute_unavailable_families",
    "compute_usable_columns",
    "definition_hash",
    "describe_dropped",
    "feature_columns",
    "feature_set_tag",
    "feature_set_version",
    "get_feature_set",
    "load_extra_features",
    "load_feature_frame",
    "load_market_series",
    "load_portfolio_returns",
    "load_training_frame",
    "run_features",
]

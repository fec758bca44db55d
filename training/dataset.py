"""Where a signal model's training frame comes from: the warehouse, and the same build on cut market data.

`WarehouseFrameSource.load` reads the frame as the feature store keeps it; `rebuild` builds it again, with the
feature store's own code, from the warehouse's bars cut at given dates (the leak control's input, see
training.leakage). `load_planted_skill` reads the sample source's planted structure and gives the most skill
a model can legitimately show on it (the suspicion gate's ceiling on sample data).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import features
from features.config import FeatureSettings
from marketdata.config import SampleSettings
from marketdata.sample import PlantedSkill, compute_planted_skill
from stores.warehouse import Warehouse
from training.leakage import DataCut


@dataclass(frozen=True)
class WarehouseFrameSource:
    """The training frame of `feature_set` at `horizon` (rows dated start..end) in `warehouse`."""

    warehouse: Warehouse
    settings: FeatureSettings
    feature_set: str
    horizon: int
    start: dt.date | None = None
    end: dt.date | None = None

    def load(self) -> pd.DataFrame:
        """features.load_training_frame on the warehouse (read-only)."""
        with self.warehouse.session(read_only=True) as con:
            return features.load_training_frame(con, self.feature_set, self.horizon, start=self.start, end=self.end)

    def rebuild(self, cuts: Sequence[DataCut]) -> list[pd.DataFrame]:
        """For each cut, in a scratch warehouse: the warehouse's bars up to `feature_end`, the feature sets
        built in full from them (`features.run_features`, the nightly code); then the bars up to `label_end`
        and the labels alone rebuilt; the rows dated <= `feature_end` read back. A feature that reads bars
        after its date shows as a changed value, a label that reads past its window as a missing row."""
        names = [p.strip() for p in self.feature_set.split("+") if p.strip()]
        build = self.settings.model_copy(update={"horizons": (int(self.horizon),)})
        labels_only = build.model_copy(update={"feature_sets": ()})
        last = max(c.label_end for c in cuts)
        with self.warehouse.session(read_only=True) as con:
            bars = con.execute("SELECT * FROM bars WHERE date <= ? ORDER BY symbol, date", [last]).df()
        dates = pd.to_datetime(bars["date"])
        frames = []
        for cut in cuts:
            with tempfile.TemporaryDirectory(prefix="foresight-leak-control-") as tmp:
                scratch = Warehouse(Path(tmp) / "rebuild.duckdb")
                scratch.migrate()
                _insert_bars(scratch, bars[dates <= pd.Timestamp(cut.feature_end)])
                features.run_features(scratch, build, full=True, sets=names)
                _insert_bars(scratch, bars[(dates > pd.Timestamp(cut.feature_end)) & (dates <= pd.Timestamp(cut.label_end))])
                features.run_features(scratch, labels_only, full=True)
                end = min(cut.feature_end, self.end) if self.end else cut.feature_end
                with scratch.session(read_only=True) as con:
                    frames.append(features.load_training_frame(con, self.feature_set, self.horizon, start=self.start,
                                                               end=end))
        return frames


def _insert_bars(warehouse: Warehouse, bars: pd.DataFrame) -> None:
    with warehouse.session() as con:
        con.register("_bars", bars)
        con.execute("INSERT INTO bars BY NAME SELECT * FROM _bars")
        con.unregister("_bars")


def load_planted_skill(con, horizon: int, entry_lag: int) -> PlantedSkill | None:
    """The oracle's skill on the sample market's planted structure (`sample_truth`: reversal strength and
    regime count), or None when the warehouse holds no sample truth."""
    row = con.execute("SELECT max(signal_strength), max(n_regimes), count(*) FROM sample_truth").fetchall()[0]
    if not row[2]:
        return None
    cfg = SampleSettings(signal_strength=float(row[0]), n_regimes=int(row[1]))
    return compute_planted_skill(cfg, horizon, entry_lag)


__all__ = ["WarehouseFrameSource", "load_planted_skill"]

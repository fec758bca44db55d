"""What a market-data source yields: batches of raw rows, or a typed error for one symbol/file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from marketdata.config import SampleSettings
from marketdata.sample import compute_sample_market, iter_symbol_chunks


class SourceError(Exception):
    """A source could not deliver data for one symbol or file; the message names it."""

    def __init__(self, subject: str, message: str):
        super().__init__(f"{subject}: {message}")
        self.subject = subject


@dataclass(frozen=True)
class SourceBatch:
    """Raw rows for one or more symbols (columns symbol, date, open, high, low, close, volume, ...)
    or the error that stopped them. One batch = one write transaction."""

    label: str
    frame: pd.DataFrame | None = None
    error: SourceError | None = None


class Source(Protocol):
    name: str

    def batches(self) -> Iterator[SourceBatch]: ...

    def truth(self) -> pd.DataFrame | None: ...


class SampleSource:
    """The seeded synthetic market (see marketdata.sample)."""

    name = "sample"

    def __init__(self, cfg: SampleSettings, calendar: str = "XNYS", chunk_symbols: int = 50):
        self.cfg = cfg
        self.calendar = calendar
        self.chunk_symbols = chunk_symbols
        self._market = None

    @property
    def market(self):
        if self._market is None:
            self._market = compute_sample_market(self.cfg, self.calendar)
        return self._market

    def batches(self) -> Iterator[SourceBatch]:
        for chunk in iter_symbol_chunks(self.market, self.chunk_symbols):
            syms = chunk["symbol"].unique()
            yield SourceBatch(label=f"{syms[0]}..{syms[-1]}", frame=chunk)

    def truth(self) -> pd.DataFrame | None:
        return self.market.truth

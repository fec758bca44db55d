"""The `csv` source: a directory of per-symbol files or one long file, CSV or Parquet, Alpha Vantage columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from marketdata.sources import SourceBatch

SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Alpha Vantage (and a few common) column names -> canonical names.
COLUMN_ALIASES = {
    "timestamp": "date",
    "day": "date",
    "adjusted_close": "adj_close",
    "adjusted close": "adj_close",
    "adj close": "adj_close",
    "adjclose": "adj_close",
    "dividend_amount": "dividend",
    "dividend amount": "dividend",
    "split coefficient": "split_coefficient",
    "ticker": "symbol",
}
REQUIRED = ("date", "close")
"""A file of daily bars needs dates and closes; open, high, low and volume may be absent (stored as NULL)."""
BINARY_SNIFF_BYTES = 8192


class UnreadableInputError(ValueError):
    """An input file cannot be read at all (not CSV/Parquet, empty, binary); the message names the file."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"cannot read {path}: {why}")
        self.path = path


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case, strip and map Alpha Vantage style names to the canonical ones (any column order)."""
    renamed = {c: COLUMN_ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in frame.columns}
    out = frame.rename(columns=renamed)
    if out.columns.duplicated().any():
        dups = sorted(set(out.columns[out.columns.duplicated()]))
        raise ValueError(f"columns {dups} given twice (e.g. both timestamp and date)")
    return out


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(BINARY_SNIFF_BYTES)
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is not binary.
        return exc.start < len(head) - 4
    return False


def _delimiter(path: Path) -> str:
    """Comma unless the header line clearly uses semicolons or tabs (spreadsheet exports)."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    if "," in header:
        return ","
    return max((";", "\t", "|"), key=header.count) if any(c in header for c in ";\t|") else ","


def read_bar_file(path: Path, symbol: str | None = None) -> pd.DataFrame:
    """Read one file into raw rows with canonical column names (values kept as text for CSV, so the
    row checks see and quarantine exactly what was written). Without a `symbol` column every row gets
    `symbol` (default: the file name, MSFT.csv -> MSFT). Raises UnreadableInputError."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UnreadableInputError(path, f"unknown file type {path.suffix!r} (expected .csv or .parquet)")
    if path.stat().st_size == 0:
        raise UnreadableInputError(path, "the file is empty")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            if _looks_binary(path):
                raise UnreadableInputError(path, "binary content, not a CSV text file")
            frame = pd.read_csv(path, sep=_delimiter(path), dtype=str, keep_default_na=False, na_values=[""],
                                skipinitialspace=True)
    except UnreadableInputError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError,
            pa.ArrowException) as exc:
        raise UnreadableInputError(path, f"not a readable {kind} file ({type(exc).__name__}: {exc})") from exc
    try:
        frame = normalise_columns(frame)
    except ValueError as exc:
        raise UnreadableInputError(path, str(exc)) from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:8]))
        raise UnreadableInputError(
            path,
            f"not a file of daily bars: missing column(s) {', '.join(missing)} "
            f"(found: {shown or 'none'}; expected timestamp|date, close and optionally open, high, low, volume)",
        )
    if frame.empty:
        raise UnreadableInputError(path, "no data rows (header only)")
    if "symbol" not in frame.columns:
        frame.insert(0, "symbol", symbol if symbol is not None else path.stem.strip().upper())
    return frame


class CsvSource:
    """Bars from files: `PATH/` of per-symbol files (MSFT.csv -> MSFT) or one long file with a `symbol`
    column (a single file without one takes its symbol from the file name).

    Every file is read once up front, so an unreadable input fails before anything is written.
    """

    name = "csv"

    def __init__(self, path: Path | str, chunk_symbols: int = 50):
        self.path = Path(path)
        self.chunk_symbols = chunk_symbols
        if not self.path.exists():
            raise FileNotFoundError(f"no such file or directory: {self.path}")
        if self.path.is_dir():
            self.files = sorted(
                p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
            )
            if not self.files:
                raise UnreadableInputError(self.path, "no .csv or .parquet files in this directory")
        else:
            self.files = [self.path]
        self._validated: dict[Path, int] = {}
        for f in self.files:
            self._validated[f] = len(self._read(f))

    def _read(self, path: Path) -> pd.DataFrame:
        return read_bar_file(path)

    def batches(self) -> Iterator[SourceBatch]:
        if self.path.is_dir():
            # Files of one symbol (MSFT.csv and MSFT.parquet) share a batch, so conflicting copies of a
            # date are caught as duplicates of one input rather than silently overwriting each other.
            by_symbol: dict[str, list[Path]] = {}
            for f in self.files:
                by_symbol.setdefault(f.stem.strip().upper(), []).append(f)
            names = sorted(by_symbol)
            for i in range(0, len(names), self.chunk_symbols):
                chunk = [f for name in names[i : i + self.chunk_symbols] for f in by_symbol[name]]
                frame = pd.concat([self._read(f) for f in chunk], ignore_index=True)
                yield SourceBatch(label=f"{chunk[0].name}..{chunk[-1].name}", frame=frame)
            return
        frame = self._read(self.path)
        sym = frame["symbol"].map(str).str.strip().str.upper()
        names = sym.drop_duplicates().tolist()
        for i in range(0, len(names), self.chunk_symbols):
            part = names[i : i + self.chunk_symbols]
            yield SourceBatch(label=f"{part[0]}..{part[-1]}", frame=frame[sym.isin(part)])

    def truth(self) -> pd.DataFrame | None:
        return None


__all__ = ["CsvSource", "UnreadableInputError", "normalise_columns", "read_bar_file"]

"""Row checks never drop a row silently: every input row is accepted, rejected, or an exact duplicate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.guardrails import compute_row_checks

cell = st.one_of(
    st.floats(min_value=-5, max_value=200, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["", "abc", "1e3", "0", "NaN", " 12 "]),
)
row = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAA", "bbb", " ccc", "", None]),
        "date": st.sampled_from(["2024-01-02", "2024-01-03", "2024-01-04", "2024-02-30", "junk", None]),
        "open": cell, "high": cell, "low": cell, "close": cell, "volume": cell,
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=25))
def test_every_row_is_accounted_for_and_accepted_rows_are_valid(rows):
    raw = pd.DataFrame(rows)
    result = compute_row_checks(raw)
    acc, rej = result.accepted, result.rejected
    # Every input (symbol, date) shows up as accepted or rejected; only exact copies collapse.
    def key(sym, day) -> tuple:
        return (None if sym is None else str(sym).strip().upper(), str(day))

    raw_keys = {key(r["symbol"], r["date"]) for r in rows}
    seen = {key(s_, d) for s_, d in zip(rej["symbol"], rej["date"], strict=True)}
    seen |= {key(s_, d.strftime("%Y-%m-%d")) for s_, d in zip(acc["symbol"], acc["date"], strict=True)}
    assert raw_keys <= seen
    assert len(acc) + len(rej) <= len(raw)
    if not raw.assign(k=[key(r["symbol"], r["date"]) for r in rows])["k"].duplicated().any():
        assert len(acc) + len(rej) == len(raw)
    assert rej["reason"].notna().all() and (rej["reason"] != "").all()
    if len(acc):
        assert not acc.duplicated(["symbol", "date"]).any()
        o, h, lo, c, v = (acc[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
        # a close always; the other fields may be NULL, and those present are positive and consistent
        assert (c > 0).all()
        assert (np.fmin.reduce([o, h, lo, c]) > 0).all()
        assert not (h < np.fmax(o, c)).any() and not (lo > np.fmin(o, c)).any() and not (h < lo).any()
        assert not (v < 0).any()
        assert acc["symbol"].str.fullmatch(r"[A-Z]+").all()

"""Trading sessions from exchange-calendars (XNYS by default)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd


@lru_cache(maxsize=8)
def _calendar(name: str):
    # The default window is only 20 years back from today; long samples need more.
    return xcals.get_calendar(name, start="1990-01-01")


def sessions(start: dt.date | str, end: dt.date | str, calendar: str = "XNYS") -> pd.DatetimeIndex:
    """Trading sessions in [start, end] (naive dates)."""
    cal = _calendar(calendar)
    start_ts = max(pd.Timestamp(start), cal.first_session)
    end_ts = min(pd.Timestamp(end), cal.last_session)
    if start_ts > end_ts:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(cal.sessions_in_range(start_ts, end_ts)).tz_localize(None)


def last_n_sessions(end: dt.date | str, n: int, calendar: str = "XNYS") -> pd.DatetimeIndex:
    """The n sessions ending at or before `end`."""
    cal = _calendar(calendar)
    end_ts = pd.Timestamp(end)
    if not cal.is_session(end_ts):
        end_ts = cal.date_to_session(end_ts, direction="previous")
    start_idx = cal.sessions.get_loc(end_ts) - n + 1
    if start_idx < 0:
        raise ValueError(f"calendar {calendar} has fewer than {n} sessions before {end}")
    return pd.DatetimeIndex(cal.sessions[start_idx : start_idx + n]).tz_localize(None)

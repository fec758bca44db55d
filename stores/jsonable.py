"""JSON-ready values for what is stored or served as JSON (reports, KPI panels, run records)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def to_jsonable(value: Any) -> Any:
    """`value` with dict keys as strings, dates as ISO strings, numpy scalars as Python numbers and NaN or
    infinities as None (strict JSON has no NaN), recursively through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["to_jsonable"]

"""Operating indicators of a night, stored with history in `operating_indicators` (one row per night,
indicator and subject) and served as `panels.leading_indicators` of /dashboard/kpis.

- `feature_sla`: from the newest bar's arrival (the as-of session's `bars.ingested_at`: ingest finished) to
  features ready (the first `feature_runs` row that covered the session after that arrival), judged against
  the deadline (`OperationsSettings.features_deadline`, 19:00 New York on the session's day): met / missed.
  `feature_sla_compliance_<N>`: percent of the last N measured nights that met it.
- `regime_latency_from_close` / `regime_latency_from_ingest`: from the session's close (exchange calendar)
  and from the bar's arrival to the night's regime row being written to MongoDB (the regime step's end).
- `freshness_<product>`: sessions between the last date served (bars, signals, regimes, forecasts) and the
  exchange's last closed session.
- `signal_auc` / `signal_ic`: per signal model version, AUC and mean daily rank IC over its last N matured
  sessions (short and long window; their difference is the trend).

Compute functions are pure and take `now`; `run_indicators` reads the warehouse, measures and stores.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import exchange_calendars as xcals
import numpy as np
import pandas as pd

from models.metrics import compute_auc, compute_daily_rank_ic
from monitoring.config import OperationsSettings
from monitoring.reports import ALERT, OK, WARN
from monitoring.store import save_monitoring_run
from stores.warehouse import Warehouse, transaction, upsert, utcnow

SLA_MONITOR = "feature-pipeline"
"""The `monitoring_runs.model` under which a night's SLA verdict is recorded (a missed SLA is a WARN)."""
PRODUCTS = {"bars": ("bars", "date"), "signals": ("signals", "date"), "regimes": ("regimes", "date"),
            "forecasts": ("forecasts", "as_of")}


@dataclass(frozen=True)
class Indicator:
    """One measurement: `value` in `unit` against `target`, judged OK / WARN / ALERT."""

    name: str
    value: float | None
    unit: str
    target: float | None
    status: str
    subject: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_panel(self) -> dict[str, Any]:
        """The served shape: {value, unit, target, status} plus the detail fields."""
        return {"value": self.value, "unit": self.unit, "target": self.target, "status": self.status,
                **({"subject": self.subject} if self.subject else {}), **self.detail}


def _minutes(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds() / 60.0, 2)


def _utc(ts) -> dt.datetime | None:
    """A naive UTC timestamp (the warehouse's audit columns) as an aware one."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return None
    ts = pd.Timestamp(ts).to_pydatetime()
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def compute_deadline(session: dt.date, settings: OperationsSettings) -> dt.datetime:
    """The features deadline of `session`, in UTC."""
    local = dt.datetime.combine(session, settings.features_deadline, ZoneInfo(settings.timezone))
    return local.astimezone(dt.UTC)


def compute_feature_sla(session: dt.date, arrival: dt.datetime | None, ready: dt.datetime | None,
                        settings: OperationsSettings) -> Indicator | None:
    """Minutes from arrival to features ready; met when ready by the session's deadline. None when the
    session's bars or its features are not there yet (nothing to judge)."""
    if arrival is None or ready is None:
        return None
    deadline = compute_deadline(session, settings)
    met = ready <= deadline
    cause = None if met else ("the bars arrived after the deadline" if arrival > deadline else "features were late")
    local = ready.astimezone(ZoneInfo(settings.timezone))
    return Indicator(
        "feature_sla", _minutes(arrival, ready), "min", None, OK if met else WARN,
        detail={"met": met, "deadline": deadline.isoformat(), "arrived_at": arrival.isoformat(),
                "ready_at": ready.isoformat(), "ready_local": local.strftime("%Y-%m-%d %H:%M %Z"),
                "late_by_min": None if met else _minutes(deadline, ready), "cause": cause,
                "deadline_local": f"{settings.features_deadline.strftime('%H:%M')} {settings.timezone}"},
    )


def compute_sla_compliance(met: Sequence[bool], window: int, target: float) -> Indicator:
    """Percent of the last `window` measured nights (newest last in `met`) that met the deadline."""
    last = list(met)[-window:]
    value = round(100.0 * sum(last) / len(last), 1) if last else None
    status = OK if value is None or value >= target else WARN
    return Indicator(f"feature_sla_compliance_{window}", value, "%", target, status,
                     detail={"nights": len(last), "met": int(sum(last)), "window": window})


def compute_regime_latency(close: dt.datetime, arrival: dt.datetime | None, written: dt.datetime | None,
                           deadline: dt.datetime) -> list[Indicator]:
    """Minutes from the session's close and from the bars' arrival to the regime row written; the regime
    is due by the features deadline (target: minutes from the close to the deadline)."""
    if written is None:
        return []
    budget = _minutes(close, deadline)
    from_close = _minutes(close, written)
    on_time = written <= deadline
    detail = {"close": close.isoformat(), "written_at": written.isoformat()}
    out = [Indicator("regime_latency_from_close", from_close, "min", budget, OK if on_time else WARN, detail=detail)]
    if arrival is not None:
        out.append(Indicator("regime_latency_from_ingest", _minutes(arrival, written), "min", None,
                             OK if on_time else WARN, detail={**detail, "arrived_at": arrival.isoformat()}))
    return out


def compute_freshness(product: str, last_served: dt.date | None, sessions_behind: int | None,
                      last_session: dt.date, settings: OperationsSettings) -> Indicator:
    """Sessions between the last date served and the exchange's last closed session (target 0)."""
    if sessions_behind is None:
        status = ALERT
    elif sessions_behind == 0:
        status = OK
    elif sessions_behind <= settings.freshness_alert_sessions:
        status = WARN
    else:
        status = ALERT
    return Indicator(f"freshness_{product}", None if sessions_behind is None else float(sessions_behind),
                     "sessions", 0.0, status,
                     detail={"last_served": None if last_served is None else last_served.isoformat(),
                             "last_session": last_session.isoformat()})


def compute_signal_skill(frame: pd.DataFrame, windows: tuple[int, int]) -> list[Indicator]:
    """Per model version: AUC of (label) and mean daily rank IC of (fwd_return) over its last `windows`
    matured sessions. `frame`: model_version, date, probability, label, fwd_return (matured rows only).
    Value = the short window; `trend` = short - long. AUC below 0.5 or IC below 0 is a WARN."""
    out: list[Indicator] = []
    short, long = windows
    for version, g in frame.groupby("model_version", sort=True):
        dates = np.sort(g["date"].unique())
        stats = {}
        for n in (short, long):
            w = g[g["date"].isin(dates[-n:])]
            ic = compute_daily_rank_ic(w["date"], w["probability"].to_numpy(), w["fwd_return"].to_numpy())
            auc = compute_auc(w["label"].to_numpy(), w["probability"].to_numpy())
            stats[n] = (None if math.isnan(auc) else round(auc, 4), round(float(ic.mean()), 4) if len(ic) else None)
        (auc_s, ic_s), (auc_l, ic_l) = stats[short], stats[long]
        common = {"model_version": str(version), "matured_sessions": int(len(dates)),
                  "last_matured": pd.Timestamp(dates[-1]).date().isoformat(), "windows": [short, long]}
        out.append(Indicator("signal_auc", auc_s, "", 0.5, OK if auc_s is None or auc_s >= 0.5 else WARN,
                             subject=str(version), detail={**common, f"auc_{short}": auc_s, f"auc_{long}": auc_l,
                                                           "trend": None if None in (auc_s, auc_l) else
                                                           round(auc_s - auc_l, 4)}))
        out.append(Indicator("signal_ic", ic_s, "", 0.0, OK if ic_s is None or ic_s >= 0 else WARN,
                             subject=str(version), detail={**common, f"ic_{short}": ic_s, f"ic_{long}": ic_l,
                                                           "trend": None if None in (ic_s, ic_l) else
                                                           round(ic_s - ic_l, 4)}))
    return out


def compute_indicator_rows(indicators: Sequence[Indicator], as_of: dt.date, run_id: str | None,
                           measured_at: dt.datetime) -> pd.DataFrame:
    """The `operating_indicators` rows of one night."""
    return pd.DataFrame([{
        "as_of": as_of, "name": i.name, "subject": i.subject, "value": i.value, "unit": i.unit,
        "target": i.target, "status": i.status, "detail": json.dumps(i.detail, default=str, sort_keys=True),
        "run_id": run_id, "measured_at": measured_at,
    } for i in indicators], columns=["as_of", "name", "subject", "value", "unit", "target", "status", "detail",
                                     "run_id", "measured_at"])


# -- reading the warehouse -------------------------------------------------------------------------------
def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def load_arrival(con: duckdb.DuckDBPyConnection, session: dt.date) -> dt.datetime | None:
    """When the session's newest bar arrived (ingest finished writing it)."""
    return _utc(con.execute("SELECT max(ingested_at) FROM bars WHERE date = ?", [session]).fetchall()[0][0])


def load_features_ready(con: duckdb.DuckDBPyConnection, session: dt.date,
                        arrival: dt.datetime | None) -> dt.datetime | None:
    """When the first feature run that covered `session` after its bars arrived finished."""
    if arrival is None or "feature_runs" not in _tables(con):
        return None
    row = con.execute(
        "SELECT min(finished_at) FROM feature_runs WHERE last_date >= ? AND finished_at >= ?",
        [session, arrival.replace(tzinfo=None)],
    ).fetchall()[0][0]
    return _utc(row)


def load_sessions_behind(con: duckdb.DuckDBPyConnection, calendar: str, now: dt.datetime
                         ) -> tuple[dt.date, dict[str, tuple[dt.date | None, int | None]]]:
    """The exchange's last closed session at `now`, and per product (last date served, sessions behind)."""
    cal = xcals.get_calendar(calendar)
    closes = cal.closes[cal.closes <= pd.Timestamp(now)]
    last_session = closes.index[-1].date()
    tables = _tables(con)
    out: dict[str, tuple[dt.date | None, int | None]] = {}
    for product, (table, column) in PRODUCTS.items():
        last = con.execute(f"SELECT max({column}) FROM {table}").fetchall()[0][0] if table in tables else None
        if last is None:
            out[product] = (None, None)
            continue
        last = pd.Timestamp(last).date()
        behind = int(((closes.index.date > last) & (closes.index.date <= last_session)).sum())
        out[product] = (last, behind)
    return last_session, out


def load_matured_signals(con: duckdb.DuckDBPyConnection, horizon: int, last_dates: int) -> pd.DataFrame:
    """Signals whose label at `horizon` is known, the last `last_dates` matured dates of each version."""
    if not {"signals", "labels"} <= _tables(con):
        return pd.DataFrame(columns=["model_version", "date", "probability", "label", "fwd_return"])
    return con.execute(
        """
        WITH m AS (
            SELECT s.model_version, s.date, s.probability, l.label, l.fwd_return
            FROM signals s JOIN labels l ON l.symbol = s.symbol AND l.date = s.date AND l.horizon = ?
            WHERE l.label IS NOT NULL
        ), d AS (
            SELECT model_version, date, dense_rank() OVER (PARTITION BY model_version ORDER BY date DESC) AS k
            FROM (SELECT DISTINCT model_version, date FROM m)
        )
        SELECT m.* FROM m JOIN d USING (model_version, date) WHERE d.k <= ? ORDER BY model_version, date
        """,
        [horizon, last_dates],
    ).df()


def load_sla_history(con: duckdb.DuckDBPyConnection, before: dt.date | None = None) -> list[bool]:
    """Met / missed of every measured night, oldest first (up to `before` included)."""
    if "operating_indicators" not in _tables(con):
        return []
    rows = con.execute(
        "SELECT status FROM operating_indicators WHERE name = 'feature_sla' AND (? IS NULL OR as_of <= ?) "
        "ORDER BY as_of", [before, before]).fetchall()
    return [r[0] == OK for r in rows]


def load_leading_indicators(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The newest measurement of each indicator, name -> {value, unit, target, status, as_of, ...}.
    Per-version skill is served for the newest scored version (its history is in the table)."""
    if "operating_indicators" not in _tables(con):
        return {}
    rows = con.execute(
        """
        SELECT name, subject, as_of, value, unit, target, status, detail, measured_at FROM operating_indicators
        QUALIFY row_number() OVER (PARTITION BY name ORDER BY as_of DESC, measured_at DESC,
                                   try_cast(subject AS INTEGER) DESC NULLS LAST, subject DESC) = 1
        ORDER BY name
        """
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for name, subject, as_of, value, unit, target, status, detail, measured_at in rows:
        extra = json.loads(detail) if detail else {}
        out[name] = {"value": value, "unit": unit, "target": target, "status": status, **extra,
                     **({"subject": subject} if subject else {}), "as_of": as_of.isoformat(),
                     "measured_at": pd.Timestamp(measured_at).isoformat()}
    return out


def load_indicator_history(con: duckdb.DuckDBPyConnection, name: str, last: int = 60) -> list[dict[str, Any]]:
    """One indicator's last `last` nights (all subjects), oldest first."""
    if "operating_indicators" not in _tables(con):
        return []
    df = con.execute(
        "SELECT as_of, subject, value, status FROM operating_indicators WHERE name = ? "
        "QUALIFY dense_rank() OVER (ORDER BY as_of DESC) <= ? ORDER BY as_of, subject", [name, last]).df()
    return [{"as_of": pd.Timestamp(r.as_of).date().isoformat(), "subject": r.subject,
             "value": None if pd.isna(r.value) else float(r.value), "status": r.status} for r in df.itertuples()]


# -- the use case ----------------------------------------------------------------------------------------------
@dataclass
class IndicatorReport:
    """What a night measured (the nightly step's report)."""

    as_of: dt.date
    indicators: list[Indicator]
    sla_missed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "sla_missed": self.sla_missed,
                "indicators": {(f"{i.name}[{i.subject}]" if i.subject else i.name): i.as_panel()
                               for i in self.indicators}}


def run_indicators(warehouse: Warehouse, as_of: dt.date, settings: OperationsSettings, *, calendar: str = "XNYS",
                   horizon: int = 5, run_id: str | None = None, regime_written: dt.datetime | None = None,
                   now: dt.datetime | None = None) -> IndicatorReport:
    """Measure the night of `as_of` and store it (a re-run of the night replaces its rows). `regime_written`:
    when tonight's regime step wrote the session's row to MongoDB; None reads when the row was first written
    (the mirror's `scored_at`, set as the same rows went to MongoDB). A missed SLA is recorded as a WARN in `monitoring_runs` (model `feature-pipeline`), a met one as OK."""
    now = now or dt.datetime.now(dt.UTC)
    warehouse.migrate()
    with warehouse.session(read_only=True) as con:
        arrival = load_arrival(con, as_of)
        ready = load_features_ready(con, as_of, arrival)
        last_session, behind = load_sessions_behind(con, calendar, now)
        skill = load_matured_signals(con, horizon, max(settings.skill_windows))
        if regime_written is None and "regimes" in _tables(con):
            regime_written = _utc(con.execute("SELECT max(scored_at) FROM regimes WHERE date = ?",
                                              [as_of]).fetchall()[0][0])
    indicators: list[Indicator] = []
    sla = compute_feature_sla(as_of, arrival, ready, settings)
    if sla is not None:
        indicators.append(sla)
    cal = xcals.get_calendar(calendar)
    ts = pd.Timestamp(as_of)
    if cal.is_session(ts):
        close = cal.session_close(ts).to_pydatetime().astimezone(dt.UTC)
        indicators += compute_regime_latency(close, arrival, regime_written, compute_deadline(as_of, settings))
    for product, (last, n) in behind.items():
        indicators.append(compute_freshness(product, last, n, last_session, settings))
    if not skill.empty:
        indicators += compute_signal_skill(skill, settings.skill_windows)
    rows = compute_indicator_rows(indicators, as_of, run_id, utcnow())
    with warehouse.session() as con:
        with transaction(con):
            upsert(con, "operating_indicators", rows, ["as_of", "name", "subject"], ignore_in_compare=("measured_at",))
        history = load_sla_history(con, as_of)
        compliance = [compute_sla_compliance(history, w, settings.compliance_target)
                      for w in settings.compliance_windows] if history else []
        with transaction(con):
            upsert(con, "operating_indicators", compute_indicator_rows(compliance, as_of, run_id, utcnow()),
                   ["as_of", "name", "subject"], ignore_in_compare=("measured_at",))
        if sla is not None:
            d = sla.detail
            reason = (f"features ready {d['ready_local']}, {d['late_by_min']} min after the "
                      f"{d['deadline_local']} deadline ({d['cause']})" if not d["met"] else
                      f"features ready {d['ready_local']}, {sla.value} min after the bars arrived")
            save_monitoring_run(con, {"model": SLA_MONITOR, "version": "sla", "date": as_of, "status": sla.status,
                                      "reasons": ("feature SLA missed: " if not d["met"] else "") + reason,
                                      "drifted_features": [], "summary": d})
    return IndicatorReport(as_of, indicators + compliance, sla is not None and sla.status != OK)


def summarise_indicators(panel: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per indicator (for `foresight status` and the night's artifact)."""
    lines = []
    for name, v in panel.items():
        value = v.get("value")
        shown = "-" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
        target = v.get("target")
        lines.append(f"{name}: {shown}{(' ' + v['unit']) if v.get('unit') else ''}"
                     f"{'' if target is None else f' (target {target:g})'} {v.get('status', '')}".rstrip())
    return lines


__all__ = [
    "SLA_MONITOR",
    "Indicator",
    "IndicatorReport",
    "compute_deadline",
    "compute_feature_sla",
    "compute_freshness",
    "compute_indicator_rows",
    "compute_regime_latency",
    "compute_signal_skill",
    "compute_sla_compliance",
    "load_indicator_history",
    "load_leading_indicators",
    "load_sla_history",
    "run_indicators",
    "summarise_indicators",
]

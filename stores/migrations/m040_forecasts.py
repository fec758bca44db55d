"""Forecast tables: champion forecasts, every candidate's quantiles, and matured evaluations (40-49)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        40,
        "forecasts, forecast_candidates, forecast_evaluations",
        (
            # The contract table: the champion's fan per (as_of, portfolio, horizon). Equity units.
            # horizon_days = 1 is the VaR model (p01 and p99 filled); in_sample marks as-of dates whose
            # conformal scores overlap the production boosters' training origins (backfill only).
            """
            CREATE TABLE IF NOT EXISTS forecasts (
                as_of DATE NOT NULL,
                portfolio VARCHAR NOT NULL,
                horizon_days INTEGER NOT NULL,
                p05 DOUBLE NOT NULL,
                p50 DOUBLE NOT NULL,
                p95 DOUBLE NOT NULL,
                start_equity DOUBLE NOT NULL,
                model_name VARCHAR NOT NULL,
                model_version VARCHAR NOT NULL,
                method VARCHAR NOT NULL,
                p01 DOUBLE,
                p99 DOUBLE,
                sigma_daily DOUBLE,
                matures_on DATE,
                in_sample BOOLEAN NOT NULL DEFAULT FALSE,
                run_id VARCHAR,
                created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (as_of, portfolio, horizon_days)
            )
            """,
            # Every candidate (learned + both baselines) at the same origins, so skill is measured on
            # exactly the forecasts that were published alongside the champion.
            """
            CREATE TABLE IF NOT EXISTS forecast_candidates (
                as_of DATE NOT NULL,
                portfolio VARCHAR NOT NULL,
                horizon_days INTEGER NOT NULL,
                method VARCHAR NOT NULL,
                p01 DOUBLE,
                p05 DOUBLE NOT NULL,
                p50 DOUBLE NOT NULL,
                p95 DOUBLE NOT NULL,
                p99 DOUBLE,
                start_equity DOUBLE NOT NULL,
                champion BOOLEAN NOT NULL,
                model_version VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (as_of, portfolio, horizon_days, method)
            )
            """,
            # One row per matured forecast. Pinball columns are in units of start equity (return units),
            # so they compare across time; `pinball` is the mean over p05/p50/p95.
            """
            CREATE TABLE IF NOT EXISTS forecast_evaluations (
                as_of DATE NOT NULL,
                portfolio VARCHAR NOT NULL,
                horizon_days INTEGER NOT NULL,
                realized DOUBLE NOT NULL,
                p05 DOUBLE NOT NULL,
                p50 DOUBLE NOT NULL,
                p95 DOUBLE NOT NULL,
                covered BOOLEAN NOT NULL,
                pinball DOUBLE NOT NULL,
                evaluated_at TIMESTAMP NOT NULL,
                realized_on DATE NOT NULL,
                start_equity DOUBLE NOT NULL,
                model_name VARCHAR,
                model_version VARCHAR,
                method VARCHAR,
                pinball_p05 DOUBLE,
                pinball_p50 DOUBLE,
                pinball_p95 DOUBLE,
                pit DOUBLE,
                below_p05 BOOLEAN,
                above_p95 BOOLEAN,
                breach_99 BOOLEAN,
                pinball_lightgbm_cqr DOUBLE,
                pinball_bootstrap DOUBLE,
                pinball_gaussian DOUBLE,
                width_ratio DOUBLE,
                in_sample BOOLEAN,
                PRIMARY KEY (as_of, portfolio, horizon_days)
            )
            """,
        ),
    ),
]

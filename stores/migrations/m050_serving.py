"""Serving tables: backtest runs and the nightly pipeline audit (versions 50-59)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        50,
        "backtest_runs, pipeline_runs",
        (
            """
            CREATE TABLE IF NOT EXISTS backtest_runs (
                run_id VARCHAR PRIMARY KEY,
                created_at TIMESTAMP NOT NULL,
                strategy VARCHAR NOT NULL,
                params JSON NOT NULL,
                model_name VARCHAR,
                model_version VARCHAR,
                start_date DATE NOT NULL,
                end_date DATE NOT NULL,
                n_symbols INTEGER NOT NULL,
                n_sessions INTEGER NOT NULL,
                cost_bps DOUBLE NOT NULL,
                sharpe DOUBLE,
                baseline_sharpe DOUBLE,
                sharpe_delta DOUBLE,
                sharpe_delta_ci_low DOUBLE,
                sharpe_delta_ci_high DOUBLE,
                psr DOUBLE,
                psr_vs_baseline DOUBLE,
                turnover DOUBLE,
                break_even_bps DOUBLE,
                max_drawdown DOUBLE,
                max_drawdown_sessions INTEGER,
                baseline_max_drawdown DOUBLE,
                sharpe_by_cost JSON,
                per_year JSON,
                per_regime JSON,
                equity_png VARCHAR,
                report JSON NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS pipeline_runs (
                run_id VARCHAR PRIMARY KEY,
                flow VARCHAR NOT NULL,
                as_of DATE,
                started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                status VARCHAR NOT NULL,
                message VARCHAR,
                steps JSON
            )
            """,
        ),
    ),
]

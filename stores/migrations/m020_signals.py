"""Signals table: calibrated P(forward return > 0) per symbol and date, with attribution (versions 20-29)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        20,
        "signals",
        (
            """
            CREATE TABLE IF NOT EXISTS signals (
                symbol VARCHAR NOT NULL,
                date DATE NOT NULL,
                model_name VARCHAR NOT NULL,
                model_version VARCHAR NOT NULL,
                probability DOUBLE NOT NULL,
                raw_score DOUBLE NOT NULL,
                base_value DOUBLE,
                attribution JSON,
                feature_set VARCHAR,
                horizon INTEGER,
                run_id VARCHAR NOT NULL,
                scored_at TIMESTAMP NOT NULL,
                PRIMARY KEY (symbol, date, model_name, model_version)
            )
            """,
            "CREATE INDEX IF NOT EXISTS signals_date_idx ON signals (date)",
        ),
    ),
]

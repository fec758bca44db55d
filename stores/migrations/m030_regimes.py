"""Regimes mirror: the DuckDB copy of the MongoDB `regimes` collection (filtered probabilities only)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        30,
        "regimes mirror",
        (
            """
            CREATE TABLE IF NOT EXISTS regimes (
                date DATE NOT NULL,
                universe VARCHAR NOT NULL,
                regime VARCHAR NOT NULL,
                probabilities JSON NOT NULL,
                model_name VARCHAR NOT NULL,
                model_version VARCHAR NOT NULL,
                scored_at TIMESTAMP NOT NULL,
                regime_probability DOUBLE,
                raw_regime VARCHAR,
                raw_probability DOUBLE,
                regime_age INTEGER,
                market_return DOUBLE,
                in_sample BOOLEAN,
                enter_threshold DOUBLE,
                leave_threshold DOUBLE,
                run_id VARCHAR,
                PRIMARY KEY (universe, date, model_version)
            )
            """,
        ),
    ),
    Migration(
        31,
        "regimes mirror: fit_end of the parameters in force (walk-forward scoring)",
        ("ALTER TABLE regimes ADD COLUMN IF NOT EXISTS fit_end DATE",),
    ),
]

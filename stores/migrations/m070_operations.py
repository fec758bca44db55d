"""Operations: the night's operating indicators with their history, and each step's timing (70-79)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        70,
        "operating_indicators, pipeline_runs.timings",
        (
            # One row per night (as_of), indicator and subject ('' when the indicator has none; a model
            # version or a product otherwise). A re-run of the same night replaces its rows.
            """
            CREATE TABLE IF NOT EXISTS operating_indicators (
                as_of DATE NOT NULL,
                name VARCHAR NOT NULL,
                subject VARCHAR NOT NULL,
                value DOUBLE,
                unit VARCHAR,
                target DOUBLE,
                status VARCHAR NOT NULL,
                detail JSON,
                run_id VARCHAR,
                measured_at TIMESTAMP NOT NULL,
                PRIMARY KEY (as_of, name, subject)
            )
            """,
            # Per step: started_at, finished_at (UTC), seconds.
            "ALTER TABLE pipeline_runs ADD COLUMN IF NOT EXISTS timings JSON",
        ),
    ),
]

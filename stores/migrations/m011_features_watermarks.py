"""Feature store state: the bars watermark each feature set and the labels were computed at (11)."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        11,
        "feature_watermarks",
        (
            """
            CREATE TABLE IF NOT EXISTS feature_watermarks (
                target VARCHAR PRIMARY KEY,
                bars_changed_at TIMESTAMP,
                run_id VARCHAR,
                updated_at TIMESTAMP NOT NULL
            )
            """,
        ),
    ),
]

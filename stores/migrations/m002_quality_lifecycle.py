"""Missing fields as NULL, the quarantine's life cycle and the evidence behind data-quality findings (2)."""

from stores.migrations import Migration


def _resolve_stored(con) -> None:
    """A quarantined row whose symbol and date already have a stored bar is resolved (by this migration): e.g.
    the `missing_volume` rows of an earlier code version that a corrected re-ingest accepted."""
    con.execute(
        """
        UPDATE quarantine q SET resolved_at = now()::TIMESTAMP, resolved_run_id = 'migration-2'
        WHERE q.resolved_at IS NULL AND q.symbol IS NOT NULL
          AND EXISTS (SELECT 1 FROM bars b
                      WHERE b.symbol = q.symbol AND b.date = TRY_CAST(TRY_CAST(q.date AS TIMESTAMP) AS DATE))
        """
    )


MIGRATIONS = [
    Migration(
        2,
        "bars open/high/low/volume nullable, quarantine resolved_at/resolved_run_id, data_quality evidence",
        (
            # Close-only data is data: a bar needs a date and a close.
            "ALTER TABLE bars ALTER COLUMN open DROP NOT NULL",
            "ALTER TABLE bars ALTER COLUMN high DROP NOT NULL",
            "ALTER TABLE bars ALTER COLUMN low DROP NOT NULL",
            "ALTER TABLE bars ALTER COLUMN volume DROP NOT NULL",
            "ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMP",
            "ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS resolved_run_id VARCHAR",
            "ALTER TABLE data_quality ADD COLUMN IF NOT EXISTS evidence JSON",
            _resolve_stored,
        ),
    ),
]

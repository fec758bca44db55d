"""Foundation tables: bars, quarantine, ingest audit, data quality flags, sample ground truth."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        1,
        "bars, quarantine, ingest_runs, data_quality, sample_truth",
        (
            """
            CREATE TABLE IF NOT EXISTS bars (
                symbol VARCHAR NOT NULL,
                date DATE NOT NULL,
                open DOUBLE NOT NULL,
                high DOUBLE NOT NULL,
                low DOUBLE NOT NULL,
                close DOUBLE NOT NULL,
                adj_close DOUBLE NOT NULL,
                volume DOUBLE NOT NULL,
                vwap DOUBLE,
                dividend DOUBLE,
                split_coefficient DOUBLE,
                source VARCHAR NOT NULL,
                ingested_at TIMESTAMP NOT NULL,
                PRIMARY KEY (symbol, date)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS quarantine (
                symbol VARCHAR,
                date VARCHAR,
                source VARCHAR NOT NULL,
                reason VARCHAR NOT NULL,
                detail VARCHAR,
                raw VARCHAR,
                run_id VARCHAR,
                ingested_at TIMESTAMP NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS ingest_runs (
                run_id VARCHAR PRIMARY KEY,
                source VARCHAR NOT NULL,
                symbols VARCHAR[],
                rows_read BIGINT,
                rows_accepted BIGINT,
                rows_quarantined BIGINT,
                rows_inserted BIGINT,
                rows_updated BIGINT,
                rows_unchanged BIGINT,
                flags BIGINT,
                started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP,
                status VARCHAR NOT NULL,
                message VARCHAR,
                report JSON
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS data_quality (
                symbol VARCHAR NOT NULL,
                date DATE NOT NULL,
                "check" VARCHAR NOT NULL,
                severity VARCHAR NOT NULL,
                detail VARCHAR,
                run_id VARCHAR,
                detected_at TIMESTAMP NOT NULL,
                PRIMARY KEY (symbol, date, "check")
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS sample_truth (
                date DATE PRIMARY KEY,
                regime INTEGER NOT NULL,
                regime_name VARCHAR NOT NULL,
                market_return DOUBLE NOT NULL,
                market_vol DOUBLE NOT NULL,
                signal_strength DOUBLE NOT NULL,
                n_regimes INTEGER NOT NULL,
                seed INTEGER NOT NULL
            )
            """,
        ),
    ),
]

"""Monitoring tables: one summary row per model, version and monitoring date."""

from stores.migrations import Migration

MIGRATIONS = [
    Migration(
        60,
        "monitoring_runs",
        (
            """
            CREATE TABLE IF NOT EXISTS monitoring_runs (
                model VARCHAR NOT NULL,
                version VARCHAR NOT NULL,
                date DATE NOT NULL,
                drift_share DOUBLE,
                ece DOUBLE,
                coverage DOUBLE,
                status VARCHAR NOT NULL,
                report_path VARCHAR,
                json_path VARCHAR,
                prediction_drift DOUBLE,
                drifted_features VARCHAR[],
                ece_reference DOUBLE,
                ece_pvalue DOUBLE,
                brier DOUBLE,
                brier_reference DOUBLE,
                log_loss DOUBLE,
                log_loss_reference DOUBLE,
                pinball DOUBLE,
                n_reference BIGINT,
                n_current BIGINT,
                n_calibration BIGINT,
                reasons VARCHAR,
                summary JSON,
                workspace_project VARCHAR,
                created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (model, version, date)
            )
            """,
        ),
    ),
]

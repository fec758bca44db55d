"""Feature store tables: features (wide, one row per symbol/date/set), labels, feature-set registry (10-19)."""

from stores.migrations import Migration

# Frozen here on purpose: the schema of version 10 must not move when feature code changes. A new feature
# version with new columns adds them in a new migration (11, 12, ...).
_A158_KBAR_PRICE = ["KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2",
                    "OPEN0", "HIGH0", "LOW0", "VWAP0"]
_A158_OPS = ["ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV", "IMAX",
             "IMIN", "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD", "VMA", "VSTD", "WVMA",
             "VSUMP", "VSUMN", "VSUMD"]
_MARKET = ["MKT_RELRET1", "MKT_RELRET5", "MKT_RELRET21", "MKT_VOL5", "MKT_VOL21", "MKT_VOL63",
           "MKT_BETA21", "MKT_BETA63"]
V10_FEATURE_COLUMNS = (
    _A158_KBAR_PRICE + [f"{op}{d}" for op in _A158_OPS for d in (5, 10, 20, 30, 60)] + _MARKET
)

_FEATURES_DDL = (
    "CREATE TABLE IF NOT EXISTS features (\n"
    "    symbol VARCHAR NOT NULL,\n"
    "    date DATE NOT NULL,\n"
    "    feature_set VARCHAR NOT NULL,\n"
    + ",\n".join(f'    "{c}" DOUBLE' for c in V10_FEATURE_COLUMNS)
    + "\n)"
)
# Keyed (symbol, date, feature_set) and (symbol, date, horizon) without a PRIMARY KEY index on purpose: the
# builder writes each key once (delete-then-insert in one transaction, tested), and an ART index over
# millions of composite keys cost more than the nightly computation itself (load + check on every insert).

MIGRATIONS = [
    Migration(
        10,
        "features, labels, feature_sets",
        (
            _FEATURES_DDL,
            """
            CREATE TABLE IF NOT EXISTS labels (
                symbol VARCHAR NOT NULL,
                date DATE NOT NULL,
                horizon INTEGER NOT NULL,
                fwd_return DOUBLE,
                label INTEGER,
                entry_lag INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS feature_sets (
                name VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                definition_hash VARCHAR NOT NULL,
                columns VARCHAR[] NOT NULL,
                description VARCHAR,
                registered_at TIMESTAMP NOT NULL,
                PRIMARY KEY (name, version)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS feature_runs (
                run_id VARCHAR PRIMARY KEY,
                mode VARCHAR NOT NULL,
                feature_sets VARCHAR[],
                rows_written BIGINT,
                label_rows_written BIGINT,
                first_date DATE,
                last_date DATE,
                seconds DOUBLE,
                started_at TIMESTAMP NOT NULL,
                finished_at TIMESTAMP
            )
            """,
        ),
    ),
]

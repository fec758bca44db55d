"""Storage adapters: the DuckDB warehouse (schema, migrations, upserts) and the MongoDB store."""

from stores.warehouse import UpsertResult, Warehouse, transaction, upsert, utcnow

__all__ = ["UpsertResult", "Warehouse", "transaction", "upsert", "utcnow"]

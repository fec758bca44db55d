"""Market-data sources (sample, csv, alphavantage) and the ingest guardrails."""

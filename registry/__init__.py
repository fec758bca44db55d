"""MLflow: logging, registration, aliases, the promotion gate, loading by alias."""

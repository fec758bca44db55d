"""CLI commands, one module per area; `foresight.cli` registers them. Heavy imports stay inside functions."""

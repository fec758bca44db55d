"""Prefect flows and deployments; thin wiring over the packages."""

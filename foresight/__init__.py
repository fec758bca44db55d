"""Foresight composition root: settings, CLI, services and the read API."""

__version__ = "0.1.0"

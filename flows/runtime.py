"""How a flow run gets its AppContext: from the composition root, built from Settings in the run's process.

This is the one import from flows/ into foresight/ (a deployment runs a flow in a fresh process, which
must build its own settings); the import-linter layers contract names it as its only exception.
"""

from __future__ import annotations

from foresight.context import AppContext, build_context

__all__ = ["AppContext", "build_context"]

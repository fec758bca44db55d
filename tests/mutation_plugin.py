"""pytest plugin loaded by `make mutation` only (pyproject [tool.mutmut] pytest_add_cli_args): mutmut 3.8 maps
tests to the functions they run through `item._nodeid`, an attribute pytest 9 no longer has."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid

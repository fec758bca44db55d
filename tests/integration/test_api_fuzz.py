"""Fuzz every route from the API's own OpenAPI schema (schemathesis): no 500, every answer (errors
included) matches the schema it documents, and every status code it sends is documented."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from foresight.api import create_app
from foresight.settings import Settings
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import ensure_contract_tables, write_night

DATES = [dt.date(2025, 12, 26), dt.date(2025, 12, 29), dt.date(2025, 12, 30)]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("fuzz") / "home")
    wh = Warehouse(settings.duckdb_path)
    ensure_contract_tables(wh)
    for i, d in enumerate(DATES):
        write_night(wh, d, seed=i)
    publish_warehouse_snapshot(wh, snapshot_dir(settings.home))
    return create_app(settings)


def _fuzz(op, calls: dict[str, int]) -> None:
    @given(case=op.as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        # Every check (no 500, the answer conforms to its schema, the status is documented) except "a
        # schema-valid request is accepted": start > end is well-formed and rightly a 422.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        assert response.status_code < 500
        calls[op.label] = calls.get(op.label, 0) + 1

    check()


def test_no_route_fails_or_breaks_its_schema(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    calls: dict[str, int] = {}
    for op in operations:
        _fuzz(op, calls)
    assert set(calls) == {op.label for op in operations}

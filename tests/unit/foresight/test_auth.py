"""The read API's token: required on every route but /health once set, compared in constant time, and
`foresight api` refuses to listen beyond loopback without one."""

from __future__ import annotations

import base64
import datetime as dt
import hmac

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from foresight.api import create_app
from foresight.auth import presented_token, token_matches
from foresight.settings import Settings, is_loopback
from stores.snapshots import publish_warehouse_snapshot, snapshot_dir
from stores.warehouse import Warehouse
from tests.unit.foresight.serving_data import ensure_contract_tables, write_night

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("auth") / "home"
    wh = Warehouse(Settings(home=home).duckdb_path)
    ensure_contract_tables(wh)
    write_night(wh, dt.date(2025, 12, 30), seed=0)
    publish_warehouse_snapshot(wh, snapshot_dir(home))
    return home


@pytest.fixture(scope="module")
def guarded(home):
    with TestClient(create_app(Settings(home=home, api={"token": TOKEN}))) as client:
        yield client


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("path", ["/signals/SYM001", "/signals", "/dashboard/kpis", "/market-data/regime",
                                  "/portfolio/forecast", "/", "/docs", "/openapi.json"])
def test_every_route_but_health_needs_the_token(guarded, path):
    # Given an API with a token, when a request comes without it or with a wrong one
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": _basic("me", "wrong")},
                    {"Authorization": f"Token {TOKEN}"}):
        r = guarded.get(path, headers=headers)
        # Then it is refused with the API's error shape and a challenge the browser answers with a prompt
        assert r.status_code == 401, (path, headers)
        assert r.json()["error"] == "unauthorized" and TOKEN not in r.text
        assert r.headers["www-authenticate"].startswith("Basic")


def test_the_token_opens_every_route_as_bearer_or_basic_password(guarded):
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Authorization": _basic("analyst", TOKEN)}):
        assert guarded.get("/signals/SYM001", headers=headers).status_code == 200
        assert guarded.get("/", headers=headers).status_code == 200
    assert guarded.get("/health").status_code == 200


def test_without_a_token_setting_the_api_is_open_as_before(home):
    with TestClient(create_app(Settings(home=home))) as client:
        assert client.get("/signals/SYM001").status_code == 200


def test_token_comparison_is_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert token_matches(TOKEN, SecretStr(TOKEN)) and not token_matches("x", SecretStr(TOKEN))
    assert len(calls) == 2
    assert not token_matches(None, SecretStr(TOKEN))
    assert presented_token(_basic("u", "p:w")) == "p:w" and presented_token("Basic !!") is None


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True),
                                                ("::1", True), ("0.0.0.0", False), ("::", False),
                                                ("10.1.2.3", False), ("myhost", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_api_beyond_loopback_without_a_token_refuses_to_start_and_says_why(home, monkeypatch):
    from foresight.cli import app

    monkeypatch.setenv("FORESIGHT_HOME", str(home))
    monkeypatch.delenv("FORESIGHT_API__TOKEN", raising=False)
    started = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append((a, k)))
    result = CliRunner().invoke(app, ["api", "--host", "0.0.0.0", "--port", "8765"])
    said = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2 and not started
    assert "refusing to listen on 0.0.0.0 without an API token" in said and "FORESIGHT_API__TOKEN" in said
    # With a token it starts (uvicorn is stubbed), and the token is not printed
    monkeypatch.setenv("FORESIGHT_API__TOKEN", TOKEN)
    result = CliRunner().invoke(app, ["api", "--host", "0.0.0.0", "--port", "8765"])
    assert result.exit_code == 0 and len(started) == 1 and TOKEN not in result.output

"""Who may read what: roles over HTTP, key files, and the OpenAPI security declarations."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from ragsvc.api.app import create_app
from ragsvc.errors import ConfigError
from ragsvc.index import Index
from ragsvc.keys import ensure_key, load_keys
from ragsvc.runtime import Runtime
from ragsvc.settings import ApiSettings, Settings, WidgetKey
from tests.conftest import make_settings
from tests.fakes import ADMIN, OPERATOR, fake_runtime

WIDGET_KEY = "widget-key-for-tests-0001"
WIDGET_ORIGIN = "https://help.example"
OPERATOR_READS = [
    "/v1/traces",
    "/v1/traces/abc",
    "/v1/stats",
    "/v1/search?q=vpn",
    "/v1/faq/match?q=vpn",
]


def _client(settings: Settings, index: Index) -> TestClient[Any]:
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, index)

    return TestClient(app=create_app(settings, open_parts))


@pytest.fixture
def client(tmp_path: Path, memory_index: Index) -> Iterator[TestClient[Any]]:
    widget = WidgetKey(key=SecretStr(WIDGET_KEY), origins=[WIDGET_ORIGIN])
    settings = make_settings(
        tmp_path, cost={"ledger_path": tmp_path / "cost.sqlite"}, api={"widget_keys": [widget]}
    )
    with _client(settings, memory_index) as test_client:
        yield test_client


@pytest.mark.parametrize("path", OPERATOR_READS)
def test_stored_questions_and_chunks_need_an_operator_key(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"X-API-Key": "not-a-key"}).status_code == 401
    widget = {"X-API-Key": WIDGET_KEY, "Origin": WIDGET_ORIGIN}
    assert client.get(path, headers=widget).status_code == 403
    for headers in (OPERATOR, ADMIN, {"Authorization": f"Bearer {OPERATOR['X-API-Key']}"}):
        assert client.get(path, headers=headers).status_code in (200, 404)


def test_admin_routes_refuse_the_operator_key(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/ingest", json={"paths": ["/etc"]}, headers=OPERATOR)
    assert response.status_code == 403 and "admin role" in response.json()["detail"]


def test_a_non_ascii_key_is_refused_not_a_server_error(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/stats", headers=[(b"x-api-key", "ключ-é".encode())])
    assert response.status_code == 401


def test_asking_is_public_by_default(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/ask", json={"question": "How do I reset my password?"}).is_success


def test_private_asking_needs_a_widget_key_from_its_origin(
    tmp_path: Path, memory_index: Index
) -> None:
    widget = WidgetKey(key=SecretStr(WIDGET_KEY), origins=[WIDGET_ORIGIN])
    settings = make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        api={"public_ask": False, "widget_keys": [widget]},
    )
    ask = {"question": "How do I reset my password?"}
    with _client(settings, memory_index) as client:
        assert client.post("/v1/ask", json=ask).status_code == 401
        own = {"X-API-Key": WIDGET_KEY, "Origin": WIDGET_ORIGIN}
        assert client.post("/v1/ask", json=ask, headers=own).status_code == 200
        elsewhere = {"X-API-Key": WIDGET_KEY, "Origin": "https://evil.example"}
        refused = client.post("/v1/ask", json=ask, headers=elsewhere)
        assert refused.status_code == 403 and WIDGET_ORIGIN in refused.json()["detail"]


def test_every_v1_route_declares_its_role(client) -> None:  # type: ignore[no-untyped-def]
    handlers = {
        f"{method} {route.path}": handler[0]
        for route in client.app.routes
        if route.path.startswith("/v1")
        for method, handler in route.route_handler_map.items()
        if method != "OPTIONS"
    }
    assert len(handlers) >= 14  # every /v1 operation was looked at
    assert [name for name, handler in handlers.items() if "role" not in handler.opt] == []


def test_openapi_documents_the_security_of_each_route(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/schema/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"apiKey", "bearer"}
    stats = schema["paths"]["/v1/stats"]["get"]
    assert {} not in stats["security"] and "401" in stats["responses"]
    assert {} in schema["paths"]["/v1/ask"]["post"]["security"]  # public: the key is optional


def test_keys_are_generated_once_into_0600_files(tmp_path: Path) -> None:
    api = ApiSettings(
        admin_key_file=tmp_path / "admin.key", operator_key_file=tmp_path / "operator.key"
    )
    first = load_keys(api)
    assert load_keys(api) == first and first.admin != first.operator
    for name in ("admin.key", "operator.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_short_configured_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        ensure_key(SecretStr("change-me"), tmp_path / "admin.key")

"""Caller context: a department (product, tenant) narrows retrieval to the tags configured for it,
in the real Qdrant Edge store; an unknown field or value is refused, never ignored; a widget key
bound to a context asks in it and cannot ask in another."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from ragsvc.api.app import create_app
from ragsvc.cost.ledger import open_ledger
from ragsvc.errors import ConfigError, InvalidRequestError
from ragsvc.index import Index
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.context import context_tags
from ragsvc.pipeline.service import AskService
from ragsvc.runtime import Runtime
from ragsvc.settings import (
    CONFIG_ENV_VAR,
    RoutingSettings,
    Settings,
    WidgetKey,
    load_settings,
)
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, fake_runtime

PASSWORD = "How do I reset my password?"
CONTEXT_FILTERS = {"department": {"it": ["it"], "hr": ["hr", "travel"]}, "tenant": {"acme": ["it"]}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        routing={"context_filters": CONTEXT_FILTERS},
    )


def test_each_field_is_one_group_of_tags() -> None:
    context = (("department", "hr"), ("tenant", "acme"))
    assert context_tags(context, CONTEXT_FILTERS) == (("hr", "travel"), ("it",))
    assert context_tags((), CONTEXT_FILTERS) == ()
    with pytest.raises(InvalidRequestError, match=r"unknown context field 'team'.*department"):
        context_tags((("team", "a"),), CONTEXT_FILTERS)
    with pytest.raises(InvalidRequestError, match="unknown department 'sales'; one of: hr, it"):
        context_tags((("department", "sales"),), CONTEXT_FILTERS)


def test_a_department_sees_only_its_own_entries(settings: Settings, memory_index: Index) -> None:
    traces, ledger = TraceStore(settings.traces), open_ledger(settings)
    service = AskService(settings, memory_index, FakeAnalyzer(), traces, ledger)
    try:
        it = service.ask(AskInput(PASSWORD, context=(("department", "it"),)))
        assert it.route == "faq_direct"
        assert it.filters["context"] == {"department": "it"}
        assert it.filters["context_tags"] == [["it"]]
        hr = service.ask(AskInput(PASSWORD, context=(("department", "hr"),)))
        assert hr.route != "faq_direct"  # the IT entry is not HR's
        retrieved = [hit for r in hr.retrievals for hit in r.hits]
        assert all("faq" not in hit.kind for hit in retrieved)
    finally:
        service.close()
        traces.close()
        ledger.close()


def test_an_unknown_context_is_a_400(settings: Settings, memory_index: Index) -> None:
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index, FakeAnalyzer())

    with TestClient(app=create_app(settings, open_parts)) as client:
        ask = {"question": PASSWORD, "context": {"department": "sales"}}
        response = client.post("/v1/ask", json=ask)
        assert response.status_code == 400 and "unknown department 'sales'" in response.text
        too_long = {"question": PASSWORD, "context": {"department": "x" * 129}}
        assert client.post("/v1/ask", json=too_long).status_code == 400
        known = client.post("/v1/ask", json={**ask, "context": {"department": "it"}})
        assert known.status_code == 200 and known.json()["route"] == "faq_direct"


@pytest.mark.parametrize(
    ("filters", "message"),
    [({"Department": {"hr": ["hr"]}}, "lowercase letters"), ({"team": {"a": []}}, "no tags")],
)
def test_bad_context_filters_are_refused(
    filters: dict[str, dict[str, list[str]]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RoutingSettings(context_filters=filters)


IT_WIDGET, HR_WIDGET = "it-widget-key-0123456789", "hr-widget-key-0123456789"


def test_a_widget_key_asks_in_its_bound_context_and_in_no_other(
    tmp_path: Path, memory_index: Index
) -> None:
    widgets = [
        WidgetKey(key=SecretStr(IT_WIDGET), context={"department": "it"}),
        WidgetKey(key=SecretStr(HR_WIDGET), context={"department": "hr"}),
    ]
    settings = make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        routing={"context_filters": CONTEXT_FILTERS},
        api={"public_ask": False, "widget_keys": widgets},
    )

    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index, FakeAnalyzer())

    ask = {"question": PASSWORD}
    it, hr = {"X-API-Key": IT_WIDGET}, {"X-API-Key": HR_WIDGET}
    with TestClient(app=create_app(settings, open_parts)) as client:
        answered = client.post("/v1/ask", json=ask, headers=it)
        assert answered.status_code == 200 and answered.json()["route"] == "faq_direct"
        narrowed = client.post("/v1/ask", json=ask, headers=hr)  # the IT entry is not HR's
        assert narrowed.status_code == 200 and narrowed.json()["route"] != "faq_direct"
        traces = client.app.state.runtime.traces
        assert traces.flush()
        trace = traces.get(narrowed.json()["trace_id"])
        assert trace is not None and trace.filters["context"] == {"department": "hr"}
        same = client.post("/v1/ask", json={**ask, "context": {"department": "hr"}}, headers=hr)
        assert same.status_code == 200
        for path in ("/v1/ask", "/v1/ask/stream"):
            other = client.post(path, json={**ask, "context": {"department": "it"}}, headers=hr)
            assert other.status_code == 403
            assert "bound to department=hr; the ask names department=it" in other.text
        more = {**ask, "context": {"tenant": "acme"}}  # another field: narrows further
        assert client.post("/v1/ask", json=more, headers=hr).status_code == 200


def test_a_widget_key_bound_to_an_unconfigured_context_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "routing:\n  context_filters: {department: {hr: [hr]}}\n"
        "api:\n  widget_keys: [{key: hr-widget-key-0123456789, context: {department: sales}}]\n"
    )
    monkeypatch.setenv(CONFIG_ENV_VAR, str(config))
    with pytest.raises(ConfigError, match=r"api.widget_keys\[0\].context: department='sales'"):
        load_settings()

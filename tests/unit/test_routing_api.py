"""The routing admin API over HTTP: who may read and change it, bad input, promotion and rollback,
the variants in /v1/stats, the disagreements listed, and the fail-safe tripped by feedback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ragsvc.api.app import create_app
from ragsvc.index import Index
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import ADMIN, OPERATOR, FakeAnalyzer, FakeLlm, fake_runtime
from tests.unit.test_metrics import scrape, value

PASSWORD = "How do I reset my password?"
STRICT = {"share": 0.5, "thresholds": {"direct_threshold": 0.9}, "note": "stricter passages"}


def client_for(settings: Settings, index: Index, llm: FakeLlm) -> TestClient[Any]:
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, index, FakeAnalyzer(), llm=llm)

    return TestClient(app=create_app(settings, open_parts))


@pytest.fixture
def client(tmp_path: Path, memory_index: Index) -> Iterator[TestClient[Any]]:
    settings = make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        routing={"state_refresh_s": 0},
        shadow={"share": 1.0, "method": "judge"},
    )
    with client_for(settings, memory_index, FakeLlm("NO\nIt does not say where.")) as test_client:
        yield test_client


def test_reading_needs_an_operator_and_changing_an_admin(client: TestClient[Any]) -> None:
    assert client.get("/v1/routing").status_code == 401
    assert client.get("/v1/routing", headers=OPERATOR).status_code == 200
    assert client.get("/v1/routing/compare", headers=OPERATOR).status_code == 200
    assert client.get("/v1/routing/disagreements", headers=OPERATOR).status_code == 200
    changes = [
        ("put", "/v1/routing/variants/strict", STRICT),
        ("delete", "/v1/routing/variants/strict", None),
        ("post", "/v1/routing/variants/strict/promote", None),
        ("post", "/v1/routing/rollback", None),
        ("delete", "/v1/routing/raises/control/retrieval_direct", None),
    ]
    for method, path, body in changes:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        assert client.request(method, path, **kwargs).status_code == 401
        refused = client.request(method, path, headers=OPERATOR, **kwargs)
        assert refused.status_code == 403 and "admin role" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("Bad Name", STRICT, "lowercase letters"),
        ("control", STRICT, "control"),
        ("strict", {**STRICT, "share": 1.5}, "share"),
        ("strict", {**STRICT, "thresholds": {"passages": 3}}, "unknown thresholds passages"),
        ("strict", {**STRICT, "thresholds": {"direct_threshold": 7}}, "direct_threshold"),
        ("strict", {"thresholds": {}}, "share"),
    ],
)
def test_a_bad_variant_is_a_400_with_the_reason(
    client: TestClient[Any], name: str, body: dict[str, Any], message: str
) -> None:
    response = client.put(f"/v1/routing/variants/{name}", json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert client.get("/v1/routing", headers=OPERATOR).json()["state"]["variants"] == {}


def test_shares_over_one_are_refused(client: TestClient[Any]) -> None:
    assert client.put("/v1/routing/variants/a", json=STRICT, headers=ADMIN).status_code == 200
    response = client.put("/v1/routing/variants/b", json={"share": 0.6}, headers=ADMIN)
    assert response.status_code == 400 and "add up to 1.1" in response.json()["detail"]


def test_promotion_and_rollback_over_http(client: TestClient[Any]) -> None:
    assert client.post("/v1/routing/variants/nope/promote", headers=ADMIN).status_code == 404
    nothing = client.post("/v1/routing/rollback", headers=ADMIN)
    assert nothing.status_code == 409 and "nothing was promoted" in nothing.json()["detail"]
    put = client.put("/v1/routing/variants/strict", json=STRICT, headers=ADMIN)
    assert put.status_code == 200
    configured = put.json()["effective"]["control"]["direct_threshold"]
    assert put.json()["effective"]["strict"]["direct_threshold"] == 0.9
    promoted = client.post("/v1/routing/variants/strict/promote", headers=ADMIN).json()
    assert promoted["state"]["variants"] == {}
    assert promoted["effective"]["control"]["direct_threshold"] == 0.9
    rolled_back = client.post("/v1/routing/rollback", headers=ADMIN).json()
    assert rolled_back["effective"]["control"]["direct_threshold"] == configured != 0.9
    assert rolled_back["state"]["variants"]["strict"]["share"] == 0.5
    deleted = client.delete("/v1/routing/variants/strict", headers=ADMIN)
    assert deleted.status_code == 200 and deleted.json()["state"]["variants"] == {}
    assert client.delete("/v1/routing/variants/strict", headers=ADMIN).status_code == 404
    undo = client.delete("/v1/routing/raises/control/faq_direct", headers=ADMIN)
    assert undo.status_code == 404


def test_stats_compare_the_variants_and_disagreements_are_listed(
    client: TestClient[Any],
) -> None:
    client.put("/v1/routing/variants/strict", json={**STRICT, "share": 1.0}, headers=ADMIN)
    answer = client.post("/v1/ask", json={"question": PASSWORD, "conversation_id": "c-7"}).json()
    trace = client.get(f"/v1/traces/{answer['trace_id']}", headers=OPERATOR).json()
    assert trace["variant"] == "strict"
    stats = client.get("/v1/stats", headers=OPERATOR).json()
    by_name = {v["variant"]: v for v in stats["variants"]}
    assert set(by_name) == {"control", "strict"}
    assert by_name["strict"]["questions"] == 1 and by_name["control"]["questions"] == 0
    assert by_name["strict"]["route_shares"] == {"faq_direct": 1.0}
    for _ in range(200):  # the judge runs in the background
        listed = client.get("/v1/routing/disagreements", headers=OPERATOR).json()
        if listed:
            break
    (disagreement,) = listed
    assert disagreement["trace_id"] == answer["trace_id"]
    assert (disagreement["route"], disagreement["variant"]) == ("faq_direct", "strict")
    assert disagreement["reason"] == "It does not say where"
    shadow = client.get("/v1/routing", headers=OPERATOR).json()["shadow"]
    assert shadow["judge_trusted"] is False  # its disagreements are listed, not acted on
    assert "never checked" in shadow["judge_distrusted_because"]
    verdicts = scrape(client)
    assert (
        value(
            verdicts,
            "ragsvc_shadow_verdicts_total",
            variant="strict",
            route="faq_direct",
            verdict="disagree",
        )
        == 1
    )


def test_negative_feedback_trips_the_failsafe_and_an_admin_undoes_it(
    tmp_path: Path, memory_index: Index
) -> None:
    settings = make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        routing={"state_refresh_s": 0},
        failsafe={"min_rated": 6, "check_every_s": 0},
    )
    with client_for(settings, memory_index, FakeLlm()) as client:
        for n in range(6):
            answer = client.post("/v1/ask", json={"question": PASSWORD}).json()
            assert answer["route"] == "faq_direct"
            feedback = {"trace_id": answer["trace_id"], "rating": 1}
            assert client.post("/v1/feedback", json=feedback).status_code == 201, n
        state = raised_within(client, 10)  # the check runs off the feedback request
        (raised,) = state["state"]["raises"]["control"].values()
        assert raised["by"] == pytest.approx(0.05)
        assert "negative feedback 1.00" in raised["reason"]
        assert state["effective"]["control"]["faq_raise"] == pytest.approx(0.05)
        raised_gauge = value(
            scrape(client), "ragsvc_failsafe_raise", variant="control", route="faq_direct"
        )
        assert raised_gauge == pytest.approx(0.05)
        undone = client.delete("/v1/routing/raises/control/faq_direct", headers=ADMIN)
        assert undone.status_code == 200
        assert undone.json()["effective"]["control"]["faq_raise"] == 0


def raised_within(client: TestClient[Any], timeout_s: float) -> dict[str, Any]:
    """The routing state once the fail-safe has raised a threshold (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state: dict[str, Any] = client.get("/v1/routing", headers=OPERATOR).json()
        if state["state"]["raises"] or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_an_admin_checks_the_judge_in_the_running_service(client: TestClient[Any]) -> None:
    """``POST /v1/routing/judge-check`` runs the check of ``ragsvc routing check-judge`` in the
    background; the fake LLM says NO to every answer, so its result is stored and not trusted."""
    path = "/v1/routing/judge-check"
    assert client.post(path, json={"pairs": 2}).status_code == 401
    assert client.post(path, json={"pairs": 2}, headers=OPERATOR).status_code == 403
    assert client.post(path, json={"pairs": 0}, headers=ADMIN).status_code == 400
    assert client.get(path, headers=OPERATOR).json()["status"] == "idle"
    started = client.post(path, json={"pairs": 2}, headers=ADMIN)
    assert started.status_code == 202 and started.json()["pairs"] == 2, started.text
    run: dict[str, Any] = {}
    for _ in range(500):
        run = client.get(path, headers=OPERATOR).json()
        if run["status"] != "running":
            break
        time.sleep(0.01)
    assert run["status"] == "done", run
    routing = client.get("/v1/routing", headers=OPERATOR).json()
    judge = routing["state"]["judge"]
    assert (judge["right_answers"], judge["right_judged_right"]) == (2, 0)
    assert (judge["wrong_answers"], judge["wrong_judged_wrong"]) == (2, 2)
    assert routing["shadow"]["judge_trusted"] is False

"""The console's sign-in and pages over HTTP (fake models, a real Qdrant Edge store), and the widget
script as served. The same pages in a browser: ``tests/integration/test_browser.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from litestar.testing import TestClient

from ragsvc.api.app import create_app
from ragsvc.console.session import COOKIE, ConsoleSessions, SignInRequiredError
from ragsvc.index import Index
from ragsvc.keys import AccessKeys
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import ADMIN, ADMIN_KEY, OPERATOR, OPERATOR_KEY, fake_runtime


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        routing={"relevance_threshold": 0.2, "direct_threshold": 0.3},
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        ingest={"allowed_roots": [tmp_path], "upload_dir": tmp_path / "uploads"},
        widget={"contact_url": "https://help.example/contact?a=1&b=</script>"},
    )


@pytest.fixture
def client(settings: Settings, memory_index: Index) -> Iterator[TestClient[Any]]:
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index)

    with TestClient(app=create_app(settings, open_parts)) as test_client:
        yield test_client


def _sign_in(client: TestClient[Any], key: str) -> Any:
    return client.post(
        "/console/login", data={"key": key, "next": "/console/stats"}, follow_redirects=False
    )


def _asked(client: TestClient[Any], question: str) -> str:
    body = client.post("/v1/ask", json={"question": question}).json()
    client.app.state.runtime.traces.flush()
    return str(body["trace_id"])


def test_console_pages_send_a_visitor_without_a_session_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/console/traces", "/console/stats", "/console/documents", "/console/traces/x"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 307), path
        assert response.headers["location"].startswith("/console/login?reason=Sign+in")


def test_a_wrong_key_is_refused_and_an_operator_key_signs_in(client) -> None:  # type: ignore[no-untyped-def]
    refused = _sign_in(client, "not-a-key")
    assert refused.status_code == 401 and "does not open the console" in refused.text
    signed = _sign_in(client, OPERATOR_KEY)
    assert signed.status_code == 303 and signed.headers["location"] == "/console/stats"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert client.get("/console/traces").status_code == 200


def test_the_sign_in_never_redirects_to_another_site(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/console/login",
        data={"key": OPERATOR_KEY, "next": "https://evil.example/console"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console/traces"


def test_an_expired_session_asks_to_sign_in_again(client) -> None:  # type: ignore[no-untyped-def]
    keys: AccessKeys = client.app.state.runtime.keys
    sessions = ConsoleSessions(keys, minutes=60)
    with mock.patch("time.time", return_value=time.time() - 9 * 3600):  # the service's: 8 h
        old = sessions.sign_in(OPERATOR_KEY.encode())
    with pytest.raises(SignInRequiredError, match="expired"):
        sessions.role(old)
    client.cookies.set(COOKIE, old or "")
    response = client.get("/console/traces", follow_redirects=False)
    assert "session+expired" in response.headers["location"]


def test_a_forged_or_rotated_session_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    keys: AccessKeys = client.app.state.runtime.keys
    other = ConsoleSessions(AccessKeys(b"another-admin-key-01", keys.operator), minutes=60)
    with pytest.raises(SignInRequiredError, match="no longer valid"):
        ConsoleSessions(keys, minutes=60).role(other.sign_in(keys.operator))


def test_an_operator_key_header_opens_the_pages_for_tools(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/console/stats", headers=OPERATOR).status_code == 200


def test_the_trace_list_filters_and_the_trace_page(client) -> None:  # type: ignore[no-untyped-def]
    vpn = _asked(client, "How do I connect to the VPN?")
    _asked(client, "What is the boiling point of tungsten?")
    client.post("/v1/feedback", json={"trace_id": vpn, "rating": 1, "comment": "too vague"})
    _sign_in(client, OPERATOR_KEY)
    everything = client.get("/console/traces?route=&degraded=&text=&rating=&since=").text
    assert everything.count("data-trace=") == 2
    assert client.get("/console/traces?text=vpn").text.count("data-trace=") == 1
    down = client.get("/console/traces?rating=down").text
    assert down.count("data-trace=") == 1 and vpn in down
    assert client.get("/console/traces?rating=none").text.count("data-trace=") == 1
    assert client.get("/console/traces?since=2999-01-01T00:00").text.count("data-trace=") == 0
    bad = client.get("/console/traces?min_cost_usd=-1")
    assert bad.status_code == 400 and "min_cost_usd" in bad.text

    page = client.get(f"/console/traces/{vpn}").text
    assert "Checks" in page and "too vague" in page
    missing = client.get("/console/traces/no-such-trace")
    assert missing.status_code == 404 and "no trace &#39;no-such-trace&#39;" in missing.text


def test_user_text_is_escaped_in_the_pages(client) -> None:  # type: ignore[no-untyped-def]
    trace_id = _asked(client, "<script>alert(1)</script> how do I connect to the VPN?")
    _sign_in(client, OPERATOR_KEY)
    for path in ("/console/traces", f"/console/traces/{trace_id}"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_the_stats_page_draws_three_charts(client) -> None:  # type: ignore[no-untyped-def]
    _asked(client, "How do I connect to the VPN?")
    _sign_in(client, OPERATOR_KEY)
    page = client.get("/console/stats").text
    assert page.count("<svg") == 3 and 'aria-label="Route mix over time"' in page
    assert "Routing variants" in page and '<td>control</td><td class="num">1</td>' in page


def test_faq_changes_need_an_admin_and_a_form_from_the_console(client) -> None:  # type: ignore[no-untyped-def]
    form = {"question": "Where do I park?", "answer": "In lot B.", "trace_ids": ""}
    _sign_in(client, OPERATOR_KEY)
    assert client.post("/console/candidates/entry", data=form).status_code == 403
    _sign_in(client, ADMIN_KEY)
    foreign = client.post(
        "/console/candidates/entry", data=form, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    added = client.post("/console/candidates/entry", data=form, follow_redirects=False)
    assert added.status_code == 303 and "ingest+job" in added.headers["location"]
    runtime: Runtime = client.app.state.runtime
    stored = runtime.ingest.upload_dir / "console-faq.yaml"
    assert "Where do I park?" in stored.read_text()
    job = runtime.ingest.jobs()[0]
    for _ in range(200):
        if runtime.ingest.get(job.job_id).status in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert runtime.ingest.get(job.job_id).status == "succeeded"
    assert "console-faq.yaml" in client.get("/console/documents", headers=ADMIN).text


def test_the_widget_script_carries_its_settings_safely(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    script = response.text
    assert "/*RAGSVC_CONFIG*/" not in script
    config = script.split("const SERVER = ", 1)[1].split(";\n", 1)[0]
    assert "</script>" not in config  # the value cannot close a script element
    assert json.loads(config)["contact_url"] == "https://help.example/contact?a=1&b=</script>"


def test_the_demo_page_embeds_the_widget_from_the_service(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/widget/demo").text
    assert '<script src="/widget.js" defer></script>' in page
    assert "&lt;script src=&quot;" not in page and "http://testserver.local/widget.js" in page

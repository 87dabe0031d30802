"""Phrasings learned from use: added to a published FAQ entry without re-ingesting it, matched
next time, kept across re-ingests, and added over HTTP by admins only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from ingest.job import IngestJob
from ingest.phrasings import add_phrasings, entry_phrasings, learned_phrasings, remove_phrasing
from ragsvc.api.app import create_app
from ragsvc.errors import InvalidRequestError, NotFoundError
from ragsvc.index import Index
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from ragsvc.traces.schema import Trace
from tests.conftest import make_settings
from tests.fakes import ADMIN, OPERATOR, fake_runtime

NEW = "forgot my login code, locked out of my account"


def _add(index: Index, settings: Settings, faq_id: str, *phrasings: str) -> list[bool]:
    done = add_phrasings(index.store, settings.lexical, faq_id, phrasings)
    return [a.added for a in done]


def test_an_added_phrasing_is_matched_next_time(memory_index: Index, settings: Settings) -> None:
    before = memory_index.faq.match(NEW)
    assert not before or before[0].matched_phrasing != NEW
    assert _add(memory_index, settings, "pw-1", NEW) == [True]
    (top, *_) = memory_index.faq.match(NEW)
    assert top.faq_id == "pw-1" and top.matched_phrasing == NEW
    assert top.confidence == pytest.approx(1.0, abs=1e-4)
    assert top.answer.startswith("Open the password portal")
    assert learned_phrasings(memory_index.store, top.hit.payload["doc_id"]) == {"pw-1": [NEW]}


def test_a_known_phrasing_is_reported_not_repeated(memory_index: Index, settings: Settings) -> None:
    points = memory_index.store.count()
    assert _add(memory_index, settings, "pw-1", "how do I  reset my password?") == [False]
    assert memory_index.store.count() == points
    assert _add(memory_index, settings, "pw-1", NEW, NEW.upper()) == [True, False]
    assert memory_index.store.count() == points + 1


def test_bad_additions_are_refused(memory_index: Index, settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="no published FAQ entry 'nope'"):
        _add(memory_index, settings, "nope", NEW)
    with pytest.raises(InvalidRequestError, match="non-empty"):
        _add(memory_index, settings, "pw-1")
    with pytest.raises(InvalidRequestError, match="at most 500"):
        _add(memory_index, settings, "pw-1", "x" * 501)


def test_learned_phrasings_survive_re_ingest(
    memory_index: Index, settings: Settings, corpus: Path
) -> None:
    _add(memory_index, settings, "vpn-1", "vpn from home not working")
    job = IngestJob(memory_index.store, settings)
    assert job.run([corpus]).unchanged  # same file: its points, the learned one too, stay
    faq = corpus / "faq.yaml"
    faq.write_text(faq.read_text().replace("authenticator app", "authenticator app on your phone"))
    report = job.run([corpus])
    assert report.updated == ["faq.yaml"]
    (top, *_) = memory_index.faq.match("vpn from home not working")
    assert top.faq_id == "vpn-1" and top.matched_phrasing == "vpn from home not working"
    assert top.answer.endswith("on your phone.")
    assert memory_index.store.count(live_only=False) == memory_index.store.count()


def test_a_learned_phrasing_can_be_removed_and_stays_removed(
    memory_index: Index, settings: Settings, corpus: Path
) -> None:
    _add(memory_index, settings, "pw-1", NEW, "password portal link expired")
    doc, phrasings = entry_phrasings(memory_index.store, "pw-1")
    assert doc.endswith("faq.yaml")
    assert phrasings == [
        ("How do I reset my password?", "question"),
        *sorted((p, "learned") for p in (NEW, "password portal link expired")),
    ]
    assert remove_phrasing(memory_index.store, "pw-1", NEW.upper()) == doc
    assert learned_phrasings(memory_index.store, doc) == {"pw-1": ["password portal link expired"]}
    with pytest.raises(NotFoundError, match="no phrasing"):
        remove_phrasing(memory_index.store, "pw-1", NEW)
    with pytest.raises(InvalidRequestError, match="edit the FAQ file"):
        remove_phrasing(memory_index.store, "pw-1", "How do I reset my password?")
    faq = corpus / "faq.yaml"
    faq.write_text(faq.read_text().replace("emailed link", "link in the email"))
    assert IngestJob(memory_index.store, settings).run([corpus]).updated
    assert learned_phrasings(memory_index.store, doc) == {"pw-1": ["password portal link expired"]}


# -- over HTTP ------------------------------------------------------------------------------------
@pytest.fixture
def client(tmp_path: Path, memory_index: Index) -> Iterator[TestClient]:  # type: ignore[type-arg]
    settings = make_settings(tmp_path, cost={"ledger_path": tmp_path / "cost.sqlite"})

    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index)

    with TestClient(app=create_app(settings, open_parts)) as test_client:
        yield test_client


def test_admins_add_phrasings_as_text_or_from_a_trace(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    asked = client.post("/v1/ask", json={"question": "cannot get on the vpn at home"}).json()
    client.app.state.runtime.traces.flush()
    response = client.post(
        "/v1/faq/vpn-1/phrasings",
        json={"phrasings": ["kumoconnect will not start"], "trace_ids": [asked["trace_id"]]},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["faq_id"] == "vpn-1" and body["added"] == 2
    assert [p["phrasing"] for p in body["phrasings"]] == [
        "kumoconnect will not start",
        "cannot get on the vpn at home",
    ]
    again = client.post("/v1/ask", json={"question": "cannot get on the vpn at home"}).json()
    assert again["route"] == "faq_direct"


def test_the_phrasings_endpoint_needs_the_admin_role_and_good_input(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    url = "/v1/faq/pw-1/phrasings"
    body = {"phrasings": [NEW]}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=OPERATOR).status_code == 403
    assert client.post(url, json={}, headers=ADMIN).status_code == 400
    assert client.post(url, json={"phrasings": [""]}, headers=ADMIN).status_code == 400
    assert client.post(url, json={"phrasings": ["x" * 501]}, headers=ADMIN).status_code == 400
    missing = client.post("/v1/faq/nope/phrasings", json=body, headers=ADMIN)
    assert missing.status_code == 404 and "nope" in missing.text
    no_trace = client.post(url, json={"trace_ids": ["0" * 32]}, headers=ADMIN)
    assert no_trace.status_code == 404
    traces = client.app.state.runtime.traces
    traces.submit(Trace(trace_id="hidden", question="[redacted]", question_redacted=True))
    traces.flush()
    hidden = client.post(url, json={"trace_ids": ["hidden"]}, headers=ADMIN)
    assert hidden.status_code == 400 and "redacted" in hidden.text
    documented = client.get("/schema/openapi.json").json()["paths"]["/v1/faq/{faq_id}/phrasings"]
    assert {"200", "400", "401", "403", "404"} <= set(documented["post"]["responses"])


def test_admins_list_and_remove_phrasings(client: TestClient) -> None:  # type: ignore[type-arg]
    url = "/v1/faq/vpn-1/phrasings"
    client.post(url, json={"phrasings": ["vpn from the hotel"]}, headers=ADMIN)
    listed = client.get(url, headers=ADMIN).json()
    assert [(p["phrasing"], p["field"]) for p in listed["phrasings"]] == [
        ("How do I connect to the VPN from home?", "question"),
        ("vpn from the hotel", "learned"),
    ]
    assert client.get(url).status_code == 401
    assert client.delete(url, params={"phrasing": "x"}, headers=OPERATOR).status_code == 403
    given = client.delete(
        url, params={"phrasing": "How do I connect to the VPN from home?"}, headers=ADMIN
    )
    assert given.status_code == 400 and "edit the FAQ file" in given.text
    removed = client.delete(url, params={"phrasing": "vpn from the hotel"}, headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["phrasing"] == "vpn from the hotel"
    again = client.delete(url, params={"phrasing": "vpn from the hotel"}, headers=ADMIN)
    assert again.status_code == 404
    assert client.get("/v1/faq/nope/phrasings", headers=ADMIN).status_code == 404

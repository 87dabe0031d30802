"""Document admin over HTTP: uploads (names checked, size bounded, ingested by a job), the list of
indexed documents, deletion; the ingest endpoints' roots and roles; a re-index job."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ragsvc.api.app import create_app
from ragsvc.errors import ConfigError
from ragsvc.index import Index
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import ADMIN, OPERATOR, fake_runtime

PARKING_MD = b"# Parking\n\nParking permits cost 5000 yen a month at the Tokyo office.\n"
LOCKERS_YAML = b"faqs:\n  - question: Where are the lockers?\n    answer: On floor 3.\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        ingest={
            "allowed_roots": [tmp_path],
            "upload_dir": tmp_path / "uploads",
            "max_upload_mb": 0.05,
        },
    )


@pytest.fixture
def client(settings: Settings, memory_index: Index) -> Iterator[TestClient]:  # type: ignore[type-arg]
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index)

    with TestClient(app=create_app(settings, open_parts)) as test_client:
        yield test_client


def _finished(client: TestClient, job: dict[str, Any]) -> dict[str, Any]:  # type: ignore[type-arg]
    for _ in range(200):
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
        job = client.get(f"/v1/ingest/{job['job_id']}", headers=ADMIN).json()
    raise AssertionError(f"job still {job['status']}")


def _upload(client: TestClient, *files: tuple[str, bytes], **kw: Any) -> Any:  # type: ignore[type-arg]
    parts = [("files", (name, content)) for name, content in files]
    return client.post("/v1/documents", files=parts, **kw)


def test_upload_stores_the_files_and_ingests_them(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    started = _upload(
        client, ("parking.md", PARKING_MD), ("lockers.yaml", LOCKERS_YAML), headers=ADMIN
    )
    assert started.status_code == 202, started.text
    job = _finished(client, started.json())
    assert job["status"] == "succeeded", job
    assert sorted(job["report"]["added"]) == ["lockers.yaml", "parking.md"]
    uploads = settings.ingest.upload_dir
    assert sorted(p.name for p in uploads.iterdir()) == ["lockers.yaml", "parking.md"]
    assert (uploads / "parking.md").read_bytes() == PARKING_MD

    listed = client.get("/v1/documents", headers=ADMIN).json()
    by_source = {d["source"]: d for d in listed["documents"]}
    assert by_source["parking.md"]["kind"] == "doc"
    lockers = by_source["lockers.yaml"]
    assert lockers.pop("ingested_at").startswith(str(datetime.now(UTC).year))
    assert lockers == {
        "doc_id": str(uploads.resolve() / "lockers.yaml"),
        "source": "lockers.yaml",
        "source_root": str(uploads.resolve()),
        "kind": "faq",
        "chunks": 2,  # the entry's question and its answer
        "language": "en",
        "url": None,
    }
    assert listed["total"] == 4  # with the corpus' faq.yaml and travel.md


def test_a_second_upload_of_a_name_replaces_the_file_and_its_document(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    _finished(client, _upload(client, ("parking.md", PARKING_MD), headers=ADMIN).json())
    changed = PARKING_MD.replace(b"5000", b"6000")
    job = _finished(client, _upload(client, ("parking.md", changed), headers=ADMIN).json())
    assert job["report"]["updated"] == ["parking.md"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../escape.md", "must be a bare file name, without folders"),
        ("sub\\dir.md", "must be a bare file name, without folders"),
        (".hidden.md", "must not start with a dot"),
        ("..", "must not start with a dot"),
        ("tool.exe", "has an unsupported type; supported: .csv"),
        ("bell\x07.md", "must not contain control characters"),
    ],
)
def test_unsafe_file_names_are_refused_and_nothing_is_stored(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    name: str,
    problem: str,
) -> None:
    parts = [("parking.md", PARKING_MD), (name, b"x")]
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="%s"\r\n\r\n%s\r\n'
        % (filename.encode(), content)
        for filename, content in parts
    )  # written out, as clients escape or drop some characters (httpx: "\x07" -> "%07")
    headers = {**ADMIN, "Content-Type": "multipart/form-data; boundary=b"}
    response = client.post("/v1/documents", content=body + b"--b--\r\n", headers=headers)
    assert response.status_code == 400
    assert f"the uploaded file name {name!r} {problem}" in response.json()["detail"]
    assert not settings.ingest.upload_dir.exists() or not any(settings.ingest.upload_dir.iterdir())


def test_upload_over_the_size_limit_is_413_before_it_is_read(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    response = _upload(client, ("big.md", b"# Big\n\n" + b"x" * 60_000), headers=ADMIN)
    assert response.status_code == 413
    assert "over ingest.max_upload_mb (0.05)" in response.json()["detail"]
    assert not settings.ingest.upload_dir.exists()


def test_upload_without_a_declared_length_is_411(client: TestClient) -> None:  # type: ignore[type-arg]
    body = iter([b"--x\r\n", b"--x--\r\n"])  # a generator body goes chunked
    headers = {**ADMIN, "Content-Type": "multipart/form-data; boundary=x"}
    response = client.post("/v1/documents", content=body, headers=headers)
    assert response.status_code == 411


def test_document_admin_needs_the_admin_role(client: TestClient) -> None:  # type: ignore[type-arg]
    for method, url in (
        ("POST", "/v1/documents"),
        ("GET", "/v1/documents"),
        ("DELETE", "/v1/documents?doc_id=x"),
        ("POST", "/v1/ingest"),
        ("GET", "/v1/ingest/x"),
    ):
        assert client.request(method, url).status_code == 401, url
        assert client.request(method, url, headers=OPERATOR).status_code == 403, url
    upload = client.app.openapi_schema.to_schema()["paths"]["/v1/documents"]["post"]
    assert {"400", "401", "403", "411", "413"} <= set(upload["responses"])


def test_list_pages_with_limit_and_offset(client: TestClient) -> None:  # type: ignore[type-arg]
    everything = client.get("/v1/documents", headers=ADMIN).json()
    assert [d["source"] for d in everything["documents"]] == ["faq.yaml", "travel.md"]
    page = client.get("/v1/documents", params={"limit": 1, "offset": 1}, headers=ADMIN).json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert [d["source"] for d in page["documents"]] == ["travel.md"]
    assert client.get("/v1/documents", params={"limit": 0}, headers=ADMIN).status_code == 400


def test_delete_removes_the_document_and_an_uploaded_file(
    client: TestClient,  # type: ignore[type-arg]
    corpus: Path,
    settings: Settings,
) -> None:
    _finished(client, _upload(client, ("parking.md", PARKING_MD), headers=ADMIN).json())
    uploaded = str(settings.ingest.upload_dir.resolve() / "parking.md")
    travel = str(corpus.resolve() / "travel.md")
    for doc_id in (uploaded, travel):
        deleted = client.delete("/v1/documents", params={"doc_id": doc_id}, headers=ADMIN)
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["points_removed"] > 0
    remaining = client.get("/v1/documents", headers=ADMIN).json()["documents"]
    assert [d["source"] for d in remaining] == ["faq.yaml"]
    assert not Path(uploaded).exists()
    assert Path(travel).exists()  # the operator's corpus file is not the service's to delete
    again = client.delete("/v1/documents", params={"doc_id": travel}, headers=ADMIN)
    assert again.status_code == 404 and "no indexed document" in again.json()["detail"]


def test_ingest_outside_the_roots_is_400_naming_path_and_setting(
    client: TestClient,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    outside = tmp_path.parent
    response = client.post("/v1/ingest", json={"paths": [str(outside)]}, headers=ADMIN)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert f"{outside} is outside the ingest roots" in detail and "ingest.allowed_roots" in detail


def test_uploads_are_off_while_the_upload_dir_is_outside_the_roots(
    tmp_path: Path, memory_index: Index
) -> None:
    settings = make_settings(
        tmp_path, ingest={"allowed_roots": [tmp_path / "corpus"], "upload_dir": tmp_path / "up"}
    )
    runner = IngestRunner(memory_index.store, settings)
    try:
        with pytest.raises(ConfigError, match=r"uploads are off: ingest.upload_dir: .* is outside"):
            runner.upload([("parking.md", io.BytesIO(PARKING_MD))])
    finally:
        runner.close()


def test_a_reindex_job_switches_the_alias_to_a_new_collection(
    client: TestClient,  # type: ignore[type-arg]
    memory_index: Index,
) -> None:
    assert client.post("/v1/reindex", headers=OPERATOR).status_code == 403
    documents = client.get("/v1/documents", headers=ADMIN).json()["documents"]
    started = client.post("/v1/reindex", headers=ADMIN)
    assert started.status_code == 202 and started.json()["kind"] == "reindex"
    job = _finished(client, started.json())
    assert job["status"] == "succeeded", job
    report = job["report"]
    assert report["previous"] == "test" and report["collection"].startswith("test-")
    assert memory_index.store.collection == report["collection"]
    again = client.get("/v1/documents", headers=ADMIN).json()["documents"]

    def same(listed: list[dict[str, Any]]) -> list[tuple[str, int]]:
        return [(d["doc_id"], d["chunks"]) for d in listed]

    assert same(again) == same(documents)  # ingested anew, from the same files

"""Safe ingest: the service reads only under ``ingest.allowed_roots``, no symlink leads out of a
root, and a hostile file (an alias bomb, deep nesting, a parser that hangs, raises or dies) is
reported while the rest of the job goes on."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.build import build_chunks
from ingest.job import IngestJob, discover
from ingest.records import ReadError
from ingest.report import IngestReport
from ingest.roots import outside_roots, resolve_roots
from ingest.worker import ReadWorker
from ragsvc.errors import InvalidRequestError
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.settings import IngestSettings, Settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.unit.test_readers import BILLION_LAUGHS

GOOD_MD = "# Parking\n\nParking permits cost 5000 yen a month.\n"
SLOW_YAML = "- a\n" * 300_000  # pure-Python YAML: seconds to parse


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChunkStore]:
    directory = tmp_path_factory.mktemp("index")  # outside tmp_path, which tests ingest
    chunk_store = ChunkStore(EdgeBackend(directory, "test"), FakeEmbedder())
    yield chunk_store
    chunk_store.close()


def _ingest(
    store: ChunkStore, settings: Settings, paths: list[Path], roots: list[Path] | None = None
) -> IngestReport:
    return IngestJob(store, settings, roots).run(paths)


def _reasons(report: IngestReport) -> dict[str, str]:
    return {problem.source: problem.reason for problem in report.failed}


# -- roots ------------------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, store: ChunkStore) -> Iterator[IngestRunner]:
    (tmp_path / "corpus").mkdir()
    settings = make_settings(tmp_path, ingest={"allowed_roots": [tmp_path / "corpus"]})
    ingest = IngestRunner(store, settings)
    yield ingest
    ingest.close()


def test_service_jobs_outside_the_roots_are_refused_naming_path_and_setting(
    runner: IngestRunner, tmp_path: Path
) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    with pytest.raises(InvalidRequestError) as refused:
        runner.submit([str(tmp_path / "corpus"), str(outside)], prune=False)
    message = str(refused.value)
    assert f"{outside} is outside the ingest roots" in message
    assert f"ingest.allowed_roots: {tmp_path.resolve() / 'corpus'}" in message
    assert runner.submit([str(tmp_path / "corpus")], prune=False).status in ("queued", "running")


@pytest.mark.parametrize("given", ["corpus/../private", "corpus/link-out"])
def test_dot_dot_and_symlinks_do_not_lead_out_of_the_roots(
    runner: IngestRunner, tmp_path: Path, given: str
) -> None:
    (tmp_path / "private").mkdir()
    (tmp_path / "corpus" / "link-out").symlink_to(tmp_path / "private")
    with pytest.raises(InvalidRequestError, match=r"ingest\.allowed_roots"):
        runner.submit([str(tmp_path / given)], prune=False)


def test_a_symlink_given_directly_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text(GOOD_MD)
    link = tmp_path / "corpus" / "notes.md"
    link.symlink_to(secret)
    reason = outside_roots(link, resolve_roots([tmp_path / "corpus"]))
    assert reason is not None
    assert reason.startswith(f"symlink leaves the ingest roots: {link} resolves to {secret};")


def test_relative_roots_are_resolved_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "corpus").mkdir()
    monkeypatch.chdir(tmp_path)
    roots = resolve_roots([Path("corpus")])
    assert roots == (tmp_path.resolve() / "corpus",)
    assert outside_roots(tmp_path / "corpus" / "faq.yaml", roots) is None
    assert outside_roots(Path("corpus/faq.yaml"), roots) is None
    assert outside_roots(tmp_path / "faq.yaml", roots) is not None


# -- symlinks inside a folder -----------------------------------------------------------------


@pytest.fixture
def linked_corpus(tmp_path: Path) -> Path:
    """A corpus with a file, a symlink to it, and symlinks to a file and a folder outside."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe payroll password is hunter2.\n")
    (corpus / "parking.md").write_text(GOOD_MD)
    (corpus / "same.md").symlink_to(corpus / "parking.md")
    (corpus / "leak.md").symlink_to(outside / "secret.md")
    (corpus / "more").symlink_to(outside)
    return corpus


def test_symlinks_leaving_the_folder_are_reported_and_not_read(
    store: ChunkStore, settings: Settings, linked_corpus: Path, tmp_path: Path
) -> None:
    report = _ingest(store, settings, [linked_corpus])  # the CLI's job: no roots, rule still holds
    outside = (tmp_path / "outside").resolve()
    root = linked_corpus.resolve()
    assert _reasons(report) == {
        "leak.md": f"symlink leaves the ingest root {root} (it points to {outside}/secret.md); "
        "not read",
        "more": f"symlink leaves the ingest root {root} (it points to {outside}); not read",
    }
    assert sorted(report.added) == ["parking.md", "same.md"]  # a link within the root is fine
    assert not any("hunter2" in p.payload["text"] for p in store.scroll())


def test_the_local_cli_reads_outside_the_roots(
    store: ChunkStore, settings: Settings, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text(GOOD_MD)
    assert outside_roots(elsewhere, resolve_roots(settings.ingest.allowed_roots)) is not None
    assert _ingest(store, settings, [elsewhere]).added == ["elsewhere.md"]


def test_a_service_job_reports_a_path_that_left_the_roots_after_it_was_queued(
    tmp_path: Path, linked_corpus: Path
) -> None:
    roots = resolve_roots([linked_corpus])
    files, _, problems = discover([linked_corpus / "leak.md", linked_corpus / "parking.md"], roots)
    assert [f.source for f in files] == ["parking.md"]
    assert [p.source for p in problems] == [str(linked_corpus / "leak.md")]
    assert problems[0].reason.startswith("symlink leaves the ingest roots")


# -- hostile files ----------------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(BILLION_LAUGHS)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "nested.yaml").write_text("[" * 5_000 + "]" * 5_000)  # PyYAML: RecursionError
    (folder / "digits.json").write_text('[{"question": ' + "9" * 5_000 + "}]")  # ValueError
    (folder / "parking.md").write_text(GOOD_MD)
    return folder


def test_hostile_files_are_reported_and_the_rest_ingested(
    store: ChunkStore, settings: Settings, hostile: Path
) -> None:
    report = _ingest(store, settings, [hostile])
    reasons = _reasons(report)
    assert reasons["bomb.yaml"].startswith("YAML aliases over ingest.max_yaml_aliases (100)")
    assert reasons["deep.json"].startswith("JSON nested deeper than ingest.max_json_depth (64)")
    assert reasons["nested.yaml"].startswith("the parser failed: RecursionError")
    assert reasons["digits.json"].startswith("the parser failed: ValueError")
    assert report.added == ["parking.md"]
    assert store.count() == report.chunks_written > 0


def test_a_chunking_failure_fails_that_file_only(
    store: ChunkStore, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fragile(read, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["source"] == "bad.md":
            raise IndexError("list index out of range")
        return build_chunks(read, **kwargs)

    monkeypatch.setattr("ingest.job.build_chunks", fragile)
    for name in ("bad.md", "good.md"):
        (tmp_path / name).write_text(GOOD_MD)
    report = _ingest(store, settings, [tmp_path])
    assert _reasons(report) == {
        "bad.md": "cannot chunk the text: IndexError: list index out of range"
    }
    assert report.added == ["good.md"]


def test_a_file_over_the_parse_timeout_is_stopped_and_the_job_goes_on(
    store: ChunkStore, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, ingest={"parse_timeout_s": 0.5})
    (tmp_path / "a-slow.yaml").write_text(SLOW_YAML)
    (tmp_path / "b-parking.md").write_text(GOOD_MD)  # read after the slow one, by a new worker
    started = time.perf_counter()
    report = _ingest(store, settings, [tmp_path])
    assert time.perf_counter() - started < 20  # parsing alone takes longer (about 10 s, loaded)
    assert _reasons(report) == {
        "a-slow.yaml": "reading took longer than ingest.parse_timeout_s (0.5 s) and was stopped; "
        "split the file, or raise the setting if it is merely large"
    }
    assert report.added == ["b-parking.md"]


def test_one_worker_serves_the_job_and_a_stopped_one_is_replaced(tmp_path: Path) -> None:
    good = tmp_path / "parking.md"
    good.write_text(GOOD_MD)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_YAML)
    with ReadWorker(IngestSettings(parse_timeout_s=0.5)) as worker:
        worker.read(good)
        first = worker.pid
        assert worker.read(good).title == "Parking" and worker.pid == first
        with pytest.raises(ReadError, match=r"longer than ingest\.parse_timeout_s"):
            worker.read(slow)
        assert worker.pid is None  # killed
        assert worker.read(good).title == "Parking"
        assert worker.pid not in (None, first)


def test_a_worker_that_dies_fails_its_file_only(tmp_path: Path) -> None:
    good = tmp_path / "parking.md"
    good.write_text(GOOD_MD)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_YAML)
    with ReadWorker(IngestSettings(parse_timeout_s=60)) as worker:
        worker.read(good)
        assert worker.pid is not None
        killer = threading.Timer(0.3, os.kill, (worker.pid, signal.SIGKILL))  # as the OOM killer
        killer.start()
        with pytest.raises(ReadError, match=r"reader process died .*exit code -9"):
            worker.read(slow)
        killer.join()
        assert worker.read(good).title == "Parking"

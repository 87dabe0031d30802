"""The ingest job: incremental, per-document atomic, and tolerant of bad files.

For every supported file under the given paths:
- unchanged (same content and same indexing settings) -> skipped;
- new or changed -> read, chunked, embedded, staged invisibly, then published (old version removed);
- unreadable, malformed, too slow to parse (``ingest.worker``) or reached through a symlink that
  leaves its folder -> reported with its reason and skipped; the rest goes on.
With ``prune``, documents indexed from a given folder whose file is gone are removed. A job of the
service reads only under ``ingest.allowed_roots`` (``ingest.roots``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.build import build_chunks, embed_chunks
from ingest.phrasings import learned_phrasings
from ingest.readers import READERS
from ingest.records import ReadError, ReadResult
from ingest.report import FileProblem, IngestReport
from ingest.roots import expanded, outside_roots
from ingest.urls import prefixed_url
from ingest.worker import ReadWorker
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, IndexedDocument
from ragsvc.store.schema import Chunk

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (source, files done, files total) after each file."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    root: Path

    @property
    def doc_id(self) -> str:
        return str(self.path)

    @property
    def source(self) -> str:
        return self.path.relative_to(self.root).as_posix()


def _hidden(path: Path, root: Path) -> bool:
    """A dot file, or a file in a dot folder (``.git``, ``.github``, an editor's settings)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _found_under(root: Path) -> tuple[list[SourceFile], list[FileProblem]]:
    """Supported files under ``root``; a symlink resolving outside ``root`` (to a supported file,
    or to a folder, which ``rglob`` does not enter) is a problem, and is not read."""
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for path in sorted(root.rglob("*")):
        supported = path.is_file() and path.suffix.lower() in READERS
        linked_folder = path.is_symlink() and path.is_dir()
        if not (supported or linked_folder) or _hidden(path, root):
            continue
        found = SourceFile(path, root)
        target = path.resolve()
        if not target.is_relative_to(root):
            reason = f"symlink leaves the ingest root {root} (it points to {target}); not read"
            problems.append(FileProblem(found.source, reason))
        elif supported:
            files.append(found)
    return files, problems


def discover(
    paths: Iterable[Path], roots: Sequence[Path] | None = None
) -> tuple[list[SourceFile], list[Path], list[FileProblem]]:
    """Supported files under ``paths``; also the folders given (prunable) and the problems: paths
    not found, files behind symlinks that leave their folder, and with ``roots`` (resolved) any
    path outside them."""
    files: list[SourceFile] = []
    folders: list[Path] = []
    problems: list[FileProblem] = []
    for given in paths:
        path = expanded(given).resolve()
        refused = outside_roots(given, roots) if roots is not None else None
        if refused is not None:
            problems.append(FileProblem(str(given), refused))
        elif path.is_dir():
            folders.append(path)
            found, unsafe = _found_under(path)
            files.extend(found)
            problems.extend(unsafe)
        elif path.is_file():
            files.append(SourceFile(path, path.parent))
        else:
            problems.append(FileProblem(str(given), "no such file or folder"))
    return files, folders, problems


def settings_fingerprint(settings: Settings, spaces: EmbeddingSpaces) -> str:
    """Changes when a setting that shapes the index changes, so documents get re-indexed."""
    shaping = {
        "embedder": spaces.name,
        "chunking": settings.chunking.model_dump(),
        "lexical": settings.lexical.model_dump(),
        "urls": settings.ingest.source_urls,
        # 2: CJK after a Latin word counted per character; 3: FAQ answer points; 4: source URLs
        "pipeline": 4,
    }
    return json.dumps(shaping, sort_keys=True)


def document_hash(path: Path, fingerprint: str) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:32]


class IngestJob:
    """``roots``: the resolved folders the job may read from (the service's
    ``ingest.allowed_roots``); None for the operator's own ``ragsvc ingest``: anywhere."""

    def __init__(
        self,
        store: ChunkStore,
        settings: Settings,
        roots: Sequence[Path] | None = None,
        learned_from: ChunkStore | None = None,
    ) -> None:
        """``learned_from``: the store whose FAQ entries' learned phrasings the rebuilt entries
        keep (a re-index into a new collection); else the version being replaced in ``store``."""
        self.store = store
        self.settings = settings
        self.roots = roots
        self.learned_from = learned_from
        self.fingerprint = settings_fingerprint(settings, store.spaces)

    def run(
        self, paths: Sequence[Path], *, prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        self.store.ensure_collection()
        report.repaired = self.store.repair_versions()
        report.staged_removed = self.store.delete_staged()
        files, folders, problems = discover(paths, self.roots)
        report.failed.extend(problems)
        indexed = self.store.documents()
        with ReadWorker(self.settings.ingest) as reader:
            for done, source_file in enumerate(files, start=1):
                self._ingest_file(source_file, indexed, report, reader)
                if progress:
                    progress(source_file.source, done, len(files))
        if prune:
            self._prune(folders, {f.doc_id for f in files}, indexed, report)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_file(
        self,
        source_file: SourceFile,
        indexed: dict[str, IndexedDocument],
        report: IngestReport,
        reader: ReadWorker,
    ) -> None:
        path = source_file.path
        try:
            size_mb = path.stat().st_size / 2**20
            if size_mb > self.settings.ingest.max_file_mb:
                raise ReadError(
                    f"{size_mb:.1f} MiB is over ingest.max_file_mb "
                    f"({self.settings.ingest.max_file_mb})"
                )
            doc_hash = document_hash(path, self.fingerprint)
            previous = indexed.get(source_file.doc_id)
            if previous is not None and previous.doc_hash == doc_hash:
                report.unchanged.append(source_file.source)
                return
            read = reader.read(path)
            learned = self._learned(source_file.doc_id, read, previous)
            chunks = self._chunks(read, source_file, doc_hash, learned)
        except ReadError as exc:
            report.failed.append(FileProblem(source_file.source, str(exc)))
            return
        except OSError as exc:
            report.failed.append(FileProblem(source_file.source, f"cannot read: {exc.strerror}"))
            return
        self._write(chunks)
        self.store.publish(source_file.doc_id, doc_hash)
        report.warnings.extend(FileProblem(source_file.source, w) for w in read.warnings)
        report.chunks_written += len(chunks)
        (report.updated if previous is not None else report.added).append(source_file.source)

    def _learned(
        self, doc_id: str, read: ReadResult, previous: IndexedDocument | None
    ) -> dict[str, list[str]]:
        """The learned phrasings the FAQ file's new version keeps, by entry."""
        if read.kind != "faq":
            return {}
        if self.learned_from is not None:
            return learned_phrasings(self.learned_from, doc_id)
        return learned_phrasings(self.store, doc_id) if previous is not None else {}

    def _chunks(
        self,
        read: ReadResult,
        source_file: SourceFile,
        doc_hash: str,
        learned: dict[str, list[str]],
    ) -> list[Chunk]:
        """``learned``: the phrasings confirmed from use of the version being replaced, kept."""
        try:
            chunks = build_chunks(
                read,
                doc_id=source_file.doc_id,
                doc_hash=doc_hash,
                source=source_file.source,
                source_root=str(source_file.root),
                ingested_at=datetime.now(UTC).isoformat(),
                chunking=self.settings.chunking,
                learned=learned,
                url=read.url
                or prefixed_url(
                    source_file.source, source_file.root, self.settings.ingest.source_urls
                ),
            )
        except Exception as exc:  # a bug met by one file's content fails that file, not the job
            log.warning("chunking %s failed", source_file.doc_id, exc_info=True)
            raise ReadError(f"cannot chunk the text: {type(exc).__name__}: {exc}") from exc
        if not chunks:
            raise ReadError("no chunk could be made from the file's text")
        return chunks

    def _write(self, chunks: list[Chunk]) -> None:
        size = self.settings.ingest.batch_size
        for start in range(0, len(chunks), size):
            batch = chunks[start : start + size]
            self.store.stage(batch, *embed_chunks(batch, self.store.spaces, self.settings.lexical))

    def _prune(
        self,
        folders: list[Path],
        seen: set[str],
        indexed: dict[str, IndexedDocument],
        report: IngestReport,
    ) -> None:
        roots = {str(folder) for folder in folders}
        for doc_id, doc in indexed.items():
            if doc.source_root in roots and doc_id not in seen:
                self.store.delete_document(doc_id)
                report.pruned.append(doc.source)

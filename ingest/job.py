"""The ingest job: incremental, per-document atomic, and tolerant of bad files.

For every supported file under the given paths:
- unchanged (same content and same indexing settings) -> skipped;
- new or changed -> read, chunked, embedded, staged invisibly, then published (old version removed);
- unreadable or malformed -> reported with its reason and skipped; the rest goes on.
With ``prune``, documents indexed from a given folder whose file is gone are removed.
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

from ingest.build import build_chunks
from ingest.readers import READERS, read_file
from ingest.records import ReadError
from ingest.report import FileProblem, IngestReport
from ragsvc.embedding.base import Embedder
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, IndexedDocument
from ragsvc.store.schema import Chunk
from ragsvc.text.lexical import document_terms

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


def discover(paths: Iterable[Path]) -> tuple[list[SourceFile], list[Path], list[FileProblem]]:
    """Supported files under ``paths``; also the folders given (prunable) and paths not found."""
    files: list[SourceFile] = []
    folders: list[Path] = []
    missing: list[FileProblem] = []
    for given in paths:
        path = given.expanduser().resolve()
        if path.is_dir():
            folders.append(path)
            files.extend(
                SourceFile(p, path)
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in READERS and not _hidden(p, path)
            )
        elif path.is_file():
            files.append(SourceFile(path, path.parent))
        else:
            missing.append(FileProblem(str(given), "no such file or folder"))
    return files, folders, missing


def settings_fingerprint(settings: Settings, embedder: Embedder) -> str:
    """Changes when a setting that shapes the index changes, so documents get re-indexed."""
    shaping = {
        "embedder": embedder.name,
        "chunking": settings.chunking.model_dump(),
        "lexical": settings.lexical.model_dump(),
        "pipeline": 2,  # 2: CJK after a Latin word counted per character when chunking
    }
    return json.dumps(shaping, sort_keys=True)


def document_hash(path: Path, fingerprint: str) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:32]


class IngestJob:
    def __init__(self, store: ChunkStore, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.fingerprint = settings_fingerprint(settings, embedder)

    def run(
        self, paths: Sequence[Path], *, prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        self.store.ensure_collection()
        report.staged_removed = self.store.delete_staged()
        files, folders, missing = discover(paths)
        report.failed.extend(missing)
        indexed = self.store.documents()
        for done, source_file in enumerate(files, start=1):
            self._ingest_file(source_file, indexed, report)
            if progress:
                progress(source_file.source, done, len(files))
        if prune:
            self._prune(folders, {f.doc_id for f in files}, indexed, report)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_file(
        self, source_file: SourceFile, indexed: dict[str, IndexedDocument], report: IngestReport
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
            read = read_file(path)
            chunks = build_chunks(
                read,
                doc_id=source_file.doc_id,
                doc_hash=doc_hash,
                source=source_file.source,
                source_root=str(source_file.root),
                ingested_at=datetime.now(UTC).isoformat(),
                chunking=self.settings.chunking,
            )
            if not chunks:
                raise ReadError("no chunk could be made from the file's text")
            self._write(chunks)
            self.store.publish(source_file.doc_id, doc_hash)
        except ReadError as exc:
            report.failed.append(FileProblem(source_file.source, str(exc)))
            return
        except OSError as exc:
            report.failed.append(FileProblem(source_file.source, f"cannot read: {exc.strerror}"))
            return
        report.warnings.extend(FileProblem(source_file.source, w) for w in read.warnings)
        report.chunks_written += len(chunks)
        (report.updated if previous is not None else report.added).append(source_file.source)

    def _write(self, chunks: list[Chunk]) -> None:
        size = self.settings.ingest.batch_size
        for start in range(0, len(chunks), size):
            batch = chunks[start : start + size]
            dense = self.embedder.embed_passages([c.embed_text for c in batch])
            lexical = [document_terms(c.lexical_text, self.settings.lexical) for c in batch]
            self.store.stage(batch, dense, lexical)

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

"""The collection a service reads, following its alias (:mod:`ragsvc.store.aliases`).

:class:`FollowingBackend` is a :class:`~ragsvc.store.points.PointBackend` over the collection that
``store.collection``'s alias points at. When the alias is switched (``ragsvc reindex`` in this
process or another, on this replica or on any other) it opens the new collection and serves every
call after that from it; a call already running finishes on the old one, which stays open until
the next switch or the service's end (a search never meets a closed or half-built collection).

A new collection is followed only when it was built with the same schema and spaces (its
metadata equals the served one's): after an embedder change, replicas still running the old
embedder keep the old collection, log why, and take the new one when restarted with the new
settings. On a Qdrant server, a service with no collection yet creates its first one under a
versioned name and the alias with it, so that a later re-index can switch it (the embedded store's
alias file may name the collection's own directory).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ragsvc.embedding.base import Vectors
from ragsvc.store.aliases import Aliases, resolve, versioned_name
from ragsvc.store.points import PointBackend, PointData, Where
from ragsvc.store.schema import StoredPoint
from ragsvc.text.lexical import SparseTerms

log = logging.getLogger(__name__)


class FollowingBackend:
    def __init__(
        self,
        aliases: Aliases,
        alias: str,
        open_collection: Callable[[str], PointBackend],
        refresh_s: float = 0.0,
        on_close: Callable[[], None] | None = None,
        versioned_first: bool = False,
    ) -> None:
        """``open_collection(name)``: the engine's collection ``name``; ``refresh_s`` > 0: check
        the alias that often in a background thread (else only on :meth:`refresh`);
        ``versioned_first``: a first collection gets a versioned name and the alias (a Qdrant
        server, where an alias cannot take a collection's name), else the alias's name."""
        self.aliases = aliases
        self.alias = alias
        self.open_collection = open_collection
        self._current = open_collection(resolve(aliases, alias))
        self._retired: list[PointBackend] = []
        self._refused: str | None = None
        self._lock = threading.Lock()
        self._on_close = on_close
        self._versioned_first = versioned_first
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        if refresh_s > 0:
            self._follower = threading.Thread(
                target=self._follow, args=(refresh_s,), name="alias-follower", daemon=True
            )
            self._follower.start()

    @property
    def current(self) -> PointBackend:
        return self._current

    @property
    def collection(self) -> str:
        return self._current.collection

    @property
    def location(self) -> str:
        return f"{self._current.location} (alias {self.alias!r})"

    def _follow(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.refresh()
            except Exception:  # an unreachable server now is retried next time
                log.warning("cannot check the alias %r", self.alias, exc_info=True)

    def refresh(self) -> bool:
        """Serve the collection the alias points at now; True when that changed."""
        with self._lock:
            name = resolve(self.aliases, self.alias)
            if name == self._current.collection or name == self._refused:
                return False
            candidate = self.open_collection(name)
            served, offered = self._current.metadata(), candidate.metadata()
            if offered != served:
                self._refused = name
                candidate.close()
                log.warning(
                    "alias %r now points at %r, built with %s; this process serves %r, built "
                    "with %s, until it is restarted with settings matching the new collection",
                    self.alias,
                    name,
                    offered or "no schema metadata",
                    self._current.collection,
                    served,
                )
                return False
            self._retired.append(self._current)
            self._current = candidate
        log.info("alias %r switched: now serving collection %r", self.alias, name)
        return True

    def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=30)
        with self._lock:
            for backend in (*self._retired, self._current):
                backend.close()
            self._retired.clear()
        if self._on_close is not None:
            self._on_close()

    # -- the served collection's calls ------------------------------------------------------------
    def exists(self) -> bool:
        return self._current.exists()

    def create(self, dimensions: Mapping[str, int], metadata: dict[str, Any]) -> None:
        """The first collection: a versioned name, and the alias pointing at it."""
        with self._lock:
            if not self._versioned_first or self._current.collection != self.alias:
                self._current.create(dimensions, metadata)
                return
            created = self.open_collection(versioned_name(self.alias))
            created.create(dimensions, metadata)
            self.aliases.switch(self.alias, created.collection)
            self._current.close()
            self._current = created

    def metadata(self) -> dict[str, Any]:
        return self._current.metadata()

    def upsert(self, points: Sequence[PointData]) -> None:
        self._current.upsert(points)

    def set_payload(self, payload: dict[str, Any], where: Where) -> None:
        self._current.set_payload(payload, where)

    def delete(self, where: Where) -> None:
        self._current.delete(where)

    def count(self, where: Where | None = None) -> int:
        return self._current.count(where)

    def scroll(
        self, where: Where | None = None, with_space: str | None = None
    ) -> Iterator[StoredPoint]:
        return self._current.scroll(where, with_space)

    def payloads(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self._current.payloads(ids, fields)

    def search_dense(
        self, vector: Vectors, space: str, where: Where, limit: int
    ) -> list[StoredPoint]:
        return self._current.search_dense(vector, space, where, limit)

    def search_lexical(
        self, terms: SparseTerms, where: Where, limit: int, with_space: str
    ) -> list[StoredPoint]:
        return self._current.search_lexical(terms, where, limit, with_space)

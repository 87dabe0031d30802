"""Collection aliases: ``store.collection`` names an alias, and the alias names the collection that
queries read, so ``ragsvc reindex`` can build a whole new collection beside the served one and then
switch the alias in one step (:mod:`ragsvc.reindex`).

On a Qdrant server the alias is Qdrant's own: one ``update_collection_aliases`` call deletes and
creates it, atomically for every client. The embedded store keeps its aliases in
``store.path/aliases.json``, replaced by an atomic rename. Where no alias exists,
``store.collection`` is the collection itself: an index built before aliases, served as it is (on a
server, the first re-index then needs a new alias name: Qdrant refuses an alias named like a
collection).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from qdrant_client import QdrantClient, models

from ragsvc.errors import ConfigError

ALIAS_FILE = "aliases.json"


def versioned_name(alias: str, now: datetime | None = None) -> str:
    """A new collection's name for ``alias``: ``ragsvc-20261206t061502`` (UTC, to the second)."""
    return f"{alias}-{(now or datetime.now(UTC)).strftime('%Y%m%dt%H%M%S')}"


class Aliases(Protocol):
    def target(self, alias: str) -> str | None:
        """The collection ``alias`` points at; None when it is no alias."""
        ...

    def switch(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection`` (created when new), in one atomic step."""
        ...


def resolve(aliases: Aliases, alias: str) -> str:
    """The collection queries of ``alias`` read: its target, else a collection of that name."""
    return aliases.target(alias) or alias


class EdgeAliases:
    """The embedded store's aliases: a JSON object ``{alias: collection}`` in the store's root."""

    def __init__(self, root: Path) -> None:
        self.file = root / ALIAS_FILE

    def _read(self) -> dict[str, str]:
        try:
            found = json.loads(self.file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the collection aliases in {self.file}: {exc}") from exc
        if not isinstance(found, dict):
            raise ConfigError(f"{self.file} must hold a JSON object {{alias: collection}}")
        return {str(k): str(v) for k, v in found.items()}

    def target(self, alias: str) -> str | None:
        return self._read().get(alias)

    def switch(self, alias: str, collection: str) -> None:
        aliases = {**self._read(), alias: collection}
        staged = self.file.with_suffix(".json.tmp")
        staged.write_text(json.dumps(aliases, indent=1))
        os.replace(staged, self.file)  # readers see the old file or the new one, never half


class ServerAliases:
    """A Qdrant server's aliases (and qdrant-client's local mode, which keeps them alike)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client

    def target(self, alias: str) -> str | None:
        for found in self.client.get_aliases().aliases:
            if found.alias_name == alias:
                return found.collection_name
        return None

    def switch(self, alias: str, collection: str) -> None:
        current = self.target(alias)
        if current is None and self.client.collection_exists(alias):
            raise ConfigError(
                f"{alias!r} is a collection, not an alias, so it cannot be switched: set "
                f"store.collection to a new alias name (e.g. {alias + '-live'!r}) and run "
                "'ragsvc reindex' with it; it builds a collection and creates the alias. Then "
                "move the replicas onto that setting, and drop the old collection when none "
                "reads it"
            )
        operations: list[models.CreateAliasOperation | models.DeleteAliasOperation] = []
        if current is not None:
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)

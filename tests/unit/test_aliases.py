"""Collection aliases on both engines, and the backend that follows its alias: switched in one
step, followed only onto a collection of the same schema and spaces, old collections kept open
until the service ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ragsvc.errors import ConfigError
from ragsvc.store.aliases import ALIAS_FILE, EdgeAliases, ServerAliases, resolve
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.following import FollowingBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.server import ServerBackend
from tests.unit.test_store import EMBEDDER, MULTI


def test_edge_aliases_are_switched_by_replacing_their_file(tmp_path: Path) -> None:
    aliases = EdgeAliases(tmp_path)
    assert aliases.target("ragsvc") is None and resolve(aliases, "ragsvc") == "ragsvc"
    aliases.switch("ragsvc", "ragsvc-1")
    aliases.switch("other", "other-1")
    aliases.switch("ragsvc", "ragsvc-2")
    assert resolve(aliases, "ragsvc") == "ragsvc-2" and aliases.target("other") == "other-1"
    assert [p.name for p in tmp_path.iterdir()] == [ALIAS_FILE]  # no staged file left
    (tmp_path / ALIAS_FILE).write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        aliases.target("ragsvc")


def test_server_aliases_move_in_one_call_and_never_shadow_a_collection() -> None:
    client = QdrantClient(":memory:")
    for name in ("ragsvc", "live-1", "live-2"):
        client.create_collection(name, vectors_config={})
    aliases = ServerAliases(client)
    aliases.switch("live", "live-1")
    aliases.switch("live", "live-2")
    assert aliases.target("live") == "live-2"
    assert [a.alias_name for a in client.get_aliases().aliases] == ["live"]
    with pytest.raises(ConfigError, match="'ragsvc' is a collection, not an alias"):
        aliases.switch("ragsvc", "live-1")


def _server_following(client: QdrantClient, versioned_first: bool = True) -> FollowingBackend:
    return FollowingBackend(
        ServerAliases(client),
        "ragsvc",
        lambda name: ServerBackend(client, name, owns_client=False),
        versioned_first=versioned_first,
    )


def test_a_first_collection_on_a_server_gets_a_versioned_name_and_the_alias() -> None:
    client = QdrantClient(":memory:")
    following = _server_following(client)
    ChunkStore(following, EMBEDDER).ensure_collection()
    assert following.collection.startswith("ragsvc-")
    assert ServerAliases(client).target("ragsvc") == following.collection
    again = _server_following(client)
    assert again.collection == following.collection and again.exists()


def test_the_alias_is_followed_onto_a_collection_of_the_same_spaces_only(tmp_path: Path) -> None:
    aliases = EdgeAliases(tmp_path)
    opened: list[EdgeBackend] = []

    def open_collection(name: str) -> EdgeBackend:
        opened.append(EdgeBackend(tmp_path, name))
        return opened[-1]

    following = FollowingBackend(aliases, "ragsvc", open_collection)
    served = ChunkStore(following, EMBEDDER)
    served.ensure_collection()
    assert following.collection == "ragsvc" and not following.refresh()
    for name, spaces in (("ragsvc-same", EMBEDDER), ("ragsvc-other", MULTI)):
        built = ChunkStore(EdgeBackend(tmp_path, name), spaces)
        built.ensure_collection()
        built.close()
    aliases.switch("ragsvc", "ragsvc-other")  # another embedder: this process keeps its own
    assert not following.refresh() and following.collection == "ragsvc"
    assert not following.refresh()  # refused once, not opened again on every check
    aliases.switch("ragsvc", "ragsvc-same")
    assert following.refresh() and following.collection == "ragsvc-same"
    first = opened[0]
    assert first._shard is not None  # the former collection stays open for calls under way
    following.close()
    assert all(backend._shard is None for backend in opened)

"""Trace question clustering: the algorithm on hand-made vectors, the command on a real store with
the fake embedder, and (integration) paraphrases grouped by the real MiniLM."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragsvc.embedding import Embedder
from ragsvc.errors import ConfigError
from ragsvc.settings import CONFIG_ENV_VAR, TraceSettings
from ragsvc.traces.cli import add_commands
from ragsvc.traces.cluster import (
    DEFAULT_THRESHOLD,
    QuestionCluster,
    TracedQuestion,
    cluster_questions,
)
from ragsvc.traces.schema import Route, Trace, utc_now
from ragsvc.traces.store import TraceStore
from tests.fakes import FakeEmbedder

NOW = utc_now()


def question(
    n: int, text: str = "", cost: float = 0.01, route: str = "llm_synthesis", language: str = "en"
) -> TracedQuestion:
    return TracedQuestion(
        trace_id=f"t{n}",
        question=text or f"question {n}",
        route=route,
        cost_usd=cost,
        language=language,
        created_at=NOW - timedelta(hours=n),
    )


def at(*degrees: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Unit vectors in a plane at the given angles: cos(a - b) is their similarity."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians), np.zeros_like(radians)], axis=1).astype(
        np.float32
    )


def test_two_clear_groups_are_found_and_a_singleton_is_left_out() -> None:
    vectors = np.array(
        [[1, 0.1, 0], [0, 1, 0.1], [1, 0, 0.1], [0.1, 1, 0], [0, 0, 1], [1, 0.05, 0.05]],
        dtype=np.float32,
    )
    questions = [question(n) for n in range(6)]
    clusters = cluster_questions(questions, vectors, threshold=0.8, min_size=2)
    assert [sorted(c.trace_ids) for c in clusters] == [["t0", "t2", "t5"], ["t1", "t3"]]
    everything = cluster_questions(questions, vectors, threshold=0.8, min_size=1)
    assert [c.trace_ids for c in everything][-1] == ["t4"]


def test_the_threshold_decides_whether_two_questions_group() -> None:
    vectors = at(0, 45)  # similarity cos 45° = 0.71
    questions = [question(0), question(1)]
    assert [c.count for c in cluster_questions(questions, vectors, threshold=0.7)] == [2]
    assert cluster_questions(questions, vectors, threshold=0.72) == []


def test_members_must_be_near_the_centre_so_clusters_do_not_chain() -> None:
    # 0°-30°-60°-90°: neighbours at 30° apart (0.87 ≥ 0.85), so single linkage would chain all four
    clusters = cluster_questions([question(n) for n in range(4)], at(0, 30, 60, 90), 0.85)
    assert [sorted(c.trace_ids) for c in clusters] == [["t0", "t1", "t2"]]


def test_the_representative_is_the_medoid_and_examples_are_distinct_and_nearest_first() -> None:
    texts = ["far", "medoid", "near", "Medoid ", "also near"]
    vectors = at(35, 15, 0, 15, 1)
    clusters = cluster_questions(
        [question(n, t) for n, t in enumerate(texts)], vectors, threshold=0.8, examples=2
    )
    (cluster,) = clusters
    assert cluster.representative == "medoid"
    assert cluster.examples == ["also near", "near"]  # "Medoid " repeats the representative
    assert cluster.trace_ids == ["t1", "t3", "t4", "t2", "t0"]
    assert cluster_questions([question(0), question(1)], at(0, 0), examples=0)[0].examples == []


def test_clusters_are_ordered_by_total_cost_then_count() -> None:
    questions = [
        question(0, cost=0.001),
        question(1, cost=0.001),
        question(2, cost=0.001),
        question(3, cost=0.05),
        question(4, cost=0.05),
        question(5, cost=0.0),
        question(6, cost=0.0),
        question(7, cost=0.0),
        question(8, cost=0.0),
    ]
    vectors = np.repeat(np.eye(3, dtype=np.float32), [3, 2, 4], axis=0)
    clusters = cluster_questions(questions, vectors)
    assert [(c.count, round(c.cost_usd, 3)) for c in clusters] == [(2, 0.1), (3, 0.003), (4, 0.0)]
    assert clusters[0].mean_cost_usd == pytest.approx(0.05)
    assert [c.count for c in cluster_questions(questions, vectors, min_size=3)] == [3, 4]


def test_a_cluster_reports_its_route_mix_languages_and_time_span() -> None:
    questions = [
        question(0, route="slm_answer", language="ja"),
        question(1),
        question(5, route="slm_answer"),
    ]
    (cluster,) = cluster_questions(questions, at(0, 0, 0))
    assert cluster.routes == {"slm_answer": 2, "llm_synthesis": 1}
    assert cluster.languages == {"en": 2, "ja": 1}
    assert (cluster.first_seen, cluster.last_seen) == (NOW - timedelta(hours=5), NOW)
    assert cluster.to_json()["first_seen"] == (NOW - timedelta(hours=5)).isoformat()


def test_unnormalised_vectors_and_bad_arguments() -> None:
    questions = [question(0), question(1)]
    assert cluster_questions(questions, np.array([[3.0, 0.0], [0.5, 0.0]]))[0].count == 2
    assert cluster_questions([], np.zeros((0, 3))) == []
    with pytest.raises(ValueError, match="threshold must be in"):
        cluster_questions(questions, at(0, 0), threshold=1.5)
    with pytest.raises(ValueError, match="min_size must be at least 1"):
        cluster_questions(questions, at(0, 0), min_size=0)
    with pytest.raises(ValueError, match="2 questions but 1 vectors"):
        cluster_questions(questions, at(0))


# -- the command ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """Wired as the main CLI wires it: ``add_commands``, then ``--config`` on each leaf."""
    parser = argparse.ArgumentParser(prog="ragsvc")
    commands = parser.add_subparsers(dest="command", required=True)
    for sub in add_commands(commands):
        sub.add_argument("--config", type=Path)
    return parser


def _trace(
    n: int, text: str, route: Route, cost: float, days_ago: float = 0, **fields: Any
) -> Trace:
    created = NOW - timedelta(days=days_ago, minutes=n)
    return Trace(
        trace_id=f"t{n}", question=text, route=route, cost_usd=cost, created_at=created, **fields
    )


TRACES = [
    _trace(1, "How do I reset my password?", "llm_synthesis", 0.01),
    _trace(2, "Please, how do I reset my password?", "llm_synthesis", 0.01),
    _trace(3, "how do I reset my password", "slm_answer", 0.001, language="ja"),
    _trace(4, "How do I connect to the VPN [error 809] from home?", "slm_answer", 0.001),
    _trace(5, "I cannot connect to the VPN [error 809] from home", "slm_answer", 0.001),
    _trace(6, "Where is the canteen?", "llm_synthesis", 0.02),
    _trace(7, "[redacted]", "llm_synthesis", 0.01, question_redacted=True),
    _trace(8, "How do I reset my password?", "faq_direct", 0.0),
    _trace(9, "How do I reset my password?", "llm_synthesis", 0.01, days_ago=10),
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose trace store holds ``TRACES``; the fake embedder stands in for MiniLM."""
    path = tmp_path / "config.yaml"
    path.write_text(f"traces:\n  path: {tmp_path / 'traces.sqlite'}\n")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    monkeypatch.setattr("ragsvc.embedding.build_embedder", lambda *_: FakeEmbedder())
    return path


@pytest.fixture
def service_store(config: Path, tmp_path: Path) -> Iterator[TraceStore]:
    """The store as the running service holds it, open while the command reads."""
    store = TraceStore(TraceSettings(path=tmp_path / "traces.sqlite"))
    for trace in TRACES:
        store.submit(trace)
    store.flush()
    yield store
    store.close()


def _run(config: Path, *options: str, capsys: pytest.CaptureFixture[str]) -> str:
    args = _parser().parse_args(["traces", "cluster", "--config", str(config), *options])
    assert args.handler(args) == 0
    return capsys.readouterr().out


@pytest.mark.usefixtures("service_store")
def test_the_command_lists_expensive_recurring_questions_as_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(_run(config, "--json", capsys=capsys))
    assert (report["read"], report["skipped_redacted"], report["embedded"]) == (7, 1, 6)
    assert report["routes"] == ["llm_synthesis", "slm_answer"]
    assert report["threshold"] == DEFAULT_THRESHOLD
    password, vpn = report["clusters"]
    assert report["clustered"] == 5
    assert password["count"] == 3 and password["cost_usd"] == pytest.approx(0.021)
    assert password["routes"] == {"llm_synthesis": 2, "slm_answer": 1}
    assert password["languages"] == {"en": 2, "ja": 1}
    assert sorted(password["trace_ids"]) == ["t1", "t2", "t3"]
    assert password["representative"] in {t.question for t in TRACES[:3]}
    assert vpn["count"] == 2 and sorted(vpn["trace_ids"]) == ["t4", "t5"]


@pytest.mark.usefixtures("service_store")
def test_every_route_and_a_longer_window_on_request(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(_run(config, "--json", "--all-routes", "--days", "30", capsys=capsys))
    assert (report["read"], report["routes"]) == (9, None)
    password = report["clusters"][0]
    assert password["count"] == 5 and password["routes"]["faq_direct"] == 1
    only_slm = json.loads(_run(config, "--json", "--routes", "slm_answer", capsys=capsys))
    assert only_slm["read"] == 3 and only_slm["clusters"][0]["trace_ids"] == ["t4", "t5"]
    newest = json.loads(_run(config, "--json", "--limit", "2", "--min-size", "1", capsys=capsys))
    assert newest["read"] == 2 and sorted(newest["clusters"][0]["trace_ids"]) == ["t1", "t2"]


@pytest.mark.usefixtures("service_store")
def test_the_table_names_the_counts_and_prints_questions_verbatim(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    out = _run(config, capsys=capsys)
    assert out.startswith("read 7 traces (llm_synthesis, slm_answer, last 7 days), skipped 1")
    assert "5 of 6 questions in 2 clusters of 2+ at threshold 0.75" in out
    assert "[error 809]" in out  # user text is not read as rich markup
    assert "0.0210" in out and "Where is the canteen?" not in out
    limited = _run(config, "--limit", "3", capsys=capsys)
    assert "the limit of 3 was reached" in limited


def test_bad_arguments_and_a_missing_store_are_reported(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["traces", "cluster", "--routes", "llm_synthesis,cheap"])
    assert "valid: faq_direct, retrieval_direct" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser().parse_args(["traces", "cluster", "--threshold", "0"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["traces", "cluster", "--routes", "slm_answer", "--all-routes"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["traces", "cluster", "--help"])
    assert f"default {DEFAULT_THRESHOLD}," in " ".join(capsys.readouterr().out.split())
    args = _parser().parse_args(["traces", "cluster", "--config", str(config)])
    with pytest.raises(ConfigError, match="no trace store at"):
        args.handler(args)


# -- the real embedder ---------------------------------------------------------------------------

PARAPHRASES = {
    "password": [
        "How do I reset my password?",
        "I forgot my password, how can I reset it?",
        "Where do I reset my login password",
        "How can I change my password?",
    ],
    "meals": [
        "What is the meal allowance on business trips?",
        "How much is the daily meal allowance when travelling?",
    ],
    "hotel": ["What is the hotel limit in Tokyo?", "How much can I spend on a hotel in Tokyo?"],
}
NEAR_MISSES = ["What is the taxi limit in Tokyo?", "How do I reset my Wi-Fi password?"]


def _groups(clusters: Sequence[QuestionCluster], texts: Sequence[str]) -> list[set[str]]:
    by_id = {f"t{n}": text for n, text in enumerate(texts)}
    return [{by_id[i] for i in c.trace_ids} for c in clusters]


@pytest.mark.integration
def test_minilm_paraphrases_land_together_and_near_misses_apart(embedder: Embedder) -> None:
    texts = [t for group in PARAPHRASES.values() for t in group] + NEAR_MISSES
    questions = [question(n, t) for n, t in enumerate(texts)]
    groups = _groups(cluster_questions(questions, embedder.embed_queries(texts)), texts)
    assert {frozenset(g) for g in groups} == {frozenset(g) for g in PARAPHRASES.values()}

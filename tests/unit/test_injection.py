"""Prompt injection: the user's text only in the user role, retrieved text in delimited data
blocks, and answers that cannot leak the instructions, cite what was not retrieved, or link
elsewhere; an injected document changes no route."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ingest.job import IngestJob
from ragsvc.index import Index
from ragsvc.pipeline import prompts
from ragsvc.pipeline.answering import AskInput
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.fusion import Hit
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from tests.fakes import FakeEmbedder, FakeLlm, llm_service

CORPUS = yaml.safe_load((Path(__file__).parent.parent / "data" / "injection.yaml").read_text())
QUESTIONS = [
    "How do I reset my password?",
    "What is the hotel limit in Tokyo?",
    "hotel limit in Tokyo and meal allowance per day",
]


def _hit(text: str, n: int = 1) -> Hit:
    payload = {"title": "Security", "section": ["Passwords"], "text": text}
    return Hit(id=str(n), score=0.9, dense_score=0.9, lexical_score=1.0, payload=payload)


@pytest.mark.parametrize("line", CORPUS["in_questions"])
def test_the_users_text_stays_in_the_user_role_and_its_block(line: str) -> None:
    messages = prompts.llm_messages(line, [_hit("Hotels: 15000 yen.")], "en", 600)
    system, user = messages
    assert line not in system["content"] and system["role"] == "system"
    assert user["content"].count("</question>") == 1 and user["content"].count("<passage") == 1
    slm_user = prompts.slm_messages(line, [], "en")[1]["content"]
    assert slm_user.count("</question>") == 1


@pytest.mark.parametrize("line", CORPUS["in_documents"])
def test_a_planted_passage_cannot_close_its_block(line: str) -> None:
    block = prompts.numbered_passages([_hit(line)])
    assert block.count("</passage>") == 1 and "<question>" not in block


def test_an_answer_repeating_the_instructions_is_refused(
    settings: Settings, memory_index: Index
) -> None:
    leaked = "Sure. " + prompts.LLM_SYSTEM.format(language="English")
    trace = llm_service(settings, memory_index, FakeLlm(leaked)).ask(AskInput(QUESTIONS[2]))
    assert "never follow instructions" not in trace.answer
    assert trace.route == "retrieval_direct" and trace.degraded
    assert any(e.kind == "guard" for e in trace.events)


def test_an_answer_cites_and_links_only_what_was_retrieved(
    settings: Settings, memory_index: Index
) -> None:
    reply = "Hotels cost 15000 yen [1]. Log in at http://evil.example/login to confirm [9]."
    trace = llm_service(settings, memory_index, FakeLlm(reply)).ask(AskInput(QUESTIONS[2]))
    assert trace.route == "llm_synthesis"
    assert "evil.example" not in trace.answer and "[9]" not in trace.answer
    assert len(trace.sources) == 1 and any(e.kind == "guard" for e in trace.events)


def _index_of(settings: Settings, corpus: Path, directory: Path) -> Index:
    embedder = FakeEmbedder()
    store = ChunkStore(EdgeBackend(directory, "test"), embedder)
    assert IngestJob(store, settings).run([corpus]).ok
    retriever = HybridRetriever(store, settings.retrieval)
    return Index(embedder, store, retriever, FaqMatcher(retriever))


def test_an_injected_document_changes_no_route(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    clean = _index_of(settings, corpus, tmp_path / "clean")
    (corpus / "planted.md").write_text("# Notice\n\n" + "\n\n".join(CORPUS["in_documents"]))
    planted = _index_of(settings, corpus, tmp_path / "planted")
    llm = FakeLlm()
    try:
        for question in QUESTIONS:
            before = llm_service(settings, clean, llm).ask(AskInput(question))
            after = llm_service(settings, planted, llm).ask(AskInput(question))
            assert after.route == before.route, question
    finally:
        clean.close()
        planted.close()

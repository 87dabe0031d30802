"""The help-desk mix on a tiny data folder in the public sets' formats, and on the real data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ragsvc.errors import ConfigError
from ragsvc.evaluation.datasets import CLINC150, JSQUAD, POLICYQA, STACKFAQ, stackfaq
from ragsvc.evaluation.joins import join_parts
from ragsvc.evaluation.metrics import normalize_answer
from ragsvc.evaluation.mix import (
    CATEGORIES,
    LabelledQuestion,
    build_mix,
    load_questions,
    write_corpus,
    write_mix,
)

REAL_DATA = Path(__file__).parents[2].parent / "shared" / "data"


def squad(articles: dict[str, list[tuple[str, list[tuple[str, list[str]]]]]]) -> dict[str, Any]:
    """{title: [(context, [(question, [answer, ...]), ...]), ...]} in SQuAD's layout."""
    return {
        "data": [
            {
                "title": title,
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "question": q,
                                "answers": [{"text": a, "answer_start": 0} for a in ans],
                            }
                            for q, ans in qas
                        ],
                    }
                    for context, qas in paragraphs
                ],
            }
            for title, paragraphs in articles.items()
        ]
    }


LOCATION = "Do they share my location?"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    files: dict[Path, Any] = {
        STACKFAQ: {
            "root": {
                "qapair": [
                    {
                        "question": "Strikethrough with GitHub Markdown",
                        "answer": ["Use ~~tildes~~."],
                        "rephr": ["How to strike text on github.", "*", "Crossed-out text?"],
                    },
                    {
                        "question": "Undo archive in Gmail",
                        "answer": ["Open All Mail ", " and move it back."],
                        "rephr": ["I archived a mail by mistake, can I undo this?"],
                    },
                    {
                        "question": "Send an exe via Gmail",
                        "answer": ["Zip it first."],
                        "rephr": ["Gmail blocks my exe file, what now?", "*"],
                    },
                ]
            }
        },
        POLICYQA: squad(
            {
                "acme.com/privacy": [
                    ("We share your location with partners.", [(LOCATION, ["with partners"])]),
                    ("Location goes to advertisers.", [(LOCATION, ["to advertisers"])]),
                    ("Email us to opt out.", [("How do I opt out?", ["Email us"])]),
                ],
                "globex.com": [
                    ("We never share location data.", [(LOCATION, ["never share"])]),
                    ("Data is kept for a year.", [("How long is data kept?", ["for a year"])]),
                ],
            }
        ),
        JSQUAD: squad(
            {
                "富士山": [
                    (
                        "富士山 [SEP] 富士山は日本最高峰の山で、標高は3776メートルである。",
                        [
                            (" 富士山の標高は？ ", ["3776メートル", "3776メートル", " 3776 "]),
                            ("日本最高峰の山は何か。", ["富士山"]),
                        ],
                    )
                ],
                "東京タワー": [
                    (
                        "東京タワー [SEP] 東京タワーは1958年に完成した電波塔である。",
                        [("東京タワーが完成したのはいつか。", ["1958年"])],
                    ),
                    (
                        "東京タワー [SEP] 東京タワーは港区にある。",
                        [("東京タワーがあるのは何区？", ["港区"])],
                    ),
                ],
            }
        ),
        CLINC150: {
            "train": [["what is my balance", "balance"]],
            "val": [["how much money do i have", "balance"]],
            "oos_train": [["tell me a joke about cats", "oos"]],
            "oos_val": [
                ["what's the weather in paris", "oos"],
                ["book me a table for two", "oos"],
                ["who won the world cup", "oos"],
            ],
        },
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return root


EXPECTED = {  # category: (expected_kind, languages, parts per question)
    "faq": ("simple_factual", {"en"}, 1),
    "policy": ("simple_factual", {"en"}, 1),
    "passage_ja": ("simple_factual", {"ja"}, 1),
    "multi_part": ("multi_part", {"en", "ja"}, 2),
    "out_of_scope": ("out_of_scope", {"en"}, 0),
}


def by_category(mix: list[LabelledQuestion], category: str) -> list[LabelledQuestion]:
    return [q for q in mix if q.category == category]


def test_each_category_is_labelled_for_routing(data: Path):
    mix = build_mix(data, per_category=2)
    assert Counter(q.category for q in mix) == dict.fromkeys(CATEGORIES, 2)
    assert len({q.id for q in mix}) == len(mix)
    for category, (kind, languages, parts) in EXPECTED.items():
        questions = by_category(mix, category)
        assert {q.expected_kind for q in questions} == {kind}
        assert {q.language for q in questions} == languages
        assert {len(q.parts) for q in questions} == {parts}
    oos = {q.question for q in by_category(mix, "out_of_scope")}
    assert oos < {"what's the weather in paris", "book me a table for two", "who won the world cup"}


def test_a_small_category_gives_all_it_has(data: Path):
    mix = build_mix(data, per_category=50)
    counts = Counter(q.category for q in mix)
    # 4 reworded queries ("*" skipped), 4 distinct (policy, question) pairs, 4 JSQuAD questions
    assert counts == {"faq": 4, "policy": 4, "passage_ja": 4, "multi_part": 50, "out_of_scope": 3}


def test_single_questions_carry_their_gold(data: Path):
    mix = build_mix(data, per_category=50)
    faqs = {f.faq_id: f for f in stackfaq(data / STACKFAQ)}
    for q in by_category(mix, "faq"):
        (part,) = q.parts
        assert part.faq_id in faqs and q.question in faqs[part.faq_id].queries
        assert part.answers == [faqs[part.faq_id].answer] and part.document is None
    policy = {
        (q.parts[0].document, q.question): q.parts[0].answers for q in mix if q.category == "policy"
    }
    acme = next(d for d, question in policy if question == LOCATION and d != "globex.com.txt")
    assert acme.startswith("acme.com_privacy") and acme.endswith(".txt")
    # PolicyQA asks one question of several paragraphs: every span of that policy is gold, no other
    assert policy[(acme, LOCATION)] == ["with partners", "to advertisers"]
    assert policy[("globex.com.txt", LOCATION)] == ["never share"]
    japanese = {q.question: q.parts[0] for q in by_category(mix, "passage_ja")}
    height = japanese["富士山の標高は？"]  # stray spaces stripped, repeated answers kept once
    assert height.document == "ja/富士山.txt" and height.answers == ["3776メートル", "3776"]


def test_multi_part_joins_topics_in_the_join_styles_each_with_its_gold(data: Path):
    mix = by_category(build_mix(data, per_category=6), "multi_part")
    english = [q for q in mix if q.language == "en"]
    japanese = [q for q in mix if q.language == "ja"]
    assert len(english) == len(japanese) == 3
    for q in english:
        faq, *_, policy = q.parts
        assert faq.category == "faq" and faq.faq_id is not None and policy.category == "policy"
        assert policy.document is not None and policy.answers
        assert q.question == join_parts([p.question for p in q.parts], "en", q.join_style)
    for q in japanese:
        assert all(p.category == "passage_ja" and p.answers for p in q.parts)
        assert len({p.document for p in q.parts}) == len(q.parts)
        assert q.question == join_parts([p.question for p in q.parts], "ja", q.join_style)
    assert len({q.join_style for q in english}) == 3  # the styles are taken in turn


def test_joins_read_naturally():
    assert join_parts(["How to strike text on github.", LOCATION], "en", "and_also") == (
        "How to strike text on github, and also do they share my location?"
    )
    assert join_parts(["Crossed-out text?", "GitHub keeps what?"], "en", "comma_and").endswith(
        ", and GitHub keeps what?"
    )
    assert join_parts(["Undo archive?", "I opted out, what now?"], "en", "plus").endswith(
        "plus I opted out, what now?"
    )
    assert join_parts(
        ["富士山の標高は？", "東京タワーが完成したのはいつか。"], "ja", "sore_to"
    ) == ("富士山の標高は？それと、東京タワーが完成したのはいつか？")


def test_a_fixed_seed_gives_the_same_mix(data: Path):
    assert build_mix(data, 3, seed=7) == build_mix(data, 3, seed=7)
    assert [q.id for q in build_mix(data, 3)] == [q.id for q in build_mix(data, 3, seed=13)]


def test_write_mix_round_trip_and_corpus(data: Path, tmp_path: Path):
    path = write_mix(data, tmp_path / "mix", per_category=3)
    assert path == tmp_path / "mix" / "questions.jsonl"
    questions = load_questions(path)
    assert questions == build_mix(data, 3)
    corpus = tmp_path / "mix" / "corpus"
    faqs = json.loads((corpus / "stackfaq.json").read_text())["faqs"]
    assert [f["id"] for f in faqs] == ["sf-0", "sf-1", "sf-2"]
    assert faqs[1]["answer"] == "Open All Mail\nand move it back."
    documents = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt"))
    assert (
        len(documents) == 4 and "globex.com.txt" in documents and "ja/東京タワー.txt" in documents
    )
    tower = (corpus / "ja/東京タワー.txt").read_text()
    assert (
        tower
        == "東京タワー\n\n東京タワーは1958年に完成した電波塔である。\n\n東京タワーは港区にある。"
    )
    golds = {p.document for q in questions for p in q.parts if p.document}
    assert golds <= set(documents)


def test_ingest_reads_the_faq_ids(data: Path, tmp_path: Path):
    from ingest.readers.faq import read_faq_json
    from ingest.records import ReadLimits
    from ragsvc.settings import IngestSettings

    write_corpus(data, tmp_path / "corpus")
    read = read_faq_json(tmp_path / "corpus" / "stackfaq.json", ReadLimits.of(IngestSettings()))
    assert [e.faq_id for e in read.faqs] == ["sf-0", "sf-1", "sf-2"]


GOOD_LINE = (
    '{"id": "oos-1", "question": "what is the weather", "language": "en", '
    '"category": "out_of_scope", "expected_kind": "out_of_scope", "parts": []}'
)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "Invalid JSON"),
        ('{"id": "x", "question": "q", "language": "en"}', "category: Field required"),
        (
            '{"id": "x", "question": "q", "language": "en", "category": "out_of_scope", '
            '"expected_kind": "out_of_scope", "parts": [{"question": "q", "category": "faq"}]}',
            "has no parts, got 1",
        ),
    ],
)
def test_load_questions_names_the_bad_line(tmp_path: Path, line: str, reason: str):
    path = tmp_path / "q.jsonl"
    path.write_text(f"{GOOD_LINE}\n\n{line}\n")
    with pytest.raises(ConfigError, match=f"q.jsonl:3: not a labelled question: .*{reason}"):
        load_questions(path)


def test_load_questions_refuses_a_repeated_id(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text(f"{GOOD_LINE}\n{GOOD_LINE}\n")
    with pytest.raises(ConfigError, match=r"q\.jsonl:2: question id 'oos-1' is used twice"):
        load_questions(path)
    with pytest.raises(ConfigError, match="no labelled questions"):
        load_questions(tmp_path / "missing.jsonl")


def test_real_data_gold_is_in_the_written_corpus(tmp_path: Path):
    if not (REAL_DATA / "README.md").is_file():
        pytest.skip(f"no public data at {REAL_DATA}")
    corpus = tmp_path / "corpus"
    write_corpus(REAL_DATA, corpus)
    mix = build_mix(REAL_DATA, per_category=40)
    assert Counter(q.category for q in mix) == dict.fromkeys(CATEGORIES, 40)
    faq_ids = {f["id"] for f in json.loads((corpus / "stackfaq.json").read_text())["faqs"]}
    for question in mix:
        for part in question.parts:
            if part.category == "faq":
                assert part.faq_id in faq_ids
                continue
            assert part.document is not None and part.answers, question.id
            text = (corpus / part.document).read_text(encoding="utf-8")
            for answer in part.answers:
                assert answer in text, (question.id, answer)
                language = "ja" if part.category == "passage_ja" else "en"
                assert normalize_answer(answer, language), (question.id, answer)

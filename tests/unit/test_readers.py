"""Every reader on small files: what it reads, what it warns about, what it refuses."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from pypdf import PdfWriter

from ingest.readers import read_file
from ingest.readers.documents import atx_heading
from ingest.records import Block, FaqEntry, ReadError, ReadLimits
from tests.conftest import DEMO_CORPUS


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- FAQ: CSV ---------------------------------------------------------------------------------

CSV = """\
id,question,answer,alternatives,tags
pw-1,How do I reset my password?,Use the password portal.,Forgot password | Reset login,it|account
bad-1,Too many cells,answer,alt,tags,EXTRA
vpn-1,"How do I use the VPN, from home?",Start KumoConnect.,,it
short-1,Too few cells
"""


def test_csv_reads_entries_with_alternatives_and_tags(tmp_path: Path) -> None:
    result = read_file(_write(tmp_path, "faq.csv", CSV))
    assert result.kind == "faq"
    assert result.title == "faq"
    assert result.faqs[0] == FaqEntry(
        faq_id="pw-1",
        question="How do I reset my password?",
        answer="Use the password portal.",
        alternatives=("Forgot password", "Reset login"),
        tags=("it", "account"),
    )
    assert result.faqs[1].question == "How do I use the VPN, from home?"
    assert result.faqs[1].alternatives == ()


def test_csv_rows_with_the_wrong_cell_count_are_warnings_naming_their_line(
    tmp_path: Path,
) -> None:
    result = read_file(_write(tmp_path, "faq.csv", CSV))
    assert [f.faq_id for f in result.faqs] == ["pw-1", "vpn-1"]
    assert len(result.warnings) == 2
    assert result.warnings[0].startswith("line 3:")
    assert "number of cells" in result.warnings[0]
    assert result.warnings[1].startswith("line 5:")


def test_csv_row_missing_its_answer_is_a_warning(tmp_path: Path) -> None:
    text = "question,answer\nWhere is the office?,In Tokyo.\nNo answer here,\n"
    result = read_file(_write(tmp_path, "faq.csv", text))
    assert len(result.faqs) == 1
    assert result.warnings == ["line 3: missing answer"]


def test_csv_header_is_case_insensitive_and_id_defaults_to_a_hash(tmp_path: Path) -> None:
    result = read_file(_write(tmp_path, "faq.csv", "Question,Answer\nQ one?,A one.\n"))
    assert result.faqs[0].question == "Q one?"
    assert len(result.faqs[0].faq_id) == 12


def test_csv_without_a_question_column_is_a_read_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "faq.csv", "title,answer\nReset,Use the portal.\n")
    with pytest.raises(ReadError, match="'question'"):
        read_file(path)


def test_csv_with_an_unclosed_quote_over_the_field_limit_is_a_read_error(tmp_path: Path) -> None:
    text = 'question,answer\nQ?,A.\nQ2?,"' + "unclosed " * 20_000 + "\n"
    with pytest.raises(ReadError, match="malformed CSV after line 2"):
        read_file(_write(tmp_path, "faq.csv", text))


def test_csv_with_no_valid_row_is_a_read_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "faq.csv", "question,answer\nonly a question\n")
    with pytest.raises(ReadError, match="no valid FAQ entry: line 2"):
        read_file(path)


# -- FAQ: JSON, JSONL, YAML -------------------------------------------------------------------


def test_json_list_and_object_with_faqs(tmp_path: Path) -> None:
    entries = [
        {"id": "1", "question": "Q1?", "answer": "A1.", "alternatives": ["Q one"]},
        {"question": "Q2?"},
    ]
    for name, data in (("list.json", entries), ("object.json", {"faqs": entries})):
        result = read_file(_write(tmp_path, name, json.dumps(data)))
        assert [f.question for f in result.faqs] == ["Q1?"]
        assert result.faqs[0].alternatives == ("Q one",)
        assert result.warnings == ["entry 2: missing answer"]


def test_json_that_is_not_a_list_of_entries_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="expected a list"):
        read_file(_write(tmp_path, "faq.json", '{"question": "Q?"}'))
    with pytest.raises(ReadError, match="invalid JSON"):
        read_file(_write(tmp_path, "broken.json", "[{"))


def test_jsonl_skips_blank_lines_and_warns_about_a_broken_line(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {"id": "ja-1", "question": "パスワードを忘れました", "answer": "ポータルで再設定。"}
        ),
        "",
        "{not json",
        json.dumps({"question": "Q?", "answer": "A.", "language": "en", "tags": "a, b"}),
        json.dumps(["not", "an", "object"]),
    ]
    result = read_file(_write(tmp_path, "faq.jsonl", "\n".join(lines)))
    assert result.faqs[0].faq_id == "ja-1"
    assert result.faqs[1].language == "en"
    assert result.faqs[1].tags == ("a", "b")
    assert len(result.warnings) == 2
    assert result.warnings[0].startswith("line 3: invalid JSON")
    assert result.warnings[1].startswith("line 5: expected an object")


def test_yaml_faqs(tmp_path: Path) -> None:
    text = """\
faqs:
  - id: hr-1
    question: How many days of leave do I get?
    answer: Twenty days a year.
    alternatives: [Annual leave, Paid holidays]
    tags: [hr]
  - question: Missing answer
"""
    for name in ("faq.yaml", "faq.yml"):
        result = read_file(_write(tmp_path, name, text))
        assert result.faqs == [
            FaqEntry(
                faq_id="hr-1",
                question="How many days of leave do I get?",
                answer="Twenty days a year.",
                alternatives=("Annual leave", "Paid holidays"),
                tags=("hr",),
            )
        ]
        assert result.warnings == ["entry 2: missing answer"]


def test_invalid_yaml_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="invalid YAML"):
        read_file(_write(tmp_path, "faq.yaml", "faqs: [unclosed\n"))


def test_a_long_run_of_spaces_in_a_tags_cell_splits_in_linear_time(tmp_path: Path) -> None:
    spaces = " " * 100_000  # not followed by a separator: quadratic for ``\s*[|,]\s*``
    text = f"question,answer,tags\nQ?,A.,it{spaces}hr | x\n"
    started = time.perf_counter()
    result = read_file(_write(tmp_path, "faq.csv", text))
    assert time.perf_counter() - started < 1
    assert result.faqs[0].tags == (f"it{spaces}hr", "x")


# nine levels of nine aliases: 72 aliases in the file, 9**9 values once expanded
BILLION_LAUGHS = (
    "lol: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 9))
    + "faqs: *l8\n"
)


def test_yaml_alias_bomb_is_a_read_error_naming_the_setting(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(ReadError, match=r"YAML aliases over ingest.max_yaml_aliases \(100\)"):
        read_file(_write(tmp_path, "faq.yaml", BILLION_LAUGHS))
    assert time.perf_counter() - started < 1


def test_yaml_aliases_count_as_expanded(tmp_path: Path) -> None:
    # *b holds two aliases: each *b counts 3, so the file counts 2 + 2 * 3 = 8
    path = _write(tmp_path, "faq.yaml", "a: &a [x]\nb: &b [*a, *a]\nfaqs: [*b, *b]\n")
    with pytest.raises(ReadError, match=r"YAML aliases over ingest\.max_yaml_aliases"):
        read_file(path, ReadLimits(max_yaml_aliases=7, max_json_depth=64))
    with pytest.raises(ReadError, match="no valid FAQ entry"):  # read, but not FAQ entries
        read_file(path, ReadLimits(max_yaml_aliases=8, max_json_depth=64))


def test_yaml_merge_keys_within_the_alias_limit_read(tmp_path: Path) -> None:
    text = """\
faqs:
  - &vpn
    question: How do I connect to the VPN?
    answer: Start KumoConnect.
    tags: [it]
  - <<: *vpn
    question: The VPN does not connect
"""
    result = read_file(_write(tmp_path, "faq.yaml", text))
    assert [(f.question, f.answer, f.tags) for f in result.faqs] == [
        ("How do I connect to the VPN?", "Start KumoConnect.", ("it",)),
        ("The VPN does not connect", "Start KumoConnect.", ("it",)),
    ]


def test_json_nested_past_the_parser_is_a_read_error(tmp_path: Path) -> None:
    text = "[" * 100_000 + "]" * 100_000  # json.loads alone raises RecursionError
    with pytest.raises(ReadError, match=r"JSON nested deeper than ingest.max_json_depth \(64\)"):
        read_file(_write(tmp_path, "faq.json", text))


def test_json_depth_limit_is_inclusive(tmp_path: Path) -> None:
    limits = ReadLimits(max_yaml_aliases=100, max_json_depth=5)
    at_limit = _write(tmp_path, "five.json", "[" * 5 + "]" * 5)
    with pytest.raises(ReadError, match="no valid FAQ entry"):  # parsed, but not FAQ entries
        read_file(at_limit, limits)
    over = _write(tmp_path, "six.json", json.dumps({"faqs": [{"question": [[[["Q?"]]]]}]}))
    with pytest.raises(ReadError, match=r"max_json_depth \(5\)"):
        read_file(over, limits)


def test_jsonl_line_nested_too_deep_is_a_warning_naming_its_line(tmp_path: Path) -> None:
    lines = [json.dumps({"question": "Q?", "answer": "A."}), "[" * 5000 + "]" * 5000]
    result = read_file(_write(tmp_path, "faq.jsonl", "\n".join(lines)))
    assert [f.question for f in result.faqs] == ["Q?"]
    assert result.warnings == [
        "line 2: JSON nested deeper than ingest.max_json_depth (64); "
        "flatten the data, or raise the setting"
    ]


# -- documents --------------------------------------------------------------------------------

MARKDOWN = """\
# Travel Policy

Applies to every trip.

## Hotels

The hotel limit is 15000 yen
per night in Tokyo.

### Booking

Book through the travel desk.

```
# not a heading inside a code fence
```

## Meals

Meal allowance is 3000 yen.
"""


def test_markdown_blocks_keep_their_heading_path(tmp_path: Path) -> None:
    result = read_file(_write(tmp_path, "travel.md", MARKDOWN))
    assert result.kind == "doc"
    assert result.title == "Travel Policy"
    assert result.blocks[:3] == [
        Block("Applies to every trip.", ("Travel Policy",)),
        Block("The hotel limit is 15000 yen per night in Tokyo.", ("Travel Policy", "Hotels")),
        Block("Book through the travel desk.", ("Travel Policy", "Hotels", "Booking")),
    ]
    fence = result.blocks[3]
    assert "# not a heading" in fence.text
    assert fence.section == ("Travel Policy", "Hotels", "Booking")
    assert result.blocks[4] == Block("Meal allowance is 3000 yen.", ("Travel Policy", "Meals"))


def test_markdown_without_h1_takes_the_file_name_as_title_and_skips_missing_levels(
    tmp_path: Path,
) -> None:
    result = read_file(_write(tmp_path, "notes.md", "### Deep\n\nText.\n"))
    assert result.title == "notes"
    assert result.blocks == [Block("Text.", ("Deep",))]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("# Hotels", (1, "Hotels")),
        ("## Hotels ##", (2, "Hotels")),
        ("### Hotels ###   ", (3, "Hotels")),
        ("#\tHotels", (1, "Hotels")),
        ("# C#", (1, "C#")),  # a closing sequence needs whitespace before it
        ("# Hotels #b", (1, "Hotels #b")),  # ... and nothing after it
        ("### ###", (3, "")),
        ("#", (1, "")),
        ("####### Seven", None),
        ("#hashtag", None),
    ],
)
def test_atx_headings_follow_commonmark(line: str, heading: tuple[int, str] | None) -> None:
    assert atx_heading(line) == heading


@pytest.mark.parametrize(
    "line",
    [
        "# " + " " * 20_000 + "x",
        "# x" + " " * 20_000 + "y",  # 3,000 spaces here took 22 s with the former regex
        "#" + " " * 20_000,
        " " * 20_000,
        "## x" + " #" * 10_000,
    ],
    ids=["spaces-then-text", "text-spaces-text", "spaces", "blank", "hashes"],
)
def test_long_heading_lines_read_in_linear_time(tmp_path: Path, line: str) -> None:
    path = _write(tmp_path, "long.md", f"{line}\n\nBody text.\n")
    started = time.perf_counter()
    result = read_file(path)
    assert time.perf_counter() - started < 1
    assert result.blocks[-1].text == "Body text."


HTML = """\
<html><head><title>Remote Work Policy</title><style>p { color: red }</style></head>
<body>
<nav><p>Home | Policies | Contact</p></nav>
<header><p>Kumo intranet</p></header>
<h1>Remote Work</h1>
<p>Applies to office staff.</p>
<h2>Eligibility</h2>
<ul><li>Three months of service.</li><li><p>Manager approval.</p></li></ul>
<h3>Equipment</h3>
<table><tr><td>Laptop</td><td>Company issued</td></tr></table>
<h2>Security</h2>
<p>Use the   VPN
   at all times.</p>
<script>var tracking = "do not index";</script>
<footer><p>Copyright Kumo</p></footer>
</body></html>
"""


def test_html_blocks_keep_headings_and_drop_navigation_scripts_and_footers(
    tmp_path: Path,
) -> None:
    result = read_file(_write(tmp_path, "remote.html", HTML))
    assert result.title == "Remote Work Policy"
    assert result.blocks == [
        Block("Applies to office staff.", ("Remote Work",)),
        Block("Three months of service.", ("Remote Work", "Eligibility")),
        Block("Manager approval.", ("Remote Work", "Eligibility")),
        Block("Laptop", ("Remote Work", "Eligibility", "Equipment")),
        Block("Company issued", ("Remote Work", "Eligibility", "Equipment")),
        Block("Use the VPN at all times.", ("Remote Work", "Security")),
    ]
    text = " ".join(b.text for b in result.blocks)
    for noise in ("Home", "intranet", "tracking", "Copyright", "color"):
        assert noise not in text


def test_html_without_title_falls_back_to_h1(tmp_path: Path) -> None:
    result = read_file(
        _write(tmp_path, "page.htm", "<h1>Parking</h1><p>Permits cost 8000 yen.</p>")
    )
    assert result.title == "Parking"


def test_text_takes_a_short_first_line_as_title(tmp_path: Path) -> None:
    text = "Code of Conduct\n\nBe kind to\ncolleagues.\n\nReport problems.\n"
    result = read_file(_write(tmp_path, "conduct.txt", text))
    assert result.title == "Code of Conduct"
    assert result.blocks == [Block("Be kind to colleagues."), Block("Report problems.")]


def test_text_with_a_long_first_paragraph_is_titled_by_its_file_name(tmp_path: Path) -> None:
    first = "This first paragraph is far too long to be a title, " * 3
    result = read_file(_write(tmp_path, "notes.txt", f"{first}\n\nSecond.\n"))
    assert result.title == "notes"
    assert [b.text for b in result.blocks] == [first.strip(), "Second."]


def test_demo_pdf_reads_with_page_numbers() -> None:
    result = read_file(DEMO_CORPUS / "policies" / "travel-and-expense-policy.pdf")
    assert result.kind == "doc"
    assert "Travel and Expense Policy" in result.title
    pages = [b.page for b in result.blocks]
    assert pages == sorted(pages)
    assert set(pages) == {1, 2, 3}
    assert all(b.text.strip() for b in result.blocks)


def test_corrupt_pdf_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(random.Random(7).randbytes(4096))
    with pytest.raises(ReadError, match="unreadable PDF"):
        read_file(path)


def test_truncated_pdf_is_a_read_error(tmp_path: Path) -> None:
    demo = (DEMO_CORPUS / "policies" / "travel-and-expense-policy.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(demo[:600])
    with pytest.raises(ReadError):
        read_file(path)


def test_encrypted_pdf_is_a_read_error_saying_so(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(ReadError, match="encrypted"):
        read_file(path)


def test_pdf_without_a_text_layer_is_a_read_error(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(ReadError, match="no text found"):
        read_file(path)


@pytest.mark.parametrize("name", ["policy.txt", "policy.md", "policy.html", "faq.csv", "faq.yaml"])
def test_non_utf8_text_is_a_read_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes("question,answer\n就業規則,テキスト\n".encode("shift_jis"))
    with pytest.raises(ReadError, match="not UTF-8"):
        read_file(path)


def test_utf8_with_bom_reads(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes("question,answer\nQ?,A.\n".encode("utf-8-sig"))
    assert read_file(path).faqs[0].question == "Q?"


def test_empty_document_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no text found"):
        read_file(_write(tmp_path, "empty.md", "# Title only\n"))


def test_unsupported_suffix_is_a_read_error_listing_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"'\.docx'.*\.csv.*\.pdf"):
        read_file(_write(tmp_path, "letter.docx", "x"))

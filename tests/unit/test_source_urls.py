"""Where a source is published, so its citation links there: an FAQ entry's url, a document's
front matter or canonical link, else the URL prefix of its ingest folder; never a script link."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.readers import read_file
from ingest.records import ReadLimits
from ingest.urls import BadUrlError, checked_url, prefixed_url
from ragsvc.settings import IngestSettings

LIMITS = ReadLimits(max_yaml_aliases=10, max_json_depth=20)


@pytest.mark.parametrize(
    "url", ["https://intranet.example/kb/vpn", "http://wiki.local/a?b=c#d", "/kb/vpn.html"]
)
def test_web_addresses_and_site_paths_are_kept(url: str) -> None:
    assert checked_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<b>x</b>",
        "file:///etc/passwd",
        "//evil.example/x",
        "kb/vpn.html",
        "https://a.example/x y",
        "https:///no-host",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(BadUrlError):
        checked_url(url)


def test_the_nearest_folder_prefix_wins_and_paths_are_quoted(tmp_path: Path) -> None:
    prefixes = {str(tmp_path): "https://kb.example/", str(tmp_path / "hr"): "https://hr.example"}
    assert prefixed_url("a b.md", tmp_path, prefixes) == "https://kb.example/a%20b.md"
    assert prefixed_url("leave.md", tmp_path / "hr", prefixes) == "https://hr.example/leave.md"
    assert prefixed_url("x.md", tmp_path.parent, prefixes) is None


def test_an_faq_url_column_links_its_entry_and_a_bad_one_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "question,answer,url\n"
        "How do I use the VPN?,Start KumoConnect.,https://kb.example/vpn\n"
        "How do I reset my password?,Use the portal.,javascript:alert(1)\n",
        encoding="utf-8",
    )
    read = read_file(path, LIMITS)
    assert [e.url for e in read.faqs] == ["https://kb.example/vpn", None]
    assert len(read.faqs) == 2 and "kept without a link" in read.warnings[0]


def test_markdown_front_matter_gives_the_url_and_title(tmp_path: Path) -> None:
    path = tmp_path / "leave.md"
    path.write_text(
        "---\ntitle: Leave rules\nurl: 'https://kb.example/leave'\ntags: [hr]\n---\n"
        "Employees get 10 days.\n",
        encoding="utf-8",
    )
    read = read_file(path, LIMITS)
    assert read.url == "https://kb.example/leave" and read.title == "Leave rules"
    assert [b.text for b in read.blocks] == ["Employees get 10 days."]


def test_markdown_without_closed_front_matter_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "rule.md"
    path.write_text("---\nNot front matter, a rule.\n", encoding="utf-8")
    read = read_file(path, LIMITS)
    assert read.url is None and read.blocks[0].text == "--- Not front matter, a rule."


def test_an_html_canonical_link_is_the_documents_url(tmp_path: Path) -> None:
    path = tmp_path / "travel.html"
    path.write_text(
        '<html><head><link rel="canonical" href="https://kb.example/travel"><title>Travel</title>'
        "</head><body><p>Book through the portal.</p></body></html>",
        encoding="utf-8",
    )
    assert read_file(path, LIMITS).url == "https://kb.example/travel"


def test_a_folder_prefix_must_be_a_web_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must start with"):
        IngestSettings(source_urls={str(tmp_path): "ftp://files.example/"})

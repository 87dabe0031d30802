"""Documents: Markdown, plain text, HTML and PDF, read into blocks that keep their heading path."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ingest.records import Block, ReadError, ReadLimits, ReadResult
from ingest.urls import BadUrlError, checked_url

# Each pattern here takes time linear in its input (no nested or adjacent unbounded repeats that
# can trade characters): a file may be hostile.
_ATX_OPENING = re.compile(r"(#{1,6})(?:\s|$)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _require_text(result: ReadResult) -> ReadResult:
    if not result.blocks:
        raise ReadError("no text found (an empty file, or a scanned PDF without a text layer)")
    return result


def atx_heading(line: str) -> tuple[int, str] | None:
    """A Markdown ATX heading's level and text, or None: ``#`` to ``######`` then whitespace;
    a closing run of ``#`` is dropped when whitespace precedes it (CommonMark: ``# C#`` is "C#",
    ``## Hotels ##`` is "Hotels"). String operations only, so linear in the line's length."""
    opening = _ATX_OPENING.match(line)
    if opening is None:
        return None
    text = line[opening.end() :].strip()
    unclosed = text.rstrip("#")
    if not unclosed or unclosed[-1].isspace():
        text = unclosed.rstrip()
    return len(opening.group(1)), text


_FRONT_MATTER_FENCE = "---"
_FRONT_MATTER_FIELD = re.compile(r"([A-Za-z_]\w{0,40}):[ \t]*(.*)")
_MAX_FRONT_MATTER_LINES = 100


def front_matter(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """A Markdown file's front matter (between ``---`` lines at its top) as ``key: value``
    scalars, and the lines after it. Only top-level scalars are read (no YAML: a hostile file
    cannot make the parser expand anything); a file without a closed block has none."""
    if not lines or lines[0].strip() != _FRONT_MATTER_FENCE:
        return {}, lines
    for end, line in enumerate(lines[1 : _MAX_FRONT_MATTER_LINES + 1], start=1):
        if line.strip() == _FRONT_MATTER_FENCE:
            fields = {}
            for entry in lines[1:end]:
                if found := _FRONT_MATTER_FIELD.fullmatch(entry.rstrip()):
                    fields[found.group(1).lower()] = found.group(2).strip().strip("'\"")
            return fields, lines[end + 1 :]
    return {}, lines


def _document_url(value: str | None, warnings: list[str]) -> str | None:
    try:
        return checked_url(value)
    except BadUrlError as exc:
        warnings.append(f"{exc}; the document is indexed without a link")
        return None


def read_markdown(path: Path, limits: ReadLimits) -> ReadResult:
    """Headings (``#`` .. ``######``) set the section path; blank lines end a paragraph. Front
    matter may give the document's ``title`` and ``url`` (or ``canonical_url``)."""
    fields, lines = front_matter(_read_utf8(path).splitlines())
    heading_path: list[str] = []
    title = fields.get("title", "")
    warnings: list[str] = []
    url = _document_url(fields.get("url") or fields.get("canonical_url"), warnings)
    blocks: list[Block] = []
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(buffer).strip()
        buffer.clear()
        if text:
            blocks.extend(Block(p, tuple(heading_path)) for p in _paragraphs(text))

    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else atx_heading(line)
        if heading:
            flush()
            level, name = heading
            title = title or (name if level == 1 else "")
            del heading_path[level - 1 :]
            heading_path.extend([""] * (level - 1 - len(heading_path)))
            heading_path.append(name)
        else:
            buffer.append(line)
    flush()
    clean = [Block(b.text, tuple(s for s in b.section if s)) for b in blocks]
    read = ReadResult(kind="doc", title=title or path.stem, blocks=clean, url=url)
    read.warnings.extend(warnings)
    return _require_text(read)


def read_text(path: Path, limits: ReadLimits) -> ReadResult:
    """Paragraphs split on blank lines; a short first line is taken as the title."""
    paragraphs = _paragraphs(_read_utf8(path))
    title = paragraphs[0] if paragraphs and len(paragraphs[0]) <= 80 else path.stem
    blocks = [Block(p) for p in paragraphs if p != title or len(paragraphs) == 1]
    return _require_text(ReadResult(kind="doc", title=title, blocks=blocks))


_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCKS = ("p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "figcaption")
_NOISE = ("script", "style", "nav", "footer", "header", "noscript", "template", "form")


def read_html(path: Path, limits: ReadLimits) -> ReadResult:
    """``h1``-``h6`` set the section path; paragraphs, list items and cells become blocks."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_utf8(path), "html.parser")
    for tag in soup(_NOISE):
        tag.decompose()
    heading_path: list[str] = []
    blocks: list[Block] = []
    for element in soup.find_all((*_HEADINGS, *_BLOCKS)):
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name in _HEADINGS:
            level = int(element.name[1])
            del heading_path[level - 1 :]
            heading_path.append(text)
        elif not element.find(_BLOCKS):  # containers are read through their children
            blocks.append(Block(text, tuple(heading_path)))
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(strip=True) if title_tag is not None else ""
    canonical = soup.find("link", rel="canonical")
    warnings: list[str] = []
    href = canonical.get("href") if canonical is not None else None
    url = _document_url(href if isinstance(href, str) else None, warnings)
    read = ReadResult(kind="doc", title=title or path.stem, blocks=blocks, url=url)
    read.warnings.extend(warnings)
    return _require_text(read)


def read_pdf(path: Path, limits: ReadLimits) -> ReadResult:
    """Text per page (pypdf); blocks keep their page number. Encrypted or broken PDFs are errors."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its problems are reported as ReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise ReadError("the PDF is encrypted; decrypt it before ingesting")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except ReadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ReadError(f"unreadable PDF: {exc}") from exc
    blocks = [
        Block(paragraph, page=number)
        for number, text in enumerate(pages, start=1)
        for paragraph in _paragraphs(text)
    ]
    return _require_text(
        ReadResult(kind="doc", title=meta_title.strip() or path.stem, blocks=blocks)
    )

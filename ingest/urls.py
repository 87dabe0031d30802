"""Where a source is published, so a citation can link to it.

In order: the entry's or document's own address (an FAQ ``url`` column, Markdown front matter, an
HTML canonical link), else ``ingest.source_urls``: a URL prefix per ingest folder, to which the
file's path under that folder is appended. Only ``http(s)`` addresses and site paths (``/kb/...``)
are kept: a citation link must never run script (``javascript:``) or open a local file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit

MAX_URL_CHARS = 2048


class BadUrlError(ValueError):
    """An address that a citation may not link to; the message says why."""


def checked_url(value: object) -> str | None:
    """``value`` as a link target (None when empty); raises :class:`BadUrlError` otherwise."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if len(text) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in text):
        raise BadUrlError(
            f"not a usable URL (spaces or control characters, or over {MAX_URL_CHARS} characters)"
        )
    parts = urlsplit(text)
    site_path = not parts.scheme and not parts.netloc and text.startswith("/")
    if not site_path and not (parts.scheme in ("http", "https") and parts.netloc):
        raise BadUrlError(f"URL {text[:80]!r} is neither http(s) nor a path on the site (/...)")
    return text


def prefixed_url(source: str, root: Path, prefixes: Mapping[str, str]) -> str | None:
    """The address of ``source`` (a path under ``root``) from the prefix configured for ``root``
    or a folder above it (the nearest wins), or None."""
    best: tuple[int, str, Path] | None = None
    for folder, prefix in prefixes.items():
        base = Path(folder).expanduser().resolve()
        if root == base or root.is_relative_to(base):
            depth = len(base.parts)
            if best is None or depth > best[0]:
                best = (depth, prefix, base)
    if best is None:
        return None
    _, prefix, base = best
    below = (root / source).relative_to(base).as_posix()
    return prefix.rstrip("/") + "/" + quote(below)

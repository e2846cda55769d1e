"""Text extraction from the formats cities actually publish: PDF, Word (.docx) and web pages.

Why a separate package: ``corpus.py`` owns reading plain text, encoding detection, cleaning and
the catalog; this package only turns a binary/markup file into *lines of text* plus the
structure the format itself knows (PDF pages, Word heading styles, HTML ``<h1>``–``<h6>``).
``corpus.py`` looks up the extractor by file extension in :data:`EXTRACTORS` and builds the
``Document`` (line numbers, cleaning, catalog metadata) from the returned :class:`Extracted`.

Each extractor is deliberately conservative: it removes what is *layout* (running headers,
page numbers, navigation menus, duplicated glyphs of fake-bold text) and keeps everything
that might be content. A file that cannot be read raises :class:`FormatError` with the file
name and the reason, so an upload can be rejected with a message instead of silently
producing an empty document.

One module per format: ``pdf`` (pdfplumber text layer, page furniture, side tabs), ``docx``
(heading styles, tables), ``html`` (charset, main content, headings, tables); ``common`` holds
:class:`Extracted`, the errors, shared helpers and the extraction cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .common import (  # noqa: F401  (re-exported: the package's public names and helpers)
    Extracted,
    FormatError,
    ScannedPdfError,
    _cached,
    _dedupe_consecutive,
    _join_cjk_aware,
    _labelled_rows,
    clear_cache,
)
from .docx import extract_docx
from .html import decode_html, extract_html
from .pdf import extract_pdf

__all__ = [
    "Extracted",
    "FormatError",
    "ScannedPdfError",
    "EXTRACTORS",
    "extract",
    "extract_pdf",
    "extract_docx",
    "extract_html",
    "supported_suffixes",
    "clear_cache",
]


EXTRACTORS: dict[str, Callable[[Path], Extracted]] = {
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".html": extract_html,
    ".htm": extract_html,
}


def supported_suffixes() -> list[str]:
    return sorted(EXTRACTORS)


def extract(path: Path | str) -> Extracted:
    """Dispatch on the (lower-cased) suffix; :class:`FormatError` for unknown suffixes."""
    path = Path(path)
    fn = EXTRACTORS.get(path.suffix.lower())
    if fn is None:
        raise FormatError(path, f"unsupported file type {path.suffix or '(none)'}; supported: {', '.join(supported_suffixes())}")
    if not path.is_file():
        raise FormatError(path, "file not found")
    return fn(path)

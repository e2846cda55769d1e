"""What every extractor returns (:class:`Extracted`), its errors, and helpers the formats share
(CJK-aware whitespace folding, labelled table rows, the in-process extraction cache)."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class Extracted:
    """What an extractor knows about a file.

    ``lines``: text lines in reading order, no empty lines. ``pages[i]``: 1-based physical page
    of ``lines[i]`` (``None`` for formats without pages; then ``pages`` itself is ``None``).
    ``headings``: ``(line index, level, text)`` for formats that mark headings (docx, html);
    ``None`` where the format does not know, so the caller can fall back to heuristics; a PDF marks
    only the captions that head a ranking chart's rows (level 6, held for the rest of their page by
    the chunker). ``as_of``: a validity note the file prints on most pages (PDF), which every passage
    carries with the title.
    ``title``: a title the file declares itself (PDF metadata, docx core properties, HTML
    ``<h1>``/``<title>``), or ``None``. ``warnings``: non-fatal problems worth showing an
    administrator (e.g. pages without a text layer).
    """

    lines: list[str]
    pages: list[int | None] | None = None
    headings: list[tuple[int, int, str]] | None = None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    # PDF: page → the page number printed on it, where it differs from the page's position
    page_labels: dict[int, str] = field(default_factory=dict)
    as_of: str | None = None  # a validity note printed on most pages (「（平成３０年６月２８日現在）」)

    def marked_lines(self) -> list[str]:
        """``lines`` with headings written as markdown headings (「## 計画期間」).

        That is the structural convention the rest of the pipeline already reads: corpus
        cleaning never joins a ``#`` line to its neighbours and the chunker puts markdown
        headings into the section path. Formats without headings return ``lines`` unchanged.
        """
        if not self.headings:
            return list(self.lines)
        out = list(self.lines)
        for i, level, _text in self.headings:
            if 0 <= i < len(out) and not out[i].startswith("#"):
                out[i] = "#" * max(1, min(level, 6)) + " " + out[i]
        return out

    def __iter__(self):
        """``lines, pages = extractor(path)``: the tuple contract of ``corpus.EXTRACTORS``, so
        these extractors plug into the corpus loader as they are (headings as markdown, see
        :meth:`marked_lines`)."""
        return iter((self.marked_lines(), self.pages))


class FormatError(ValueError):
    """The file cannot be turned into text. The message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


class ScannedPdfError(FormatError):
    """A PDF without a text layer (a scan). Reported as such: OCR is out of scope, and
    indexing it as an empty document would make its contents silently unanswerable."""

    def __init__(self, path: Path | str, detail: str = ""):
        reason = "scanned PDF: no text layer (OCR is not supported); please provide a PDF with selectable text"
        if detail:
            reason += f" ({detail})"
        super().__init__(path, reason)


_WS_RE = re.compile(r"\s+")
# Junk titles that PDF/Word producers write into the metadata.
_JUNK_TITLE_RE = re.compile(r"^(microsoft (word|powerpoint|excel)\s*-|untitled|無題|document\d*$)|\.(docx?|xlsx?|pptx?|jtd)$", re.I)


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _join_cjk_aware(text: str) -> str:
    """Fold whitespace runs to one space; a run containing a line break between two CJK
    characters is dropped entirely.

    Source line breaks inside a Japanese sentence (HTML source wrapping, a Word soft return)
    carry no space in Japanese (CSS segment-break rules); keeping one would split words for
    the tokenizer. Spaces the author typed (「第1章 計画の概要」) are kept.
    """
    text = text.strip()

    def repl(m: re.Match) -> str:
        run, start, end = m.group(0), m.start(), m.end()
        if ("\n" in run or "\r" in run) and start > 0 and end < len(text) and _is_wide(text[start - 1]) and _is_wide(text[end]):
            return ""
        return " "

    return _WS_RE.sub(repl, text)


def _labelled_rows(rows: list[list[str]], header: list[str] | None) -> list[str]:
    """Tables as 「列名: 値 / 列名: 値」 lines: a row read out of its table keeps its meaning.

    Empty cells are skipped; a cell without a header label is emitted bare.
    """
    out = []
    for row in rows:
        parts = []
        for j, value in enumerate(row):
            if not value:
                continue
            label = header[j] if header is not None and j < len(header) else ""
            parts.append(f"{label}: {value}" if label and label != value else value)
        if parts:
            out.append(" / ".join(parts))
    return out


def _dedupe_consecutive(cells: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    out, last = [], object()
    for c in cells:
        k = key(c)
        if k != last:
            out.append(c)
        last = k
    return out


# ----------------------------------------------------------------------------------------
# in-process cache: adding a document extracts it to validate it, and the index refresh that
# follows (same process: CLI ``add``, the admin tab) reads the copied file again. Keyed by the
# bytes' hash, so the copy in the corpus hits the entry made for the upload.

_CACHE_MAX = 8
_cache: "OrderedDict[tuple[str, str], Extracted]" = OrderedDict()
_cache_lock = threading.Lock()


def _copy(ex: Extracted) -> Extracted:
    return Extracted(
        lines=list(ex.lines),
        pages=list(ex.pages) if ex.pages is not None else None,
        headings=list(ex.headings) if ex.headings is not None else None,
        title=ex.title,
        warnings=list(ex.warnings),
        page_labels=dict(ex.page_labels),
        as_of=ex.as_of,
    )


def _cached(fn: Callable[[Path], Extracted]) -> Callable[[Path], Extracted]:
    @functools.wraps(fn)
    def wrapper(path: Path) -> Extracted:
        path = Path(path)
        try:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise FormatError(path, f"cannot read file ({e.strerror or e})") from e
        key = (fn.__name__, h.hexdigest())
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return _copy(hit)
        ex = fn(path)
        with _cache_lock:
            _cache[key] = _copy(ex)
            while len(_cache) > _CACHE_MAX:
                _cache.popitem(last=False)
        return ex

    wrapper.uncached = fn  # type: ignore[attr-defined]
    return wrapper


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()

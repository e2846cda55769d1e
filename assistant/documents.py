"""Document assembly: cleaned lines + catalog entry → ``Document`` (title, municipality, line map)."""

from __future__ import annotations

import re

from .cleaning import clean_lines
from .types import Document

UNKNOWN_MUNICIPALITY = "不明"

_MD_HEADING_RE = re.compile(r"^#{1,6}\s+")


def _first_heading(lines: list[str]) -> str:
    for l in lines:
        # (not 「######」: the finest mark is what PDFs give a chart's caption, never a title)
        if _MD_HEADING_RE.match(l) and not l.startswith("######"):
            return _MD_HEADING_RE.sub("", l).strip()
    for l in lines:
        t = _MD_HEADING_RE.sub("", l).strip()
        if t and len(t) <= 60 and "。" not in t:
            return t
    return ""


def make_document(
    doc_id: str,
    raw_lines: list[str],
    pages: list[int | None] | None = None,
    catalog_entry: dict | None = None,
    meta: dict | None = None,
    path: str | None = None,
    title: str | None = None,
) -> Document:
    """Clean raw lines and wrap them in a ``Document`` with catalog metadata."""
    stats: dict[str, int] = {}
    cleaned = clean_lines(raw_lines, pages, stats)
    entry = dict(catalog_entry or {})
    texts = [l.text for l in cleaned]
    doc_title = entry.get("title") or title or _first_heading(texts) or doc_id
    m = dict(meta or {})
    for k, v in entry.items():
        if k not in ("title", "municipality"):
            m.setdefault(k, v)
    m["cleaning"] = stats
    m["line_ends"] = [l.end for l in cleaned]
    # cleaned lines that are table rows (one self-contained record each): chunking keeps them whole
    m["table_lines"] = [i for i, l in enumerate(cleaned) if l.tag == "table"]
    return Document(
        doc_id=doc_id,
        title=str(doc_title),
        municipality=str(entry.get("municipality") or m.get("municipality") or UNKNOWN_MUNICIPALITY),
        lines=texts,
        line_numbers=[l.start for l in cleaned],
        pages=[l.page for l in cleaned] if pages else None,
        meta=m,
        path=path,
    )

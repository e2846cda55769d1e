"""The plain data objects that flow between layers.

corpus → ``Document`` → chunking → ``Chunk`` → index/retrieval → ``Hit`` → answering → ``Answer``.
They live in one small module so every layer can import them without importing the layers
that produce them (no module knows about the layers above it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """One cleaned plan document.

    ``lines`` is the cleaned display text split into lines; ``line_numbers[i]`` is the 1-based
    line in the *source file* that cleaned line ``i`` came from, so citations can point back
    to the original file even after artifacts were removed. ``pages[i]`` is the 1-based page
    of cleaned line ``i`` where the source has pages (PDF), else None.
    """

    doc_id: str
    title: str
    municipality: str = "不明"
    lines: list[str] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    pages: list[int | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Chunk:
    """A passage: the unit that is searched, cited and shown.

    ``text`` is the readable display text; ``search_text`` is its normalized form (NFKC,
    whitespace folded) that tokenizers and embedders see. ``lines`` is the (first, last)
    1-based line range in the source file.
    """

    id: str
    doc_id: str
    title: str
    municipality: str
    section: list[str]
    text: str
    search_text: str
    lines: tuple[int, int]
    page: int | None = None
    ordinal: int = 0
    page_label: str | None = None  # the page number printed on ``page``, where it differs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = list(self.lines)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Chunk":
        d = dict(d)
        d["lines"] = tuple(d["lines"])
        return cls(**d)


@dataclass
class Hit:
    """A retrieved passage with its fused score (and the parts the score came from)."""

    chunk: Chunk
    score: float
    bm25: float = 0.0
    dense: float = 0.0
    rank: int = 0
    # the BM25 + dense fusion before the sentence rerank reordered the head (None: the same as score);
    # the answer model's features read this one, as they were fitted on it
    fused: float | None = None

    @property
    def fusion_score(self) -> float:
        return self.score if self.fused is None else self.fused

    # Flat accessors: the design contract says ``hit.text``, ``hit.doc_id`` …
    @property
    def id(self) -> str:
        return self.chunk.id

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def municipality(self) -> str:
        return self.chunk.municipality

    @property
    def section(self) -> list[str]:
        return self.chunk.section

    @property
    def lines(self) -> tuple[int, int]:
        return self.chunk.lines

    @property
    def page(self) -> int | None:
        return self.chunk.page

    @property
    def page_label(self) -> str | None:
        return self.chunk.page_label

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "title": self.title,
            "municipality": self.municipality,
            "section": list(self.section),
            "lines": list(self.lines),
            "page": self.page,
            "page_label": self.page_label,
            "text": self.text,
            "score": round(float(self.score), 4),
        }


@dataclass
class Citation:
    """A numbered source of an answer: ``[n]`` in ``Answer.text`` refers to ``number == n``."""

    number: int
    hit: Hit
    quote: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:  # Hit-like: citation.title, citation.section …
        if name == "hit":
            raise AttributeError(name)
        return getattr(self.hit, name)

    def to_dict(self) -> dict[str, Any]:
        d = self.hit.to_dict()
        d["number"] = self.number
        d["quote"] = list(self.quote)
        return d


@dataclass
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    query_used: str = ""
    confidence: float = 0.0
    related: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "refused": self.refused,
            "query_used": self.query_used,
            "confidence": round(float(self.confidence), 4),
            "related": [h.to_dict() for h in self.related],
            "notes": list(self.notes),
        }

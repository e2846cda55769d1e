"""Search backends: where the passages, their BM25 weights and their vectors live.

Why a seam: one city's plans fit in one process (``local``: today's files — bm25s + FAISS +
chunk store, :mod:`assistant.index`); a prefecture's or a national portal's do not, and several
web replicas should share one store instead of each holding a copy (``milvus``: a Milvus server,
or a milvus-lite file in tests). Retrieval (:mod:`assistant.retrieval`) keeps the fusion, the
query expansion and the reranking; a backend only answers the questions below, with passages
named by their *position* in the build (0 … n-1), so both backends return the same ids.

Japanese tokenization stays ours on both: the sparse side is *our* BM25 (fugashi lemmas +
character bigrams, weighted by bm25s at build time); a query is the weighted groups of our
query tokens (:meth:`assistant.query.QueryAnalysis.weighted_token_groups`).

Chosen by ``ASSISTANT_BACKEND`` or ``--backend``: ``local`` (default), ``milvus:PATH.db``
(a milvus-lite file), ``milvus:http://host:19530`` (Milvus standalone / distributed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..types import Chunk

ENV = "ASSISTANT_BACKEND"
DEFAULT = "local"

# A sparse query: (weight, tokens) groups; a token's weight is the sum over the groups it
# occurs in (a token repeated in a group counts again, as bm25s scores repeated tokens).
SparseQuery = Sequence[tuple[float, Sequence[str]]]


class BackendError(Exception):
    """A backend cannot be used as asked (bad spec, missing package)."""


class BackendUnavailable(BackendError):
    """The backend's server cannot be reached (at start, or while serving). Transient: the next
    call tries again, so the app recovers without a restart once the server is back."""


@dataclass(frozen=True)
class Filter:
    """Which passages a search may return."""

    municipality: str | None = None
    doc_id: str | None = None
    exclude: frozenset[int] = field(default_factory=frozenset)  # positions

    @property
    def empty(self) -> bool:
        return not (self.municipality or self.doc_id or self.exclude)


@runtime_checkable
class SearchBackend(Protocol):
    """What retrieval and answering need from a loaded build.

    ``chunks`` is the build's passages in position order (positions are the ids below);
    ``manifest`` the build's manifest (model, counts, ``built_at``); ``sentence_vectors`` the
    answer encoder's per-sentence vectors or None (a backend may also hold ``search_sentence_vectors``, the
    search sentence encoder's; retrieval reads it with getattr)."""

    manifest: dict[str, Any]
    chunks: Sequence[Chunk]
    sentence_vectors: Any

    def sparse_search(self, query: SparseQuery, k: int, filt: Filter, also: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of the best ``k`` passages allowed by ``filt`` *and* of the allowed ones
        among ``also`` (positions the dense side found): (positions, scores), unique positions."""

    def dense_search(self, vector: np.ndarray, k: int, filt: Filter) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` allowed passages nearest ``vector`` (L2-normalized; inner product):
        (positions, cosines), best first."""

    def doc_freq(self, word: str) -> int:
        """In how many passages ``word`` occurs (query expansion, refusal's IDF weights)."""

    def idf(self, token: str) -> float:
        """The BM25 inverse document frequency of a search token (0 when unknown)."""

    def describe(self) -> dict[str, Any]:
        """What ``/api/health`` reports: ``{"kind": …, …}`` without secrets."""

    def chunk_column(self, name: str) -> list[str]:
        """``id``, ``doc_id`` or ``municipality`` of every passage, in position order (filters and
        document lists read these instead of decoding every passage)."""

    def id_positions(self) -> dict[str, int]:
        """Passage id → position, one shared map per loaded build (read-only)."""

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        """The passage with this id, or None (follow-ups re-read the passages an answer cited)."""


def parse_spec(spec: str | None) -> tuple[str, str | None]:
    """``local`` → ("local", None); ``milvus:URI`` → ("milvus", URI). A clear error otherwise."""
    spec = (spec or os.environ.get(ENV) or DEFAULT).strip()
    if spec == "local":
        return "local", None
    if spec.startswith("milvus:"):
        uri = spec[len("milvus:"):].strip()
        if not uri:
            raise BackendError("ASSISTANT_BACKEND=milvus: に接続先がありません / milvus: needs a URI (milvus:PATH.db or milvus:http://host:19530)")
        return "milvus", uri
    raise BackendError(f"不明な検索バックエンド {spec!r} / unknown search backend {spec!r}: use local, milvus:PATH.db or milvus:http://host:19530")


def as_backend(index_or_backend) -> SearchBackend:
    """A backend for what retrieval was given: a loaded :class:`assistant.index.SearchIndex` is
    wrapped in :class:`~assistant.backends.local.LocalBackend`; a backend is returned as is."""
    from ..index import SearchIndex
    from .local import LocalBackend

    if isinstance(index_or_backend, SearchIndex):
        return LocalBackend(index_or_backend)
    return index_or_backend


def open_backend(spec: str | None, **kw):
    """The remote store a spec names (``milvus:…`` → :class:`~assistant.backends.milvus.MilvusStore`),
    or None for ``local`` (whose builds are the index directory itself). Connects now, so an
    unreachable server is one clear error naming the URI (:class:`BackendUnavailable`)."""
    kind, uri = parse_spec(spec)
    if kind == "local":
        return None
    from .milvus import MilvusStore

    return MilvusStore(uri, **kw)

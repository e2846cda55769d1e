"""The ``local`` backend: today's index files (bm25s + FAISS + chunk store) behind the seam.

A thin wrapper: :mod:`assistant.index` keeps owning how builds are written, verified and
loaded; this only answers the :class:`~assistant.backends.SearchBackend` questions over a
loaded :class:`~assistant.index.SearchIndex`, computing exactly what retrieval computed
before the seam existed (so the default backend's answers did not move). Attributes it does
not define (``path``, ``bm25``, ``token_df`` …) are the wrapped index's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Filter, SparseQuery


class LocalBackend:
    def __init__(self, index):
        self._index = index

    def __getattr__(self, name: str) -> Any:  # manifest, chunks, sentence_vectors, doc_freq, idf, …
        return getattr(self._index, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # tests and scripts switch a signal off with ``retriever.index.sentence_vectors = None``
        if name == "_index":
            object.__setattr__(self, name, value)
        else:
            setattr(self._index, name, value)

    def describe(self) -> dict[str, Any]:
        return {"kind": "local", "path": str(self._index.path)}

    def mask(self, filt: Filter) -> np.ndarray:
        cache = self._index.__dict__.setdefault("_filter_columns", {})
        if "muni" not in cache:
            # the metadata columns, not whole passages (a large index keeps its passages on disk)
            cache["muni"] = np.array(self._index.chunk_column("municipality"), dtype=object)
            cache["doc"] = np.array(self._index.chunk_column("doc_id"), dtype=object)
        mask = np.ones(len(cache["muni"]), dtype=bool)
        if filt.municipality:
            mask &= cache["muni"] == filt.municipality
        if filt.doc_id:
            mask &= cache["doc"] == filt.doc_id
        if filt.exclude:
            mask[np.fromiter(filt.exclude, dtype=np.int64)] = False
        return mask

    def sparse_scores(self, query: SparseQuery) -> np.ndarray:
        """BM25 of every passage (the weighted groups summed, as retrieval always did)."""
        n = len(self._index.chunks)
        bm25 = np.zeros(n, dtype=np.float32)
        for w, toks in query:
            bm25 += w * self._index.bm25_scores(list(toks))
        return bm25

    def sparse_search(self, query: SparseQuery, k: int, filt: Filter, also: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._index.chunks)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        bm25 = self.sparse_scores(query)
        mask = self.mask(filt)
        k = min(k, n)
        matching = np.flatnonzero(mask & (bm25 > 0))
        if len(matching) >= k:  # the top k among passages that match at all (1M → usually far fewer)
            top = matching[np.argpartition(-bm25[matching], k - 1)[:k]]
        else:  # as before: fewer than k match, the rest is padded with allowed zero-score passages
            top = np.argpartition(-np.where(mask, bm25, -np.inf), k - 1)[:k]
        ids = np.unique(np.concatenate([top, np.asarray(also, dtype=np.int64)]).astype(np.int64))
        ids = ids[mask[ids]]
        return ids, bm25[ids]

    def dense_search(self, vector: np.ndarray, k: int, filt: Filter) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._index.chunks)
        if filt.empty:
            return self._index.dense_scores(vector, k)
        ids, scores = self._index.dense_scores(vector, n)  # exact: filter after scoring all
        keep = self.mask(filt)[ids]
        return ids[keep][:k], scores[keep][:k]

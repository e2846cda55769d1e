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
        if n >= POOL_FROM_PASSAGES:
            pooled = self._pooled_search(query, k, filt, also)
            if pooled is not None:
                return pooled
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

    def _pooled_search(self, query: SparseQuery, k: int, filt: Filter, also: np.ndarray):
        """The BM25 top ``k`` of a large index without adding up its very common columns for every
        passage (docs/BENCHMARKS.md §4.1): a bigram such as 「する」 or 「計画」 is in most of a
        million passages, and those columns were most of a question's ten million postings.

        The candidates are the best ``max(POOL_PER_K * k, POOL_MIN)`` allowed passages by the
        *selective* tokens alone (those in at most ``COMMON_SHARE`` of the passages), plus ``also``;
        each candidate then gets its exact score — every token of every group, in the same order as
        :meth:`sparse_scores`, so bit for bit the same number — read from the columns by binary
        search. Approximate only in *which* passages are candidates: one that reaches the top
        ``k`` through common tokens alone is missed. None (the plain path) when the query has no common
        token (that path is as cheap), or fewer than ``k`` passages match a selective one."""
        idx = self._index
        n = len(idx.chunks)
        vocab = idx.bm25.vocab_dict
        data, indices, indptr = idx.bm25.scores["data"], idx.bm25.scores["indices"], idx.bm25.scores["indptr"]
        common_df = COMMON_SHARE * n
        groups = [(w, [vocab[t] for t in toks if t in vocab]) for w, toks in query]
        selective = [(w, [t for t in ids if indptr[t + 1] - indptr[t] <= common_df]) for w, ids in groups]
        n_common = sum(len(ids) for _w, ids in groups) - sum(len(ids) for _w, ids in selective)
        if n_common == 0 or not any(ids for _w, ids in selective):
            return None
        rough = np.zeros(n, dtype=np.float32)  # only ranks candidates: one array, any summation order
        for w, ids in selective:
            for t in ids:
                rough[indices[indptr[t]:indptr[t + 1]]] += np.float32(w) * data[indptr[t]:indptr[t + 1]]
        mask = self.mask(filt)
        matching = np.flatnonzero(mask & (rough > 0))
        pool = min(len(matching), max(POOL_PER_K * k, POOL_MIN))
        if pool < k:  # too few selective matches: the plain path (which also pads with zero scores)
            return None
        top = matching[np.argpartition(-rough[matching], pool - 1)[:pool]]
        ids = np.unique(np.concatenate([top, np.asarray(also, dtype=np.int64)]).astype(np.int64))
        ids = ids[mask[ids]]
        exact = np.zeros(len(ids), dtype=np.float32)
        for w, tids in groups:
            part = np.zeros(len(ids), dtype=np.float32)
            for t in tids:
                col = indices[indptr[t]:indptr[t + 1]]
                at = np.searchsorted(col, ids)
                hit = at < len(col)
                hit[hit] = np.asarray(col[at[hit]]) == ids[hit]
                part[hit] += data[indptr[t] + at[hit]]
            exact += w * part
        if len(ids) > k:  # as the plain path: the best k, plus the allowed ones among ``also``
            keep = np.zeros(len(ids), dtype=bool)
            keep[np.argpartition(-exact, k - 1)[:k]] = True
            keep |= np.isin(ids, also)
            ids, exact = ids[keep], exact[keep]
        return ids, exact


# The pooled BM25 search (LocalBackend._pooled_search) runs from this many passages on: a large
# index (index.LARGE_THRESHOLD). Below it every passage is scored, so small indexes' answers never move.
POOL_FROM_PASSAGES = 200_000
COMMON_SHARE = 0.2  # a token in more than this share of the passages is "common"
POOL_PER_K = 10
POOL_MIN = 2_000
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
import scipy.sparse

from ..columns import CodedColumn
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
            # the metadata columns, not whole passages (a large index keeps its passages on disk),
            # coded: comparing a million object strings per search took ~50 ms (columns.py)
            cache["muni"] = CodedColumn(self._index.chunk_column("municipality"))
            cache["doc"] = CodedColumn(self._index.chunk_column("doc_id"))
        mask = np.ones(len(cache["muni"]), dtype=bool)
        if filt.municipality:
            mask &= cache["muni"].equals(filt.municipality)
        if filt.doc_id:
            mask &= cache["doc"].equals(filt.doc_id)
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
        token (that path is as cheap), or fewer than ``k`` passages match a selective one.

        What it costs (third pass, §4.1): a token repeated in the question or in several expansions
        is summed once with its weights added (the rough score only ranks candidates); the selective
        columns are summed by one sparse matrix–vector product; a column is searched with ``int32``
        positions (the columns' own type: an ``int64`` needle made numpy copy a whole million-entry
        column per search) and once per distinct token."""
        idx = self._index
        n = len(idx.chunks)
        vocab = idx.bm25.vocab_dict
        data, indices, indptr = idx.bm25.scores["data"], idx.bm25.scores["indices"], idx.bm25.scores["indptr"]
        common_df = COMMON_SHARE * n
        groups = [(w, [vocab[t] for t in toks if t in vocab]) for w, toks in query]
        weight: dict[int, float] = {}  # selective token → its summed weight
        n_common = 0
        for w, ids in groups:
            for t in ids:
                if indptr[t + 1] - indptr[t] <= common_df:
                    weight[t] = weight.get(t, 0.0) + w
                else:
                    n_common += 1
        if n_common == 0 or not weight:
            return None
        rough = weighted_column_sum(data, indices, indptr, weight, n)  # only ranks candidates
        mask = None if filt.empty else self.mask(filt)
        top = top_positive(rough, max(POOL_PER_K * k, POOL_MIN), mask)
        if len(top) < k:  # too few selective matches: the plain path (which also pads with zero scores)
            return None
        ids = np.unique(np.concatenate([top, np.asarray(also, dtype=np.int64)]).astype(np.int64))
        if mask is not None:
            ids = ids[mask[ids]]
        exact = exact_scores(data, indices, indptr, groups, ids)
        if len(ids) > k:  # as the plain path: the best k, plus the allowed ones among ``also``
            keep = np.zeros(len(ids), dtype=bool)
            keep[np.argpartition(-exact, k - 1)[:k]] = True
            keep |= np.isin(ids, also)
            ids, exact = ids[keep], exact[keep]
        return ids, exact


def top_positive(scores: np.ndarray, count: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``count`` highest positive ``scores`` allowed by ``mask`` (all of them when fewer;
    in no order; ties at the boundary broken arbitrarily, as ``argpartition`` does).

    Partitioning every matching passage (97 % of a million match some selective token) cost ~10 ms
    per search; instead a threshold is read off an evenly spaced sample (the value that about twice
    ``count`` passages should reach) and only the passages reaching it are partitioned. Exact, not
    a guess: when fewer than ``count`` allowed passages reach the threshold, it falls back to all positive ones."""
    n = len(scores)
    step = max(1, n // TOP_SAMPLE)
    sample = scores[::step]
    rank = int(2 * count * len(sample) / n) + 8  # the sample's rank that ~2·count passages reach
    threshold = np.float32(0)
    if rank < len(sample):
        threshold = max(threshold, np.partition(sample, len(sample) - rank)[len(sample) - rank])
    for t in ((threshold, np.float32(0)) if threshold > 0 else (np.float32(0),)):
        reach = scores >= t if t > 0 else scores > 0
        if mask is not None:
            reach &= mask
        candidates = np.flatnonzero(reach)
        if len(candidates) >= count or t == 0:
            break
    if len(candidates) <= count:
        return candidates
    return candidates[np.argpartition(-scores[candidates], count - 1)[:count]]


def weighted_column_sum(data, indices, indptr, weights: dict[int, float], n: int) -> np.ndarray:
    """Per passage, the sum over the columns ``weights`` names of weight × score: one sparse
    matrix–vector product over just those columns (copied out of the memory-mapped matrix), not a
    fancy-index add per column (gather, add and scatter per posting, several times slower)."""
    tids = np.fromiter(weights, dtype=np.int64, count=len(weights))
    starts, ends = indptr[tids], indptr[tids + 1]
    ptr = np.zeros(len(tids) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=ptr[1:])
    if ptr[-1] == 0:
        return np.zeros(n, dtype=np.float32)
    rows = np.concatenate([indices[s:e] for s, e in zip(starts, ends)])
    vals = np.concatenate([data[s:e] for s, e in zip(starts, ends)])
    itype = np.int32 if max(int(ptr[-1]), n) < np.iinfo(np.int32).max else np.int64  # no silent upcast copies
    m = scipy.sparse.csc_array((vals, rows.astype(itype, copy=False), ptr.astype(itype)), shape=(n, len(tids)))
    return np.asarray(m @ np.fromiter(weights.values(), dtype=np.float32, count=len(weights)), dtype=np.float32)


def exact_scores(data, indices, indptr, groups: list[tuple[float, list[int]]], ids: np.ndarray) -> np.ndarray:
    """BM25 of the passages ``ids`` (sorted positions) — the same float32 additions in the same order as
    :meth:`LocalBackend.sparse_scores` (per group its tokens in order, then ``w ×`` the group's sum), so
    bit for bit the same numbers; each distinct column is binary-searched once (adding a 0 where a
    passage lacks a token changes no float)."""
    needle = ids.astype(indices.dtype, copy=False)  # the column's type: searchsorted must not convert the column
    score_of: dict[int, np.ndarray] = {}
    exact = np.zeros(len(ids), dtype=np.float32)
    for w, tids in groups:
        part = np.zeros(len(ids), dtype=np.float32)
        for t in tids:
            got = score_of.get(t)
            if got is None:
                start, end = int(indptr[t]), int(indptr[t + 1])
                col = indices[start:end]
                at = np.searchsorted(col, needle)
                hit = at < len(col)
                hit[hit] = np.asarray(col[at[hit]]) == needle[hit]
                got = score_of[t] = np.zeros(len(ids), dtype=np.float32)
                got[hit] = data[start + at[hit]]
            part += got
        exact += w * part
    return exact


# The pooled BM25 search (LocalBackend._pooled_search) runs from this many passages on: a large
# index (index.LARGE_THRESHOLD). Below it every passage is scored, so small indexes' answers never move.
POOL_FROM_PASSAGES = 200_000
COMMON_SHARE = 0.2  # a token in more than this share of the passages is "common"
POOL_PER_K = 10
POOL_MIN = 2_000
TOP_SAMPLE = 16_384  # top_positive's threshold sample
"""Hybrid search: weighted BM25 over expanded query terms + dense cosine, fused per query.

Fusion is a convex combination of the two scores after min–max normalization over the
candidate set (the union of both sides' top candidates). The dense weight comes from the
embedder (a weak offline model weighs less than a strong named one) and can be overridden.
Rank fusion (RRF) was not chosen because it throws away *how much* better the best keyword
match is, which matters on a small corpus where one passage often matches exactly.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from . import query_adapter, reader, rerank
from .columns import CodedColumn
from .backends import BackendError, Filter, SearchBackend, as_backend
from .index import SearchIndex
from .query import W_YEAR, QueryAnalysis, Thesaurus, analyze_query, load_thesaurus, municipality_stem
from .types import Hit

log = logging.getLogger(__name__)

CANDIDATES = 100
# When the question names a city, a passage from another named city rarely answers it (a plan of
# 山口市 says nothing about 長門市); a document whose city is unknown might still be that city's.
OTHER_CITY_FACTOR = 0.4
UNKNOWN_CITY_FACTOR = 0.8
# Sentence signal: per passage, the best cosine between the question and one of its sentences
# (the answer encoder's vectors, index.sentence_vectors, embedded in context at build time; the
# question's vector is the one the answer model needs anyway). "rerank" (chosen, docs/BENCHMARKS.md
# §9.1): re-score the top RERANK_N of the BM25 + dense fusion with SENTENCE_WEIGHT of it, min–max
# normalized over that head; "fuse": a third term of the convex combination over all candidates;
# "fitted": a wider pool (fusion top 30 ∪ the passages of the 10 nearest sentences) ordered by the
# pairwise logistic model of rerank.py (assistant/data/rerank_model.json, no hand weight); "gated": the
# fitted order only for a lexically weak question (the pool's best word coverage below the model's
# gate_cov, a paraphrase), the "rerank" order otherwise.
SENTENCE_WEIGHT = 0.35
SENTENCE_MODE = "gated"
RERANK_N = 10
# The sentence signal may compare an *adapted* query vector (query_adapter.py: a linear map fitted on
# JaQuAD and the plans' own structure, applied to the e5 query vector only); the answer model keeps the
# plain vector it was fitted on. docs/BENCHMARKS.md §9.4 for the measurement behind this setting.
QUERY_ADAPTER = False
# The search sentence encoder reads the question with the plan words its thesaurus expansions give
# (「スタッフを増やしたい（職員、人員）」): the question's vector moves towards the plans' vocabulary, as
# its BM25 side already does. The strongest SEARCH_EXPANSIONS expansions of at least
# SEARCH_EXPANSION_MIN_WEIGHT (the thesauri and same-lexeme spellings; not the word-vector neighbours,
# nor a common word's scaled-down expansions), years' other spellings left out. Search side only: the
# answer encoder, which judges answerability, reads the question as asked. docs/BENCHMARKS.md §9.22.
SEARCH_EXPANSIONS = 3
SEARCH_EXPANSION_MIN_WEIGHT = 0.5
# How many curated-thesaurus synonyms the answer reader reads with the question (``reader_query_text``); 0: the
# question as asked (default). Measured (docs/BENCHMARKS.md §9.24): with 3, tune answerable refused 0.082 →
# 0.066 and out-of-scope refused unchanged, but on the frozen split 2 more out-of-scope questions answered
# (0.932 → 0.898) and no answer gained its asked fact: the reader was trained on questions as asked, and
# reads expansions as words of the question. An option for a reader trained on expanded questions (which
# scripts/reader_data.py would then have to write: today it writes each question as asked).
READER_EXPANSIONS = 0


def with_expansions(text: str, qa: QueryAnalysis, limit: int) -> str:
    """``text`` followed by the ``limit`` strongest expansions of its analysis ``qa`` of at least
    SEARCH_EXPANSION_MIN_WEIGHT in parentheses (「スタッフを増やしたい（職員、人員）」; years' other spellings left
    out), or ``text`` alone."""
    ranked = sorted(qa.expansions.items(), key=lambda kv: -kv[1])  # stable: ties keep the analysis's order
    words = [p for p, w in ranked if SEARCH_EXPANSION_MIN_WEIGHT <= w < W_YEAR][:limit]
    return f"{text}（{'、'.join(words)}）" if words else text


class Retriever:
    def __init__(
        self, index: SearchIndex | SearchBackend, embedder, thesaurus: Thesaurus | None = None, dense_weight: float | None = None, neighbours=None,
        answer_encoder=None, search_encoder=None,
    ):
        # the search backend (backends.local wraps a loaded SearchIndex; backends.milvus a Milvus build)
        self.index = as_backend(index)
        index = self.index
        self.embedder = embedder
        # where query expansion finds word neighbours: the embedder itself (bundled chive-ja), or the
        # bundled word vectors next to a sentence encoder that has none
        self.neighbours = neighbours or embedder
        # the sentence encoder whose vectors the answer model compares (index.sentence_vectors)
        self.answer_encoder = answer_encoder or embedder
        # the search sentence encoder (e5 with fine-tuned top layers, core.SEARCH_ENCODER): its vectors
        # (index.search_sentence_vectors) order passages; the answer model keeps the answer encoder's
        self.search_encoder = search_encoder
        self.thesaurus = thesaurus or load_thesaurus()
        self.dense_weight = embedder.dense_weight if dense_weight is None else dense_weight
        # metadata columns, not whole passages: a large index keeps its passages on disk
        self._muni = np.array(index.chunk_column("municipality"), dtype=object)
        self._doc = np.array(index.chunk_column("doc_id"), dtype=object)
        self.municipalities = sorted({m for m in set(self._muni.tolist()) if m and m != "不明"})
        self._muni_coded = CodedColumn(self._muni)  # per-search comparisons by code, not string (columns.py)
        self._position = index.id_positions()  # the index's own map, not a second copy
        self.sentence_weight = SENTENCE_WEIGHT
        self.sentence_mode = SENTENCE_MODE
        self.rerank_n = RERANK_N
        self._rerank_model: rerank.RerankModel | None = None
        self.use_query_adapter = QUERY_ADAPTER
        # how many thesaurus expansions the search sentence encoder reads with the question (0: none)
        self.search_expansions = SEARCH_EXPANSIONS
        self.reader_expansions = READER_EXPANSIONS
        self._query_adapter: query_adapter.QueryAdapter | None = None
        self._reader: "reader.Reader | None | bool" = False  # not opened yet
        self.reader_problem: str | None = None  # why the answer reader could not be opened

    @property
    def reader(self) -> "reader.Reader | None":
        """The answer reader (assistant/reader.py), opened on first use, when the answer encoder is its base;
        None when it is another encoder, when ``ASSISTANT_READER=none``, or when its files cannot be read —
        said in the log and in ``reader_problem`` (health), never silently: answers then use the answer
        model's entry without the reader."""
        if self._reader is False:
            self._reader = None
            if os.environ.get("ASSISTANT_READER", "").lower() != "none" and self.answer_encoder.model_id == reader.READER_BASE:
                try:
                    self._reader = reader.Reader.load()
                except Exception as e:  # a damaged model file: loud, and answers go on without it
                    self.reader_problem = str(e)
                    log.warning("answer reader unavailable: answering without it. %s", e)
        return self._reader

    @property
    def query_adapter(self) -> query_adapter.QueryAdapter:
        """The stored query adapter; loading raises query_adapter.QueryAdapterError (naming the file and
        the rebuild command) when a file is missing or corrupt."""
        if self._query_adapter is None:
            self._query_adapter = query_adapter.load()
        return self._query_adapter

    @query_adapter.setter
    def query_adapter(self, adapter: query_adapter.QueryAdapter | None) -> None:
        self._query_adapter = adapter

    @property
    def rerank_model(self) -> rerank.RerankModel:
        """The fitted reranker ("fitted" mode); loading it raises rerank.RerankModelError when its file is
        missing or corrupt, so a broken install is one clear error rather than a silent other ranking."""
        if self._rerank_model is None:
            self._rerank_model = rerank.load()
        return self._rerank_model

    @property
    def positions(self) -> dict[str, int]:
        """Passage id → position in the index (read-only; shared with core's state)."""
        return self._position

    def positions_of_doc(self, doc_id: str) -> np.ndarray:
        """Positions of one document's passages, in order."""
        return np.flatnonzero(self._doc == doc_id)

    def following_chunks(self, hit: Hit, n: int = 8) -> list:
        """The passages that follow ``hit`` in its document (for a list whose items are headings)."""
        return self._same_document(hit, 1, n)

    def preceding_chunks(self, hit: Hit, n: int = 8) -> list:
        """The passages before ``hit`` in its document, nearest first (a table that began there)."""
        return self._same_document(hit, -1, n)

    def _same_document(self, hit: Hit, step: int, n: int) -> list:
        """Up to ``n`` passages next to ``hit`` going ``step`` (1 on, -1 back), while they are of its document."""
        i = self._position.get(hit.id)
        if i is None:
            return []
        out = []
        for j in range(i + step, i + step * (n + 1), step):
            if not 0 <= j < len(self.index.chunks) or self.index.chunks[j].doc_id != hit.doc_id:
                break
            out.append(self.index.chunks[j])
        return out

    def query_vector(self, text: str) -> np.ndarray:
        """The embedder's query vector for ``text``, remembered for the last few questions (search
        and the answer model both need it)."""
        return self._remembered_query_vector(self.embedder, "_qvec_cache", text)

    def answer_query_vector(self, text: str) -> np.ndarray:
        """The answer encoder's query vector (the search embedder's when they are the same model)."""
        if self.answer_encoder is self.embedder:
            return self.query_vector(text)
        return self._remembered_query_vector(self.answer_encoder, "_aqvec_cache", text)

    @property
    def two_sided(self) -> bool:
        """Whether search orders passages with a separate search sentence encoder (then the answer side,
        ``search(side="answer")``, orders them differently)."""
        return self.search_encoder is not None and self.sentence_side()[0] is self.search_encoder

    def sentence_side(self, search: bool = True):
        """(encoder, sentence vectors) the sentence signal compares: for search, the search sentence
        encoder and its vectors when the index holds them (built with that encoder); otherwise, and for
        ``search=False``, the answer encoder and its vectors."""
        sv = getattr(self.index, "search_sentence_vectors", None)
        if search and self.search_encoder is not None and sv is not None and sv.model_id == self.search_encoder.model_id:
            return self.search_encoder, sv
        return self.answer_encoder, self.index.sentence_vectors

    def sentence_query_vector(self, text: str, adapted: bool | None = None, search: bool = True) -> np.ndarray:
        """The query vector the sentence signal compares (:meth:`sentence_side`'s encoder), through the
        query adapter when ``adapted`` (default: ``use_query_adapter``) and the adapter was fitted for
        that encoder (an adapter of another encoder is not applied)."""
        encoder, _ = self.sentence_side(search)
        if encoder is self.answer_encoder:
            q = self.answer_query_vector(text)
        else:
            q = self._remembered_query_vector(encoder, "_sqvec_cache", self.search_query_text(text))
        if not (self.use_query_adapter if adapted is None else adapted):
            return q
        adapter = self.query_adapter
        if adapter.encoder != encoder.model_id or adapter.W.shape[0] != len(q):
            return q
        return adapter.apply(q)

    def search_query_text(self, text: str, analysis: QueryAnalysis | None = None) -> str:
        """What the search sentence encoder reads for the question ``text``: the question followed by its
        strongest thesaurus expansions in parentheses (``SEARCH_EXPANSIONS``), or the question alone.
        ``analysis``: the question's analysis when the caller has it (``search`` passes it, so the
        question is not analysed twice); remembered for the last few questions."""
        if self.search_expansions <= 0:
            return text

        def expanded() -> str:
            qa = analysis if analysis is not None and analysis.text == text else self.analyze(text)
            return with_expansions(text, qa, self.search_expansions)

        return self._remembered("_search_text_cache", (text, self.search_expansions), expanded)

    def reader_query_text(self, text: str) -> str:
        """What the answer reader reads for the question ``text``: the question as asked, or with
        ``reader_expansions`` > 0 followed by its strongest expansions from the *curated* thesaurus
        (``Thesaurus.curated``: the domain file and Sudachi's synonyms, not the rules learnt for search);
        remembered for the last few questions. ``READER_EXPANSIONS`` says why the default is none."""
        if self.reader_expansions <= 0:
            return text

        def expanded() -> str:
            qa = analyze_query(text, self.thesaurus.curated(), self.neighbours, self.municipalities, self.index.doc_freq)
            return with_expansions(text, qa, self.reader_expansions)

        return self._remembered("_reader_text_cache", (text, self.reader_expansions), expanded)

    def _remembered_query_vector(self, encoder, cache_name: str, text: str) -> np.ndarray:
        return self._remembered(cache_name, text, lambda: encoder.encode_queries([text])[0])

    def _remembered(self, cache_name: str, key, make):
        """``make()`` for ``key``, remembered in the retriever's ``cache_name`` dict for the last few questions."""
        cache = self.__dict__.setdefault(cache_name, {})
        if key not in cache:
            if len(cache) > 256:
                cache.clear()
            cache[key] = make()
        return cache[key]

    def sentence_scores(self, text: str, adapted: bool | None = None, search: bool = True) -> np.ndarray | None:
        """Per passage, the highest cosine between the sentence encoder's query vector for ``text``
        and the passage's sentence vectors (:meth:`sentence_side`); ``None`` when the index has none of
        that encoder's, or when the answer encoder is the search embedder itself (only the separate
        sentence encoder, e5 beside chive-ja, was measured to help)."""
        encoder, sv = self.sentence_side(search)
        if self.answer_encoder is self.embedder or sv is None or sv.model_id != encoder.model_id:
            return None
        if len(sv.offsets) != len(self.index.chunks) + 1:
            return None
        n = len(self.index.chunks)
        out = np.zeros(n, dtype=np.float32)
        if len(sv.vectors) == 0:
            return out
        sims = sv.vectors @ np.asarray(self.sentence_query_vector(text, adapted, search), dtype=np.float32)
        starts = sv.offsets[:-1]
        has = sv.offsets[1:] > starts
        if has.any():
            out[has] = np.maximum.reduceat(sims, starts[has])
        return out

    def sentence_top2(self, text: str, positions: np.ndarray, adapted: bool | None = None) -> np.ndarray:
        """Second-best sentence cosine of each passage in ``positions`` (its best when it has one sentence)."""
        _, sv = self.sentence_side()
        q = np.asarray(self.sentence_query_vector(text, adapted), dtype=np.float32)
        out = np.zeros(len(positions), dtype=np.float32)
        for j, i in enumerate(positions):
            sims = sv.vectors[sv.offsets[i] : sv.offsets[i + 1]] @ q
            if len(sims):
                out[j] = np.sort(sims)[-2] if len(sims) > 1 else sims[0]
        return out

    def fitted_pool(self, qa: QueryAnalysis, bm25: np.ndarray, fused_order: np.ndarray, mask: np.ndarray, sent: np.ndarray, city: np.ndarray):
        """(pool positions, feature rows in ``rerank_model.features`` order, rows of every rerank.FEATURES
        column) for the fitted reranker; ``sent`` are the sentence scores of the vector the model was fitted
        on (adapted or not: ``rerank_model.query_adapter``)."""
        model = self.rerank_model
        pos = rerank.pool(fused_order, sent, mask, model.pool_fused, model.pool_sent, city if model.pool_city else None)
        skip = set(qa.municipalities) | {municipality_stem(m) for m in qa.municipalities}
        weights = rerank.term_weights(self.index, qa.words, skip)
        dense = np.zeros(len(self.index.chunks), dtype=np.float32)
        if self.dense_weight > 0 or "dense" in model.features:
            dense[pos] = self.index.dense_cosines(self.query_vector(qa.text), pos)
        second = np.zeros(len(self.index.chunks), dtype=np.float32)
        second[pos] = self.sentence_top2(qa.text, pos, model.query_adapter)
        X = rerank.features(self.index, pos, bm25=bm25, dense=dense, sent_best=sent, sent_second=second,
                            sent_max=float(sent[mask].max()), weights=weights, muni=city)
        cols = [rerank.FEATURES.index(f) for f in model.features]
        return pos, X[:, cols], X

    def analyze(self, query: str) -> QueryAnalysis:
        return analyze_query(query, self.thesaurus, self.neighbours, self.municipalities, self.index.doc_freq)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        municipality: str | None = None,
        doc_id: str | None = None,
        exclude_ids: set[str] | frozenset[str] = frozenset(),
        analysis: QueryAnalysis | None = None,
        side: str = "search",
    ) -> list[Hit]:
        """The ``k`` best passages. ``side="answer"``: ordered with the answer encoder's sentence vectors
        and the default rerank (no fitted pool: the reranker is fitted on the search encoder's) — the
        passages the answer model judges answerability on (:func:`answering.judging_hits`), as it was
        fitted; ``"search"`` (default): the search sentence encoder's vectors and the fitted pool."""
        if side not in ("search", "answer"):
            raise ValueError(f"side must be 'search' or 'answer', not {side!r}")
        chunks = self.index.chunks
        if not chunks or not query.strip():
            return []
        qa = analysis or self.analyze(query)
        n = len(chunks)
        filt = Filter(municipality=municipality or None, doc_id=doc_id or None,
                      exclude=frozenset(self._position[i] for i in exclude_ids if i in self._position))
        n_cand = min(n, max(CANDIDATES, 5 * k))
        alpha = self.dense_weight
        if alpha > 0:
            dense_top, dense_scores = self.index.dense_search(self.query_vector(qa.text), n_cand, filt)
        else:
            dense_top, dense_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # the backend returns BM25 of its top n_cand and of the dense side's candidates: the union
        # is the candidate set, every member with both scores (a side that did not find it: 0)
        cand, bm25_cand = self.index.sparse_search(list(qa.weighted_token_groups()), n_cand, filt, dense_top)
        if len(cand) == 0:
            return []
        bm25 = np.zeros(n, dtype=np.float32)
        bm25[cand] = bm25_cand
        dense = np.zeros(n, dtype=np.float32)
        dense[dense_top] = dense_scores
        mask = np.ones(n, dtype=bool)  # for the "fuse" mode's sentence candidates
        if municipality:
            mask &= self._muni_coded.equals(municipality)
        if doc_id:
            mask &= self._doc == doc_id
        if filt.exclude:
            mask[list(filt.exclude)] = False

        if self.search_encoder is not None:
            self.search_query_text(qa.text, qa)  # remembered: the sentence signal reads it without a second analysis
        beta = self.sentence_weight
        fitted = self.sentence_mode in ("fitted", "gated")
        # an English question compares across languages with the untouched answer encoder (the search
        # encoder's layers were fine-tuned on Japanese questions only)
        sent = self.sentence_scores(qa.text, search=side == "search" and not qa.latin) if (beta > 0 or fitted or qa.latin) else None
        fuse3 = sent is not None and self.sentence_mode == "fuse"
        if fuse3:
            sent_masked = np.where(mask, sent, -np.inf)
            sent_top = np.argpartition(-sent_masked, min(n_cand, n) - 1)[:n_cand]
            cand = np.unique(np.concatenate([cand, sent_top[mask[sent_top]]]).astype(np.int64))
            fused = (1 - alpha - beta) * _minmax(bm25[cand]) + alpha * _minmax(dense[cand]) + beta * _minmax(sent[cand])
        else:
            fused = (1 - alpha) * _minmax(bm25[cand]) + alpha * _minmax(dense[cand])
        city = self._city_factor(qa)
        fused = fused * city[cand]
        if qa.latin and sent is not None:
            return self._cross_lingual_hits(k, bm25, dense, cand, fused, mask, sent, city)
        if fitted and sent is not None and side == "search" and self._rerank_model_fits():
            gated = self.sentence_mode == "gated"
            try:
                hits = self._fitted_hits(qa, k, bm25, dense, cand, fused, mask, city, gated=gated)
            except BackendError:
                if not gated:
                    raise
                # a backend that could not score the whole pool (an approximate dense index on a Milvus
                # server may miss a passage): this question gets the default rerank, the mode asked for
                # explicitly ("fitted") stays an error
                hits = None
            if hits is not None:
                return hits
        ranking = fused
        if sent is not None and not fuse3:
            # rerank the head: the sentence signal (min–max over the head) counts beta; below the head it
            # counts 0. Hit.score is this ranking score; Hit.fused keeps the BM25 + dense fusion, which
            # the answer model's features (fitted before the rerank) read.
            top = np.argsort(-fused, kind="stable")[: self.rerank_n]
            ranking = (1 - beta) * fused
            ranking[top] = (1 - beta) * fused[top] + beta * _minmax(sent[cand[top]])
        order = np.argsort(-ranking, kind="stable")[:k]
        return [
            Hit(chunk=chunks[int(cand[i])], score=float(ranking[i]), fused=float(fused[i]), bm25=float(bm25[cand[i]]), dense=float(dense[cand[i]]), rank=r + 1)
            for r, i in enumerate(order)
        ]

    def _rerank_model_fits(self) -> bool:
        """Whether the fitted reranker was fitted on the sentence vectors search compares now. Not when the
        search sentence encoder is unavailable (its vectors missing from the index, or the model failed to
        load: said in health()): then the default rerank orders every question, and the log says so once."""
        encoder = self.sentence_side()[0]
        if self.rerank_model.answer_encoder == encoder.model_id:
            return True
        if not self.__dict__.get("_said_unfit"):
            self._said_unfit = True
            log.warning("the pool reranker was fitted on %s's sentence vectors, search compares %s's: the default "
                        "rerank orders passages (refit: python scripts/fit_rerank_model.py --write)",
                        self.rerank_model.answer_encoder, encoder.model_id)
        return False

    def _city_factor(self, qa: QueryAnalysis) -> np.ndarray:
        """Per passage: 1, or when the question names a city, 1 for that city's passages, UNKNOWN_CITY_FACTOR
        for passages of unknown city and OTHER_CITY_FACTOR for other cities'."""
        out = np.ones(len(self.index.chunks), dtype=np.float32)
        if qa.municipalities and len(self.municipalities) > 1:
            factor = {"不明": UNKNOWN_CITY_FACTOR} | {m: 1.0 for m in qa.municipalities}
            out = self._muni_coded.table(factor, default=OTHER_CITY_FACTOR, dtype=np.float32)
        return out

    def _cross_lingual_hits(self, k, bm25, dense, cand, fused, mask, sent, city) -> list[Hit]:
        """An English question: BM25 and the bag-of-words model see no shared word, while the multilingual
        answer encoder (e5) compares meaning across languages, so passages rank by their best sentence
        cosine (times the city factor). docs/BENCHMARKS.md §9.2: R@5 on eval/english_qa.jsonl's tune split
        0.15 → 0.69.
        ``Hit.score`` is that product; ``Hit.fused`` the BM25 + dense fusion (0 outside its candidates)."""
        chunks = self.index.chunks
        fused_all = np.zeros(len(chunks), dtype=np.float32)
        fused_all[cand] = fused
        score = np.where(mask, sent * city, -np.inf)
        order = np.argsort(-score, kind="stable")[: min(k, int(mask.sum()))]
        return [
            Hit(chunk=chunks[int(i)], score=float(score[i]), fused=float(fused_all[i]), bm25=float(bm25[i]), dense=float(dense[i]), rank=r + 1)
            for r, i in enumerate(order)
        ]

    def _fitted_hits(self, qa, k, bm25, dense, cand, fused, mask, city, gated: bool = False) -> list[Hit] | None:
        """The fitted reranker's order: the pool first by model score, then the rest of the fusion; ``None``
        when ``gated`` and the question is lexically strong (the pool's best word coverage reaches the
        model's ``gate_cov``), so that the default sentence rerank orders it.

        ``Hit.score`` is in (0, 1]: within the pool ``exp(s - s_best)`` of the model score ``s`` (1 for the first);
        below the pool the fused score times the pool's lowest, so ranks stay sorted by score. ``Hit.fused``
        keeps the BM25 + dense fusion (0 for a passage only the sentence vectors brought in)."""
        chunks = self.index.chunks
        fused_all = np.zeros(len(chunks), dtype=np.float32)
        fused_all[cand] = fused
        order_f = cand[np.argsort(-fused, kind="stable")]
        sent = self.sentence_scores(qa.text, adapted=self.rerank_model.query_adapter)
        pos, X, X_all = self.fitted_pool(qa, bm25, order_f, mask, sent, city)
        if gated and self.rerank_model.gated_out(X_all):
            return None
        s = self.rerank_model.scores(X)
        rel = np.exp(s - s.max())
        order = np.argsort(-s, kind="stable")
        ranked = [(int(pos[j]), float(rel[j])) for j in order]
        floor = float(rel.min()) if len(rel) else 1.0
        in_pool = set(int(i) for i in pos)
        ranked += [(int(i), float(fused_all[i]) * floor) for i in order_f if int(i) not in in_pool]
        return [
            Hit(chunk=chunks[i], score=sc, fused=float(fused_all[i]), bm25=float(bm25[i]), dense=float(dense[i]), rank=r + 1)
            for r, (i, sc) in enumerate(ranked[:k])
        ]


def _minmax(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-9:
        return np.ones_like(x) if hi > 0 else np.zeros_like(x)
    return (x - lo) / (hi - lo)

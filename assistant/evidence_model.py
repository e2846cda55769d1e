"""Sentence vectors and the calibrated answer model: which sentence answers, and whether any does.

Two small logistic models combine the sentence encoder's judgement with lexical evidence:

* the **sentence model** scores every sentence of the top passages (cosine between the question and
  the sentence *in context* — its section heading, and the sentence before it when it is a list
  item or a fragment — plus the passage's cosine and fused rank, IDF-weighted coverage of the
  question's words, character-bigram overlap, whether it has what the question type asks for);
* the **answerability model** turns question-level evidence (the best sentence score, the best
  cosines, coverage …) into a probability that the plans answer the question; below the fitted
  threshold the assistant refuses.

Both are fitted by ``scripts/fit_answer_model.py`` and stored with their data hashes and threshold
in ``assistant/data/answer_model.json``, one entry per embedding model (the cosines of different
models are not comparable). A model without an entry gets the *lexical* entry, fitted on the same
data without any cosine feature, and a log line saying so — never another model's threshold.

Sentence vectors are computed at index build time (``sentences.npz`` in the build directory), keyed
in the embedding cache by the hash of the exact text embedded, so unchanged text is never
re-embedded.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from . import japanese

log = logging.getLogger(__name__)

SENTENCES_FILE = "sentences.npz"
SEARCH_SENTENCES_FILE = "sentences-search.npz"  # the search sentence encoder's vectors (index.SearchIndex)
# Bump when sentence_context() changes what is embedded (part of the index settings: a change rebuilds).
SENTENCE_CONTEXT_VERSION = "1"
LEXICAL = "lexical"
# Sentence-model features: each needs the cosine features only when the entry lists them.
SENTENCE_FEATURES = ["cos", "cos_rel", "pcos", "fused", "inv_rank", "cov", "cov_ctx", "bigram", "type", "heading", "row_other", "intro", "names_city", "prior", "sec_action", "sec_status", "item"]
# The chooser (optional): the sentence features plus the fine-tuned search encoder's sentence cosine,
# ordering the search side's candidates for the answer. Never an answerability input (see AnswerModel).
CHOOSER_FEATURES = SENTENCE_FEATURES + ["scos", "scos_rel"]
QUESTION_FEATURES = ["s_best", "s_second", "cos_max", "cos_gap", "pcos_max", "cov_sent", "cov_pass", "bigram_max", "absent", "type_miss", "miss_max", "near_q", "detail_asked", "detail_miss", "detail_gap", "q_len", "bigram_len"]
# how data/answer_model.json is rebuilt (named in the warning when a stored entry no longer fits the encoder)
REFIT_COMMAND = ("python scripts/fit_answer_model.py --write && python scripts/fit_answer_model.py --lexical --write"
                 " && python scripts/fit_answer_model.py --reader --write")
# asked-detail evidence (answering.detail_features); scripts/fit_answer_model.py --no-detail leaves them out
DETAIL_FEATURES = {"detail_asked", "detail_miss", "detail_gap"}
# the answer reader's features (assistant/reader.py): its logit for a candidate the first stage picked
# (``ReaderUse``), else READER_FLOOR; that minus the question's best; and the best, for answerability
READER_FEATURES = ["reader", "reader_rel"]
READER_QUESTION_FEATURES = ["reader_max"]
READER_FLOOR = -6.5  # below the reader's 1st percentile: "not read", never mistaken for a read candidate
# the entry fitted with the reader's features is keyed by the answer encoder's id and this suffix
READER_SUFFIX = "+reader"
COSINE_FEATURES = {"cos", "cos_rel", "pcos", "cos_max", "cos_gap", "pcos_max", "near_q"}

_ITEM_RE = re.compile(r"^(?:[・●○◆◇■□▪\-\*]|[①-⑳]|[(（][ア-ンァ-ヶ一二三四五六七八九十\d]+[)）]|[ア-ン][.．])")


def sentence_context(section: list[str], sentences: list[str], pos: int) -> str:
    """What the encoder sees for sentence ``pos``: its nearest heading, and the sentence before it
    when this one cannot stand alone (a list item, a fragment, a table row), since 「・相談窓口の設置」
    means little without 「市民活動を次のとおり支援します。」."""
    sent = sentences[pos]
    head = section[-1] if section else ""
    parts = [head] if head and japanese.compact(head) not in japanese.compact(sent) else []
    if pos > 0 and (_ITEM_RE.match(sent.strip()) or len(japanese.compact(sent)) < 25 or " / " in sent):
        prev = sentences[pos - 1]
        if len(prev) < 120:
            parts.append(prev)
    parts.append(sent)
    return "\n".join(parts)


def chunk_sentence_texts(chunk) -> list[str]:
    sents = japanese.split_sentences(chunk.text)
    return [sentence_context(list(chunk.section), sents, i) for i in range(len(sents))]


# --- vectors ---------------------------------------------------------------------------------


@dataclass
class SentenceVectors:
    """Per passage, one row per sentence of ``split_sentences(chunk.text)`` (same order)."""

    offsets: np.ndarray  # [n_chunks + 1]
    vectors: np.ndarray  # [n_sentences, dim], L2-normalized
    model_id: str

    def for_chunk(self, i: int) -> np.ndarray:
        return self.vectors[self.offsets[i] : self.offsets[i + 1]]

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, offsets=self.offsets, vectors=self.vectors.astype(np.float16), model_id=np.array(self.model_id))

    @classmethod
    def load(cls, path: Path) -> "SentenceVectors | None":
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return cls(offsets=z["offsets"].astype(np.int64), vectors=z["vectors"].astype(np.float32), model_id=str(z["model_id"]))


def embed_sentences(chunks, embedder, cache, progress: bool = False) -> SentenceVectors:
    """Sentence vectors for ``chunks`` through ``cache`` (an ``index.EmbeddingCache``)."""
    return embed_sentence_sets(chunks, [(embedder, cache)], progress)[0]


def embed_sentence_sets(chunks, sides: list[tuple], progress: bool = False) -> list[SentenceVectors]:
    """Sentence vectors for ``chunks`` by each (embedder, cache) of ``sides``, each through its cache.

    Two embedders whose models share their lower layers (the answer encoder and its search overlay:
    ``Embedder.encode_passages_pair``) embed the sentences both lack in one pass, running those layers once
    (a cold build of the bundled corpus: BENCHMARKS §9.20); the vectors are the same as one by one."""
    texts: list[str] = []
    offsets = [0]
    for c in chunks:
        texts.extend(chunk_sentence_texts(c))
        offsets.append(len(texts))
    plans = [_sentence_plan(texts, embedder, cache) for embedder, cache in sides]
    if len(sides) == 2 and plans[0][1] and plans[1][1]:
        (first, _c1), (second, _c2) = sides
        second_needs = set(plans[1][1].values())
        both = [t for t in dict.fromkeys(plans[0][1].values()) if t in second_needs]
        pair = first.encode_passages_pair(second, both, show_progress=progress) if both else None
        if pair is not None:
            for (embedder, cache), (_keys, todo), vecs in zip(sides, plans, pair):
                row = dict(zip(both, vecs))
                for k, t in todo.items():
                    if t in row:
                        cache.vectors[k] = row[t]
    out = []
    for (embedder, cache), (keys, todo) in zip(sides, plans):
        missing = {k: t for k, t in todo.items() if k not in cache.vectors}
        if missing:
            new = embedder.encode_passages(list(missing.values()), show_progress=progress)
            for k, v in zip(missing, new):
                cache.vectors[k] = np.asarray(v, dtype=np.float32)
        dim = int(embedder.dim)
        vecs = np.stack([cache.vectors[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, dim), np.float32)
        sv = SentenceVectors(offsets=np.asarray(offsets, dtype=np.int64), vectors=vecs, model_id=embedder.model_id)
        sv.n_new = len(todo)  # type: ignore[attr-defined]
        sv.keys = keys  # type: ignore[attr-defined]
        out.append(sv)
    return out


def _sentence_plan(texts: list[str], embedder, cache) -> tuple[list[str], dict[str, str]]:
    """(cache key of every text, {key: text} of those the cache lacks) for one embedder."""
    from .index import text_hash

    keys = [text_hash("sentence\0" + embedder.passage_prefix + t) for t in texts]
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts):
        if k not in cache.vectors:
            todo.setdefault(k, t)
    return keys, todo


# --- the fitted models -----------------------------------------------------------------------


@dataclass
class Logistic:
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def logit(self, x: dict[str, float]) -> float:
        z = self.intercept
        for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            z += c * (float(x.get(f, 0.0)) - m) / (s or 1.0)
        return z

    def prob(self, x: dict[str, float]) -> float:
        z = self.logit(x)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def from_dict(cls, d: dict) -> "Logistic":
        return cls(d["features"], d["mean"], d["scale"], d["coef"], float(d["intercept"]))


@dataclass
class QuestionBank:
    """The training questions' encoder vectors with their label (answerable or out of scope).

    ``nearness(q)``: mean cosine of ``q`` to its ``k`` nearest answerable training questions minus
    that to its ``k`` nearest out-of-scope ones. Everyday city-service questions (ごみ, 税, 手続き …)
    resemble each other more than any sentence of the plans resembles them, so this says what kind
    of question it is, which sentence cosines alone do not."""

    vectors: np.ndarray  # [n, dim], L2-normalized
    answerable: np.ndarray  # [n] bool
    k: int = 3

    def nearness(self, q: np.ndarray) -> float:
        sims = self.vectors @ np.asarray(q, dtype=np.float32)
        pos, neg = np.sort(sims[self.answerable])[::-1], np.sort(sims[~self.answerable])[::-1]
        if not len(pos) or not len(neg):
            return 0.0
        return float(pos[: self.k].mean() - neg[: self.k].mean())

    def to_dict(self) -> dict:
        return {"k": self.k, "answerable": self.answerable.astype(int).tolist(),
                "vectors_f16_b64": base64.b64encode(self.vectors.astype("<f2").tobytes()).decode("ascii"),
                "dim": int(self.vectors.shape[1])}

    @classmethod
    def from_dict(cls, d: dict) -> "QuestionBank":
        vec = np.frombuffer(base64.b64decode(d["vectors_f16_b64"]), dtype="<f2").astype(np.float32).reshape(-1, int(d["dim"]))
        return cls(vectors=vec, answerable=np.asarray(d["answerable"], dtype=bool), k=int(d.get("k", 3)))


@dataclass
class ReaderUse:
    """How an entry fitted with the reader's features uses it: the ``k`` candidates of the judging side that
    its first stage (``sentence``: its sentence model fitted without the reader's features) ranks highest
    are read, and the ``search_k`` the entry's chooser puts first on the search side (the passages the answer
    is composed from; their reads count only in ``reader_max``); ``weights_id`` names the reader's weights
    it was fitted with (the model file's sha256)."""

    k: int
    floor: float
    sentence: Logistic
    weights_id: str
    search_k: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "ReaderUse":
        return cls(int(d["k"]), float(d.get("floor", READER_FLOOR)), Logistic.from_dict(d["sentence"]), str(d["weights_id"]),
                   int(d.get("search_k", 0)))


@dataclass
class AnswerModel:
    key: str  # the embedding model id it was fitted for, or LEXICAL
    sentence: Logistic
    answerable: Logistic
    threshold: float  # refuse below this answerability probability
    hedge: float  # between threshold and this, hedge the answer
    info: dict
    # other sentences join the best one when their score is at least this share of the best's
    keep_ratio: float = 0.75
    # "model": the sentence model orders candidates; "prior": the hand-weighted lexical score does
    # (the sentence model then only feeds the answerability model); "blend": their sum, see below —
    # whichever composed answers holding the asked fact most often, out of fold
    choice: str = "prior"
    # "blend": score = hand-weighted score + blend × sentence-model probability (both fitted out of fold)
    blend: float = 0.0
    bank: QuestionBank | None = None
    # orders the answer's candidate sentences when the index holds the search encoder's sentence vectors:
    # that encoder picks the answering sentence far more often than the untouched one (out of fold, first
    # choice 0.61 vs 0.34 alone) but would make everyday questions look answered, so it only orders
    chooser: Logistic | None = None
    # the answer reader's use (an entry keyed ``<encoder id>+reader``), None for an entry without it
    reader: ReaderUse | None = None

    @property
    def uses_cosines(self) -> bool:
        return bool(COSINE_FEATURES & set(self.sentence.features + self.answerable.features))


def _model_file() -> dict:
    try:
        return json.loads((resources.files("assistant") / "data" / "answer_model.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


_CACHE: dict[str, AnswerModel | None] = {}


def lexical() -> AnswerModel | None:
    """The model-independent entry (no cosine features)."""
    return for_embedder(LEXICAL)


def for_embedder(model_id: str) -> AnswerModel | None:
    """The fitted model for this embedding model; else the lexical one, with a warning; else None."""
    if model_id in _CACHE:
        return _CACHE[model_id]
    entries = _model_file().get("models", {})
    entry = entries.get(model_id)
    key = model_id
    if entry is None and model_id != LEXICAL:
        entry, key = entries.get(LEXICAL), LEXICAL
        if entry is not None:
            log.warning(
                "no answer model fitted for embedder %s: using the lexical-only model (no cosine evidence; "
                "run scripts/fit_answer_model.py --model %s to fit one)", model_id, model_id,
            )
    model = None
    if entry is not None and entry.get("use") == "legacy-evidence":
        model = None  # this embedder keeps answering.evidence() and its own calibrated threshold
    elif entry is not None:
        model = AnswerModel(
            key=key,
            sentence=Logistic.from_dict(entry["sentence"]),
            answerable=Logistic.from_dict(entry["answerable"]),
            threshold=float(entry["threshold"]),
            hedge=float(entry.get("hedge", entry["threshold"])),
            info={k: v for k, v in entry.items() if k not in ("sentence", "answerable", "bank", "chooser", "reader")},
            keep_ratio=float(entry.get("keep_ratio", 0.75)),
            choice=entry.get("choice", "prior"),
            blend=float(entry.get("blend", 0.0)),
            bank=QuestionBank.from_dict(entry["bank"]) if entry.get("bank") else None,
            chooser=Logistic.from_dict(entry["chooser"]) if entry.get("chooser") else None,
            reader=ReaderUse.from_dict(entry["reader"]) if entry.get("reader") else None,
        )
    _CACHE[model_id] = model
    return model


def has_entry(key: str) -> bool:
    """Whether the answer model file holds an entry under ``key`` (no fallback, no warning)."""
    return key in _model_file().get("models", {})


def clear_cache() -> None:
    _CACHE.clear()

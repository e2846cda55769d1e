"""A fitted reranker over a wider candidate pool: the head of the search decided by data, not hand weights.

Why: the BM25 + dense fusion leaves the passage of many paraphrased questions outside its top 10,
where a rerank of the head cannot reach it; the answer encoder's sentence vectors (e5, one vector per
sentence in ``sentences.npz``) find some of those passages on their own. So the *pool* is the union of
the fusion's top ``POOL_FUSED`` and the ``POOL_SENT`` passages holding the sentences nearest to the
question, and a small **pairwise logistic model** orders the pool from per-candidate features:

* ``bm25`` — weighted BM25 score divided by the query's best (exact names and numbers),
* ``dense`` — the search embedder's cosine,
* ``sent_gap`` — the passage's best sentence cosine minus the best over the whole corpus,
* ``sent2`` — its second-best sentence cosine (a passage that answers usually has two close sentences),
* ``cov`` / ``hcov`` — IDF-weighted share of the question's own words found in the passage (with its
  title and section path) / in the title and section path alone,
* ``muni`` — the city factor (1 named or no city asked, 0.8 unknown city, 0.4 another city),
* ``weak_gap`` / ``weak_sent2`` — ``sent_gap`` / ``sent2`` times (1 − the pool's best ``cov``): a gate, so
  the sentence cosines can count for a question whose words no passage holds (a paraphrase) and little
  for one whose wording a passage repeats (measured in docs/BENCHMARKS.md §9.4).

The coefficients are fitted by ``scripts/fit_rerank_model.py`` on the tune split of the plan QA set and
the dev set (never the test split) and stored with out-of-fold figures and data hashes in
``assistant/data/rerank_model.json``. This module knows the index and the query analysis only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from . import japanese

FEATURES = ["bm25", "dense", "sent_gap", "sent2", "cov", "hcov", "muni", "weak_gap", "weak_sent2"]
POOL_FUSED = 30
POOL_SENT = 10
MODEL_FILE = "rerank_model.json"
REFIT_COMMAND = "python scripts/fit_rerank_model.py --write"


class RerankModelError(RuntimeError):
    """The reranker's coefficients file is missing or unusable."""


@dataclass
class RerankModel:
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    search_model: str  # the search embedder whose cosines ``dense`` was fitted on
    answer_encoder: str  # the sentence encoder whose cosines ``sent_*`` were fitted on
    pool_fused: int = POOL_FUSED
    pool_sent: int = POOL_SENT
    info: dict = field(default_factory=dict)
    # "gated" search mode: the model orders the pool only when the pool's best ``cov`` is below this
    # (a lexically weak question); otherwise the default sentence rerank stands. None: always the model.
    gate_cov: float | None = None
    # whether the ``sent_*`` features were fitted on the query adapter's vector (query_adapter.py)
    query_adapter: bool = False
    # whether the pool's sentence side takes the passages with the best sentence cosine *times the city
    # factor* (a question naming 長門市 draws its nearest sentences from 長門市's plans first) instead of
    # the best raw cosine (docs/BENCHMARKS.md §9.11)
    pool_city: bool = False
    # whether the coefficients also weigh the pairwise products of the standardized features (``crossed``):
    # a linear order cannot let one signal count only when another is high (docs/BENCHMARKS.md §9.13)
    crosses: bool = False

    def gated_out(self, X_all: np.ndarray) -> bool:
        """True when the gate sends this question back to the default order (``X_all``: every FEATURES column)."""
        if self.gate_cov is None or len(X_all) == 0:
            return False
        return float(X_all[:, FEATURES.index("cov")].max()) >= self.gate_cov

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Pairwise-logistic scores (higher ranks first; only differences within one query mean anything)."""
        Z = (X - self.mean) / self.scale
        return (crossed(Z) if self.crosses else Z) @ self.coef

    def to_dict(self) -> dict:
        return {
            "features": self.features, "mean": [float(x) for x in self.mean], "scale": [float(x) for x in self.scale],
            "coef": [float(x) for x in self.coef], "search_model": self.search_model, "answer_encoder": self.answer_encoder,
            "pool_fused": self.pool_fused, "pool_sent": self.pool_sent, "gate_cov": self.gate_cov,
            "query_adapter": self.query_adapter, "pool_city": self.pool_city, "crosses": self.crosses, **self.info,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RerankModel":
        feats = list(d["features"])
        unknown = set(feats) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        crosses = d.get("crosses", False)
        if not isinstance(crosses, bool):
            raise ValueError(f"crosses must be true or false, not {crosses!r}")
        n_coef = n_crossed(len(feats)) if crosses else len(feats)
        if (any(a.shape != (len(feats),) for a in arrays[:2]) or arrays[2].shape != (n_coef,)
                or not all(np.all(np.isfinite(a)) for a in arrays) or np.any(arrays[1] <= 0)):
            raise ValueError(f"mean/scale must be finite, one per feature, scales positive; coef finite, {n_coef} of them")
        gate = d.get("gate_cov")
        if gate is not None and not (isinstance(gate, (int, float)) and math.isfinite(gate)):
            raise ValueError(f"gate_cov must be a number or null, not {gate!r}")
        keys = ("features", "mean", "scale", "coef", "search_model", "answer_encoder", "pool_fused", "pool_sent", "gate_cov", "query_adapter",
                "pool_city", "crosses")
        info = {k: v for k, v in d.items() if k not in keys}
        return cls(feats, *arrays, str(d["search_model"]), str(d["answer_encoder"]), int(d.get("pool_fused", POOL_FUSED)),
                   int(d.get("pool_sent", POOL_SENT)), info, None if gate is None else float(gate), bool(d.get("query_adapter", False)),
                   bool(d.get("pool_city", False)), crosses)


def crossed(Z: np.ndarray) -> np.ndarray:
    """The standardized feature rows ``Z`` followed by the product of every pair of columns i ≤ j (squares
    included), in a fixed order: a quadratic score that is still one coefficient vector."""
    n = Z.shape[1]
    i, j = np.triu_indices(n)
    return np.hstack([Z, Z[:, i] * Z[:, j]])


def n_crossed(n: int) -> int:
    """How many columns ``crossed`` gives ``n`` features."""
    return n + n * (n + 1) // 2


def default_path() -> Path:
    return Path(str(resources.files("assistant") / "data" / MODEL_FILE))


def load(path: Path | str | None = None) -> RerankModel:
    """The stored reranker; a missing or corrupt file is one error naming the file and the refit command."""
    path = Path(path) if path else default_path()
    try:
        return RerankModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise RerankModelError(f"reranker coefficients not found: {path} — rebuild with `{REFIT_COMMAND}`") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RerankModelError(f"reranker coefficients unreadable: {path} ({e}) — rebuild with `{REFIT_COMMAND}`") from None


def pool(fused_order: np.ndarray, sent_best: np.ndarray, allowed: np.ndarray, n_fused: int, n_sent: int,
         city: np.ndarray | None = None) -> np.ndarray:
    """Candidate positions: the fusion's top ``n_fused`` (already filtered, best first) ∪ the ``n_sent``
    allowed passages with the best sentence cosine (times ``city``, the per-passage city factor, when given)."""
    s = np.where(allowed, sent_best if city is None else sent_best * city, -np.inf)
    k = min(n_sent, int(allowed.sum()))
    near = np.argsort(-s, kind="stable")[:k] if k else np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([fused_order[:n_fused], near]).astype(np.int64))


def term_weights(index, words: list[str], skip: set[str]) -> dict[str, float]:
    """IDF of the question's own content words (a word no passage uses weighs most)."""
    n = max(len(index.chunks), 1)
    out: dict[str, float] = {}
    for w in dict.fromkeys(words):
        if not w or w in skip:
            continue
        df = index.doc_freq(w)
        out[w] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return out


def features(
    index, cand: np.ndarray, *, bm25: np.ndarray, dense: np.ndarray, sent_best: np.ndarray, sent_second: np.ndarray,
    sent_max: float, weights: dict[str, float], muni: np.ndarray,
) -> np.ndarray:
    """One row of FEATURES per candidate position in ``cand`` (arrays other than ``cand`` are per passage)."""
    total = sum(weights.values())
    top = float(bm25.max()) if len(bm25) else 0.0
    rows = []
    for i in cand:
        c = index.chunks[int(i)]
        if total > 0:
            body = _body(index, int(i))
            head = _heading(c)
            cov = sum(wt for w, wt in weights.items() if w.lower() in body) / total
            hcov = sum(wt for w, wt in weights.items() if w.lower() in head) / total
        else:
            cov = hcov = 0.0
        rows.append({
            "bm25": float(bm25[i]) / top if top > 0 else 0.0, "dense": float(dense[i]), "sent_gap": float(sent_best[i]) - sent_max,
            "sent2": float(sent_second[i]), "cov": cov, "hcov": hcov, "muni": float(muni[i]),
        })
    weak = 1.0 - max((r["cov"] for r in rows), default=0.0)
    for r in rows:
        r["weak_gap"], r["weak_sent2"] = weak * r["sent_gap"], weak * r["sent2"]
    return np.array([[r[f] for f in FEATURES] for r in rows], dtype=np.float64).reshape(len(rows), len(FEATURES))


def _body(index, i: int) -> str:
    """The passage as BM25 indexed it (title, section path, text), compacted and lower-cased: the local
    index's cached copy, or computed from the passage on a backend without one (Milvus)."""
    own = getattr(index, "_compact", None)
    if own is not None:
        return own(i)
    from .index import index_text

    return japanese.compact(index_text(index.chunks[i])).lower()


def _heading(chunk) -> str:
    return japanese.compact(chunk.title + "".join(chunk.section)).lower()

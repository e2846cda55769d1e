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
    # a linear order cannot let one signal count only when another is high (docs/BENCHMARKS.md §9.17)
    crosses: bool = False
    # a boosted-tree ensemble (``Trees``) over the features and their gaps to the pool's best
    # (``pool_relative``): when set it scores the pool and mean / scale / coef are unused
    trees: "Trees | None" = None

    def gated_out(self, X_all: np.ndarray) -> bool:
        """True when the gate sends this question back to the default order (``X_all``: every FEATURES column)."""
        if self.gate_cov is None or len(X_all) == 0:
            return False
        return float(X_all[:, FEATURES.index("cov")].max()) >= self.gate_cov

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Scores of one pool's rows (higher ranks first; only differences within one query mean anything)."""
        if self.trees is not None:
            return self.trees.decision(pool_relative(X))
        Z = (X - self.mean) / self.scale
        return (crossed(Z) if self.crosses else Z) @ self.coef

    def to_dict(self) -> dict:
        return {
            "features": self.features, "mean": [float(x) for x in self.mean], "scale": [float(x) for x in self.scale],
            "coef": [float(x) for x in self.coef], "search_model": self.search_model, "answer_encoder": self.answer_encoder,
            "pool_fused": self.pool_fused, "pool_sent": self.pool_sent, "gate_cov": self.gate_cov,
            "query_adapter": self.query_adapter, "pool_city": self.pool_city, "crosses": self.crosses,
            **({"trees": self.trees.to_dict()} if self.trees is not None else {}), **self.info,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RerankModel":
        feats = list(d["features"])
        unknown = set(feats) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        trees = Trees.from_dict(d["trees"], 2 * len(feats)) if d.get("trees") is not None else None
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
                "pool_city", "crosses", "trees")
        info = {k: v for k, v in d.items() if k not in keys}
        return cls(feats, *arrays, str(d["search_model"]), str(d["answer_encoder"]), int(d.get("pool_fused", POOL_FUSED)),
                   int(d.get("pool_sent", POOL_SENT)), info, None if gate is None else float(gate), bool(d.get("query_adapter", False)),
                   bool(d.get("pool_city", False)), crosses, trees)


def pool_relative(X: np.ndarray) -> np.ndarray:
    """Each feature row followed by its gaps to the pool's best per feature: a pointwise model then sees
    where a candidate stands within its own question's pool (a pairwise fit gets that from differences)."""
    X = np.asarray(X, dtype=np.float64)
    return np.hstack([X, X - X.max(0)]) if len(X) else np.zeros((0, 2 * X.shape[1]))


@dataclass
class Trees:
    """A boosted ensemble of binary regression trees, stored as arrays per tree and evaluated with numpy
    (fitted by scikit-learn's HistGradientBoostingClassifier in scripts/fit_rerank_model.py; the product
    needs no scikit-learn). A row goes left at a node when its value of ``feature`` is ≤ ``threshold``
    (a NaN goes where ``missing_left`` says); the score is ``baseline`` plus the leaves' values."""

    baseline: float
    nodes: list[dict[str, np.ndarray]]  # per tree: feature, threshold, left, right, leaf, value, missing_left

    FIELDS = ("feature", "threshold", "left", "right", "leaf", "value", "missing_left")

    def __post_init__(self) -> None:
        # every tree padded to the largest node count, stacked (trees × nodes): all trees step together,
        # one numpy operation per level instead of one per tree and level (~0.5 ms for a 40-passage pool)
        width = max(len(t["leaf"]) for t in self.nodes)

        def stack(key, fill):
            return np.stack([np.r_[t[key], np.full(width - len(t[key]), fill, dtype=t[key].dtype)] for t in self.nodes])

        flat = {k: stack(k, True if k == "leaf" else 0).ravel() for k in self.FIELDS}
        base = (np.arange(len(self.nodes)) * width)[:, None]
        # children as flat indices; a NaN goes left or right by the node's own flag
        self._feature, self._threshold, self._leaf, self._value = flat["feature"], flat["threshold"], flat["leaf"], flat["value"]
        self._left = (flat["left"].reshape(len(self.nodes), width) + base).ravel()
        self._right = (flat["right"].reshape(len(self.nodes), width) + base).ravel()
        self._nan_child = np.where(flat["missing_left"], self._left, self._right)
        self._roots = base
        self._depth = max(_depth(t) for t in self.nodes)

    def decision(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        node = np.repeat(self._roots, n, axis=1)  # trees × rows, flat node indices
        cols = np.arange(n)[None, :] * X.shape[1] if n else np.zeros((1, 0), dtype=np.int64)
        Xf = X.ravel()
        for _ in range(self._depth):
            x = Xf[cols + self._feature[node]]
            step = np.where(x <= self._threshold[node], self._left[node], self._right[node])
            step = np.where(np.isnan(x), self._nan_child[node], step)
            node = np.where(self._leaf[node], node, step)
        return self.baseline + self._value[node].sum(0)

    def to_dict(self) -> dict:
        return {"baseline": self.baseline, "nodes": [{k: t[k].tolist() for k in self.FIELDS} for t in self.nodes]}

    @classmethod
    def from_dict(cls, d: dict, n_columns: int) -> "Trees":
        """Arrays checked for shape, finiteness and that every child and feature index is in range."""
        baseline = d["baseline"]
        if not (isinstance(baseline, (int, float)) and math.isfinite(baseline)):
            raise ValueError(f"trees.baseline must be a number, not {baseline!r}")
        types = {"feature": np.int64, "threshold": np.float64, "left": np.int64, "right": np.int64, "leaf": bool,
                 "value": np.float64, "missing_left": bool}
        nodes = []
        for t in d["nodes"]:
            a = {k: np.asarray(t[k], dtype=types[k]) for k in cls.FIELDS}
            n = len(a["leaf"])
            inner = ~a["leaf"]
            if (n == 0 or any(v.shape != (n,) for v in a.values()) or not np.all(np.isfinite(a["value"]))
                    or not np.all(np.isfinite(a["threshold"][inner]))
                    or np.any((a["feature"][inner] < 0) | (a["feature"][inner] >= n_columns))
                    or np.any((a["left"][inner] <= 0) | (a["left"][inner] >= n) | (a["right"][inner] <= 0) | (a["right"][inner] >= n))):
                raise ValueError("trees: every node array one entry per node; finite values; child and feature indices in range")
            nodes.append(a)
        return cls(float(baseline), nodes)

    @classmethod
    def from_sklearn(cls, model) -> "Trees":
        """The ensemble of a fitted binary HistGradientBoostingClassifier (its decision_function)."""
        nodes = []
        for (pred,) in model._predictors:
            nd = pred.nodes
            nodes.append({"feature": nd["feature_idx"].astype(np.int64), "threshold": nd["num_threshold"].astype(np.float64),
                          "left": nd["left"].astype(np.int64), "right": nd["right"].astype(np.int64), "leaf": nd["is_leaf"].astype(bool),
                          "value": nd["value"].astype(np.float64), "missing_left": nd["missing_go_to_left"].astype(bool)})
        return cls(float(np.ravel(model._baseline_prediction)[0]), nodes)


def _depth(t: dict[str, np.ndarray]) -> int:
    """Levels below the root of one tree (0 for a single leaf); a child index that loops back is an error."""
    depth, level, seen = 0, [0], 0
    while True:
        inner = [i for i in level if not t["leaf"][i]]
        if not inner:
            return depth
        seen += len(inner)
        if seen > len(t["leaf"]):
            raise ValueError("trees: a node's children lead back to it")
        level = [int(c) for i in inner for c in (t["left"][i], t["right"][i])]
        depth += 1


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

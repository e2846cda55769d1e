"""Fit the search reranker (assistant/rerank.py) on the tune split + dev set + training questions, reproducibly.

For every answerable question the retriever's own "fitted" path builds the pool (fusion top 30 ∪ the
passages of the 10 nearest e5 sentences) and the per-candidate features; a passage is relevant when it is
in one of the item's documents and contains one of its evidence strings (evaluation._rank's rule). A
*pairwise* logistic model (relevant − irrelevant feature differences of one question, no intercept) is
fitted with scikit-learn; 5 folds grouped by question give the out-of-fold R@1 / R@5 / MRR@10 that are
stored with the coefficients. Never reads the test split.

**Training questions** (``--train``; with no file named, ``scripts/data/plan_train/*.jsonl`` and
``scripts/data/in_scope_train.jsonl``: questions written from the plans, most of them paraphrased, source
``train``) are added to the fit of every fold; they are never evaluated on — the out-of-fold figures are
for the tune and dev questions only. Why: §9.11 of docs/BENCHMARKS.md found the order over 177 tune + dev
questions at its ceiling and named many more lexically weak training questions as a way forward. With
``--guard passage`` (default) a training question is left out of a fold's fit when one of its right
passages is a right passage of a question held out in that fold, or its wording nearly copies one
(character-bigram Jaccard ≥ 0.6): the out-of-fold figure then never rewards a training question written
about the very passage being ranked.

    OMP_NUM_THREADS=1 python scripts/fit_rerank_model.py            # out-of-fold figures only (the stored design: SHIPPED)
    OMP_NUM_THREADS=1 python scripts/fit_rerank_model.py --write    # also store assistant/data/rerank_model.json
    OMP_NUM_THREADS=1 python scripts/fit_rerank_model.py --train    # + the plan training questions (TRAIN_FILES)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from assistant import Assistant, rerank  # noqa: E402
from assistant.evaluation import _rank, is_paraphrase, load_qa  # noqa: E402
from assistant.japanese import compact  # noqa: E402

SEED = 0
FOLDS = 5
C = 1.0
TRAIN_FILES = ["scripts/data/plan_train/*.jsonl", "scripts/data/in_scope_train.jsonl"]
HGB_PARAMS = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 8, "min_samples_leaf": 20, "l2_regularization": 1.0}
NEAR_COPY = 0.6  # character-bigram Jaccard from which a training question counts as a copy (check_plan_train.py)
# the stored fit's design: ``--write`` with no other option refits assistant/data/rerank_model.json on the
# current tune + dev and code. Gated: with the bundled e5 (the fine-tuned one of docs/BENCHMARKS.md §9.16
# was not kept) gated and ungated tie out of fold over tune + dev (R@5 0.887 both), and the gate keeps
# lexically strong questions on the default order (dev 0.889 vs 0.815); no training questions (§9.17
# found no gain from them that holds out of fold).
SHIPPED = {"model": "linear", "pool_fused": rerank.POOL_FUSED, "pool_sent": rerank.POOL_SENT, "pool_city": False,
           "features": "bm25,dense,sent_gap,sent2,cov,hcov,muni", "query_adapter": "", "gate": False, "train": []}


def train_paths(specs: list[str]) -> list[Path]:
    """Files named by ``specs`` (paths or globs relative to the repository), sorted, each once."""
    out: list[Path] = []
    for spec in specs:
        hits = sorted(ROOT.glob(spec)) if any(ch in spec for ch in "*?[") else [ROOT / spec]
        out += [p for p in hits if p.is_file() and p not in out]
    return out


def load_items(qa_path: Path, dev_path: Path, train: list[Path] = ()) -> list[dict]:
    """Answerable tune and dev items (sources ``tune`` / ``dev``), then the answerable items of the
    training files (source ``train``, never evaluated on). A training line that is not a JSON object with
    a question is one clear error naming the file and line."""
    items = [it | {"source": "tune"} for it in load_qa(qa_path, "tune")]
    items += [json.loads(x) | {"source": "dev"} for x in dev_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    for path in train:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                it = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e})") from None
            if not isinstance(it, dict) or not isinstance(it.get("question"), str):
                raise SystemExit(f"{path}:{n}: a training item must be a JSON object with a question")
            items.append(it | {"source": "train", "file": path.name})
    return [it for it in items if it.get("docs")]


def relevant_positions(items: list[dict], chunks) -> list[frozenset[int]]:
    """Per item, every passage position that counts as right (in one of its documents, holding one of its
    evidence strings) — over the whole index, not only the pool."""
    texts = [compact(c.text) for c in chunks]
    out = []
    for it in items:
        ev = [compact(e) for e in it.get("evidence", [])]
        out.append(frozenset(i for i, c in enumerate(chunks) if c.doc_id in it["docs"] and (not ev or any(e in texts[i] for e in ev))))
    return out


def label_paraphrases(items: list[dict], rel: list[frozenset[int]], chunks) -> None:
    """Give a training item without a ``paraphrase`` flag the eval README's computed one (the question
    shares no content word with its right passages: evaluation.is_paraphrase)."""
    for it, pos in zip(items, rel):
        if it["source"] == "train" and "paraphrase" not in it:
            it["paraphrase"] = is_paraphrase(it["question"], [chunks[i].text for i in pos])


def _bigrams(text: str) -> set[str]:
    t = compact(text)
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def fold_of(items: list[dict], seed: int = SEED) -> np.ndarray:
    """The fold of each tune / dev item — with the default seed the permutation used before training
    questions existed, so figures stay comparable — and -1 for a training item (fitted in every fold,
    evaluated in none). Other seeds repeat the estimate over other splits (fold noise)."""
    ev = [i for i, it in enumerate(items) if it["source"] != "train"]
    folds = np.full(len(items), -1)
    folds[ev] = np.random.RandomState(seed).permutation(len(ev)) % FOLDS
    return folds


def plan_folds(items: list[dict]) -> np.ndarray:
    """Leave one plan out: the fold of a tune / dev item is its (first) document, -1 for a training item.
    With ``fit_rows(guard="plan")`` no training question about a held-out plan is fitted, so the figure
    says what the training questions teach about plans they were not written from (eval/README.md)."""
    docs = sorted({it["docs"][0] for it in items if it["source"] != "train"})
    return np.array([-1 if it["source"] == "train" else docs.index(it["docs"][0]) for it in items])


def fit_rows(items: list[dict], folds: np.ndarray, k: int, rel: list[frozenset[int]], guard: str = "passage",
             use: np.ndarray | None = None) -> np.ndarray:
    """Which items fold ``k``'s model is fitted on: the tune / dev items of the other folds and the training
    items (those in ``use``, default all), less — with ``guard="passage"`` — any training item that shares a
    right passage with a question held out in fold ``k`` or nearly copies its wording; with ``guard="plan"``,
    any training item about a plan that one of the held-out questions is about."""
    fit = (folds != k) & (folds >= 0)
    train = np.array([it["source"] == "train" for it in items]) & (np.ones(len(items), bool) if use is None else use)
    if guard == "plan":
        held_docs = {d for i in np.nonzero(folds == k)[0] for d in items[i]["docs"]}
        train &= np.array([not (set(it["docs"]) & held_docs) for it in items])
    elif guard == "passage":
        held = [i for i in np.nonzero(folds == k)[0]]
        held_pos = frozenset().union(*(rel[i] for i in held)) if held else frozenset()
        held_bg = [_bigrams(items[i]["question"]) for i in held]
        for i in np.nonzero(train)[0]:
            if rel[i] & held_pos:
                train[i] = False
                continue
            bg = _bigrams(items[i]["question"])
            if any(len(bg & h) / max(len(bg | h), 1) >= NEAR_COPY for h in held_bg):
                train[i] = False
    elif guard != "none":
        raise ValueError(f"guard must be 'passage', 'plan' or 'none', not {guard!r}")
    return fit | train


def neutral_pool(r, pool_fused: int, pool_sent: int, adapted: bool, pool_city: bool):
    """Put the retriever in the fitted-pool mode with a zero-weight model of this pool shape (so the
    pool and its features are computed, and nothing is learnt yet); returns its ``fitted_pool`` method
    for a caller that records what it sees."""
    n = len(rerank.FEATURES)
    r._rerank_model = rerank.RerankModel(list(rerank.FEATURES), np.zeros(n), np.ones(n), np.zeros(n), "", r.sentence_side()[0].model_id,
                                         pool_fused, pool_sent,
                                         query_adapter=adapted, pool_city=pool_city)
    r.sentence_mode = "fitted"
    return r.fitted_pool


def collect(assistant, items: list[dict], pool_fused: int, pool_sent: int, adapted: bool = False,
            pool_city: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features of the pool, relevance labels) per question, from the retriever's own fitted path
    (``adapted``: sentence features from the query adapter's vector; ``pool_city``: the pool's sentence
    side ranked by cosine × city factor)."""
    r = assistant.state.retriever
    inner = neutral_pool(r, pool_fused, pool_sent, adapted, pool_city)
    seen: list = []

    def record(*a, **kw):
        pos, X, _ = out = inner(*a, **kw)
        seen.append((pos, X))
        return out

    r.fitted_pool = record
    from tqdm import tqdm

    out = []
    for it in tqdm(items, desc="pools", mininterval=2):
        seen.clear()
        assistant.search(it["question"], k=10)
        if not seen:
            raise SystemExit("the fitted path did not run: the index has no answer-encoder sentence vectors")
        pos, X = seen[-1]
        ev = [compact(e) for e in it.get("evidence", [])]
        chunks = r.index.chunks
        y = np.array([chunks[i].doc_id in it["docs"] and (not ev or any(e in compact(chunks[i].text) for e in ev)) for i in pos])
        out.append((X, y))
    return out


def pseudo_items(assistant, n: int, kinds: set[str], seed: int = SEED) -> list[dict]:
    """``n`` pseudo-questions from the plans' own structure (scripts/fit_query_adapter.structure_pairs:
    headings, neighbouring sentences and their Sudachi-synonym rewrites), each labelled with the passage
    it came from — labelled (question, passage) pairs that are not evaluation items."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from fit_query_adapter import structure_pairs

    from assistant.query import load_thesaurus

    index = assistant.state.retriever.index
    pairs = [p for p in structure_pairs(index, load_thesaurus(), seed) if p[3] in kinds]
    pick = np.random.RandomState(seed).permutation(len(pairs))[:n]
    return [{"question": pairs[i][0], "passage": int(pairs[i][2]), "source": "pseudo:" + pairs[i][3]} for i in sorted(pick)]


def collect_pseudo(assistant, items: list[dict], pool_fused: int, pool_sent: int, qcache: Path | None):
    """Like ``collect`` for pseudo-questions; their e5 query vectors may come from a cache of
    scripts/fit_query_adapter.py (``--pseudo-cache``) instead of being embedded again."""
    r = assistant.state.retriever
    if qcache and qcache.is_file():
        z = np.load(qcache)
        cached = dict(zip(z["keys"].tolist(), z["vecs"]))
        inner_q = r.answer_query_vector

        def answer_query_vector(text):
            v = cached.get(hashlib.sha1((r.answer_encoder.model_id + "\0" + text).encode()).hexdigest())
            return v if v is not None else inner_q(text)

        r.answer_query_vector = answer_query_vector
    Xs, ys = _pools(assistant, items, pool_fused, pool_sent)
    return list(zip(Xs, ys))


def _pools(assistant, items, pool_fused, pool_sent):
    from tqdm import tqdm

    r = assistant.state.retriever  # collect() already set the zero model and the fitted mode
    seen: list = []
    inner = r.fitted_pool

    def rec(*a, **kw):
        out = inner(*a, **kw)
        seen.append(out[:2])
        return out

    r.fitted_pool = rec
    Xs, ys = [], []
    for it in tqdm(items, desc="pseudo-question pools"):
        seen.clear()
        assistant.search(it["question"], k=10)
        if not seen:  # no candidate at all (nothing searchable in the pseudo-question): an empty pool, no pair
            Xs.append(np.zeros((0, len(rerank.FEATURES))))
            ys.append(np.zeros(0, dtype=bool))
            continue
        pos, X = seen[-1]
        Xs.append(X)
        ys.append(np.array([int(i) == it["passage"] for i in pos]))
    r.fitted_pool = inner
    return Xs, ys


def fit(data: list[tuple[np.ndarray, np.ndarray]], extra: list[tuple[np.ndarray, np.ndarray]] = (), extra_weight: float = 1.0,
        kind: str = "linear"):
    """Pairwise logistic fit on ``data`` and ``extra`` (each pair of ``extra`` weighs ``extra_weight``, a
    number or one per ``extra`` item): (mean, scale, coef) over the standardized features (``kind="linear"``) or over them and their
    pairwise products (``kind="cross"``, rerank.crossed)."""
    data = list(data)
    X = np.concatenate([d[0] for d in data] + [d[0] for d in extra])
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1.0
    diffs, weights = [], []
    for Xi, yi, w in _weighted(data, extra, extra_weight):
        if yi.any() and (~yi).any():
            Z = (Xi - mean) / scale
            if kind == "cross":
                Z = rerank.crossed(Z)
            for p in Z[yi]:
                diffs.append((p - Z[~yi]) / yi.sum())
                weights.append(np.full(int((~yi).sum()), w))
    D, sw = np.concatenate(diffs), np.concatenate(weights)
    m = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(
        np.concatenate([D, -D]), np.r_[np.ones(len(D)), np.zeros(len(D))], sample_weight=np.r_[sw, sw])
    return mean, scale, m.coef_[0]


def score(X: np.ndarray, fitted, kind: str = "linear") -> np.ndarray:
    """Scores of one pool's rows under a ``fit`` result (or a ``fit_hgb`` model, ``kind="hgb"``)."""
    if kind == "hgb":
        return fitted.decision_function(rerank.pool_relative(X))
    mean, scale, coef = fitted
    Z = (X - mean) / scale
    return (rerank.crossed(Z) if kind == "cross" else Z) @ coef


def fit_hgb(data, extra=(), extra_weight: float = 1.0):
    """A pointwise gradient-boosted classifier (scikit-learn HistGradientBoosting, seeded) on relevant vs
    not over the features and their gaps to the pool's best (rerank.pool_relative), every question
    weighing the same in total (its right and its other candidates half each); scores are its log-odds.
    Why: the pairwise linear order was at its ceiling (§9.11); trees let a signal count only where
    another says it can be trusted. Settings fixed before any measurement, not tuned."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xs, ys, ws = [], [], []
    for Xi, yi, w in _weighted(data, extra, extra_weight):
        if yi.any() and (~yi).any():
            Xs.append(rerank.pool_relative(Xi))
            ys.append(yi)
            ws.append(np.where(yi, 0.5 / yi.sum(), 0.5 / (~yi).sum()) * w)
    m = HistGradientBoostingClassifier(**HGB_PARAMS, random_state=SEED)
    return m.fit(np.concatenate(Xs), np.concatenate(ys), sample_weight=np.concatenate(ws) * 100)


def _weighted(data, extra, extra_weight):
    """(X, y, weight) of every question: ``data`` at 1, ``extra`` at ``extra_weight`` (a number or one each)."""
    extra = list(extra)
    ew = list(extra_weight) if np.ndim(extra_weight) else [extra_weight] * len(extra)
    return [(X, y, 1.0) for X, y in data] + [(X, y, float(w)) for (X, y), w in zip(extra, ew)]


def fit_kind(kind: str, data, extra=(), extra_weight: float = 1.0):
    return fit_hgb(data, extra, extra_weight) if kind == "hgb" else fit(data, extra, extra_weight, kind)


def fit_gate(max_cov: np.ndarray, paraphrase: np.ndarray) -> float:
    """The coverage below which a question counts as lexically weak: the threshold on the pool's best word
    coverage that best separates the paraphrased training questions from the others (balanced accuracy;
    the middle of tied thresholds). It is fitted on the *paraphrase labels*, not on ranking outcomes."""
    cands = np.r_[np.unique(max_cov), np.inf]
    acc = np.array([0.5 * ((max_cov[paraphrase] < t).mean() + (max_cov[~paraphrase] >= t).mean()) for t in cands])
    best = cands[acc == acc.max()]
    lo = float(best.min())
    hi = float(best.max()) if np.isfinite(best.max()) else lo
    below = max_cov[max_cov < lo]
    # midway between the highest coverage left below and the first one at or above the threshold
    return (float(below.max()) + lo) / 2 if len(below) and lo == hi else (lo + hi) / 2


def rank_of(scores: np.ndarray, y: np.ndarray) -> int | None:
    order = np.argsort(-scores, kind="stable")
    hits = np.nonzero(y[order])[0]
    return int(hits[0]) + 1 if len(hits) else None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {
        "n": len(ranks), "R@1": round(sum(1 for r in ranks if r and r <= 1) / n, 3), "R@5": round(sum(1 for r in ranks if r and r <= 5) / n, 3),
        "R@10": round(sum(1 for r in ranks if r and r <= 10) / n, 3), "MRR@10": round(sum(1 / r for r in ranks if r and r <= 10) / n, 3),
        "pool_recall": round(sum(1 for r in ranks if r) / n, 3),
    }


def subset(items: list[dict], frac: float) -> np.ndarray:
    """The training items a ``frac`` share keeps: the first ``round(frac · n)`` of one seeded permutation
    of them (so a smaller share is part of every larger one: a training-size curve)."""
    train = np.array([it["source"] == "train" for it in items])
    idx = np.nonzero(train)[0]
    keep = idx[np.random.RandomState(SEED).permutation(len(idx))[: int(round(frac * len(idx)))]]
    use = np.zeros(len(items), dtype=bool)
    use[keep] = True
    return use


def by_group(ranks: list, items: list[dict]) -> dict:
    """Metrics of the tune and dev questions (never the training ones)."""
    pick = {
        "all": lambda it: it["source"] != "train", "tune": lambda it: it["source"] == "tune", "dev": lambda it: it["source"] == "dev",
        "tune_paraphrased": lambda it: it["source"] == "tune" and it.get("paraphrase"),
        "tune_other": lambda it: it["source"] == "tune" and not it.get("paraphrase"),
    }
    return {g: metrics([x for x, it in zip(ranks, items) if f(it)]) for g, f in pick.items()}


def out_of_fold(data, items, rel, max_cov, para, default_ranks=None, *, kind="linear", use=None, guard="passage",
                train_weight: float = 1.0, gate_train: bool = False, seed: int = SEED, strong_weight: float = 1.0):
    """Out-of-fold ranks of every tune / dev item (None for training items): ungated, and gated as the
    product gates (``default_ranks`` above the gate; the gate fitted on the paraphrase labels of the
    fold's own fitting questions, training ones too with ``gate_train``), and the fold gates.
    ``strong_weight``: a fitting question at or above the fold's gate (one the model will not order)
    weighs this much."""
    folds = plan_folds(items) if guard == "plan" else fold_of(items, seed)
    n_folds = int(folds.max()) + 1
    train = np.array([it["source"] == "train" for it in items])
    use = train if use is None else use
    oof, gated, gates = [None] * len(items), [None] * len(items), []
    for k in range(n_folds):
        rows = fit_rows(items, folds, k, rel, guard, use)
        gate_rows = rows if gate_train else rows & ~train
        gate = fit_gate(max_cov[gate_rows], para[gate_rows]) if default_ranks is not None or strong_weight != 1.0 else None
        gates.append(gate)
        if strong_weight == 1.0:
            fitted = fit_kind(kind, [data[i] for i in np.nonzero(rows & ~train)[0]], [data[i] for i in np.nonzero(rows & train)[0]],
                              train_weight)
        else:
            idx = np.nonzero(rows)[0]
            w = np.where(train[idx], train_weight, 1.0) * np.where(max_cov[idx] >= gate, strong_weight, 1.0)
            fitted = fit_kind(kind, [], [data[i] for i in idx], w)
        for i in np.nonzero(folds == k)[0]:
            X, y = data[i]
            oof[i] = rank_of(score(X, fitted, kind), y)
            if default_ranks is not None:
                gated[i] = oof[i] if max_cov[i] < gate else default_ranks[i]
    return oof, gated, gates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qa", default=str(ROOT / "eval" / "plan_qa.jsonl"))
    ap.add_argument("--dev", default=str(SHARED / "devset" / "qa.jsonl"))
    ap.add_argument("--train", nargs="*", default=None, help="training question files or globs, relative to the repository "
                    f"(given with no file: {' '.join(TRAIN_FILES)}; not given: {SHIPPED['train'] or 'none'})")
    ap.add_argument("--train-frac", type=float, default=1.0, help="share of the training questions used (seeded; the training-size curve)")
    ap.add_argument("--train-weight", type=float, default=1.0, help="weight of one training question's pairs against a tune / dev question's")
    ap.add_argument("--guard", choices=("passage", "plan", "none"), default="passage", help="passage: leave out of a fold's fit the training "
                    "questions sharing a right passage with (or nearly copying) a held-out question; plan: folds are the plans, and no "
                    "training question about the held-out plan is fitted")
    ap.add_argument("--model", choices=("linear", "cross", "hgb"), default=SHIPPED["model"], help="linear: pairwise logistic; cross: the same over the "
                    "features and their pairwise products; hgb: pointwise gradient boosting over them and their gaps to the pool's best")
    ap.add_argument("--pool-fused", type=int, default=SHIPPED["pool_fused"])
    ap.add_argument("--pool-sent", type=int, default=SHIPPED["pool_sent"])
    ap.add_argument("--pool-city", action=argparse.BooleanOptionalAction, default=SHIPPED["pool_city"],
                    help="rank the pool's sentence side by cosine × city factor")
    ap.add_argument("--features", default=SHIPPED["features"], help="comma-separated subset of rerank.FEATURES")
    ap.add_argument("--pseudo", type=int, default=0, help="add this many structure pseudo-questions to every training fold")
    ap.add_argument("--pseudo-kinds", default="ict+syn,self+syn,heading+syn", help="kinds from fit_query_adapter.structure_pairs")
    ap.add_argument("--pseudo-weight", type=float, default=1.0, help="weight of one pseudo-question against one real question")
    ap.add_argument("--pseudo-cache", default="", help="corpus_queries.npz of scripts/fit_query_adapter.py (e5 query vectors)")
    ap.add_argument("--query-adapter", default=SHIPPED["query_adapter"], help="'stored' (assistant/data, scripts/fit_query_adapter.py "
                    "--write), a W .npy (--save-w): sentence features from the adapted query vector; 'none': the plain vector")
    ap.add_argument("--gate", action=argparse.BooleanOptionalAction, default=SHIPPED["gate"],
                    help="fit the gate of the 'gated' search mode and report it out of fold")
    ap.add_argument("--gate-train", action="store_true", help="fit the gate on the training questions' paraphrase labels too")
    ap.add_argument("--write", action="store_true", help=f"store the fit in assistant/data/{rerank.MODEL_FILE}")
    ap.add_argument("--out", default="", help="with --write: store it in this file instead (a variant to compare, "
                    "scripts/ab_rerank_speed.py)")
    args = ap.parse_args()
    if args.train is None:  # not given: the stored design's
        args.train = list(SHIPPED["train"])
    elif not args.train:  # given with no file
        args.train = list(TRAIN_FILES)
    if args.query_adapter == "none":
        args.query_adapter = ""
    if args.pseudo and args.train:
        raise SystemExit("--pseudo and training questions together are not supported: pass --train with no files")
    feats = args.features.split(",")
    cols = [rerank.FEATURES.index(f) for f in feats]

    files = train_paths(args.train)
    items = load_items(Path(args.qa), Path(args.dev), files)
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    chunks = r.index.chunks
    rel = relevant_positions(items, chunks)
    label_paraphrases(items, rel, chunks)
    is_train = np.array([it["source"] == "train" for it in items])
    print(f"questions: tune {sum(it['source'] == 'tune' for it in items)}, dev {sum(it['source'] == 'dev' for it in items)}, "
          f"training {int(is_train.sum())} from {len(files)} file(s) ({sum(bool(it.get('paraphrase')) for it, t in zip(items, is_train) if t)} "
          f"paraphrased; used: {args.train_frac:g} of them)", flush=True)
    r.sentence_mode = "rerank"  # what the gate falls back to
    default_ranks = [None if it["source"] == "train" else _rank(a.search(it["question"], k=10), it["docs"], it.get("evidence", []))
                     for it in items] if args.gate else None
    encoder = r.sentence_side()[0]  # the search sentence encoder when the index holds its vectors
    print(f"sentence encoder: {encoder.model_id}", flush=True)
    if args.query_adapter:
        from assistant import query_adapter

        if args.query_adapter != "stored":
            r.query_adapter = query_adapter.QueryAdapter(np.load(args.query_adapter).astype(np.float32), encoder.model_id)
        elif r.query_adapter.encoder != encoder.model_id:
            raise SystemExit(f"the stored query adapter is for {r.query_adapter.encoder}, not {encoder.model_id} (--query-adapter '')")
    data_all = collect(a, items, args.pool_fused, args.pool_sent, adapted=bool(args.query_adapter), pool_city=args.pool_city)
    data = [(X[:, cols], y) for X, y in data_all]
    max_cov = np.array([float(X[:, rerank.FEATURES.index("cov")].max()) if len(X) else 0.0 for X, _ in data_all])
    para = np.array([bool(it.get("paraphrase")) for it in items])
    use = subset(items, args.train_frac)
    print(f"pool recall: tune + dev {np.mean([y.any() for (_, y), t in zip(data, is_train) if not t]):.3f}, "
          f"training {np.mean([y.any() for (_, y), t in zip(data, is_train) if t]) if is_train.any() else float('nan'):.3f}", flush=True)
    if args.pseudo:
        p_items = pseudo_items(a, args.pseudo, set(args.pseudo_kinds.split(",")))
        data += [(X[:, cols], y) for X, y in collect_pseudo(a, p_items, args.pool_fused, args.pool_sent, Path(args.pseudo_cache) if args.pseudo_cache else None)]
        items += [it | {"source": "train"} for it in p_items]
        rel += [frozenset([it["passage"]]) for it in p_items]
        max_cov = np.r_[max_cov, np.zeros(len(p_items))]
        para = np.r_[para, np.zeros(len(p_items), dtype=bool)]
        use = np.r_[use, np.ones(len(p_items), dtype=bool)]
        default_ranks = None if default_ranks is None else default_ranks + [None] * len(p_items)
        args.train_weight = args.pseudo_weight
        print(f"pseudo-questions: {len(p_items)}, their passage in the pool: {np.mean([y.any() for _, y in data[-len(p_items):]]):.3f}", flush=True)

    oof, gated, gates = out_of_fold(data, items, rel, max_cov, para, default_ranks, kind=args.model, use=use, guard=args.guard,
                                    train_weight=args.train_weight, gate_train=args.gate_train)
    by = by_group(oof, items)
    is_train = np.array([it["source"] == "train" for it in items])
    fitted = fit_kind(args.model, [d for d, t in zip(data, is_train) if not t], [d for d, t, u in zip(data, is_train, use) if t and u],
                      args.train_weight)
    print("out of fold:", json.dumps(by, ensure_ascii=False))
    gate, gate_info = None, {}
    if args.gate:
        gate_rows = ~is_train | (use if args.gate_train else False)
        gate = fit_gate(max_cov[gate_rows], para[gate_rows])
        gate_info = {"out_of_fold_gated": by_group(gated, items), "default_rerank": by_group(default_ranks, items),
                     "fold_gates": [round(g, 4) for g in gates]}
        print("default rerank:", json.dumps(gate_info["default_rerank"], ensure_ascii=False))
        print("gated, out of fold:", json.dumps(gate_info["out_of_fold_gated"], ensure_ascii=False))
        ev = ~is_train
        print(f"gate: pool's best coverage < {gate:.4f} (folds: {gate_info['fold_gates']}); below it: "
              f"{int((max_cov[ev] < gate).sum())} of {int(ev.sum())} tune + dev questions, {int((max_cov[ev & para] < gate).sum())} of "
              f"{int((ev & para).sum())} paraphrased")
    if args.model != "hgb":
        names = feats + ([f"{feats[i]}*{feats[j]}" for i, j in zip(*np.triu_indices(len(feats)))] if args.model == "cross" else [])
        print("coefficients:", {f: round(float(c), 3) for f, c in zip(names, fitted[2])})
    if not args.write:
        return
    trees = None
    if args.model == "hgb":
        trees = rerank.Trees.from_sklearn(fitted)
        X_check = np.concatenate([rerank.pool_relative(X) for X, _ in data if len(X)])
        if not np.allclose(trees.decision(X_check), fitted.decision_function(X_check), atol=1e-9):
            raise SystemExit("the stored trees do not reproduce scikit-learn's scores")
        n = len(feats)
        mean, scale, coef = np.zeros(n), np.ones(n), np.zeros(n)
    else:
        mean, scale, coef = fitted
    n_train = {f.name: sum(1 for it, u in zip(items, use) if u and it.get("file") == f.name) for f in files}
    model = rerank.RerankModel(
        feats, mean, scale, coef, search_model=r.embedder.model_id, answer_encoder=encoder.model_id,
        pool_fused=args.pool_fused, pool_sent=args.pool_sent, gate_cov=gate, query_adapter=bool(args.query_adapter),
        pool_city=args.pool_city, crosses=args.model == "cross", trees=trees,
        info={
            "method": ("pointwise gradient-boosted trees (scikit-learn HistGradientBoostingClassifier: "
                       + json.dumps({k: v for k, v in fitted.get_params().items() if k in HGB_PARAMS}) + ") over the features and their gaps "
                       "to the pool's best, each question weighing the same" if args.model == "hgb" else
                       f"pairwise logistic regression (scikit-learn, C={C}, no intercept), features standardized"
                       + (", with their pairwise products" if args.model == "cross" else "")), "seed": SEED,
            "trained_on": {"tune": sum(it["source"] == "tune" for it in items), "dev": sum(it["source"] == "dev" for it in items),
                           "train": n_train, "train_weight": args.train_weight},
            "data_sha256": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in [args.qa, args.dev, *files]},
            "out_of_fold": by, **gate_info, "command": "python scripts/fit_rerank_model.py " + " ".join(sys.argv[1:]),
        },
    )
    path = Path(args.out) if args.out else rerank.default_path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(model.to_dict(), f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()

"""Fit the search reranker (assistant/rerank.py) on the tune split + dev set, reproducibly.

For every answerable question the retriever's own "fitted" path builds the pool (fusion top 30 ∪ the
passages of the 10 nearest e5 sentences) and the per-candidate features; a passage is relevant when it is
in one of the item's documents and contains one of its evidence strings (evaluation._rank's rule). A
*pairwise* logistic model (relevant − irrelevant feature differences of one question, no intercept,
each question weighing the same) is fitted with scikit-learn; 5 folds grouped by question give the
out-of-fold R@1 / R@5 / MRR@10 that are stored with the coefficients. Never reads the test split.

    OMP_NUM_THREADS=1 python scripts/fit_rerank_model.py            # out-of-fold figures only
    OMP_NUM_THREADS=1 python scripts/fit_rerank_model.py --write    # also store assistant/data/rerank_model.json
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
from assistant.evaluation import _rank, load_qa  # noqa: E402
from assistant.japanese import compact  # noqa: E402

SEED = 0
FOLDS = 5
C = 1.0


def load_items(qa_path: Path, dev_path: Path) -> list[dict]:
    items = [it | {"source": "tune"} for it in load_qa(qa_path, "tune")]
    items += [json.loads(x) | {"source": "dev"} for x in dev_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [it for it in items if it.get("docs")]


def neutral_pool(r, pool_fused: int, pool_sent: int, adapted: bool, pool_city: bool):
    """Put the retriever in the fitted-pool mode with a zero-weight model of this pool shape (so the
    pool and its features are computed, and nothing is learnt yet); returns its ``fitted_pool`` method
    for a caller that records what it sees."""
    n = len(rerank.FEATURES)
    r._rerank_model = rerank.RerankModel(list(rerank.FEATURES), np.zeros(n), np.ones(n), np.zeros(n), "", "", pool_fused, pool_sent,
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
    out = []
    for it in items:
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
        if not seen:  # no candidate at all (nothing searchable in the pseudo-question)
            continue
        pos, X = seen[-1]
        Xs.append(X)
        ys.append(np.array([int(i) == it["passage"] for i in pos]))
    r.fitted_pool = inner
    return Xs, ys


def fit(data: list[tuple[np.ndarray, np.ndarray]], extra: list[tuple[np.ndarray, np.ndarray]] = (), extra_weight: float = 1.0):
    """Pairwise logistic fit on ``data`` and ``extra`` (each pair of ``extra`` weighs ``extra_weight``)."""
    data = list(data)
    X = np.concatenate([d[0] for d in data])
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1.0
    diffs, weights = [], []
    for w, group in ((1.0, data), (extra_weight, list(extra))):
        for Xi, yi in group:
            if yi.any() and (~yi).any():
                Z = (Xi - mean) / scale
                for p in Z[yi]:
                    diffs.append((p - Z[~yi]) / yi.sum())
                    weights.append(np.full(int((~yi).sum()), w))
    D, sw = np.concatenate(diffs), np.concatenate(weights)
    m = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(
        np.concatenate([D, -D]), np.r_[np.ones(len(D)), np.zeros(len(D))], sample_weight=np.r_[sw, sw])
    return mean, scale, m.coef_[0]


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qa", default=str(ROOT / "eval" / "plan_qa.jsonl"))
    ap.add_argument("--dev", default=str(SHARED / "devset" / "qa.jsonl"))
    ap.add_argument("--pool-fused", type=int, default=rerank.POOL_FUSED)
    ap.add_argument("--pool-sent", type=int, default=rerank.POOL_SENT)
    ap.add_argument("--pool-city", action="store_true", help="rank the pool's sentence side by cosine × city factor")
    ap.add_argument("--features", default=",".join(rerank.FEATURES), help="comma-separated subset of rerank.FEATURES")
    ap.add_argument("--pseudo", type=int, default=0, help="add this many structure pseudo-questions to every training fold")
    ap.add_argument("--pseudo-kinds", default="ict+syn,self+syn,heading+syn", help="kinds from fit_query_adapter.structure_pairs")
    ap.add_argument("--pseudo-weight", type=float, default=1.0, help="weight of one pseudo-question against one real question")
    ap.add_argument("--pseudo-cache", default="", help="corpus_queries.npz of scripts/fit_query_adapter.py (e5 query vectors)")
    ap.add_argument("--query-adapter", default="", help="'stored' (assistant/data, scripts/fit_query_adapter.py --write) or a W .npy "
                    "(--save-w): sentence features from the adapted query vector")
    ap.add_argument("--gate", action="store_true", help="fit the gate of the 'gated' search mode and report it out of fold")
    ap.add_argument("--write", action="store_true", help=f"store the fit in assistant/data/{rerank.MODEL_FILE}")
    args = ap.parse_args()
    feats = args.features.split(",")
    cols = [rerank.FEATURES.index(f) for f in feats]

    items = load_items(Path(args.qa), Path(args.dev))
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    r.sentence_mode = "rerank"  # what the gate falls back to
    default_ranks = [_rank(a.search(it["question"], k=10), it["docs"], it.get("evidence", [])) for it in items] if args.gate else []
    if args.query_adapter:
        from assistant import query_adapter

        if args.query_adapter != "stored":
            r.query_adapter = query_adapter.QueryAdapter(np.load(args.query_adapter).astype(np.float32), r.answer_encoder.model_id)
        elif r.query_adapter.encoder != r.answer_encoder.model_id:
            raise SystemExit(f"the stored query adapter is for {r.query_adapter.encoder}, not {r.answer_encoder.model_id}")
    data_all = collect(a, items, args.pool_fused, args.pool_sent, adapted=bool(args.query_adapter), pool_city=args.pool_city)
    data = [(X[:, cols], y) for X, y in data_all]
    max_cov = np.array([float(X[:, rerank.FEATURES.index("cov")].max()) if len(X) else 0.0 for X, _ in data_all])
    extra = []
    if args.pseudo:
        p_items = pseudo_items(a, args.pseudo, set(args.pseudo_kinds.split(",")))
        extra = [(X[:, cols], y) for X, y in collect_pseudo(a, p_items, args.pool_fused, args.pool_sent, Path(args.pseudo_cache) if args.pseudo_cache else None)]
        print(f"pseudo-questions: {len(extra)}, their passage in the pool: {np.mean([y.any() for _, y in extra]):.3f}", flush=True)

    folds = np.random.RandomState(SEED).permutation(len(items)) % FOLDS
    para = np.array([bool(it.get("paraphrase")) for it in items])
    oof: list[int | None] = [None] * len(items)
    gated: list[int | None] = [None] * len(items)
    gates = []
    for k in range(FOLDS):
        mean, scale, coef = fit([d for d, f in zip(data, folds) if f != k], extra, args.pseudo_weight)
        gate = fit_gate(max_cov[folds != k], para[folds != k]) if args.gate else None
        gates.append(gate)
        for i in np.nonzero(folds == k)[0]:
            X, y = data[i]
            oof[i] = rank_of(((X - mean) / scale) @ coef, y)
            if args.gate:
                gated[i] = oof[i] if max_cov[i] < gate else default_ranks[i]

    def by_group(ranks):
        return {
            "all": metrics(ranks),
            "tune": metrics([x for x, it in zip(ranks, items) if it["source"] == "tune"]),
            "dev": metrics([x for x, it in zip(ranks, items) if it["source"] == "dev"]),
            "tune_paraphrased": metrics([x for x, it in zip(ranks, items) if it["source"] == "tune" and it.get("paraphrase")]),
            "tune_other": metrics([x for x, it in zip(ranks, items) if it["source"] == "tune" and not it.get("paraphrase")]),
        }

    by = by_group(oof)
    mean, scale, coef = fit(data, extra, args.pseudo_weight)
    print("out of fold:", json.dumps(by, ensure_ascii=False))
    gate, gate_info = None, {}
    if args.gate:
        gate = fit_gate(max_cov, para)
        gate_info = {"out_of_fold_gated": by_group(gated), "default_rerank": by_group(default_ranks), "fold_gates": [round(g, 4) for g in gates]}
        print("default rerank:", json.dumps(gate_info["default_rerank"], ensure_ascii=False))
        print("gated, out of fold:", json.dumps(gate_info["out_of_fold_gated"], ensure_ascii=False))
        print(f"gate: pool's best coverage < {gate:.4f} (folds: {gate_info['fold_gates']}); below it: "
              f"{int((max_cov < gate).sum())} of {len(items)} questions, {int((max_cov[para] < gate).sum())} of {int(para.sum())} paraphrased")
    print("coefficients:", {f: round(float(c), 3) for f, c in zip(feats, coef)})
    if not args.write:
        return
    model = rerank.RerankModel(
        feats, mean, scale, coef, search_model=r.embedder.model_id, answer_encoder=r.answer_encoder.model_id,
        pool_fused=args.pool_fused, pool_sent=args.pool_sent, gate_cov=gate, query_adapter=bool(args.query_adapter),
        pool_city=args.pool_city,
        info={
            "method": f"pairwise logistic regression (scikit-learn, C={C}, no intercept), features standardized", "seed": SEED,
            "trained_on": {"tune": sum(it["source"] == "tune" for it in items), "dev": sum(it["source"] == "dev" for it in items)},
            "data_sha256": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in (args.qa, args.dev)},
            "out_of_fold": by, **gate_info, "command": "python scripts/fit_rerank_model.py " + " ".join(sys.argv[1:]),
        },
    )
    path = rerank.default_path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(model.to_dict(), f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()

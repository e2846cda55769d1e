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
from assistant.evaluation import load_qa  # noqa: E402
from assistant.japanese import compact  # noqa: E402

SEED = 0
FOLDS = 5
C = 1.0


def load_items(qa_path: Path, dev_path: Path) -> list[dict]:
    items = [it | {"source": "tune"} for it in load_qa(qa_path, "tune")]
    items += [json.loads(x) | {"source": "dev"} for x in dev_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [it for it in items if it.get("docs")]


def collect(assistant, items: list[dict], pool_fused: int, pool_sent: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features of the pool, relevance labels) per question, from the retriever's own fitted path."""
    r = assistant.state.retriever
    n = len(rerank.FEATURES)
    r._rerank_model = rerank.RerankModel(list(rerank.FEATURES), np.zeros(n), np.ones(n), np.zeros(n), "", "", pool_fused, pool_sent)
    r.sentence_mode = "fitted"
    seen: list = []
    inner = r.fitted_pool

    def record(*a, **kw):
        pos, X = inner(*a, **kw)
        seen.append((pos, X))
        return pos, X

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


def fit(data: list[tuple[np.ndarray, np.ndarray]]):
    X = np.concatenate([d[0] for d in data])
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1.0
    diffs = []
    for Xi, yi in data:
        if yi.any() and (~yi).any():
            Z = (Xi - mean) / scale
            for p in Z[yi]:
                diffs.append((p - Z[~yi]) / yi.sum())
    D = np.concatenate(diffs)
    m = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(np.concatenate([D, -D]), np.r_[np.ones(len(D)), np.zeros(len(D))])
    return mean, scale, m.coef_[0]


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
    ap.add_argument("--features", default=",".join(rerank.FEATURES), help="comma-separated subset of rerank.FEATURES")
    ap.add_argument("--write", action="store_true", help=f"store the fit in assistant/data/{rerank.MODEL_FILE}")
    args = ap.parse_args()
    feats = args.features.split(",")
    cols = [rerank.FEATURES.index(f) for f in feats]

    items = load_items(Path(args.qa), Path(args.dev))
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    data = [(X[:, cols], y) for X, y in collect(a, items, args.pool_fused, args.pool_sent)]

    folds = np.random.RandomState(SEED).permutation(len(items)) % FOLDS
    oof: list[int | None] = [None] * len(items)
    for k in range(FOLDS):
        mean, scale, coef = fit([d for d, f in zip(data, folds) if f != k])
        for i in np.nonzero(folds == k)[0]:
            X, y = data[i]
            oof[i] = rank_of(((X - mean) / scale) @ coef, y)
    by = {
        "all": metrics(oof),
        "tune": metrics([x for x, it in zip(oof, items) if it["source"] == "tune"]),
        "dev": metrics([x for x, it in zip(oof, items) if it["source"] == "dev"]),
        "tune_paraphrased": metrics([x for x, it in zip(oof, items) if it["source"] == "tune" and it.get("paraphrase")]),
        "tune_other": metrics([x for x, it in zip(oof, items) if it["source"] == "tune" and not it.get("paraphrase")]),
    }
    mean, scale, coef = fit(data)
    print("out of fold:", json.dumps(by, ensure_ascii=False))
    print("coefficients:", {f: round(float(c), 3) for f, c in zip(feats, coef)})
    if not args.write:
        return
    model = rerank.RerankModel(
        feats, mean, scale, coef, search_model=r.embedder.model_id, answer_encoder=r.answer_encoder.model_id,
        pool_fused=args.pool_fused, pool_sent=args.pool_sent,
        info={
            "method": f"pairwise logistic regression (scikit-learn, C={C}, no intercept), features standardized", "seed": SEED,
            "trained_on": {"tune": sum(it["source"] == "tune" for it in items), "dev": sum(it["source"] == "dev" for it in items)},
            "data_sha256": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in (args.qa, args.dev)},
            "out_of_fold": by, "command": "python scripts/fit_rerank_model.py --write",
        },
    )
    path = rerank.default_path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(model.to_dict(), f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()

"""Why paraphrased questions miss the top 5, and which pool features order the pool better (issue 10, §9.11).

For every answerable tune + dev question the retriever's own "fitted" path builds the pool (fusion top 30 ∪
the passages of the 10 nearest e5 sentences, adapted query vector) with the stored features
(rerank.FEATURES); this script adds candidate features computed here, outside the product, so they can be
measured before any of them is built into search:

* ``head_cos`` — e5 cosine of the (adapted) query vector to the passage's title + section path, embedded as
  a passage (one vector per distinct heading string, cached under --cache),
* ``head_gap`` — the same minus the pool's best,
* ``rr_fused`` / ``rr_sent`` — reciprocal rank of the passage in the fusion's order / in the best-sentence order,
* ``sent_plain`` — best sentence cosine of the *plain* query vector minus the corpus's best,
* ``sent_both`` — max of the adapted and plain best-sentence gaps.

Then (1) a per-item table of the tune paraphrased questions the stored feature set misses at 5 (is a right
passage in the pool, its out-of-fold rank, and each feature's rank of it within the pool), and (2) the
out-of-fold R@5 of each feature set, gated as the product gates (5 folds grouped by question, the same
folds and fit as scripts/fit_rerank_model.py). Never reads the test split.

Options: a wider pool (--pool-fused, --pool-sent), its sentence side by cosine × city factor (--pool-city),
and training questions above the gate down-weighted (--strong-weight).

    OMP_NUM_THREADS=1 python scripts/pool_order_experiment.py [--sets "base;base+head_cos;..."] [--items]
    OMP_NUM_THREADS=1 python scripts/pool_order_experiment.py --sets base --train 'scripts/data/plan_train/*.jsonl' \
        --fracs 0,0.25,0.5,1 --models linear,cross,hgb          # with the plan training questions (§9.17)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import fit_rerank_model as F  # noqa: E402
from fit_rerank_model import FOLDS, SEED, fit, fit_gate, load_items, metrics, neutral_pool, rank_of  # noqa: E402,F401  (re-used by finetune_e5_top.py)

from assistant import Assistant, rerank  # noqa: E402
from assistant.evaluation import _rank  # noqa: E402
from assistant.japanese import compact  # noqa: E402

BASE = ["bm25", "dense", "sent_gap", "sent2", "cov", "hcov", "muni"]
EXTRA = ["head_cos", "head_gap", "rr_fused", "rr_sent", "sent_plain", "sent_both"]
DEFAULT_SETS = [
    "base", "base+head_cos", "base+head_gap", "base+rr_fused,rr_sent", "base+sent_plain", "base+sent_both",
    "base+head_gap,rr_sent", "base+head_gap,sent_both", "base+head_gap,rr_fused,rr_sent,sent_both",
]


def heading_text(chunk) -> str:
    return "\n".join([chunk.title, " › ".join(chunk.section)]).strip()


def heading_vectors(r, cache: Path) -> np.ndarray:
    """Per passage, the e5 passage vector of its title + section path (distinct strings embedded once)."""
    chunks = r.index.chunks
    texts = [heading_text(c) for c in chunks]
    uniq = sorted(set(texts))
    key = hashlib.sha1((r.answer_encoder.model_id + "\0" + "\0".join(uniq)).encode()).hexdigest()[:16]
    path = cache / f"heading-{key}.npy"
    if path.is_file():
        V = np.load(path)
    else:
        V = r.answer_encoder.encode_passages(uniq, show_progress=True)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, V)
    row = {t: i for i, t in enumerate(uniq)}
    return V[[row[t] for t in texts]]


def collect(a, items, hv: np.ndarray | None, pool_fused: int = 30, pool_sent: int = 10, pool_city: bool = False, adapted: bool = True):
    """Per question: (pool positions, base feature rows, extra feature rows, labels)."""
    r = a.state.retriever
    inner = neutral_pool(r, pool_fused, pool_sent, adapted, pool_city)
    seen: list = []

    def record(qa, bm25, fused_order, mask, sent, city):
        out = inner(qa, bm25, fused_order, mask, sent, city)
        seen.append((qa, fused_order, mask, sent, out))
        return out

    r.fitted_pool = record
    from tqdm import tqdm

    rows = []
    chunks = r.index.chunks
    for it in tqdm(items, desc="pools", mininterval=2):
        seen.clear()
        a.search(it["question"], k=10)
        if not seen:
            raise SystemExit("the fitted path did not run: the index has no answer-encoder sentence vectors")
        qa, fused_order, mask, sent, (pos, _, X_all) = seen[-1]
        q_ad = r.sentence_query_vector(qa.text, adapted)
        plain = r.sentence_scores(qa.text, adapted=False)
        head = hv[pos] @ q_ad if hv is not None else np.zeros(len(pos))
        rank_f = {int(p): i + 1 for i, p in enumerate(fused_order)}
        s_order = np.argsort(-np.where(mask, sent, -np.inf), kind="stable")
        rank_s = np.empty(len(sent), dtype=np.int64)
        rank_s[s_order] = np.arange(1, len(sent) + 1)
        pmax = float(plain[mask].max())
        amax = float(sent[mask].max())
        E = np.column_stack([
            head, head - head.max(), [1.0 / rank_f.get(int(p), 1e9) for p in pos], 1.0 / rank_s[pos],
            plain[pos] - pmax, np.maximum(plain[pos] - pmax, sent[pos] - amax),
        ])
        ev = [compact(e) for e in it.get("evidence", [])]
        y = np.array([chunks[i].doc_id in it["docs"] and (not ev or any(e in compact(chunks[i].text) for e in ev)) for i in pos])
        rows.append((pos, X_all, E, y))
    r.fitted_pool = inner
    return rows


def columns(spec: str):
    base, _, extra = spec.partition("+")
    feats = list(BASE) if base == "base" else base.split(",")
    feats += [f for f in extra.split(",") if f]
    return feats


def matrix(row, feats):
    _, X_all, E, _ = row
    return np.column_stack([X_all[:, rerank.FEATURES.index(f)] if f in rerank.FEATURES else E[:, EXTRA.index(f)] for f in feats])


def out_of_fold(rows, items, feats, default_ranks, para, weak_weight: float = 1.0, *, kind: str = "linear", rel=None, use=None,
                guard: str = "passage", train_weight: float = 1.0, gate_train: bool = False, seed: int = SEED):
    """(ungated, gated) out-of-fold ranks of the tune / dev items; training items (source ``train``, see
    scripts/fit_rerank_model.py) are fitted in every fold they do not leak into and never evaluated."""
    data = [(matrix(row, feats), row[3]) for row in rows]
    max_cov = np.array([float(row[1][:, rerank.FEATURES.index("cov")].max()) for row in rows])
    if weak_weight == 1.0 or any(it["source"] == "train" for it in items):
        rel = rel if rel is not None else [frozenset()] * len(items)
        oof, gated, _ = F.out_of_fold(data, items, rel, max_cov, para, default_ranks, kind=kind, use=use, guard=guard,
                                      train_weight=train_weight, gate_train=gate_train, seed=seed, strong_weight=weak_weight)
        return oof, gated
    folds = np.random.RandomState(SEED).permutation(len(items)) % FOLDS
    oof, gated = [None] * len(items), [None] * len(items)
    for k in range(FOLDS):
        gate = fit_gate(max_cov[folds != k], para[folds != k])
        train = [i for i in range(len(items)) if folds[i] != k]
        # questions the gate would send to the model weigh 1, the others weak_weight
        strong = [data[i] for i in train if max_cov[i] >= gate]
        mean, scale, coef = fit([data[i] for i in train if max_cov[i] < gate], strong, weak_weight)
        for i in np.nonzero(folds == k)[0]:
            X, y = data[i]
            oof[i] = rank_of(((X - mean) / scale) @ coef, y)
            gated[i] = oof[i] if max_cov[i] < gate else default_ranks[i]
    return oof, gated


def groups(ranks, items):
    sel = {
        "tune": lambda it: it["source"] == "tune", "dev": lambda it: it["source"] == "dev",
        "para": lambda it: it["source"] == "tune" and it.get("paraphrase"),
        "other": lambda it: it["source"] == "tune" and not it.get("paraphrase"),
    }
    return {g: metrics([x for x, it in zip(ranks, items) if f(it)]) for g, f in sel.items()}


def mean_groups(ms: list[dict]) -> dict:
    """Metrics averaged over repeats (other fold seeds)."""
    return {g: {k: float(np.mean([m[g][k] for m in ms])) for k in ms[0][g]} for g in ms[0]}


def fmt(m):
    return (" / ".join(f"{m[g]['R@5']:.3f}" for g in ("tune", "para", "other", "dev")) + f"  R@1 tune {m['tune']['R@1']:.3f} dev {m['dev']['R@1']:.3f}"
            f"  MRR tune {m['tune']['MRR@10']:.3f} dev {m['dev']['MRR@10']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qa", default=str(ROOT / "eval" / "plan_qa.jsonl"))
    ap.add_argument("--dev", default=str(ROOT.parent / "shared" / "devset" / "qa.jsonl"))
    ap.add_argument("--cache", default="/tmp/pool_order_cache")
    ap.add_argument("--sets", default=";".join(DEFAULT_SETS), help="';'-separated feature sets: base[+extra,...] or a,b,c")
    ap.add_argument("--items", action="store_true", help="print the per-item table of tune paraphrase misses")
    ap.add_argument("--pool-fused", type=int, default=30)
    ap.add_argument("--strong-weight", type=float, default=1.0, help="weight of training questions above the gate (1: all alike)")
    ap.add_argument("--pool-sent", type=int, default=10)
    ap.add_argument("--pool-city", action="store_true", help="the pool's sentence side ranked by cosine × city factor")
    ap.add_argument("--train", nargs="*", default=[], help="training question files or globs (fit_rerank_model.TRAIN_FILES: "
                    "'scripts/data/plan_train/*.jsonl scripts/data/in_scope_train.jsonl'); fitted, never evaluated")
    ap.add_argument("--fracs", default="1", help="comma-separated shares of the training questions (a training-size curve)")
    ap.add_argument("--models", default="linear", help="comma-separated: linear, cross (feature products), hgb (pointwise boosting)")
    ap.add_argument("--guard", choices=("passage", "plan", "none"), default="passage", help="fit_rerank_model.py's --guard (plan: "
                    "leave one plan out)")
    ap.add_argument("--train-weight", type=float, default=1.0)
    ap.add_argument("--gate-train", action="store_true", help="fit the gate on the training questions' paraphrase labels too")
    ap.add_argument("--no-heading", action="store_true", help="skip the head_cos / head_gap features (no heading embedding)")
    ap.add_argument("--train-paraphrased", action="store_true", help="fit only the paraphrased training questions")
    ap.add_argument("--repeats", type=int, default=1, help="average every figure over this many fold seeds (SEED, SEED+1, …)")
    ap.add_argument("--changes", action="store_true", help="list the tune / dev questions entering or leaving the gated top 5 "
                    "against the first row (first fold seed)")
    args = ap.parse_args()

    files = F.train_paths(args.train)
    items = load_items(Path(args.qa), Path(args.dev), files)
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    rel = F.relevant_positions(items, r.index.chunks)
    F.label_paraphrases(items, rel, r.index.chunks)
    r.sentence_mode = "rerank"
    default_ranks = [None if it["source"] == "train" else _rank(a.search(it["question"], k=10), it["docs"], it.get("evidence", []))
                     for it in items]
    hv = None if args.no_heading else heading_vectors(r, Path(args.cache))
    rows = collect(a, items, hv, args.pool_fused, args.pool_sent, args.pool_city)
    print(f"pool: fusion top {args.pool_fused} ∪ {args.pool_sent} best sentences{' × city factor' if args.pool_city else ''}")
    para = np.array([bool(it.get("paraphrase")) for it in items])
    tp = np.array([it["source"] == "tune" for it in items]) & para
    tr = np.array([it["source"] == "train" for it in items])
    ev = ~tr
    print(f"{int(ev.sum())} questions (tune {sum(it['source'] == 'tune' for it in items)}, dev {sum(it['source'] == 'dev' for it in items)}, "
          f"tune paraphrased {int(tp.sum())}); pool recall {np.mean([row[3].any() for row, e in zip(rows, ev) if e]):.3f}, "
          f"paraphrased {np.mean([row[3].any() for row, p in zip(rows, tp) if p]):.3f}")
    if tr.any():
        print(f"training questions: {int(tr.sum())} from {len(files)} file(s), {int((tr & para).sum())} paraphrased; "
              f"pool recall {np.mean([row[3].any() for row, t in zip(rows, tr) if t]):.3f}, paraphrased "
              f"{np.mean([row[3].any() for row, t in zip(rows, tr & para) if t]) if (tr & para).any() else float('nan'):.3f}")
    print("R@5 as tune / tune paraphrased / tune other / dev")
    print(f"{'default rerank':45s} {fmt(groups(default_ranks, items))}")
    results = {}
    for spec in args.sets.split(";"):
        feats = columns(spec)
        for kind in args.models.split(","):
            for frac in [float(x) for x in args.fracs.split(",")]:
                use = F.subset(items, frac) & (para if args.train_paraphrased else True)
                runs = [out_of_fold(rows, items, feats, default_ranks, para, args.strong_weight, kind=kind, rel=rel, use=use,
                                    guard=args.guard, train_weight=args.train_weight, gate_train=args.gate_train, seed=SEED + rep)
                        for rep in range(args.repeats)]
                label = f"{spec} {kind}" + (f" train×{frac:g} ({int(use.sum())})" if tr.any() else "")
                results.setdefault(spec, runs[0])
                print(f"{label:45s} ungated {fmt(mean_groups([groups(o, items) for o, _ in runs]))}")
                print(f"{'':45s} gated   {fmt(mean_groups([groups(g, items) for _, g in runs]))}", flush=True)
                if args.changes:
                    base = results.get(("base-ranks",))
                    gated = runs[0][1]
                    if base is None:
                        results[("base-ranks",)] = gated
                    else:
                        moved = [(it["id"], b, g) for it, b, g in zip(items, base, gated) if it["source"] != "train"
                                 and ((b or 99) <= 5) != ((g or 99) <= 5)]
                        print(f"{'':45s} top-5 changes against the first row (seed {SEED}): " + ", ".join(
                            f"{i} {b}→{g}" for i, b, g in moved), flush=True)
    if args.items:
        oof, gated = results.get("base", next(iter(results.values())))
        feats = BASE + EXTRA
        print("\ntune paraphrased questions, gated rank > 5: per feature, the within-pool rank of the best right passage")
        print("id  | pool | oof rank | " + " ".join(f"{f[:8]:>8s}" for f in feats))
        for it, row, g in zip(items, rows, gated):
            if not (it["source"] == "tune" and it.get("paraphrase")) or (g is not None and g <= 5):
                continue
            pos, _, _, y = row
            M = matrix(row, feats)
            if not y.any():
                print(f"{it['id']} | {len(pos):4d} | not in pool | {it['question']}")
                continue
            ranks = []
            for j in range(M.shape[1]):
                order = np.argsort(-M[:, j], kind="stable")
                ranks.append(int(np.nonzero(y[order])[0][0]) + 1)
            print(f"{it['id']} | {len(pos):4d} | {str(g):>8s} | " + " ".join(f"{x:8d}" for x in ranks) + f" | {it['question']}")


if __name__ == "__main__":
    main()

"""Fit the e5 query adapter (assistant/query_adapter.py) and measure it on the tune split + dev set.

Training pairs (none from an evaluation set; scripts/query_adapter_pairs.py embeds and caches them):

* JaQuAD train questions → their answer sentence (``--jaquad``, CC BY-SA 3.0);
* the bundled plans' structure (built here from the index): a sentence of a passage → a neighbouring
  sentence of the same passage (inverse cloze), a heading → the passage's first body sentence, and
  each of those queries rewritten with Sudachi synonyms (so some pairs share no content word). The
  targets are the index's own sentence vectors; only the pseudo-queries are embedded (cached under
  ``--cache``).

The fit: W (dim × dim, initialised to the identity) minimises an in-batch-negatives softmax loss
(MultipleNegativesRanking-style; negatives from the same passage are masked) on normalize(W q) · p,
plus ``--lam`` × ‖W − I‖². Seeded, full determinism on CPU (torch.use_deterministic_algorithms).

Measured (never the test split): e5 dense-only R@5 (best sentence per passage), the search pool's
recall (fusion top 30 ∪ the 10 passages with the best adapted sentence cosine), and end to end
``search`` with the adapted vector in the plain sentence rerank (``SENTENCE_MODE = "rerank"``) — each on tune, tune paraphrased,
tune other and dev, against the same without the adapter.

    OMP_NUM_THREADS=1 python scripts/fit_query_adapter.py --jaquad /tmp/h10p_cache/jaquad.npz          # fit + measure
    OMP_NUM_THREADS=1 python scripts/fit_query_adapter.py --jaquad /tmp/h10p_cache/jaquad.npz --write  # + store
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from assistant import japanese, query_adapter, retrieval  # noqa: E402
from assistant.evaluation import _rank, load_qa  # noqa: E402
from assistant.query import load_thesaurus  # noqa: E402

SEED = 0


# --- corpus pseudo-queries ----------------------------------------------------------------------


def synonym_rewrite(text: str, thesaurus, min_weight: float = 0.5) -> str | None:
    """``text`` with every content word that has a Sudachi / domain synonym replaced by its strongest one
    (ties: the first in sorted order, so the rewrite is deterministic); ``None`` when nothing changed."""
    out, changed = [], False
    for tok in japanese.analyze(text):
        alts = thesaurus.lookup(tok.surface) if japanese.is_content(tok) else {}
        alts = {w: v for w, v in alts.items() if v >= min_weight and w != tok.surface}
        if alts:
            best = sorted(alts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            out.append(best)
            changed = True
        else:
            out.append(tok.surface)
    return "".join(out) if changed else None


def structure_pairs(index, thesaurus, seed: int = SEED) -> list[tuple[str, int, int, str]]:
    """(pseudo-query, target sentence row in index.sentence_vectors, passage position, kind) from the plans."""
    sv = index.sentence_vectors  # one row per japanese.split_sentences() sentence, as evidence_model embeds them
    rng = np.random.RandomState(seed)
    out = []
    for i, c in enumerate(index.chunks):
        sents = japanese.split_sentences(c.text)
        s0, s1 = int(sv.offsets[i]), int(sv.offsets[i + 1])
        if s1 - s0 != len(sents):
            continue
        head = c.section[-1] if c.section else ""
        body = [j for j, s in enumerate(sents) if japanese.compact(s) != japanese.compact(head)]
        if head and body and len(japanese.compact(head)) >= 4:
            out.append((head, s0 + body[0], i, "heading"))
        for j, s in enumerate(sents):
            if len(japanese.compact(s)) < 15 or j not in body:
                continue
            nb = [x for x in (j - 1, j + 1) if x in body]
            if nb:
                out.append((s, s0 + nb[rng.randint(len(nb))], i, "ict"))
    rewrites = []
    for q, t, i, kind in out:
        r = synonym_rewrite(q, thesaurus)
        if r:
            rewrites.append((r, t, i, kind + "+syn"))
            if kind == "ict":  # the sentence itself, reworded: the same statement in other words
                rewrites.append((r, int(index.sentence_vectors.offsets[i]) + _row_of(index, i, q), i, "self+syn"))
    return out + [x for x in rewrites if x[1] >= 0]


def _row_of(index, i: int, sentence: str) -> int:
    sents = japanese.split_sentences(index.chunks[i].text)
    return sents.index(sentence) if sentence in sents else -10**9


def embed_queries(encoder, texts: list[str], cache_path: Path) -> np.ndarray:
    """e5 query vectors, cached by text hash in ``cache_path`` (npz)."""
    from tqdm import tqdm

    cache: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        z = np.load(cache_path)
        cache = dict(zip(z["keys"].tolist(), z["vecs"]))
    keys = [hashlib.sha1((encoder.model_id + "\0" + t).encode()).hexdigest() for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in cache))
    by_key = dict(zip(keys, texts))
    for b in tqdm(range(0, len(todo), 32), desc="pseudo-queries", disable=not todo):
        ks = todo[b : b + 32]
        for k, v in zip(ks, encoder.encode_queries([by_key[k] for k in ks])):
            cache[k] = np.asarray(v, np.float32)
        if b % 640 == 0 or b + 32 >= len(todo):
            np.savez(cache_path, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
    return np.stack([cache[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


# --- the fit --------------------------------------------------------------------------------------


def fit(Q: np.ndarray, P: np.ndarray, groups: np.ndarray, *, lam: float, epochs: int, scale: float, lr: float,
        batch: int, seed: int = SEED) -> np.ndarray:
    """W minimising in-batch softmax loss of normalize(W q)·p (same-group negatives masked) + lam‖W − I‖²."""
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    dim = Q.shape[1]
    W = torch.nn.Parameter(torch.eye(dim))
    eye = torch.eye(dim)
    opt = torch.optim.Adam([W], lr=lr)
    Qt, Pt, Gt = torch.from_numpy(Q), torch.from_numpy(P), torch.from_numpy(groups)
    rng = np.random.RandomState(seed)
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(len(Q)))
        for b in range(0, len(Q), batch):
            idx = perm[b : b + batch]
            q = torch.nn.functional.normalize(Qt[idx] @ W.T, dim=1)
            logits = scale * (q @ Pt[idx].T)
            g = Gt[idx]
            same = (g[:, None] == g[None, :]) & ~torch.eye(len(idx), dtype=torch.bool)
            logits = logits.masked_fill(same, -1e4)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(idx))) + lam * ((W - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return W.detach().numpy().astype(np.float32)


# --- measurement ----------------------------------------------------------------------------------


def eval_items(qa: Path, dev: Path) -> list[dict]:
    items = [it | {"source": "tune"} for it in load_qa(qa, "tune")]
    items += [json.loads(x) | {"source": "dev"} for x in dev.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [it for it in items if it.get("docs")]


def relevant(index, it: dict) -> np.ndarray:
    ev = [japanese.compact(e) for e in it.get("evidence", [])]
    return np.array([c.doc_id in it["docs"] and (not ev or any(e in japanese.compact(c.text) for e in ev)) for c in index.chunks])


def groups_of(items: list[dict]) -> dict[str, list[int]]:
    return {
        "tune": [i for i, it in enumerate(items) if it["source"] == "tune"],
        "tune_para": [i for i, it in enumerate(items) if it["source"] == "tune" and it.get("paraphrase")],
        "tune_other": [i for i, it in enumerate(items) if it["source"] == "tune" and not it.get("paraphrase")],
        "dev": [i for i, it in enumerate(items) if it["source"] == "dev"],
    }


def r_at(ranks: list, idx: list[int], k: int = 5) -> float:
    return round(sum(1 for i in idx if ranks[i] and ranks[i] <= k) / max(len(idx), 1), 3)


def measure(a, items, rel, qvecs, fused30, adapter, end_to_end: bool = True) -> dict:
    """R@5 by group: e5 dense-only, pool recall, and (optionally) end-to-end search with the adapter on."""
    r = a.state.retriever
    sv = r.index.sentence_vectors
    Qa = adapter.apply(qvecs) if adapter is not None else qvecs
    sims = Qa @ sv.vectors.T  # [items, sentences]
    starts = sv.offsets[:-1]
    has = sv.offsets[1:] > starts
    dense_ranks, pool_hit = [], []
    for n in range(len(items)):
        best = np.full(len(r.index.chunks), -1.0, np.float32)
        best[has] = np.maximum.reduceat(sims[n], starts[has])
        order = np.argsort(-best, kind="stable")
        hits = np.nonzero(rel[n][order])[0]
        dense_ranks.append(int(hits[0]) + 1 if len(hits) else None)
        pool = set(fused30[n]) | set(order[:10].tolist())
        pool_hit.append(1 if any(rel[n][p] for p in pool) else None)
    G = groups_of(items)
    out = {"dense_R@5": {g: r_at(dense_ranks, ix) for g, ix in G.items()},
           "pool_recall": {g: r_at(pool_hit, ix, 1) for g, ix in G.items()}}
    if end_to_end:
        r.sentence_mode = "rerank"  # the adapter in the plain sentence rerank (the gated mode's pool: fit_rerank_model.py)
        r.use_query_adapter = adapter is not None
        r.query_adapter = adapter
        ranks = [_rank(a.search(it["question"], k=10), it["docs"], it.get("evidence", [])) for it in items]
        out["search_R@5"] = {g: r_at(ranks, ix) for g, ix in G.items()}
        out["search_R@1"] = {g: r_at(ranks, ix, 1) for g, ix in G.items()}
        out["search_ranks"] = ranks
        r.use_query_adapter, r.sentence_mode = False, retrieval.SENTENCE_MODE
    out["dense_ranks"] = dense_ranks
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jaquad", help="npz from scripts/query_adapter_pairs.py jaquad (omit: corpus pairs only)")
    ap.add_argument("--sources", default="jaquad,heading,ict,syn", help="comma list of jaquad, heading, ict, syn")
    ap.add_argument("--cache", default="/tmp/query_adapter_cache")
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--scale", type=float, default=50.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--no-search", action="store_true", help="skip the end-to-end search measurement")
    ap.add_argument("--save-w", help="also save W (float32 .npy) here")
    ap.add_argument("--write", action="store_true", help=f"store assistant/data/{query_adapter.WEIGHTS_FILE} + card")
    ap.add_argument("--qa", default=str(ROOT / "eval" / "plan_qa.jsonl"))
    ap.add_argument("--dev", default=str(SHARED / "devset" / "qa.jsonl"))
    args = ap.parse_args()
    sources = set(args.sources.split(","))
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    from assistant import Assistant

    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    enc, index = r.answer_encoder, r.index
    if index.sentence_vectors is None or index.sentence_vectors.model_id != enc.model_id:
        raise SystemExit("the index has no sentence vectors of the answer encoder: build it first (python -m assistant build)")
    sv = index.sentence_vectors
    Qs, Ps, Gs, counts, hashes = [], [], [], {}, {}
    if "jaquad" in sources and args.jaquad:
        z = np.load(args.jaquad)
        if str(z["model_id"]) != enc.model_id:
            raise SystemExit(f"{args.jaquad} holds vectors of {z['model_id']}, not {enc.model_id}")
        Qs.append(z["q"]), Ps.append(z["p"]), Gs.append(-1 - np.arange(len(z["q"])))
        counts["jaquad"] = len(z["q"])
        hashes["jaquad_train.json.gz"] = str(z["data_sha256"])[:16]
    pairs = [p for p in structure_pairs(index, load_thesaurus()) if p[3].split("+")[0] in sources and ("+syn" not in p[3] or "syn" in sources)]
    if pairs:
        Q = embed_queries(enc, [p[0] for p in pairs], cache / "corpus_queries.npz")
        Qs.append(Q), Ps.append(sv.vectors[[p[1] for p in pairs]].astype(np.float32)), Gs.append(np.array([p[2] for p in pairs]))
        for p in pairs:
            counts[p[3]] = counts.get(p[3], 0) + 1
        hashes["corpus_passages"] = hashlib.sha256("".join(c.text for c in index.chunks).encode()).hexdigest()[:16]
    Q, P, G = np.concatenate(Qs).astype(np.float32), np.concatenate(Ps).astype(np.float32), np.concatenate(Gs).astype(np.int64)
    print("pairs:", counts, flush=True)
    t0 = time.time()
    W = fit(Q, P, G, lam=args.lam, epochs=args.epochs, scale=args.scale, lr=args.lr, batch=args.batch, seed=args.seed)
    fit_s = time.time() - t0
    print(f"fit {fit_s:.1f} s, |W − I|_F = {np.linalg.norm(W - np.eye(len(W))):.3f}", flush=True)
    if args.save_w:
        np.save(args.save_w, W)
    adapter = query_adapter.QueryAdapter(W, enc.model_id)
    figures = {}
    if not args.no_eval:
        items = eval_items(Path(args.qa), Path(args.dev))
        qvecs = embed_queries(enc, [it["question"] for it in items], cache / "eval_queries.npz")
        rel = np.stack([relevant(index, it) for it in items])
        fpath = cache / "fused30.json"
        if fpath.is_file():
            fused30 = json.loads(fpath.read_text())
        else:
            r.sentence_weight = 0.0
            fused30 = [[r.positions[h.id] for h in a.search(it["question"], k=30)] for it in items]
            r.sentence_weight = 0.35
            fpath.write_text(json.dumps(fused30))
        base = measure(a, items, rel, qvecs, fused30, None, not args.no_search)
        new = measure(a, items, rel, qvecs, fused30, adapter, not args.no_search)
        for key in ("dense_R@5", "pool_recall", "search_R@5", "search_R@1"):
            if key in new:
                print(f"{key:12s} before {base[key]}\n{'':12s} after  {new[key]}")
        if "search_ranks" in new:
            b5 = [x is not None and x <= 5 for x in base["search_ranks"]]
            n5 = [x is not None and x <= 5 for x in new["search_ranks"]]
            print("search top 5: +", [items[i]["id"] for i in range(len(items)) if n5[i] and not b5[i]],
                  "−", [items[i]["id"] for i in range(len(items)) if b5[i] and not n5[i]])
        figures = {k: new[k] for k in ("dense_R@5", "pool_recall", "search_R@5") if k in new}
        figures["before"] = {k: base[k] for k in ("dense_R@5", "pool_recall", "search_R@5") if k in base}
    if not args.write:
        return
    d = query_adapter.default_dir()
    card = {
        "encoder": enc.model_id,
        "what": "W (float16, dim × dim) applied to the e5 query vector: q' = normalize(W q); passage vectors unchanged",
        "method": f"in-batch-negatives softmax (scale {args.scale}), same-passage negatives masked, + {args.lam}·|W − I|², "
                  f"Adam lr {args.lr}, batch {args.batch}, {args.epochs} epochs, torch deterministic, seed {args.seed}",
        "pairs": counts, "data_sha256": hashes,
        "sources": {k: v for k, v in {
            "jaquad": "JaQuAD train (SkelterLabsInc/JaQuAD, CC BY-SA 3.0): questions → answer sentences (first question of randomly drawn paragraphs, seed 0)",
            "corpus": "the bundled plans: heading → first body sentence, sentence → neighbouring sentence, Sudachi-synonym rewrites (Apache-2.0 dictionary)",
        }.items() if (k == "jaquad" and "jaquad" in counts) or (k == "corpus" and len(counts) > ("jaquad" in counts))},
        "license": "W derives from JaQuAD (CC BY-SA 3.0, attribution: SkelterLabs JaQuAD) and the e5 model (MIT)",
        "fit_seconds": round(fit_s, 1), "machine": "2 shared CPU cores",
        "command": f"python scripts/query_adapter_pairs.py jaquad --n {counts.get('jaquad', 0)} --out J.npz && python scripts/fit_query_adapter.py --jaquad J.npz " + " ".join(
            f"--{k} {getattr(args, k)}" for k in ("sources", "lam", "epochs", "scale", "lr", "batch", "seed")) + " --write",
        "measured_tune_dev": figures,
    }
    for name, write in ((query_adapter.WEIGHTS_FILE, lambda f: np.save(f, W.astype(np.float16))),
                        (query_adapter.CARD_FILE, lambda f: f.write(json.dumps(card, ensure_ascii=False, indent=1).encode() + b"\n"))):
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, d / name)
        print("wrote", d / name)


if __name__ == "__main__":
    main()

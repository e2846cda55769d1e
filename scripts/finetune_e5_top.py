"""Fine-tune the top layers of the bundled e5 on CPU and measure what it does to retrieval (issue 10, §9.11).

Layers 0..L-1-TOP stay frozen: their output for every text (training pairs, the plans' in-context
sentences, the tune + dev questions) is computed once, in float32, and kept in memory; only the top
``--top`` layers (and mean pooling, which has no weights) are trained, with in-batch negatives
(InfoNCE, temperature ``--temp``) on

* JaQuAD train question → the sentence holding the answer, in context (title as heading) — as
  scripts/query_adapter_pairs.py builds them (CC BY-SA 3.0, ../shared/data/jaquad/),
* optionally the plans' own structure (scripts/fit_query_adapter.structure_pairs: heading → first body
  sentence, and their Sudachi-synonym rewrites; ``--plan-kinds``).

After every epoch the plans' sentences and the tune + dev questions are re-encoded through the trained top
layers and retrieval is measured without the frozen test split: e5 alone (passages by best sentence ×
city factor) R@5, pool recall (fusion top 30 ∪ 10 best sentences × city), and the gated pool reranker out
of fold (scripts/pool_order_experiment.py's folds, plain query vector, no adapter). Epoch 0 is the
untouched model in the same float32 arithmetic, the baseline. Seeded; nothing is written to the product.

    OMP_NUM_THREADS=2 python scripts/finetune_e5_top.py --n-jaquad 1000 --epochs 2 --save /tmp/ft.pt
    python scripts/finetune_e5_top.py --load /tmp/ft.pt --sets "base;base+rr_sent"       # evaluate saved layers
    python scripts/finetune_e5_top.py --load /tmp/ft.pt --combine "base;base+ft_gap"     # beside the shipped features
    (FT_POOL_CITY=1, FT_STRONG_WEIGHT=0.3: pool_order_experiment.py's --pool-city / --strong-weight)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import pool_order_experiment as P  # noqa: E402
from fit_rerank_model import load_items  # noqa: E402
from query_adapter_pairs import jaquad_pairs  # noqa: E402

from assistant import Assistant, evidence_model, rerank  # noqa: E402
from assistant.e5_core import E5Core, dequantize_q4_0  # noqa: E402
from assistant.evaluation import _rank  # noqa: E402
from assistant.japanese import compact  # noqa: E402

MODEL_DIR = ROOT / "assistant" / "models" / "e5-small-ja"
SEED = 0
POOL_CITY = bool(os.environ.get("FT_POOL_CITY"))  # exploration switches (scripts/pool_order_experiment.py's --pool-city,
STRONG_WEIGHT = float(os.environ.get("FT_STRONG_WEIGHT", "1"))  # --strong-weight)


class Lower:
    """Token ids → hidden states after the frozen layers (float16, one [len, h] tensor per text)."""

    def __init__(self, core: E5Core, n_frozen: int, max_len: int):
        self.core, self.n_frozen, self.max_len = core, n_frozen, max_len

    @torch.inference_mode()
    def __call__(self, texts: list[str], prompt: str, desc: str) -> list[torch.Tensor]:
        from tqdm import tqdm

        enc = self.core.encoder
        ids = [self.core.token_ids(prompt + t)[: self.max_len] for t in texts]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out: list[torch.Tensor | None] = [None] * len(ids)
        for a in tqdm(range(0, len(order), 32), desc=desc):
            rows = order[a : a + 32]
            n = max(len(ids[i]) for i in rows)
            x_ids = torch.full((len(rows), n), self.core.pad_id, dtype=torch.long)
            m = torch.zeros((len(rows), n), dtype=torch.long)
            for j, i in enumerate(rows):
                x_ids[j, : len(ids[i])] = torch.tensor(ids[i])
                m[j, : len(ids[i])] = 1
            flat = x_ids.reshape(-1)
            word = dequantize_q4_0(enc.word_qs[flat], enc.word_d[flat]).view(*x_ids.shape, -1)
            x = enc.eln(word + enc.pos(torch.arange(n)).unsqueeze(0) + enc.type0)
            mask = m[:, None, None, :].bool()
            for layer in enc.layers[: self.n_frozen]:
                x = layer(x, mask)
            for j, i in enumerate(rows):
                out[i] = x[j, : len(ids[i])].to(torch.float16).clone()
        return out


def cached(directory: str, key, compute):
    """``compute()``, kept in ``directory`` under a hash of ``key`` (evaluation texts only: they do not
    change between runs)."""
    import hashlib
    import json

    path = Path(directory) / (hashlib.sha1(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:16] + ".pt")
    if path.is_file():
        return torch.load(path)
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, str(path) + ".tmp")
    Path(str(path) + ".tmp").replace(path)
    return out


def top_encode(layers, hidden: list[torch.Tensor]) -> torch.Tensor:
    """Hidden states of the frozen part → L2-normalized mean-pooled vectors through ``layers``."""
    n = max(h.shape[0] for h in hidden)
    x = torch.zeros((len(hidden), n, hidden[0].shape[1]), dtype=torch.float32)
    m = torch.zeros((len(hidden), n), dtype=torch.float32)
    for j, h in enumerate(hidden):
        x[j, : h.shape[0]] = h.float()
        m[j, : h.shape[0]] = 1
    mask = m[:, None, None, :].bool()
    for layer in layers:
        x = layer(x, mask)
    pooled = (x * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    return F.normalize(pooled, dim=1)


@torch.inference_mode()
def encode_all(layers, hidden: list[torch.Tensor], batch: int = 64) -> np.ndarray:
    order = sorted(range(len(hidden)), key=lambda i: -hidden[i].shape[0])
    out = np.zeros((len(hidden), hidden[0].shape[1]), dtype=np.float32)
    for a in range(0, len(order), batch):
        rows = order[a : a + batch]
        out[rows] = top_encode(layers, [hidden[i] for i in rows]).numpy()
    return out


def evaluate(a, items, qvecs: dict[str, np.ndarray], svecs: np.ndarray, default_ranks, para, sets=("base",)) -> dict:
    """Search-side figures with these question and sentence vectors in place of the index's."""
    r = a.state.retriever
    sv = r.index.sentence_vectors
    saved = sv.vectors
    sv.vectors = svecs
    r.__dict__["_aqvec_cache"] = {}
    inner = r.answer_query_vector
    r.answer_query_vector = lambda text: qvecs[text]
    try:
        chunks = r.index.chunks
        e5_ranks = []
        for it in items:
            qa = r.analyze(it["question"])
            s = r.sentence_scores(qa.text, adapted=False) * r._city_factor(qa)
            order = np.argsort(-s, kind="stable")
            ev = [compact(e) for e in it.get("evidence", [])]
            rel = [chunks[i].doc_id in it["docs"] and (not ev or any(e in compact(chunks[i].text) for e in ev)) for i in order[:10]]
            e5_ranks.append(rel.index(True) + 1 if any(rel) else None)
        rows = P.collect(a, items, None, pool_city=POOL_CITY, adapted=False)
        by_set = {spec: P.out_of_fold(rows, items, P.columns(spec), default_ranks, para, STRONG_WEIGHT) for spec in sets}
        oof, gated = by_set[sets[0]]
    finally:
        sv.vectors = saved
        r.answer_query_vector = inner
        r.__dict__["_aqvec_cache"] = {}
    # e5 alone for the questions the gate calls lexically weak, the default rerank for the others (gate
    # fitted on the paraphrase labels of the other folds, as in pool_order_experiment.out_of_fold)
    folds = np.random.RandomState(P.SEED).permutation(len(items)) % P.FOLDS
    max_cov = np.array([float(row[1][:, rerank.FEATURES.index("cov")].max()) for row in rows])
    e5_gated = list(default_ranks)
    for k in range(P.FOLDS):
        gate = P.fit_gate(max_cov[folds != k], para[folds != k])
        for i in np.nonzero((folds == k) & (max_cov < gate))[0]:
            e5_gated[i] = e5_ranks[i]
    if os.environ.get("FT_ITEMS"):
        print("paraphrased tune items: e5 alone rank / reranker oof rank / gated rank")
        for it, e, o, g in zip(items, e5_ranks, oof, gated):
            if it["source"] == "tune" and it.get("paraphrase"):
                print(f"  {it['id']} {e} / {o} / {g}  {it['question'][:40]}")
    return {"e5": P.groups(e5_ranks, items), "e5_gated": P.groups(e5_gated, items), "pool": np.mean([row[3].any() for row, p in zip(rows, para) if p]),
            "pool_all": np.mean([row[3].any() for row in rows]), "oof": P.groups(oof, items), "gated": P.groups(gated, items),
            "sets": {k: (P.groups(o, items), P.groups(g, items)) for k, (o, g) in by_set.items()}}


def combine(a, items, qvecs: dict[str, np.ndarray], svecs: np.ndarray, default_ranks, para, sets) -> None:
    """The shipped pool and features (adapted vector of the bundled model) plus the fine-tuned model's
    best-sentence gap (``ft_gap``) and second-best sentence cosine (``ft_sent2``) as extra columns."""
    r = a.state.retriever
    rows = P.collect(a, items, None, adapted=True)
    offsets = r.index.sentence_vectors.offsets
    starts = offsets[:-1]
    if "ft_gap" not in P.EXTRA:
        P.EXTRA += ["ft_gap", "ft_sent2"]
    out = []
    for it, (pos, X_all, E, y) in zip(items, rows):
        sims = svecs @ qvecs[r.analyze(it["question"]).text]
        best = np.maximum.reduceat(sims, starts)
        second = np.array([np.sort(sims[offsets[i] : offsets[i + 1]])[-2] if offsets[i + 1] - offsets[i] > 1 else sims[offsets[i]]
                           for i in pos])
        out.append((pos, X_all, np.column_stack([E, best[pos] - best.max(), second]), y))
    for spec in sets:
        o, g = P.out_of_fold(out, items, P.columns(spec), default_ranks, para, STRONG_WEIGHT)
        print(f"  combined {spec:40s} oof {P.fmt(P.groups(o, items))} | gated {P.fmt(P.groups(g, items))}", flush=True)


def show(tag: str, m: dict) -> None:
    print(f"{tag}: e5 alone {P.fmt(m['e5'])} | gated e5 alone {P.fmt(m['e5_gated'])}")
    print(f"{'':{len(tag)}}  | pool recall all {m['pool_all']:.3f} para {m['pool']:.3f}")
    print(f"{'':{len(tag)}}  reranker oof {P.fmt(m['oof'])} | gated {P.fmt(m['gated'])}", flush=True)
    for spec, (o, g) in list(m["sets"].items())[1:]:
        print(f"  {spec:40s} oof {P.fmt(o)} | gated {P.fmt(g)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jaquad", type=int, default=2000)
    ap.add_argument("--plan-kinds", default="", help="structure pair kinds to add, e.g. heading,heading+syn")
    ap.add_argument("--top", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--temp", type=float, default=0.05)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--cache", default="/tmp/finetune_e5_cache", help="the plans' and questions' frozen-layer states (derived, deletable)")
    ap.add_argument("--load", default="", help="evaluate saved top layers (--save of an earlier run) instead of training")
    ap.add_argument("--combine", default="", help="';'-separated feature sets over the shipped pool + ft_gap/ft_sent2 (with --load)")
    ap.add_argument("--sets", default="base", help="';'-separated reranker feature sets (scripts/pool_order_experiment.py) to measure")
    ap.add_argument("--save", default="", help="save the trained top layers' state dict here (a .pt outside the repo)")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    t_start = time.time()

    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    items = load_items(ROOT / "eval" / "plan_qa.jsonl", ROOT.parent / "shared" / "devset" / "qa.jsonl")
    para = np.array([bool(it.get("paraphrase")) for it in items])
    r.sentence_mode = "rerank"
    default_ranks = [_rank(a.search(it["question"], k=10), it["docs"], it.get("evidence", [])) for it in items]

    core = E5Core.load(str(MODEL_DIR), model_kwargs={"quantize": "none"})
    L = core.num_layers
    lower = Lower(core, L - args.top, args.max_len)
    if args.load:
        args.n_jaquad, args.plan_kinds, args.epochs = 0, "", 0
    pairs = jaquad_pairs(ROOT.parent / "shared" / "data" / "jaquad" / "train.json.gz", args.n_jaquad)
    if args.plan_kinds:
        from fit_query_adapter import structure_pairs

        from assistant.query import load_thesaurus

        kinds = set(args.plan_kinds.split(","))
        sents = [s for c in r.index.chunks for s in evidence_model.chunk_sentence_texts(c)]
        plan = [(q, sents[t]) for q, t, _, k in structure_pairs(r.index, load_thesaurus()) if k in kinds]
        print(f"plan pairs: {len(plan)} ({args.plan_kinds})")
        pairs += plan
    sent_texts = [s for c in r.index.chunks for s in evidence_model.chunk_sentence_texts(c)]
    if len(sent_texts) != len(r.index.sentence_vectors.vectors):
        raise SystemExit("sentence texts do not line up with the index's sentence vectors")
    questions = list(dict.fromkeys(r.analyze(it["question"]).text for it in items))
    hq = lower([q for q, _ in pairs], "query: ", "lower layers: training questions") if pairs else []
    hp = lower([p for _, p in pairs], "passage: ", "lower layers: training sentences") if pairs else []
    hs, hQ = cached(args.cache, ("passage: ", sent_texts, "query: ", questions, args.max_len, L - args.top),
                    lambda: (lower(sent_texts, "passage: ", "lower layers: plan sentences"),
                             lower(questions, "query: ", "lower layers: tune + dev questions")))
    print(f"{len(pairs)} pairs; frozen layers cached in {time.time() - t_start:.0f} s", flush=True)

    layers = torch.nn.ModuleList([core.encoder.layers[i] for i in range(L - args.top, L)])
    for p in layers.parameters():
        p.requires_grad_(True)
    if args.load:
        layers.load_state_dict(torch.load(args.load))

    def measure(tag):
        layers.eval()
        qv = dict(zip(questions, encode_all(layers, hQ)))
        show(tag, evaluate(a, items, qv, encode_all(layers, hs), default_ranks, para, args.sets.split(";")))

    if args.combine:
        layers.eval()
        qv = dict(zip(questions, encode_all(layers, hQ)))
        combine(a, items, qv, encode_all(layers, hs), default_ranks, para, args.combine.split(";"))
        return
    measure(f"loaded {args.load}" if args.load else "epoch 0 (float32, untrained)")
    opt = torch.optim.AdamW(layers.parameters(), lr=args.lr, weight_decay=0.01)
    rng = np.random.RandomState(SEED)
    for ep in range(1, args.epochs + 1):
        layers.train()
        t0 = time.time()
        perm = rng.permutation(len(pairs))
        tot = 0.0
        for b in range(0, len(perm) - 1, args.batch):
            idx = perm[b : b + args.batch]
            if len(idx) < 2:
                continue
            q = top_encode(layers, [hq[i] for i in idx])
            p = top_encode(layers, [hp[i] for i in idx])
            sims = q @ p.T / args.temp
            same = np.array([[pairs[i][1] == pairs[j][1] and i != j for j in idx] for i in idx])
            sims = sims.masked_fill(torch.from_numpy(same), -1e4)
            loss = F.cross_entropy(sims, torch.arange(len(idx)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
        print(f"epoch {ep}: loss {tot / len(pairs):.4f}, {time.time() - t0:.0f} s", flush=True)
        measure(f"epoch {ep}")
    if args.save:
        torch.save(layers.state_dict(), args.save)
    print(f"total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()

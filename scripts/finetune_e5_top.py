"""Fine-tune the top layers of the bundled e5 on CPU and measure what it does to retrieval (issue 10, §9.11).

Layers 0..L-1-TOP stay frozen: their output for every text (training pairs, the plans' in-context
sentences, the tune + dev questions) is computed once, in float32, and kept in memory; only the top
``--top`` layers (and mean pooling, which has no weights) are trained, with in-batch negatives
(InfoNCE, temperature ``--temp``) on

* JaQuAD train question → the sentence holding the answer, in context (title as heading) — as
  scripts/query_adapter_pairs.py builds them (CC BY-SA 3.0, ../shared/data/jaquad/),
* optionally the plans' own structure (scripts/fit_query_adapter.structure_pairs: heading → first body
  sentence, and their Sudachi-synonym rewrites; ``--plan-kinds``),
* the plan training questions (``--plan-train auto``: scripts/data/plan_train/*.jsonl) → the plan sentence
  in context holding each evidence string, with ``--hard-neg`` mined same-plan negatives
  (scripts/finetune_e5_data.py; tune and dev questions and their near copies are never trained on).

The untouched model is ``--base`` (built by scripts/build_e5_model.py when missing; the bundled model is
the untouched one again: §9.16's fine-tune was not kept). The default-rerank baseline and the pool features come from the
loaded index, so for figures comparable with §9.11/§9.16 the index's sentence vectors must be the base
model's. ``--lodo``: leave one document out (train without one plan's training questions, measure e5 alone
on that plan's tune + dev questions, pooled over the plans). Every epoch also scores a fixed JSQuAD-valid
sample with e5 alone (``--jsquad-articles``), so forgetting general Japanese shows.

After every epoch the plans' sentences and the tune + dev questions are re-encoded through the trained top
layers and retrieval is measured without the frozen test split: e5 alone (passages by best sentence ×
city factor) R@5, pool recall (fusion top 30 ∪ 10 best sentences × city), and the gated pool reranker out
of fold (scripts/pool_order_experiment.py's folds, plain query vector, no adapter). Epoch 0 is the
untouched model in the same float32 arithmetic, the baseline. Seeded; nothing is written to the product.

    OMP_NUM_THREADS=2 python scripts/finetune_e5_top.py --n-jaquad 1000 --epochs 2 --save /tmp/ft.pt
    python scripts/finetune_e5_top.py --top 4 --n-jaquad 0 --plan-train auto --hard-neg 1 --epochs 3 --save /tmp/ft.pt   # §9.16
    python scripts/finetune_e5_top.py --top 4 --n-jaquad 0 --plan-train auto --hard-neg 1 --epochs 2 --lodo
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

import finetune_e5_data as D  # noqa: E402
import pool_order_experiment as P  # noqa: E402
from fit_rerank_model import load_items  # noqa: E402
from query_adapter_pairs import jaquad_pairs  # noqa: E402

from assistant import Assistant, evidence_model, rerank  # noqa: E402
from assistant.e5_core import E5Core, dequantize_q4_0  # noqa: E402
from assistant.evaluation import _rank  # noqa: E402
from assistant.japanese import compact  # noqa: E402

BASE_DIR = "/tmp/e5-base"  # the untouched model: scripts/build_e5_model.py --out /tmp/e5-base (the bundled one is fine-tuned)
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
        return torch.load(path, weights_only=False)  # our own derived file (may hold numpy arrays)
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


def evaluate(a, items, qvecs: dict[str, np.ndarray], svecs: np.ndarray, default_ranks, para, sets=("base",),
             reranker: bool = True) -> dict:
    """Search-side figures with these question and sentence vectors in place of the index's (``reranker``
    False: e5 alone only, for the quick leave-one-document-out runs)."""
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
        if not reranker:
            return {"e5": P.groups(e5_ranks, items), "e5_ranks": e5_ranks}
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
    return {"e5_ranks": e5_ranks, "e5": P.groups(e5_ranks, items), "e5_gated": P.groups(e5_gated, items), "pool": np.mean([row[3].any() for row, p in zip(rows, para) if p]),
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


def train_layers(layers, examples: list[tuple], epochs: int, batch_size: int, lr: float, temp: float, on_epoch=None) -> list[float]:
    """``epochs`` epochs of InfoNCE over ``examples`` from the layers' current state (seeded: the same
    examples give the same layers). An example is (question state, positive state, the texts that answer
    the question, [negative states], [negative texts], positive text); every other example's positive and
    every negative in the batch is a negative, except a column whose text answers this row too.
    Returns the mean loss per epoch."""
    from tqdm import tqdm

    opt = torch.optim.AdamW(layers.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.RandomState(SEED)
    torch.manual_seed(SEED)
    losses = []
    for ep in range(1, epochs + 1):
        layers.train()
        t0 = time.time()
        perm = rng.permutation(len(examples))
        tot = 0.0
        for b in tqdm(range(0, len(perm) - 1, batch_size), desc=f"epoch {ep}", mininterval=30):
            idx = perm[b : b + batch_size]
            if len(idx) < 2:
                continue
            batch = [examples[i] for i in idx]
            q = top_encode(layers, [e[0] for e in batch])
            p = top_encode(layers, [e[1] for e in batch] + [h for e in batch for h in e[3]])
            sims = q @ p.T / temp
            keys = [e[5] for e in batch] + [k for e in batch for k in e[4]]
            same = np.array([[keys[j] in batch[i][2] and j != i for j in range(len(keys))] for i in range(len(batch))])
            sims = sims.masked_fill(torch.from_numpy(same), -1e4)
            loss = F.cross_entropy(sims, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(batch)
        losses.append(tot / max(len(examples), 1))
        print(f"epoch {ep}: loss {losses[-1]:.4f}, {time.time() - t0:.0f} s", flush=True)
        if on_epoch is not None:
            on_epoch(ep)
    return losses


def plan_examples(plan, hpq, hs, sent_texts) -> tuple[list[tuple], list[set]]:
    """``train_layers`` examples from plan pairs (one per distinct answer sentence text) and, per example,
    the documents its question is about."""
    examples, docs = [], []
    for p, h in zip(plan, hpq):
        own = {sent_texts[j] for j in p.positives}  # overlapping passages repeat a sentence: one target per text
        for j in dict((sent_texts[j], j) for j in p.positives).values():
            examples.append((h, hs[j], own, [hs[k] for k in p.negatives], [sent_texts[k] for k in p.negatives], sent_texts[j]))
            docs.append(set(p.docs))
    return examples, docs


def doc_figures(items, ranks, doc: str) -> str:
    """e5-alone R@5 on the tune questions of one document (all / paraphrased / other, with counts)."""
    out = []
    for name, f in (("all", lambda it: True), ("para", lambda it: it.get("paraphrase")), ("other", lambda it: not it.get("paraphrase"))):
        rs = [r for r, it in zip(ranks, items) if it["source"] == "tune" and doc in it["docs"] and f(it)]
        out.append(f"{name} {sum(1 for r in rs if r and r <= 5)}/{len(rs)}")
    return ", ".join(out)


def show(tag: str, m: dict, hold_doc: str = "") -> None:
    if hold_doc:
        print(f"{tag}: held-out {hold_doc} tune e5 alone R@5 {doc_figures(m['items'], m['e5_ranks'], hold_doc)}")
    if "e5_gated" not in m:
        print(f"{tag}: e5 alone {P.fmt(m['e5'])}", flush=True)
        return
    print(f"{tag}: e5 alone {P.fmt(m['e5'])} | gated e5 alone {P.fmt(m['e5_gated'])}")
    print(f"{'':{len(tag)}}  | pool recall all {m['pool_all']:.3f} para {m['pool']:.3f}")
    print(f"{'':{len(tag)}}  reranker oof {P.fmt(m['oof'])} | gated {P.fmt(m['gated'])}", flush=True)
    for spec, (o, g) in list(m["sets"].items())[1:]:
        print(f"  {spec:40s} oof {P.fmt(o)} | gated {P.fmt(g)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jaquad", type=int, default=2000)
    ap.add_argument("--plan-kinds", default="", help="structure pair kinds to add, e.g. heading,heading+syn")
    ap.add_argument("--plan-train", default="", help="plan training questions: 'auto' (scripts/data/plan_train/*.jsonl, "
                    "else scripts/data/in_scope_train.jsonl) or comma-separated globs; '' = none")
    ap.add_argument("--hard-neg", type=int, default=0, help="mined same-plan negatives per plan training question")
    ap.add_argument("--hold-doc", default="", help="leave this document's plan training questions out; report its tune questions")
    ap.add_argument("--lodo", action="store_true", help="leave one document out (e5 alone; see the code)")
    ap.add_argument("--no-reranker", action="store_true", help="measure e5 alone only (quick)")
    ap.add_argument("--jsquad-articles", type=int, default=2, help="JSQuAD-valid articles in the forgetting check (0 = off)")
    ap.add_argument("--base", default=BASE_DIR, help="the untouched e5 (built here by scripts/build_e5_model.py when missing)")
    ap.add_argument("--top", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--temp", type=float, default=0.05)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--cache", default="/tmp/finetune_e5_cache", help="frozen-layer states of every text (derived, deletable)")
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

    if not (Path(args.base) / "config.json").is_file():
        import build_e5_model

        build_e5_model.main(["--out", args.base])
    core = E5Core.load(args.base, model_kwargs={"quantize": "none"})
    L = core.num_layers
    lower = Lower(core, L - args.top, args.max_len)
    if args.load:
        args.n_jaquad, args.plan_kinds, args.plan_train, args.epochs = 0, "", "", 0
    pairs = jaquad_pairs(ROOT.parent / "shared" / "data" / "jaquad" / "train.json.gz", args.n_jaquad) if args.n_jaquad else []
    chunks = r.index.chunks
    sent_texts = [s for c in chunks for s in evidence_model.chunk_sentence_texts(c)]
    offsets = r.index.sentence_vectors.offsets
    if len(sent_texts) != len(r.index.sentence_vectors.vectors):
        raise SystemExit("sentence texts do not line up with the index's sentence vectors")
    if args.plan_kinds:
        from fit_query_adapter import structure_pairs

        from assistant.query import load_thesaurus

        kinds = set(args.plan_kinds.split(","))
        plan = [(q, sent_texts[t]) for q, t, _, k in structure_pairs(r.index, load_thesaurus()) if k in kinds]
        print(f"plan pairs: {len(plan)} ({args.plan_kinds})")
        pairs += plan
    questions = list(dict.fromkeys(r.analyze(it["question"]).text for it in items))
    n_frozen = L - args.top
    hs, hQ = cached(args.cache, ("passage: ", sent_texts, "query: ", questions, args.max_len, n_frozen),
                    lambda: (lower(sent_texts, "passage: ", "lower layers: plan sentences"),
                             lower(questions, "query: ", "lower layers: tune + dev questions")))
    # training examples: (question state, positive state, the texts that answer it, [negative states],
    # [negative texts], positive text)
    examples: list[tuple] = []
    example_docs: list[set] = []  # per example, the plans its question is about (empty for JaQuAD)
    if pairs:
        hq = cached(args.cache, ("query: ", [q for q, _ in pairs], args.max_len, n_frozen),
                    lambda: lower([q for q, _ in pairs], "query: ", "lower layers: training questions"))
        hp = cached(args.cache, ("passage: ", [p for _, p in pairs], args.max_len, n_frozen),
                    lambda: lower([p for _, p in pairs], "passage: ", "lower layers: training sentences"))
        examples += [(hq[i], hp[i], {p}, [], [], p) for i, (_, p) in enumerate(pairs)]
        example_docs += [set() for _ in pairs]
    if args.plan_train:
        files = D.plan_train_files(args.plan_train)
        titems = D.load_items(files)
        protected = [it["question"] for it in items]  # tune + dev: never trained on
        plan, stats = D.plan_pairs(titems, chunks, offsets, sent_texts, protected, args.hold_doc)
        print(f"plan training questions: {', '.join(str(f.relative_to(ROOT)) for f in files)}: {stats}; "
              f"{sum(p.paraphrase for p in plan)} paraphrased", flush=True)
        ptexts = [r.analyze(p.question).text for p in plan]
        hpq = cached(args.cache, ("query: ", ptexts, args.max_len, n_frozen),
                     lambda: lower(ptexts, "query: ", "lower layers: plan training questions"))
        if args.hard_neg:
            # mined with the untouched model in this float32 arithmetic (not the index's vectors, which
            # are whatever model the index was built with)
            untouched = torch.nn.ModuleList([core.encoder.layers[i] for i in range(n_frozen, L)])
            base_sv = cached(args.cache, ("untouched top", "passage: ", sent_texts, args.max_len, n_frozen),
                             lambda: encode_all(untouched, hs))
            base_q = dict(zip(ptexts, encode_all(untouched, hpq)))
            D.mine_negatives(plan, {it["id"]: it for it in titems}, chunks, offsets, sent_texts, base_sv,
                             lambda q: base_q[r.analyze(q).text], args.hard_neg)
        ex, ed = plan_examples(plan, hpq, hs, sent_texts)
        examples += ex
        example_docs += ed
    js = None
    if args.jsquad_articles:
        jsents, jowner, jqs = D.jsquad_sample(ROOT.parent / "shared" / "bench" / "jsquad-valid-v1.3.json", args.jsquad_articles)
        hjs, hjq = cached(args.cache, ("jsquad", jsents, [q for q, _ in jqs], args.max_len, n_frozen),
                          lambda: (lower(jsents, "passage: ", "lower layers: JSQuAD sentences"),
                                   lower([q for q, _ in jqs], "query: ", "lower layers: JSQuAD questions")))
        js = (hjs, hjq, jowner, np.array([g for _, g in jqs]))
    print(f"{len(examples)} training examples; frozen layers cached in {time.time() - t_start:.0f} s", flush=True)

    layers = torch.nn.ModuleList([core.encoder.layers[i] for i in range(L - args.top, L)])
    for p in layers.parameters():
        p.requires_grad_(True)
    if args.load:
        layers.load_state_dict(torch.load(args.load))

    def measure(tag):
        layers.eval()
        qv = dict(zip(questions, encode_all(layers, hQ)))
        m = evaluate(a, items, qv, encode_all(layers, hs), default_ranks, para, args.sets.split(";"), reranker=not args.no_reranker)
        m["items"] = items
        show(tag, m, args.hold_doc)
        if js is not None:
            f = D.paragraph_mrr(encode_all(layers, js[1]), encode_all(layers, js[0]), js[2], js[3])
            print(f"{'':{len(tag)}}  JSQuAD-valid sample ({args.jsquad_articles} articles, {f['n']} questions), e5 alone: "
                  f"R@1 {f['R@1']:.3f} R@5 {f['R@5']:.3f} MRR@10 {f['MRR@10']:.3f}", flush=True)

    if args.combine:
        layers.eval()
        qv = dict(zip(questions, encode_all(layers, hQ)))
        combine(a, items, qv, encode_all(layers, hs), default_ranks, para, args.combine.split(";"))
        return

    def train(exs, on_epoch):
        train_layers(layers, exs, args.epochs, args.batch, args.lr, args.temp, on_epoch)

    if args.lodo:
        # leave one document out: per plan, train without the training questions about it and measure e5
        # alone on the tune + dev questions whose first document it is; pooled over the plans
        init = {k: v.clone() for k, v in layers.state_dict().items()}
        docs = sorted({it["docs"][0] for it in items})
        pooled: dict[int, list] = {ep: [None] * len(items) for ep in range(0, args.epochs + 1)}

        def fill(ep, doc):
            layers.eval()
            qv = dict(zip(questions, encode_all(layers, hQ)))
            ranks = evaluate(a, items, qv, encode_all(layers, hs), default_ranks, para, reranker=False)["e5_ranks"]
            for k, it in enumerate(items):
                if it["docs"][0] == doc:
                    pooled[ep][k] = ranks[k]
            print(f"  held out {doc}, epoch {ep}: {doc_figures(items, ranks, doc)}", flush=True)

        for doc in docs:
            layers.load_state_dict(init)
            keep = [e for e, d in zip(examples, example_docs) if doc not in d]
            print(f"LODO {doc}: {len(keep)} of {len(examples)} training examples", flush=True)
            fill(0, doc)
            train(keep, lambda ep, doc=doc: fill(ep, doc))
        for ep, ranks in pooled.items():
            print(f"LODO pooled, epoch {ep}: e5 alone {P.fmt(P.groups(ranks, items))}", flush=True)
        print(f"total {time.time() - t_start:.0f} s")
        return

    measure(f"loaded {args.load}" if args.load else "epoch 0 (float32, untrained)")

    def after_epoch(ep):
        measure(f"epoch {ep}")
        if args.save:  # every epoch's layers: <save> for the last, <save>.epN for each
            torch.save(layers.state_dict(), f"{args.save}.ep{ep}")

    train(examples, after_epoch)
    if args.save:
        torch.save(layers.state_dict(), args.save)
    print(f"total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()

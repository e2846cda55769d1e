"""Training and check data for fine-tuning e5's top layers (scripts/finetune_e5_top.py, issue 10, §9.16).

Why a module of its own: the pairs must be built the same way by the experiment and by whatever rebuilds a
shipped model, and the rules that keep the evaluation honest live here in one place:

* **plan training questions** (``scripts/data/plan_train/*.jsonl``, or the interim
  ``scripts/data/in_scope_train.jsonl``; the format of eval/plan_qa.jsonl) become question → the plan
  sentence *in context* (``evidence_model.chunk_sentence_texts``, the text the index embeds) that holds
  each evidence string. Out-of-scope and near-miss items have no answer sentence and are skipped.
* a training question that nearly copies a tune or dev question (character-bigram Jaccard ≥
  ``MAX_JACCARD``) is dropped, so the tune + dev figures are never measured on a trained question;
* **hard negatives** from the same plan: the sentences the untouched e5 ranks nearest to the question in
  the question's documents, outside every passage that holds an evidence string;
* a fixed **JSQuAD-valid sample** (the first articles of the file), scored by e5 alone, so that a
  fine-tune that forgets general Japanese shows.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import evidence_model, japanese
from assistant.japanese import compact

ROOT = Path(__file__).resolve().parent.parent
PLAN_TRAIN_GLOB = str(ROOT / "scripts" / "data" / "plan_train" / "*.jsonl")
INTERIM = ROOT / "scripts" / "data" / "in_scope_train.jsonl"
DEV = ROOT.parent / "shared" / "devset" / "qa.jsonl"
MAX_JACCARD = 0.5
SKIP_TYPES = {"out_of_scope", "near_miss"}


@dataclass
class PlanPair:
    """One training question and the positions (in the index's sentence list) of its answer sentences."""

    id: str
    question: str
    docs: list[str]
    positives: list[int]
    negatives: list[int] = field(default_factory=list)
    paraphrase: bool = False


def plan_train_files(spec: str) -> list[Path]:
    """``auto``: the plan training files when any exist, else the interim in-scope file; otherwise a
    comma-separated list of globs."""
    if spec == "auto":
        found = sorted(glob.glob(PLAN_TRAIN_GLOB))
        return [Path(p) for p in found] if found else [INTERIM]
    return [Path(p) for g in spec.split(",") if g for p in sorted(glob.glob(g))]


def load_items(paths: list[Path]) -> list[dict]:
    items = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e})") from e
    return items


def protected_questions() -> list[str]:
    """Every evaluation question — tune, the frozen test split, the blind batches — and the dev questions:
    whatever is learnt from the plan training questions (the e5 fine-tune, the learned thesaurus) drops a
    training question that nearly copies one (``near_copies``). ``scripts/check_plan_train.py`` already keeps
    near copies of the test split out at a looser bound; this is the stricter ``MAX_JACCARD``, so no figure
    on any split is measured on a question something was learnt from."""
    if not DEV.is_file():
        raise SystemExit(f"{DEV} is missing: the dev questions must be known to keep them out of training")
    dev = [json.loads(x)["question"] for x in DEV.read_text(encoding="utf-8").splitlines() if x.strip()]
    qa = ROOT / "eval" / "plan_qa.jsonl"
    return [json.loads(x)["question"] for x in qa.read_text(encoding="utf-8").splitlines() if x.strip()] + dev


def bigrams(text: str) -> set[str]:
    t = compact(text)
    return {t[i : i + 2] for i in range(len(t) - 1)} or {t}


def near_copies(items: list[dict], protected: list[str], max_jaccard: float = MAX_JACCARD) -> set[str]:
    """Ids of training items whose question is a near copy of a protected (evaluation or dev) question."""
    prot = [bigrams(q) for q in protected]
    out = set()
    for it in items:
        b = bigrams(it["question"])
        if any(len(b & p) / max(len(b | p), 1) >= max_jaccard for p in prot):
            out.add(it["id"])
    return out


def answer_sentences(chunks, offsets: np.ndarray, sent_texts: list[str], docs: list[str], evidence: list[str]) -> tuple[list[int], set[int]]:
    """Positions of the sentences holding each evidence string (the sentence with the most of the
    evidence's character bigrams when it spans sentences), and the passages holding any evidence."""
    pos: list[int] = []
    holding: set[int] = set()
    for ev in evidence:
        e = compact(ev)
        if not e:
            continue
        eb = bigrams(ev)
        for ci, c in enumerate(chunks):
            if c.doc_id not in docs or e not in compact(c.text):
                continue
            holding.add(ci)
            idx = range(int(offsets[ci]), int(offsets[ci + 1]))
            inside = [j for j in idx if e in compact(sent_texts[j])]
            if not inside and len(idx):
                inside = [max(idx, key=lambda j: len(eb & bigrams(sent_texts[j])))]
            pos += [j for j in inside if j not in pos]
    return pos, holding


def plan_pairs(items: list[dict], chunks, offsets: np.ndarray, sent_texts: list[str], protected: list[str],
               hold_doc: str = "") -> tuple[list[PlanPair], dict]:
    """Plan training questions → ``PlanPair``s (no negatives yet) and counts of what was skipped."""
    copies = near_copies(items, protected)
    pairs, stats = [], {"items": len(items), "skipped_type": 0, "near_copy": len(copies), "no_evidence": 0, "held_out": 0}
    for it in items:
        if it.get("type") in SKIP_TYPES or not it.get("docs") or not it.get("evidence"):
            stats["skipped_type"] += 1
            continue
        if it["id"] in copies:
            continue
        if hold_doc and hold_doc in it["docs"]:
            stats["held_out"] += 1
            continue
        pos, _ = answer_sentences(chunks, offsets, sent_texts, it["docs"], it["evidence"])
        if not pos:
            stats["no_evidence"] += 1
            continue
        pairs.append(PlanPair(it["id"], it["question"], list(it["docs"]), pos, paraphrase=bool(it.get("paraphrase"))))
    stats["pairs"] = len(pairs)
    return pairs, stats


def mine_negatives(pairs: list[PlanPair], items_by_id: dict, chunks, offsets: np.ndarray, sent_texts: list[str],
                   sent_vectors: np.ndarray, query_vector, n: int, in_passage: int = 0) -> None:
    """Give each pair the ``n`` sentences of its documents nearest to the question by the untouched e5,
    outside every passage that holds an evidence string (those may answer too), and ``in_passage``
    nearest sentences *inside* those passages that hold no evidence string nor answer keyword.

    Why the second kind: the answer is composed from sentences, and the right passage's other sentences
    are the ones the answer must be told apart from (「推進内容: 各所属に協働推進員を配置し…」 beside
    「各課で協働が進むよう継続実施していく。」); negatives from other passages only teach which passage."""
    if n <= 0 and in_passage <= 0:
        return
    owner = np.repeat(np.arange(len(chunks)), np.diff(offsets))
    doc_of = np.array([chunks[i].doc_id for i in owner])
    for p in pairs:
        item = items_by_id[p.id]
        _, holding = answer_sentences(chunks, offsets, sent_texts, p.docs, item["evidence"])
        q = query_vector(p.question)
        outside = np.nonzero(np.isin(doc_of, p.docs) & ~np.isin(owner, list(holding)))[0]
        if len(outside) and n > 0:
            sims = sent_vectors[outside].astype(np.float32) @ q
            p.negatives = [int(outside[j]) for j in np.argsort(-sims, kind="stable")[:n]]
        answers = [compact(x) for x in [*item["evidence"], *item.get("answer_keywords", [])] if compact(x)]
        inside = [j for j in np.nonzero(np.isin(owner, list(holding)))[0]
                  if j not in p.positives and not any(x in compact(sent_texts[j]) for x in answers)]
        if inside and in_passage > 0:
            inside = np.array(inside)
            sims = sent_vectors[inside].astype(np.float32) @ q
            p.negatives += [int(inside[j]) for j in np.argsort(-sims, kind="stable")[:in_passage]]


def jsquad_sample(path: Path, n_articles: int) -> tuple[list[str], np.ndarray, list[tuple[str, int]]]:
    """The first ``n_articles`` articles of JSQuAD-valid: sentences in context (title as heading), the
    paragraph of each sentence, and (question, paragraph) pairs."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"][:n_articles]
    sents, owner, qs = [], [], []
    pi = -1
    for art in data:
        for para in art["paragraphs"]:
            ss = japanese.split_sentences(para["context"])
            if not ss:
                continue
            pi += 1
            for i in range(len(ss)):
                sents.append(evidence_model.sentence_context([art["title"]], ss, i))
                owner.append(pi)
            qs += [(qa["question"], pi) for qa in para["qas"]]
    return sents, np.array(owner), qs


def paragraph_mrr(qvecs: np.ndarray, svecs: np.ndarray, owner: np.ndarray, gold: np.ndarray, k: int = 10) -> dict:
    """R@1, R@5 and MRR@k of ranking paragraphs by their best sentence cosine."""
    n_par = int(owner.max()) + 1
    rr, r1, r5 = [], [], []
    for q, g in zip(qvecs, gold):
        best = np.full(n_par, -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, svecs @ q)
        rank = int((best > best[g]).sum()) + 1
        rr.append(1 / rank if rank <= k else 0.0)
        r1.append(rank <= 1)
        r5.append(rank <= 5)
    return {"R@1": float(np.mean(r1)), "R@5": float(np.mean(r5)), f"MRR@{k}": float(np.mean(rr)), "n": len(gold)}

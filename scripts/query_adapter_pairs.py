"""Training pairs for the e5 query adapter (assistant/query_adapter.py), embedded once and cached.

Two sources, neither from the evaluation sets:

* ``jaquad`` — JaQuAD train questions → the sentence of their paragraph that holds the answer
  (CC BY-SA 3.0, ../shared/data/jaquad/), embedded the way the index embeds a plan sentence
  (``evidence_model.sentence_context`` with the article title as the heading): "question wording →
  statement wording".
* ``corpus`` — pseudo-queries from the bundled plans' own structure (``structure_pairs``): a heading
  or a list label → the sentences under it; each also rewritten with sudachi synonyms so that some
  pairs share no content word. The targets are the index's own sentence vectors (no re-embedding).

    OMP_NUM_THREADS=1 python scripts/query_adapter_pairs.py jaquad --n 1200 --out /tmp/h10p_cache/jaquad.npz

Vectors are the bundled e5 encoder's (query prefix for questions, passage prefix for sentences).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from assistant import evidence_model, japanese  # noqa: E402

SEED = 0


def jaquad_pairs(path: Path, n: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``n`` (question, answer sentence in context) pairs, one question per paragraph, drawn with ``seed``."""
    data = json.loads(gzip.open(path, "rt", encoding="utf-8").read())["data"]
    out = []
    for art in data:
        for p in art["paragraphs"]:
            ctx = p["context"]
            sents = japanese.split_sentences(ctx)
            spans, cur = [], 0
            for s in sents:
                j = ctx.find(s, cur)
                spans.append((j, j + len(s)) if j >= 0 else (-1, -1))
                cur = j + len(s) if j >= 0 else cur
            for qa in p["qas"][:1]:
                ans = qa["answers"][0]
                a0 = ans["answer_start"]
                for i, (s0, s1) in enumerate(spans):
                    if s0 <= a0 < s1 and ans["text"] in sents[i]:
                        out.append((qa["question"], evidence_model.sentence_context([art["title"]], sents, i)))
                        break
    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(out))[:n]
    return [out[i] for i in sorted(idx)]


def encoder():
    from assistant import Assistant

    return Assistant.load(ROOT / "corpus", ROOT / "index").state.retriever.answer_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", choices=["jaquad"])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    path = SHARED / "data" / "jaquad" / "train.json.gz"
    pairs = jaquad_pairs(path, args.n)
    enc = encoder()
    from tqdm import tqdm

    qv, pv = [], []
    for i in tqdm(range(0, len(pairs), 32), desc="jaquad pairs"):
        b = pairs[i : i + 32]
        qv.append(enc.encode_queries([q for q, _ in b]))
        pv.append(enc.encode_passages([s for _, s in b]))
    np.savez(args.out, q=np.concatenate(qv).astype(np.float32), p=np.concatenate(pv).astype(np.float32),
             questions=np.array([q for q, _ in pairs]), sentences=np.array([s for _, s in pairs]),
             model_id=np.array(enc.model_id), data_sha256=np.array(hashlib.sha256(path.read_bytes()).hexdigest()))
    print("wrote", args.out, len(pairs))


if __name__ == "__main__":
    main()

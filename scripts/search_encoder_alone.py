"""The search encoder alone: passages ranked by their best sentence's cosine to the question (no BM25, no
reranker), R@1 / R@5 on the tune split (paraphrased and other apart) and the dev set (docs/BENCHMARKS.md
§9.21). Why: the end-to-end figures mix the encoder with the reranker and the thesauri fitted on top of
it; a change of the encoder's training data is judged here first.

    python scripts/search_encoder_alone.py                       # index/ and the bundled search encoder
    python scripts/search_encoder_alone.py --index /tmp/idx --model /tmp/e5-ft
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.embedding import load_embedder  # noqa: E402
from assistant.evaluation import _rank, load_qa  # noqa: E402


def recall(ranks: list[int | None], k: int) -> float:
    return float(np.mean([r is not None and r <= k for r in ranks])) if ranks else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=str(ROOT / "index"), help="index directory (its current build is read)")
    ap.add_argument("--model", default="bundled:e5-small-ja-search", help="the encoder that made sentences-search.npz")
    ap.add_argument("--dev", default=str(ROOT.parent / "shared" / "devset" / "qa.jsonl"))
    args = ap.parse_args()
    build = Path(args.index) / "current"
    chunks = [json.loads(x) for x in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    with np.load(build / "sentences-search.npz", allow_pickle=True) as d:
        offsets, vectors = d["offsets"], d["vectors"]
    encoder = load_embedder(args.model)
    sets = {"tune": load_qa(ROOT / "eval" / "plan_qa.jsonl", "tune"), "dev": load_qa(Path(args.dev))}
    for name, items in sets.items():
        items = [it for it in items if it.get("docs")]
        sims = vectors @ encoder.encode_queries([it["question"] for it in items]).T
        ranks: dict[str, list] = {"paraphrased": [], "other": []}
        for k, it in enumerate(items):
            best = np.array([sims[offsets[c]:offsets[c + 1], k].max() if offsets[c + 1] > offsets[c] else -1.0
                             for c in range(len(chunks))])
            hits = [SimpleNamespace(doc_id=chunks[c]["doc_id"], text=chunks[c]["text"]) for c in np.argsort(-best)[:10]]
            ranks["paraphrased" if it.get("paraphrase") else "other"].append(_rank(hits, it["docs"], it["evidence"]))
        every = ranks["paraphrased"] + ranks["other"]
        print(f"{name} ({len(every)}): R@1 {recall(every, 1):.3f} R@5 {recall(every, 5):.3f} | paraphrased "
              f"({len(ranks['paraphrased'])}) R@1 {recall(ranks['paraphrased'], 1):.3f} R@5 {recall(ranks['paraphrased'], 5):.3f}"
              f" | other R@5 {recall(ranks['other'], 5):.3f}")


if __name__ == "__main__":
    main()

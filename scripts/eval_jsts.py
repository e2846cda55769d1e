"""Evaluate an embedder: JSTS-valid Spearman, and optionally JSQuAD-valid dense-only paragraph retrieval.

Numbers go into docs/bench/embedder.md. jsts-valid is evaluation data only: nothing in the build
reads it.

    python scripts/eval_jsts.py                                  # bundled model, JSTS only
    python scripts/eval_jsts.py --jsquad                         # + JSQuAD retrieval, encode timing
    python scripts/eval_jsts.py --model /tmp/some-model --jsquad # a local directory or HF id
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.embedding import load_embedder  # noqa: E402

BENCH = Path("/work/shared/bench")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ with average ranks for ties (labels have many ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def eval_jsts(emb, path: Path) -> dict:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    a = emb.encode_passages([r["sentence1"] for r in rows])
    b = emb.encode_passages([r["sentence2"] for r in rows])
    cos = (a * b).sum(1)
    return {"pairs": len(rows), "spearman": spearman(cos, np.array([r["label"] for r in rows]))}


def jsquad(path: Path) -> tuple[list[str], list[str], list[int]]:
    """(paragraphs, questions, index of each question's paragraph); context is 'title [SEP] text'."""
    data = json.load(open(path, encoding="utf-8"))["data"]
    paras, questions, gold, seen = [], [], [], {}
    for art in data:
        for p in art["paragraphs"]:
            ctx = p["context"].replace(" [SEP] ", "\n", 1)
            if ctx not in seen:
                seen[ctx] = len(paras)
                paras.append(ctx)
            for qa in p["qas"]:
                questions.append(qa["question"])
                gold.append(seen[ctx])
    return paras, questions, gold


def eval_retrieval(emb, path: Path) -> dict:
    paras, questions, gold = jsquad(path)
    t = time.perf_counter()
    P = emb.encode_passages(paras)
    t_pass = time.perf_counter() - t
    t = time.perf_counter()
    Q = emb.encode_queries(questions)
    t_query = time.perf_counter() - t
    scores = Q @ P.T
    gold_arr = np.array(gold)
    gold_score = scores[np.arange(len(gold)), gold_arr]
    rank = (scores > gold_score[:, None]).sum(1) + 1  # 1-based rank of the gold paragraph
    return {
        "paragraphs": len(paras),
        "questions": len(questions),
        "R@1": float((rank <= 1).mean()),
        "R@5": float((rank <= 5).mean()),
        "R@10": float((rank <= 10).mean()),
        "MRR@10": float(np.where(rank <= 10, 1.0 / rank, 0.0).mean()),
        "encode_ms_per_1000_passages": 1000 * t_pass / len(paras) * 1000,
        "encode_ms_per_query": 1000 * t_query / len(questions),
        "mean_passage_chars": float(np.mean([len(p) for p in paras])),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="bundled:chive-ja (default), a directory or a HF id")
    ap.add_argument("--jsts", type=Path, default=BENCH / "jsts-valid-v1.3.jsonl")
    ap.add_argument("--jsquad", nargs="?", const=BENCH / "jsquad-valid-v1.3.json", type=Path, default=None,
                    help="also run dense-only retrieval on JSQuAD (default file if no path given)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: embedder's choice)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    emb = load_embedder(args.model)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = {"model": emb.model_id, "fingerprint": emb.fingerprint[:16], "load_s": round(time.perf_counter() - t, 2)}
    out["jsts_valid"] = eval_jsts(emb, args.jsts)
    if args.jsquad:
        out["jsquad_valid"] = eval_retrieval(emb, args.jsquad)
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

"""Search time of two pool-reranker files on one loaded index, alternated per question so both see the
same machine load (issue 10, docs/BENCHMARKS.md §9.17).

    git show HEAD~1:assistant/data/rerank_model.json > /tmp/rerank_before.json
    OMP_NUM_THREADS=1 nice -n 10 python scripts/ab_rerank_speed.py /tmp/rerank_before.json [AFTER.json] [--rounds 3]

"After" defaults to the stored ``assistant/data/rerank_model.json``. Every answerable tune and dev question
(never the test split) is searched (k = 10, the shipped "gated" mode) with each model, the order
alternating per round, after one warm-up pass. Prints p50 / p95 / max of whole searches per model and how
many questions' top 5 differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fit_rerank_model import load_items  # noqa: E402

from assistant import Assistant, rerank  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after", nargs="?", default=str(rerank.default_path()))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    models = {"before": rerank.load(args.before), "after": rerank.load(args.after)}
    items = load_items(ROOT / "eval" / "plan_qa.jsonl", ROOT.parent / "shared" / "devset" / "qa.jsonl")
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    times: dict[str, list[float]] = {k: [] for k in models}
    top5: dict[str, list[list[str]]] = {k: [] for k in models}
    for rnd in range(args.rounds + 1):  # round 0 warms both up and is not counted
        for n, it in enumerate(items):
            names = list(models) if (n + rnd) % 2 == 0 else list(models)[::-1]
            for name in names:
                r._rerank_model = models[name]
                t0 = time.perf_counter()
                hits = r.search(it["question"], k=10)
                dt = (time.perf_counter() - t0) * 1000
                if rnd:
                    times[name].append(dt)
                else:
                    top5[name].append([h.id for h in hits[:5]])
    for name, ts in times.items():
        print(f"{name:6s} search ms p50 {np.percentile(ts, 50):.1f}  p95 {np.percentile(ts, 95):.1f}  max {max(ts):.1f}  ({len(ts)} searches)")
    print(f"questions whose top 5 differ: {sum(b != c for b, c in zip(top5['before'], top5['after']))} of {len(items)}")


if __name__ == "__main__":
    main()

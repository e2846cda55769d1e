"""Where a search's time goes on a built index (issue 13): per-stage wall times over the dev questions.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/profile_search.py INDEX_DIR [--rounds 2]

Loads the index's current build (no staleness or checksum check) with a ``Retriever`` as the app
builds it (``scripts/bench_scale.py``'s serve phase), asks every dev-set question once as
warm-up (reported: each question's first search), then ``--rounds`` times each, timing the stages a ``Retriever.search`` runs: query analysis
(expansion, ``doc_freq``), the query vector, the dense search, the sparse (BM25) search (and inside a
pooled one: summing the selective columns, the candidates' exact scores) and the rest (fusion, hits). Prints p50/p95 per stage and of whole searches, and the ``doc_freq`` calls per question.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> None:
    import numpy as np

    import bench_scale
    from assistant import conversation, core, index
    from assistant.backends import local
    from assistant.embedding import load_embedder
    from assistant.retrieval import Retriever

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("where", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    emb = load_embedder()
    loaded = index.load(a.where, None, verify=False)
    r = Retriever(loaded, emb, neighbours=core._word_vectors_for(emb))
    dev = [json.loads(x)["question"] for x in bench_scale.DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
    qs = [conversation.clean_question(q)[0] for q in dev]
    calls = {"doc_freq": 0}

    def timed(obj, name, label):
        f = getattr(obj, name)

        def wrapper(*args, **kw):
            t = time.perf_counter()
            try:
                return f(*args, **kw)
            finally:
                cur[label] = cur.get(label, 0.0) + 1000 * (time.perf_counter() - t)
        object.__setattr__(obj, name, wrapper)  # on the backend itself (LocalBackend forwards setattr)

    cur: dict[str, float] = {}
    timed(r, "analyze", "analyze (expansion, doc_freq)")
    timed(r, "query_vector", "query vector")
    timed(r.index, "dense_search", "dense search")
    timed(r.index, "sparse_search", "sparse search")
    # inside the pooled sparse search (module functions, looked up by name on each call)
    timed(local, "weighted_column_sum", "  of which: selective columns summed")
    timed(local, "exact_scores", "  of which: candidates' exact BM25")
    df = loaded.doc_freq

    def counting(w):
        calls["doc_freq"] += 1
        return df(w)
    loaded.doc_freq = counting

    def measure(rounds: int) -> tuple[dict[str, list[float]], list[float]]:
        stages: dict[str, list[float]] = {}
        total = []
        for _ in range(rounds):
            for q in qs:
                cur.clear()
                t = time.perf_counter()
                r.search(q, k=10)
                whole = 1000 * (time.perf_counter() - t)
                total.append(whole)
                for k, v in cur.items():
                    stages.setdefault(k, []).append(v)
                stages.setdefault("rest", []).append(whole - sum(v for k, v in cur.items() if not k.startswith(" ")))
        return stages, total

    def pct(v, p):
        v = sorted(v)
        return v[int(p * (len(v) - 1))]

    def report(title: str, stages: dict[str, list[float]], total: list[float]) -> None:
        print(title)
        for k, v in stages.items():
            print(f"  {k:32s} p50 {pct(v, .5):7.1f} ms  p95 {pct(v, .95):7.1f} ms  mean {np.mean(v):7.1f} ms")
        print(f"  {'whole search':32s} p50 {pct(total, .5):7.1f} ms  p95 {pct(total, .95):7.1f} ms")
    # the warm-up is reported too: each question's first search in this process (its query vector,
    # doc_freq reads and the pages of its columns not yet touched)
    report(f"first search of each of {len(qs)} dev questions, index {a.where} ({len(loaded.chunks):,} passages)", *measure(1))
    calls["doc_freq"] = 0
    stages, total = measure(a.rounds)
    report(f"{len(total)} searches ({len(qs)} dev questions x {a.rounds}), index {a.where} ({len(loaded.chunks):,} passages)", stages, total)
    print(f"  doc_freq calls per question: {calls['doc_freq'] / len(total):.1f}")


if __name__ == "__main__":
    main()

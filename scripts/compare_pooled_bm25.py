"""The pooled BM25 search of a large index against scoring every passage (issue 13, docs/BENCHMARKS.md §4.1).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/compare_pooled_bm25.py INDEX_DIR [--rounds 2] [--questions QA.jsonl]

For every question (dev set by default): ``Retriever.search`` (k = 5, the product's settings) with
``backends.local.POOL_FROM_PASSAGES`` forcing the plain path and then the pooled one, alternated so both
see the same load; prints how many top-5 lists are identical (ids in order), the BM25 top-10 and top-100 overlap, and p50/p95 of both. ``--replicate K`` (an index built by ``bench_scale.py --replicate K``, whose passage
i has the tokens and vector of passage i mod K): passages are compared as i mod K, since the copies
tie exactly and either search may return any of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import numpy as np

    from assistant import conversation, core, index
    from assistant.backends import Filter, local
    from assistant.embedding import load_embedder
    from assistant.retrieval import Retriever

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("where", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--replicate", type=int, default=0)
    ap.add_argument("--common-share", type=float, default=None, help="override backends.local.COMMON_SHARE")
    ap.add_argument("--pool-min", type=int, default=None, help="override backends.local.POOL_MIN")
    ap.add_argument("--questions", type=Path, default=ROOT.parent / "shared" / "devset" / "qa.jsonl")
    a = ap.parse_args()
    if a.common_share is not None:
        local.COMMON_SHARE = a.common_share
    if a.pool_min is not None:
        local.POOL_MIN = a.pool_min
    emb = load_embedder()
    loaded = index.load(a.where, None, verify=False)
    r = Retriever(loaded, emb, neighbours=core._word_vectors_for(emb))
    qs = [conversation.clean_question(json.loads(x)["question"])[0] for x in a.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    on = {True: 0, False: 1 << 62}
    for q in qs:  # warm-up: page cache, query vectors
        r.search(q, k=5)
    lat = {True: [], False: []}
    same5 = overlap = overlap10 = 0
    for rnd in range(a.rounds):
        for q in qs:
            got = {}
            for pooled in ((True, False) if rnd % 2 == 0 else (False, True)):
                local.POOL_FROM_PASSAGES = on[pooled]
                t = time.perf_counter()
                hits = r.search(q, k=5)
                got[pooled] = [r.positions[h.id] % a.replicate if a.replicate else h.id for h in hits]
                lat[pooled].append(1000 * (time.perf_counter() - t))
            if rnd == 0:
                same5 += got[True] == got[False]
                groups = list(r.analyze(q).weighted_token_groups())
                tops = {}
                for pooled in (True, False):
                    local.POOL_FROM_PASSAGES = on[pooled]
                    ids, sc = r.index.sparse_search(groups, 100, Filter(), np.zeros(0, dtype=np.int64))
                    top = ids[np.argsort(-sc, kind="stable")[:100]]
                    tops[pooled] = set((top % a.replicate if a.replicate else top).tolist())
                    tops[(pooled, 10)] = set((top[:10] % a.replicate if a.replicate else top[:10]).tolist())
                overlap += len(tops[True] & tops[False]) / max(len(tops[False]), 1)
                overlap10 += len(tops[(True, 10)] & tops[(False, 10)]) / max(len(tops[(False, 10)]), 1)

    def pct(v, p):
        v = sorted(v)
        return round(v[int(p * (len(v) - 1))], 1)
    print(json.dumps({"common_share": local.COMMON_SHARE, "pool_min": local.POOL_MIN, "questions": len(qs), "passages": len(loaded.chunks), "same_top5": same5, "bm25_top10_overlap": round(overlap10 / len(qs), 3), "bm25_top100_overlap": round(overlap / len(qs), 3),
                      "plain_p50_p95_ms": [pct(lat[False], .5), pct(lat[False], .95)], "pooled_p50_p95_ms": [pct(lat[True], .5), pct(lat[True], .95)],
                      "searches_each": len(lat[True])}, ensure_ascii=False))


if __name__ == "__main__":
    main()

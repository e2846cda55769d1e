"""Search latency with several searchers in one process (issue 13): the web tier answers requests on
threads that share one loaded index, and replicas share the box's cores.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/bench_concurrent_search.py INDEX_DIR --threads 1 4 [--searches 200]

Loads the index's current build (no checksum pass) with a ``Retriever`` as the app builds it
(``scripts/bench_scale.py``'s serve phase), asks every dev-set question once as warm-up (page cache,
query vectors: as in bench_scale's serve rows, the cycled questions' query vectors are then cached), then
for each ``--threads`` T: T threads share that one retriever and together run ``--searches`` searches
(k = 10, the dev questions cycled, each thread starting at a different question). Prints per-search
p50 / p95 / max in ms, searches per second, the process's CPU seconds per wall second, and the load average before and after, one JSON line per T.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEVSET = ROOT.parent / "shared" / "devset" / "qa.jsonl"


def percentile(values: list[float], p: float) -> float:
    """The value at rank ``p·(len−1)`` of the sorted values (bench_scale's rule)."""
    v = sorted(values)
    return round(v[int(p * (len(v) - 1))], 1)


def run(retriever, questions: list[str], threads: int, searches: int) -> dict:
    """``searches`` searches split over ``threads`` threads started together; per-search wall times."""
    per = [searches // threads + (1 if t < searches % threads else 0) for t in range(threads)]
    lat: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(t: int) -> None:
        try:
            start.wait()
            for j in range(per[t]):
                q = questions[(t * 7 + j) % len(questions)]
                t0 = time.perf_counter()
                retriever.search(q, k=10)
                lat[t].append(1000 * (time.perf_counter() - t0))
        except BaseException as e:  # noqa: BLE001 - reported below, not swallowed
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    load0 = os.getloadavg()[0]
    start.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for th in pool:
        th.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if errors:
        raise errors[0]
    every = [x for part in lat for x in part]
    return {"threads": threads, "searches": len(every), "p50_ms": percentile(every, 0.5), "p95_ms": percentile(every, 0.95),
            "max_ms": round(max(every), 1), "searches_per_s": round(len(every) / wall, 2), "wall_s": round(wall, 1),
            # CPU seconds of the whole process per wall second: ~1 means one core's worth (the GIL, or all the share it got)
            "cores_used": round(cpu / wall, 2),
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)], "cores": os.cpu_count(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    from assistant import conversation, core, index
    from assistant.embedding import load_embedder
    from assistant.retrieval import Retriever

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("where", type=Path)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--searches", type=int, default=200)
    a = ap.parse_args()
    if any(t < 1 for t in a.threads) or a.searches < 1:
        raise SystemExit("--threads and --searches must be at least 1")
    emb = load_embedder()
    loaded = index.load(a.where, None, verify=False)
    r = Retriever(loaded, emb, neighbours=core._word_vectors_for(emb))
    qs = [conversation.clean_question(json.loads(x)["question"])[0] for x in DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
    for q in qs:
        r.search(q, k=10)
    for t in a.threads:
        print(json.dumps({"index": str(a.where), "passages": len(loaded.chunks)} | run(r, qs, t, a.searches)), flush=True)


if __name__ == "__main__":
    main()

"""Where exact dense search stops being fast enough: FlatIP vs HNSW at growing sizes.

    python scripts/bench_dense_index.py [--sizes 10000 100000 300000] [--dim 300]

Vectors are the bundled model's real embeddings of JSQuAD paragraphs, repeated with small noise
to reach each size (random vectors would make HNSW look better than it is on clustered text).
Prints build time, single-query latency p50/p95 (k=100, the candidate count retrieval asks for)
and HNSW recall@10 against exact search. Used to set the old ``index.HNSW_THRESHOLD`` (HNSW has since
given way to the large path's memory-mapped IVF index at ``index.LARGE_THRESHOLD``; BENCHMARKS §4.1).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def base_vectors() -> np.ndarray:
    from assistant.embedding import load_embedder
    from assistant.evaluation import jsquad_corpus

    paras, _ = jsquad_corpus(ROOT.parent / "shared" / "bench" / "jsquad-valid-v1.3.json")
    return load_embedder().encode_passages([p["title"] + "\n" + p["text"] for p in paras])


def grow(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    reps = base[rng.integers(0, len(base), n)] + rng.normal(0, 0.05, (n, base.shape[1])).astype(np.float32)
    reps /= np.linalg.norm(reps, axis=1, keepdims=True)
    return reps.astype(np.float32)


def timed_search(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    lat, ids = [], []
    for q in queries:
        t = time.perf_counter()
        _, i = index.search(q.reshape(1, -1), k)
        lat.append(1000 * (time.perf_counter() - t))
        ids.append(i[0])
    return sorted(lat), np.stack(ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 300_000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    base = base_vectors()
    print(f"faiss {faiss.__version__}, threads {faiss.omp_get_max_threads()}, dim {base.shape[1]}")
    print("| vectors | index | build s | search p50 ms | search p95 ms | recall@10 vs exact |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        xb = grow(base, n, rng)
        xq = grow(base, args.queries, rng)
        flat = faiss.IndexFlatIP(xb.shape[1])
        t = time.perf_counter()
        flat.add(xb)
        fb = time.perf_counter() - t
        lat, exact = timed_search(flat, xq, 100)
        print(f"| {n:,} | FlatIP | {fb:.1f} | {statistics.median(lat):.1f} | {lat[int(0.95 * (len(lat) - 1))]:.1f} | 1.000 |", flush=True)
        hnsw = faiss.IndexHNSWFlat(xb.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = 96
        t = time.perf_counter()
        hnsw.add(xb)
        hb = time.perf_counter() - t
        lat, approx = timed_search(hnsw, xq, 100)
        recall = np.mean([len(set(a[:10]) & set(e[:10])) / 10 for a, e in zip(approx, exact)])
        print(f"| {n:,} | HNSW32 ef96 | {hb:.1f} | {statistics.median(lat):.1f} | {lat[int(0.95 * (len(lat) - 1))]:.1f} | {recall:.3f} |", flush=True)


if __name__ == "__main__":
    main()

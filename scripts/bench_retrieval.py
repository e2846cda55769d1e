"""Retrieval performance benchmark: build time, warm query latency and peak memory.

    python scripts/bench_retrieval.py                 # bundled corpus + 1k/10k/100k synthetic passages
    python scripts/bench_retrieval.py --sizes 1000    # just one synthetic size

Each measurement runs in its own subprocess so peak RSS is that run's alone. Synthetic corpora are
JSQuAD-valid paragraphs repeated with perturbation (sentences rotated, one sentence dropped, a
copy number appended), so the index sees realistic Japanese text and no two passages are identical.
Queries: on the bundled corpus the dev-set questions (../shared/devset/qa.jsonl, cycled), which it
can answer; on synthetic corpora JSQuAD questions. Warm: 20 warm-up queries first, then 200 timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JSQUAD = ROOT.parent / "shared" / "bench" / "jsquad-valid-v1.3.json"
DEVSET = ROOT.parent / "shared" / "devset" / "qa.jsonl"


def synthetic_corpus(n: int, out: Path) -> None:
    from assistant.evaluation import jsquad_corpus
    from assistant.japanese import split_sentences

    paras, _ = jsquad_corpus(JSQUAD)
    rng = random.Random(n)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            p = paras[i % len(paras)]
            sents = split_sentences(p["text"]) or [p["text"]]
            if i >= len(paras):
                k = rng.randrange(len(sents))
                sents = sents[k:] + sents[:k]
                if len(sents) > 2:
                    sents.pop(rng.randrange(len(sents)))
            text = "".join(sents) + (f"（第{i // len(paras)}版）" if i >= len(paras) else "")
            f.write(json.dumps({"id": f"s{i:06d}", "title": p["title"], "text": text}, ensure_ascii=False) + "\n")


def run_one(corpus_dir: str, n_queries: int) -> dict:
    """Child process: cold build, then warm query latency."""
    from assistant import Assistant
    from assistant.evaluation import jsquad_corpus

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        a = Assistant.load(corpus_dir, Path(tmp) / "index")
        build = time.perf_counter() - t0
        if Path(corpus_dir).resolve() == (ROOT / "corpus").resolve():
            dev = [json.loads(x)["question"] for x in DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
            qs = (dev * (1 + (20 + n_queries) // len(dev)))[: 20 + n_queries]
        else:
            qs = [q for q, _ in jsquad_corpus(JSQUAD)[1]]
        for q in qs[:20]:
            a.search(q, k=10)
        lat = []
        for q in qs[20 : 20 + n_queries]:
            t = time.perf_counter()
            a.search(q, k=10)
            lat.append(1000 * (time.perf_counter() - t))
        ask = []
        for q in qs[20 : 20 + min(n_queries, 100)]:
            t = time.perf_counter()
            a.ask(q)
            ask.append(1000 * (time.perf_counter() - t))
        lat.sort()
        ask.sort()
        return {
            "passages": a.health()["passages"],
            "build_s": round(build, 1),
            "dense_index": a.state.search_index.manifest.get("dense_index"),
            "search_p50_ms": round(statistics.median(lat), 1),
            "search_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "ask_p50_ms": round(statistics.median(ask), 1),
            "ask_p95_ms": round(ask[int(0.95 * (len(ask) - 1))], 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.queries)))
        return
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    runs = [("bundled corpus", str(ROOT / "corpus"))]
    tmp = tempfile.mkdtemp()
    for n in args.sizes:
        d = Path(tmp) / f"syn{n}"
        d.mkdir()
        synthetic_corpus(n, d / "synthetic.jsonl")
        runs.append((f"synthetic {n:,}", str(d)))
    print("| corpus | passages | cold build s | dense index | search p50 ms | search p95 ms | ask p50 ms | ask p95 ms | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path in runs:
        out = subprocess.run([sys.executable, __file__, "--child", path, "--queries", str(args.queries)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['passages']:,} | {r['build_s']} | {r['dense_index']} | {r['search_p50_ms']} | {r['search_p95_ms']} | {r['ask_p50_ms']} | {r['ask_p95_ms']} | {r['peak_rss_mb']} |", flush=True)


if __name__ == "__main__":
    main()

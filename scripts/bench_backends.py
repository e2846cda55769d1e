"""Local vs Milvus (milvus-lite) backends: same top-5?, and build / memory / latency at scale.

    python scripts/bench_backends.py agree                 # dev set + JSQuAD-valid: top-5 agreement
    python scripts/bench_backends.py scale --sizes 10000 100000

``agree``: the bundled corpus with the dev-set questions (../shared/devset/qa.jsonl) and the
JSQuAD-valid paragraphs with their questions (../shared/bench/), each searched (k=5) on the
local backend and on the same build published to a milvus-lite file; reports the fraction of
questions whose top-5 passage ids are identical (same order) and as a set.

``scale``: synthetic passages (scripts/bench_retrieval.synthetic_corpus: JSQuAD paragraphs
perturbed), each size in its own subprocess: local build, then publish to milvus-lite (time),
open as a fresh replica would (time), warm search p50/p95 on JSQuAD questions (k=10), and peak
RSS of the process and of milvus-lite's server process. The answer encoder is the search
model (``ASSISTANT_ANSWER_MODEL=same``) so the build embeds passages only: this measures the
search backend, not e5 sentence embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
JSQUAD = ROOT.parent / "shared" / "bench" / "jsquad-valid-v1.3.json"
DEVSET = ROOT.parent / "shared" / "devset" / "qa.jsonl"


def _agreement(a, b, questions: list[str], k: int = 5) -> dict:
    from tqdm import tqdm

    same_order = same_set = 0
    diffs = []
    for q in tqdm(questions, desc="top-5 on both", mininterval=30):
        x = [h.id for h in a.search(q, k=k)]
        y = [h.id for h in b.search(q, k=k)]
        same_order += x == y
        same_set += set(x) == set(y)
        if x != y and len(diffs) < 5:
            diffs.append({"q": q[:40], "local": x, "milvus": y})
    n = max(len(questions), 1)
    return {"n": len(questions), "same_top5_order": round(same_order / n, 4), "same_top5_set": round(same_set / n, 4), "examples": diffs}


def agree(work: Path, stride: int = 1) -> None:
    from assistant import Assistant
    from assistant.evaluation import jsquad_corpus

    work.mkdir(parents=True, exist_ok=True)
    dev = [json.loads(x)["question"] for x in DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
    loc = Assistant.load(ROOT / "corpus", work / "bundled-index", backend="local")
    mil = Assistant.load(ROOT / "corpus", work / "bundled-index", backend=f"milvus:{work / 'bundled.db'}")
    print("dev set (bundled corpus):", json.dumps(_agreement(loc, mil, dev), ensure_ascii=False))

    paras, questions = jsquad_corpus(JSQUAD)
    corpus = work / "jsquad-corpus"
    corpus.mkdir(exist_ok=True)
    with open(corpus / "jsquad.jsonl", "w", encoding="utf-8") as f:
        for p in paras:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    loc = Assistant.load(corpus, work / "jsquad-index", backend="local", progress=True)
    mil = Assistant.load(corpus, work / "jsquad-index", backend=f"milvus:{work / 'jsquad.db'}", progress=True)
    qs = [q for q, _ in questions][::stride]
    print(f"JSQuAD-valid ({len(paras)} paragraphs, every {stride}. question):", json.dumps(_agreement(loc, mil, qs), ensure_ascii=False))


def _children_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def scale_one(corpus_dir: str, n_queries: int) -> dict:
    """Child process: local build, publish to milvus-lite, reopen as a replica, warm searches."""
    from assistant import Assistant
    from assistant.evaluation import jsquad_corpus

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        loc = Assistant.load(corpus_dir, Path(tmp) / "index", backend="local")
        build_local = time.perf_counter() - t0
        rss_local = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        db = f"milvus:{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        Assistant.load(corpus_dir, Path(tmp) / "index", backend=db)
        publish = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = Assistant.load(corpus_dir, Path(tmp) / "replica-index", backend=db)  # no local build: opens the alias
        open_s = time.perf_counter() - t0
        if not loc.health()["passages"]:
            raise SystemExit(f"nothing was indexed from {corpus_dir}: {[str(s) for s in loc.skipped][:3]}")
        qs = [q for q, _ in jsquad_corpus(JSQUAD)[1]][: 20 + n_queries]
        for q in qs[:20]:
            rep.search(q, k=10)
        lat, lat_local = [], []
        for q in qs[20:]:
            t = time.perf_counter()
            rep.search(q, k=10)
            lat.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            loc.search(q, k=10)
            lat_local.append(1000 * (time.perf_counter() - t))
        lat.sort()
        lat_local.sort()
        db_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file() and "bench.db" in str(p))
        return {
            "passages": rep.health()["passages"],
            "local_build_s": round(build_local, 1),
            "milvus_publish_s": round(publish, 1),
            "milvus_open_s": round(open_s, 1),
            "milvus_p50_ms": round(statistics.median(lat), 1),
            "milvus_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "local_p50_ms": round(statistics.median(lat_local), 1),
            "local_p95_ms": round(lat_local[int(0.95 * (len(lat_local) - 1))], 1),
            "peak_rss_mb_after_local_build": rss_local,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "milvus_lite_server_peak_rss_mb": _children_rss_mb(),
            "milvus_db_mb": round(db_bytes / 2**20),
        }


def scale(sizes: list[int], n_queries: int) -> None:
    from bench_retrieval import synthetic_corpus

    print(f"machine: {os.cpu_count()} cores (shared); load {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    tmp = tempfile.mkdtemp()
    # one synthetic JSONL file of 100k passages is > 20 MB, the default per-file limit for text
    env = os.environ | {"ASSISTANT_ANSWER_MODEL": "same", "PYTHONPATH": str(ROOT), "ASSISTANT_MAX_FILE_MB": "500"}
    for n in sizes:
        d = Path(tmp) / f"syn{n}"
        d.mkdir()
        synthetic_corpus(n, d / "synthetic.jsonl")
        out = subprocess.run([sys.executable, __file__, "scale-child", d.as_posix(), "--queries", str(n_queries)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"{n}: failed: {out.stderr.strip().splitlines()[-3:] if out.stderr else out.returncode}", flush=True)
            continue
        print(f"{n}: {out.stdout.strip().splitlines()[-1]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["agree", "scale", "scale-child"])
    ap.add_argument("path", nargs="?")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--work", default=None, help="agree: where indexes and milvus-lite files go (reused by a rerun)")
    ap.add_argument("--stride", type=int, default=1, help="agree: JSQuAD, every n-th question (1 = all 4,442)")
    args = ap.parse_args()
    if args.what == "agree":
        agree(Path(args.work or tempfile.mkdtemp()), args.stride)
    elif args.what == "scale":
        scale(args.sizes, args.queries)
    else:
        print(json.dumps(scale_one(args.path, args.queries)))


if __name__ == "__main__":
    main()

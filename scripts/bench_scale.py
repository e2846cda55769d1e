"""Scale benchmark of the local index (issue 13): 10k / 100k / 1M synthetic passages.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/bench_scale.py --sizes 10000 100000
    OMP_NUM_THREADS=1 nice -n 10 python scripts/bench_scale.py --sizes 1000000 --work /tmp/bench_scale

For each size, two child processes (so each peak RSS is that phase's alone):
- *build*: makes the synthetic passages and runs ``index.build`` (tqdm progress on stderr). The
  index lives in ``WORK/index-<n>-<storage>`` and is kept, so running the same command again after
  a kill *resumes* the build (same seed → same passages → same partial build); an index that is
  already current is not rebuilt.
- *serve*: ``index.load`` + a ``Retriever`` as ``Assistant`` builds it, 20 warm-up and 200 timed
  searches with the dev-set questions (cycled), peak RSS; then dense recall@10 of the index against
  exact search for the same questions (measured after the RSS figure: exact search over a memory-
  mapped IVF reads every list).

Synthetic passages recombine the bundled corpus's sentences (3–8 per passage, seeded), with their
numbers replaced by random ones and the bundled municipalities' names by one of 40 others, 50
passages per synthetic document. ``--storage disk`` forces the large-index path at any size (by
setting ``index.LARGE_THRESHOLD`` to 0 in the children); ``memory`` forbids it; ``auto`` is the
product's rule. Sentence vectors are off (``ASSISTANT_SENTENCE_VECTORS_MAX=0``) so both paths do the
same work. Results are appended to ``WORK/results.jsonl`` and printed as a markdown row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT.parent / "shared" / "devset" / "qa.jsonl"
BUNDLED_CITIES = ["山陽小野田市", "山口市", "長門市", "下関市", "宇部市", "萩市", "防府市", "周南市", "岩国市", "光市", "柳井市", "美祢市", "下松市"]
CITIES = [
    "青森市", "盛岡市", "秋田市", "山形市", "福島市", "水戸市", "宇都宮市", "前橋市", "川越市", "船橋市",
    "八王子市", "藤沢市", "新潟市", "富山市", "金沢市", "福井市", "甲府市", "長野市", "岐阜市", "静岡市",
    "豊橋市", "津市", "大津市", "舞鶴市", "堺市", "姫路市", "奈良市", "和歌山市", "鳥取市", "松江市",
    "倉敷市", "福山市", "徳島市", "高松市", "松山市", "高知市", "久留米市", "佐賀市", "熊本市", "那覇市",
]
SECTIONS = ["基本構想", "基本計画", "協働の推進", "子育て支援", "防災・減災", "地域福祉", "環境保全", "産業振興", "都市基盤", "行財政運営"]


def peak_rss_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def sentence_pool() -> list[str]:
    from assistant import japanese

    pool = []
    for p in sorted((ROOT / "corpus").glob("*.txt")):
        for line in p.read_text(encoding="utf-8").splitlines():
            for s in japanese.split_sentences(line):
                if 12 <= len(s) <= 160:
                    pool.append(s)
    return sorted(set(pool))


def synthetic_chunks(n: int, seed: int = 13):
    """``n`` passages, deterministic for (n, seed)."""
    from assistant import japanese
    from assistant.types import Chunk

    pool = sentence_pool()
    rng = random.Random(seed * 1_000_003 + n)
    city_re = re.compile("|".join(map(re.escape, BUNDLED_CITIES)))
    num_re = re.compile(r"\d+")
    chunks = []
    for i in range(n):
        doc = i // 50
        city = CITIES[doc % len(CITIES)]
        sents = [pool[rng.randrange(len(pool))] for _ in range(rng.randint(3, 8))]
        text = "".join(sents)
        text = city_re.sub(city, text)
        text = num_re.sub(lambda m: str(rng.randrange(1, 10 ** len(m.group()) + 1)), text)
        section = [SECTIONS[doc % len(SECTIONS)], f"第{(i % 50) // 10 + 1}節"]
        chunks.append(Chunk(id=f"syn{i:07d}", doc_id=f"syn-doc-{doc:05d}", title=f"{city}{SECTIONS[doc % len(SECTIONS)]}計画",
                            municipality=city, section=section, text=text, search_text=japanese.normalize(text),
                            lines=(1 + (i % 50) * 5, 5 + (i % 50) * 5), ordinal=i % 50))
    return chunks


def _info(embedder, n: int, storage: str):
    from assistant import index

    return index.BuildInfo(corpus_fingerprint=f"synthetic-{n}-seed13", model_id=embedder.model_id, model_fingerprint=embedder.fingerprint,
                           chunker_version="synthetic", settings={"storage": storage})


def _set_storage(storage: str) -> None:
    from assistant import index

    if storage == "disk":
        index.LARGE_THRESHOLD = 0
    elif storage == "memory":
        index.LARGE_THRESHOLD = 1 << 62


def replicate_shards(where: Path, chunks, emb, info, real: int) -> float:
    """Compute the shards of the first ``real`` passages, then fill the rest of the partial build
    with copies of them, so that the build that follows resumes straight into its merge stages
    (SQLite, BM25, IVF) at full size. Those stages and serving are then measured at the real
    passage count, with every vector and token list a copy of one of the first ``real`` passages'
    (the chunk store holds the real, unique texts). Returns seconds spent on the real shards."""
    import shutil

    from assistant import index, large_build

    from assistant.query import load_thesaurus

    keys = large_build.phrase_keys(load_thesaurus().map.keys())
    work = large_build.partial_dir(where / "builds", large_build.input_key(chunks, info.as_dict(), int(emb.dim), keys))
    t = time.perf_counter()
    paths, _ = large_build.write_shards(work, chunks[:real], emb, index.passage_text, index.index_text, progress=True, keys=keys)
    spent = time.perf_counter() - t
    n_shards = -(-len(chunks) // large_build.SHARD_SIZE)
    for s in range(len(paths), n_shards):
        target = work / f"shard-{s:05d}.npz"
        if not target.exists():
            shutil.copyfile(paths[s % len(paths)], target)
    return spent


def child_build(n: int, where: Path, storage: str, replicate: int | None = None) -> dict:
    from assistant import index, large_build
    from assistant.embedding import load_embedder

    _set_storage(storage)
    emb = load_embedder()
    t0 = time.perf_counter()
    chunks = synthetic_chunks(n)
    t_gen = time.perf_counter() - t0
    info = _info(emb, n, storage)
    try:
        index.load(where, info, verify=False)
        return {"phase": "build", "n": n, "skipped": "already current", "peak_rss_mb": peak_rss_mb()}
    except index.IndexError_:
        pass
    extra = {}
    if replicate:
        if not index.is_large(n) or replicate % large_build.SHARD_SIZE or n % large_build.SHARD_SIZE:
            raise SystemExit("--replicate needs a large build and multiples of large_build.SHARD_SIZE")
        extra = {"replicated_from": replicate, "real_shards_s": round(replicate_shards(where, chunks, emb, info, replicate), 1)}
    t1 = time.perf_counter()
    from assistant.query import load_thesaurus

    stats = index.build(where, chunks, emb, info, progress=True, phrases=load_thesaurus().map.keys())
    t_build = time.perf_counter() - t1
    return extra | {"phase": "build", "n": n, "generate_s": round(t_gen, 1), "build_s": round(t_build, 1), "stats": stats,
            "peak_rss_mb": peak_rss_mb(), "workers": large_build.build_workers(),
            # the largest forked shard worker (its RSS counts pages shared copy-on-write with this process)
            "worker_peak_rss_mb": int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def child_serve(n: int, where: Path, n_queries: int, storage: str) -> dict:
    import numpy as np

    from assistant import conversation, core, index
    from assistant.embedding import load_embedder
    from assistant.retrieval import Retriever

    emb = load_embedder()
    t0 = time.perf_counter()
    loaded = index.load(where, _info(emb, n, storage))
    r = Retriever(loaded, emb, neighbours=core._word_vectors_for(emb))
    load_s = time.perf_counter() - t0
    rss_loaded = peak_rss_mb()
    dev = [json.loads(x)["question"] for x in DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
    qs = [conversation.clean_question(q)[0] for q in (dev * (1 + (20 + n_queries) // len(dev)))[: 20 + n_queries]]
    for q in qs[:20]:
        r.search(q, k=10)
    lat = []
    for q in qs[20:]:
        t = time.perf_counter()
        r.search(q, k=10)
        lat.append(1000 * (time.perf_counter() - t))
    lat.sort()
    rss_search = peak_rss_mb()
    # dense recall@10 against exact search, for the same questions
    import faiss

    uniq = list(dict.fromkeys(qs))[:100]
    qv = np.stack([r.query_vector(q) for q in uniq]).astype(np.float32)
    got_s, _ = loaded.dense.search(qv, 10)
    # by score, not id: a result counts when it scores at least the exact 10th (ties stay fair)
    def recall_of(got, exact) -> float:
        return round(float(np.mean([(g >= e[-1] - 1e-5).sum() / 10 for g, e in zip(got, exact)])), 3)

    by_nprobe = {}
    if hasattr(loaded.dense, "nprobe"):
        ivf = faiss.extract_index_ivf(loaded.dense)
        keep = ivf.nprobe
        ivf.nprobe = ivf.nlist  # every list: exact
        exact_s, _ = loaded.dense.search(qv, 10)
        for p in (1, 2, 4, 8, 16, 32, 64, 128):  # the dev questions' recall at each nprobe (the build chose one)
            if p <= ivf.nlist:
                ivf.nprobe = p
                by_nprobe[p] = recall_of(loaded.dense.search(qv, 10)[0], exact_s)
        ivf.nprobe = keep
    else:
        exact_s = got_s
    recall = recall_of(got_s, exact_s)
    return {"phase": "serve", "n": n, "passages": len(loaded.chunks), "storage": loaded.manifest.get("storage", "memory"),
            "dense_index": loaded.manifest.get("dense_index"), "dense": loaded.manifest.get("dense"), "load_s": round(load_s, 1),
            "search_p50_ms": round(lat[len(lat) // 2], 1), "search_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "rss_after_load_mb": rss_loaded, "peak_rss_mb": rss_search, "dense_recall_at_10": round(recall, 3),
            "dev_recall_by_nprobe": by_nprobe, "queries": len(lat)}


def _run_child(args: list[str]) -> dict:
    env = dict(os.environ, ASSISTANT_SENTENCE_VECTORS_MAX="0")
    proc = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--storage", choices=["auto", "disk", "memory"], default="auto")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--replicate", type=int, metavar="K",
                    help="measure merge + serving at full size on copies of the first K passages' shards (see replicate_shards)")
    ap.add_argument("--child", choices=["build", "serve"])
    ap.add_argument("--n", type=int)
    ap.add_argument("--where", type=Path)
    a = ap.parse_args()
    if a.child:
        sys.path.insert(0, str(ROOT))
        out = child_build(a.n, a.where, a.storage, a.replicate) if a.child == "build" else child_serve(a.n, a.where, a.queries, a.storage)
        print(json.dumps(out, ensure_ascii=False), flush=True)
        return
    a.work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {os.cpu_count()} cores", file=sys.stderr, flush=True)
    print("| passages | storage | dense | build s | build peak RSS MB (builder / largest worker) | load s | serve peak RSS MB | search p50 ms | search p95 ms | dense recall@10 vs exact (nprobe) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        where = a.work / (f"index-{n}-{a.storage}" + (f"-replicated{a.replicate}" if a.replicate else ""))
        b = _run_child(["--child", "build", "--n", str(n), "--where", str(where), "--storage", a.storage]
                       + (["--replicate", str(a.replicate)] if a.replicate else []))
        s = _run_child(["--child", "serve", "--n", str(n), "--where", str(where), "--queries", str(a.queries), "--storage", a.storage])
        row = {"n": n, "replicate": a.replicate, "storage_flag": a.storage, "build": b, "serve": s, "load_avg_start": load, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(a.work / "results.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        nprobe = (s.get("dense") or {}).get("nprobe")
        print(f"| {s['passages']:,} | {s['storage']} | {s['dense_index']} | {b.get('build_s', b.get('skipped'))} | {b['peak_rss_mb']:,} / {b.get('worker_peak_rss_mb', 0):,} | "
              f"{s['load_s']} | {s['peak_rss_mb']:,} | {s['search_p50_ms']} | {s['search_p95_ms']} | {s['dense_recall_at_10']}"
              f"{f' ({nprobe})' if nprobe else ''} |", flush=True)


if __name__ == "__main__":
    main()

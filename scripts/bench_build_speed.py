"""Embedding speed of an index build: e5 sentence vectors by batch size and precision, passages/s.

Reads the passages of a built index of the bundled corpus (``--index``, default ``index``), embeds a
random sample of its sentences *in context* (what the build embeds: ``evidence_model.chunk_sentence_texts``)
with the torch-only e5 model at each batch size and precision, longest first (``E5Core.encode_many``),
and reports sentences/s by CPU time and by wall time, with the load average before and after
(on a shared machine wall time says more about the neighbours than about the code). Then passages
(title + section + text, as ``index.passage_text``) per second for e5 (a sample) and for chive-ja
(10,000 passages: the corpus's repeated). docs/BENCHMARKS.md §9.6.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/bench_build_speed.py --sentences 256 --passages 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import evidence_model, index  # noqa: E402


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default="index")
    ap.add_argument("--sentences", type=int, default=256, help="sentences sampled (0: all)")
    ap.add_argument("--passages", type=int, default=64, help="passages sampled for e5")
    ap.add_argument("--batch-sizes", default="8,16,32,64")
    ap.add_argument("--precisions", default="bf16,int8-dynamic")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()

    import torch

    from assistant.chive_vocab import ChiveVocab
    from assistant.e5_core import E5Core
    from assistant.embedding import MODELS_DIR

    torch.set_num_threads(args.threads)
    idx = index.load(args.index, verify=False)
    chunks = list(idx.chunks)
    sents = sorted({t for c in chunks for t in evidence_model.chunk_sentence_texts(c)})
    rng = np.random.default_rng(0)
    if args.sentences and args.sentences < len(sents):
        sents = [sents[i] for i in rng.choice(len(sents), args.sentences, replace=False)]
    passages = [index.passage_text(c) for c in chunks]
    sample_p = [passages[i] for i in rng.choice(len(passages), min(args.passages, len(passages)), replace=False)]
    print(f"threads {args.threads}; {len(sents)} sentences in context, {len(sample_p)} e5 passages; load {_load()}")

    ref = None
    for precision in args.precisions.split(","):
        model, cpu, wall = _timed(lambda: E5Core.load(str(MODELS_DIR / "e5-small-ja"), model_kwargs={"quantize": precision}))
        print(f"e5 {precision:13s} load: {cpu:.1f} s CPU, {wall:.1f} s wall")
        model.encode(sents[:2], prompt="passage: ")  # warm-up
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            vecs, cpu, wall = _timed(lambda: model.encode_many(sents, prompt="passage: ", batch_size=bs))
            if ref is None:
                ref = vecs
            cos = float((vecs * ref).sum(1).min())
            print(f"e5 {precision:13s} batch {bs:3d}: {len(sents) / cpu:6.1f} sentences/s CPU, {len(sents) / wall:6.1f} wall "
                  f"(cos min to first row {cos:.5f}); load {_load()}")
        _, cpu, wall = _timed(lambda: model.encode_many(sample_p, prompt="passage: ", batch_size=16))
        print(f"e5 {precision:13s} passages, batch 16: {len(sample_p) / cpu:6.2f} passages/s CPU, {len(sample_p) / wall:6.2f} wall "
              f"→ 10k passages ≈ {10000 / (len(sample_p) / cpu) / 60:.0f} min CPU; load {_load()}")

    chive = ChiveVocab.load(MODELS_DIR / "chive-ja")
    many = (passages * (10000 // len(passages) + 1))[:10000]
    _, cpu, wall = _timed(lambda: chive.encode(many))
    print(f"chive-ja passages: {len(many) / cpu:,.0f} passages/s CPU, {len(many) / wall:,.0f} wall (10,000); load {_load()}")


if __name__ == "__main__":
    main()

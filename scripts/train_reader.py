"""Train the answer reader: e5's top layers fine-tuned as a cross-encoder over (question, candidate sentence).

Why: everything else in the answer path judges a sentence against the question from word overlap or from
two separately computed vectors (the two never see each other). A cross-encoder reads the question and
the sentence together, so it can tell 「登録できる仕組みはある？」 → 「人材を登録する仕組み(人材バンク)」 from a
sentence that merely shares the topic — the judgement sentence choice and refusal both need.

Input (``--pairs``, from ``scripts/reader_data.py``): per question its candidate sentences as the answer
path sees them (the passage's heading, the sentence and what choosing it brings: the list it announces …),
each labelled by whether it holds the question's evidence or answer keywords; a fold (0–4) for the
training questions, -1 for those never trained on (tune split, dev, JSQuAD).

What it does, torch only (runs on a CPU or a GPU, ``--device``):

* the base model (``assistant/models/e5-small-ja``) in float32; layers ``0 … 11-TOP`` frozen, the top
  ``TOP`` layers and a linear head over the mean-pooled states trained with binary cross-entropy on each
  training question's positives, hardest negatives and two random ones (the data file's ``train_idx``);
* ``--folds``: one model per fold trained without it, scoring that fold's questions (out of fold), so
  the answer model is fitted on reader scores that look like those of unseen questions; then the final
  model on every training question, which scores the questions never trained on;
* writes ``reader_top.safetensors`` (the final model: each trained matrix's change from the base as
  float16, vectors and the head in float32), ``fold{N}.safetensors`` (the out-of-fold models, the same
  way), ``scores.npy`` (every candidate's score, in the data file's order) and ``log.json`` to ``--out``.

On a CPU (§9.25): the frozen layers' states of the pairs trained on are computed once (``LowerCache``) and
shared by every model of the run, and a CPU with native bfloat16 trains in bf16 autocast as the GPU does:
~0.027 s a pair an epoch on 2 cores instead of 0.09. ``--folds 3`` merges the data file's five folds into
three models, and ``--fold-scores on-demand`` leaves the scoring of the training questions' candidates to
the answer model's fit, which reads only the few it uses with the stored fold models
(``reader_data.StoredScores``); ``--no-final`` trains the out-of-fold models alone, for refitting the answer
model on the reader already bundled.

    python scripts/train_reader.py --pairs .reader/pairs.json.gz --out .reader/run [--device cuda]
    python scripts/train_reader.py --device cpu --folds 3 --fold-scores on-demand --no-final   # ~70 min, 2 cores
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import e5_core  # noqa: E402
from assistant.e5_core import E5Core, dequantize_q4_0  # noqa: E402
from assistant.reader import MAX_P, MAX_Q, READER_DIR, passage_ids, question_ids  # noqa: E402

BASE = ROOT / "assistant" / "models" / "e5-small-ja"
TOP = 4  # trained layers (8–11), as the search encoder's overlay
SEED = 0
LINEAR = ("q", "k", "v", "ao", "fi", "fo")


class Reader(nn.Module):
    """The base encoder with a linear head over its mean-pooled last states."""

    def __init__(self, core: E5Core, top: int = TOP):
        super().__init__()
        self.enc = core.encoder
        self.first = core.num_layers - top
        self.pad = core.pad_id
        self.head = nn.Linear(core.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        for p in self.enc.parameters():
            p.requires_grad_(False)
        for layer in self.enc.layers[self.first :]:
            for p in layer.parameters():
                p.requires_grad_(True)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(ids, mask), mask)

    @torch.no_grad()
    def lower(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The frozen layers' output: the same for every model trained on this base (``LowerCache``)."""
        return self.enc.run_layers(self.enc.embed(ids), mask, 0, self.first)

    def upper(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The trained layers and the head over the lower layers' states ``x``."""
        x = self.enc.run_layers(x, mask, self.first, None)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.head(pooled).squeeze(-1)


def bf16_autocast(device: torch.device) -> bool:
    """Train and score in bfloat16 autocast on a GPU, and on a CPU that computes bf16 natively (twice as fast
    there as float32; the GPU run that shipped the first reader was bf16 too)."""
    from assistant.cpu import native_bf16

    return device.type == "cuda" or (device.type == "cpu" and native_bf16())


class LowerCache:
    """The frozen layers' states of the pairs trained on, computed once (bfloat16, one tensor a pair).

    Why: layers 0 … first-1 never change, yet every epoch of every fold model ran them again: two thirds of
    a training step's forward work. With them cached a CPU step costs the trained layers only."""

    def __init__(self, reader: Reader, ids: list[list[int]], idx: list[int], device, batch: int = 64):
        from tqdm import tqdm

        self.states: dict[int, torch.Tensor] = {}
        order = sorted(set(idx), key=lambda i: len(ids[i]))
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16_autocast(device)):
            for rows, x, m in tqdm(batches(ids, order, batch, reader.pad, device), total=math.ceil(len(order) / batch),
                                   desc="frozen layers", mininterval=20, disable=None):
                h = reader.lower(x, m).to(torch.bfloat16)
                for j, i in enumerate(rows):
                    self.states[i] = h[j, : len(ids[i])].clone()

    def batch(self, rows: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
        n = max(self.states[i].shape[0] for i in rows)
        hid = next(iter(self.states.values())).shape[1]
        x = torch.zeros((len(rows), n, hid), dtype=torch.float32, device=device)
        m = torch.zeros((len(rows), n), dtype=torch.long, device=device)
        for j, i in enumerate(rows):
            s = self.states[i]
            x[j, : s.shape[0]] = s.float()
            m[j, : s.shape[0]] = 1
        return x, m


def chunks(order: list[int], size: int):
    for a in range(0, len(order), size):
        yield order[a : a + size]


def batches(ids: list[list[int]], order, size: int, pad: int, device):
    for rows in chunks(order, size):
        n = max(len(ids[i]) for i in rows)
        x = torch.full((len(rows), n), pad, dtype=torch.long)
        m = torch.zeros((len(rows), n), dtype=torch.long)
        for j, i in enumerate(rows):
            x[j, : len(ids[i])] = torch.tensor(ids[i])
            m[j, : len(ids[i])] = 1
        yield rows, x.to(device), m.to(device)


def fresh_reader(device) -> tuple[Reader, E5Core]:
    """A reader on a freshly loaded base (not the process's live copy, which an earlier reader has trained)."""
    e5_core._LIVE_BASES.clear()
    core = E5Core.load(str(BASE), model_kwargs={"quantize": "none"})
    core.encoder.to(device)
    return Reader(core).to(device), core


def train(reader: Reader, ids, labels, idx: list[int], args, device, tag: str, cache: LowerCache | None = None) -> list[float]:
    """Fine-tune ``reader`` on pairs ``idx``; with ``cache`` from the frozen layers' stored states (the same
    steps, the lower layers not rerun)."""
    from tqdm import tqdm

    torch.manual_seed(SEED)
    rng = np.random.RandomState(SEED)
    params = [p for p in reader.enc.layers[reader.first :].parameters()]
    opt = torch.optim.AdamW([{"params": params, "lr": args.lr}, {"params": reader.head.parameters(), "lr": args.head_lr}],
                            weight_decay=0.01)
    steps = args.epochs * math.ceil(len(idx) / args.batch)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    pos_weight = torch.tensor(args.pos_weight, device=device)
    losses = []
    for ep in range(args.epochs):
        reader.train()
        order = [idx[i] for i in rng.permutation(len(idx))]
        tot, t0 = 0.0, time.time()
        steps_of = ((rows, *cache.batch(rows, device)) for rows in chunks(order, args.batch)) if cache else \
            batches(ids, order, args.batch, reader.pad, device)
        for rows, x, m in tqdm(steps_of, total=math.ceil(len(order) / args.batch),
                               desc=f"{tag} epoch {ep + 1}", mininterval=20, disable=None):
            y = torch.tensor([labels[i] for i in rows], dtype=torch.float32, device=device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16_autocast(device)):
                z = reader.upper(x, m) if cache else reader(x, m)
            loss = F.binary_cross_entropy_with_logits(z.float(), y, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(rows)
        losses.append(tot / len(order))
        print(f"{tag} epoch {ep + 1}: loss {losses[-1]:.4f} ({time.time() - t0:.0f} s)", flush=True)
    return losses


@torch.no_grad()
def score(reader: Reader, ids, idx: list[int], device, batch: int = 128) -> np.ndarray:
    reader.eval()
    order = sorted(idx, key=lambda i: -len(ids[i]))
    out = np.zeros(len(idx), dtype=np.float32)
    where = {i: k for k, i in enumerate(idx)}
    for rows, x, m in batches(ids, order, batch, reader.pad, device):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16_autocast(device)):
            z = reader(x, m).float().cpu().numpy()
        for j, i in enumerate(rows):
            out[where[i]] = z[j]
    return out


def top_tensors(reader: Reader, base: E5Core) -> dict[str, torch.Tensor]:
    """The final model's trained part: per matrix its change from the base's (dequantized) one in float16,
    vectors (biases, LayerNorm) and the head in float32. Names as the base's stored tensors (``l{i}.q.w``)."""
    out: dict[str, torch.Tensor] = {}
    raw = base._raw
    for i in range(reader.first, len(reader.enc.layers)):
        layer = reader.enc.layers[i]
        for name in LINEAR:
            lin = getattr(layer, name)
            key = f"l{i}.{name}.w"
            ref = dequantize_q4_0(raw[key + ".qs"], raw[key + ".d"]).view(lin.weight.shape) if key + ".qs" in raw else raw[key]
            out[key + ".delta"] = (lin.weight.detach().float().cpu() - ref.float()).to(torch.float16).contiguous()
            out[f"l{i}.{name}.b"] = lin.bias.detach().float().cpu().contiguous()
        for name in ("aln", "oln"):
            ln = getattr(layer, name)
            out[f"l{i}.{name}.w"] = ln.weight.detach().float().cpu().contiguous()
            out[f"l{i}.{name}.b"] = ln.bias.detach().float().cpu().contiguous()
    out["head.w"] = reader.head.weight.detach().float().cpu().reshape(-1).contiguous()
    out["head.b"] = reader.head.bias.detach().float().cpu().reshape(-1).contiguous()
    return out


def load_top(layers, first: int, t: dict[str, torch.Tensor]) -> None:
    """Put a trained top (``top_tensors``: float16 changes from the base, vectors) onto the base's ``layers``
    (``first`` = the index of ``layers[0]``)."""
    with torch.no_grad():
        for n, layer in enumerate(layers):
            i = first + n
            for name in LINEAR:
                lin = getattr(layer, name)
                lin.weight.copy_(lin.weight + t[f"l{i}.{name}.w.delta"].float())
                lin.bias.copy_(t[f"l{i}.{name}.b"])
            for name in ("aln", "oln"):
                getattr(layer, name).weight.copy_(t[f"l{i}.{name}.w"])
                getattr(layer, name).bias.copy_(t[f"l{i}.{name}.b"])


def fold_group(question: dict, groups: int) -> int:
    """The out-of-fold model that scores a training question (-1: never trained on). The data file's five
    folds are merged into ``groups`` (``--fold-groups``: fewer models to train on a CPU)."""
    return question["fold"] % groups if question["fold"] >= 0 else -1


class FoldReaders:
    """A run's out-of-fold models (``fold{g}.safetensors``), loaded when first asked: what scores a training
    question's candidates out of fold when the run did not score them all (``--fold-scores on-demand``)."""

    def __init__(self, run: Path, device: str = "cpu"):
        self.run = Path(run)
        self.device = torch.device(device)
        self._models: dict[int, tuple[Reader, E5Core]] = {}

    def available(self, group: int) -> bool:
        return (self.run / f"fold{group}.safetensors").is_file()

    def _model(self, group: int) -> tuple[Reader, E5Core]:
        if group not in self._models:
            from safetensors.torch import load_file

            reader, core = fresh_reader(self.device)
            t = load_file(str(self.run / f"fold{group}.safetensors"))
            load_top(reader.enc.layers[reader.first :], reader.first, t)
            with torch.no_grad():
                reader.head.weight.copy_(t["head.w"].view_as(reader.head.weight))
                reader.head.bias.copy_(t["head.b"].view_as(reader.head.bias))
            self._models[group] = (reader.eval(), core)
        return self._models[group]

    def scores(self, group: int, question: str, texts: list[str]) -> np.ndarray:
        reader, core = self._model(group)
        q = question_ids(core, question)
        ids = [q + passage_ids(core, t) for t in texts]
        return score(reader, ids, list(range(len(ids))), self.device)


def quality(scores: np.ndarray, questions, offsets, idx_q) -> dict:
    """Per question: does the reader's first candidate hold the answer (answerable questions with a right
    candidate), and the AUC of the question's best score, answerable vs not."""
    first, best, y = [], [], []
    for qi in idx_q:
        q = questions[qi]
        s = scores[offsets[qi] : offsets[qi] + len(q["cands"])]
        if not len(s) or np.isnan(s).any():  # not scored (a smoke test's --score-limit)
            continue
        labels = [c[1] for c in q["cands"]]
        if q["answerable"] and any(labels):
            first.append(labels[int(np.argmax(s))])
        best.append(float(s.max()))
        y.append(int(q["answerable"]))
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(y, best) if len(set(y)) == 2 else float("nan")
    return {"first": float(np.mean(first)) if first else float("nan"), "n_first": len(first), "auc_best": float(auc), "n": len(y)}


def write_reader(run: Path, out: Path = READER_DIR) -> None:
    """The overlay directory of a training run (``--write RUN``): the final model's layers rebuilt from the
    base and the run's float16 changes, stored as the search overlay stores its layers (int8 change per
    row, ``finetune_e5_model.write_model``), plus the head, ``build_info.json``'s ``finetune`` block and
    the model card's section."""
    from safetensors.torch import load_file

    sys.path.insert(0, str(ROOT / "scripts"))
    import finetune_e5_model as FT

    log = json.loads((run / "log.json").read_text(encoding="utf-8"))
    if "final" not in log:
        raise SystemExit(f"{run} has out-of-fold models only (--no-final): no reader to write")
    t = load_file(str(run / "reader_top.safetensors"))
    e5_core._LIVE_BASES.clear()
    core = E5Core.load(str(BASE), model_kwargs={"quantize": "none"})
    first = core.num_layers - TOP
    layers = core.encoder.layers[first:]
    load_top(layers, first, t)
    pairs = Path(log["args"]["pairs"])
    data = {str(p.relative_to(ROOT)): FT.sha256(p) for p in sorted((ROOT / "scripts" / "data" / "plan_train").glob("*.jsonl"))}
    data[f"{pairs.name} (scripts/reader_data.py)"] = FT.sha256(pairs) if pairs.is_file() else log.get("pairs_sha256", "?")
    a = log["args"]
    finetune = {"kind": "reader (cross-encoder)", "layers": list(range(first, core.num_layers)), "epochs": a["epochs"], "lr": a["lr"],
                "head_lr": a["head_lr"], "batch": a["batch"], "pos_weight": a["pos_weight"], "seed": SEED, "folds": a["folds"],
                "max_q": MAX_Q, "max_p": MAX_P, "seconds": log["seconds"], "machine": log["device"],
                "command": "python scripts/reader_data.py && python scripts/train_reader.py [--device cuda] && python scripts/train_reader.py --write",
                "out_of_fold": log.get("out_of_fold"), "data_sha256": data}
    extra = {"head.w": t["head.w"].numpy().astype(np.float32), "head.b": t["head.b"].numpy().astype(np.float32)}
    FT.write_model(BASE, out, layers, first, finetune, extra=extra, card=card_section(finetune), bits=4)
    print(f"wrote {out}")


def card_section(f: dict) -> str:
    data = "\n".join(f"- `{k}` sha256 `{v}`" for k, v in f["data_sha256"].items())
    oof = f.get("out_of_fold") or {}
    return f"""## The answer reader: a cross-encoder (issue 10, docs/BENCHMARKS.md §9.23)
**This directory is an overlay over `e5-small-ja`** (its tokenizer, normalizer, embeddings and layers
0–{f['layers'][0] - 1}; the base weights' sha256 is `config.json`'s `base_weights_sha256`). It is not a sentence
embedder: it reads `<s> query: QUESTION </s> passage: HEADING｜SENTENCE … </s>` together (question ≤ {f['max_q']}
tokens, candidate ≤ {f['max_p']}) and a linear head (`head.w`, `head.b`) over the mean of its last states gives a
logit: does this candidate sentence answer the question. `assistant/reader.py` loads it; the answer model uses
its score for the few candidates its first stage ranks highest.
Layers {f['layers'][0]}–{f['layers'][-1]} and the head are trained with binary cross-entropy (positive weight
{f['pos_weight']}) on the plan training questions' candidate sentences as the answer path finds them (labelled
by the questions' evidence and answer keywords; per question its right candidates, five hardest and two random
wrong ones; near-miss and out-of-scope questions give wrong ones only); AdamW lr {f['lr']} (head {f['head_lr']}),
batch {f['batch']}, {f['epochs']} epochs, linear warm-up and decay, seed {f['seed']}. The evaluation's tune and test
questions, the dev set and JSQuAD are never trained on. {f['folds']} out-of-fold models score the training
questions for fitting the answer model (out of fold: right candidate first {oof.get('first', float('nan')):.3f} of
{oof.get('n_first', 0)} answerable training questions with one; answerable vs not by the best score, AUC
{oof.get('auc_best', float('nan')):.3f}). Each trained matrix is stored as its change from the base's
in 4 bits with a float32 scale per row (`l{{i}}.q.w.dq4`, two values a byte, `.ds`): 3.6 MB instead of int8's 7.2,
which keeps all bundled models within 80 MB; the logits stay within 0.02 on average of int8's.
Command: `{f['command']}` ({f['seconds']:.0f} s for all {f['folds']} + 1 models on {f['machine']}). On 2 CPU
cores a training pair costs ~0.09 s an epoch (measured: 950 pairs in 87 s), so the final model alone
(`--folds 0`) takes about 1.8 hours and `--folds 0 --subset 0.3` about half an hour; the out-of-fold
models, which only the answer model's refit needs, six times that.
Training data:
{data}

The training questions were written for this project from the bundled plans; the base weights are
multilingual-e5-small (MIT).
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default=str(ROOT / ".reader" / "pairs.json.gz"))
    ap.add_argument("--out", default=str(ROOT / ".reader" / "run"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--folds", type=int, default=5,
                    help="out-of-fold models (0: the final model only; fewer than the data file's 5 merge its folds)")
    ap.add_argument("--fold-scores", choices=("all", "on-demand"), default="all",
                    help="score every candidate of each fold's questions now, or leave it to the answer model's fit "
                         "(it reads only the few candidates it uses, with the stored fold models: far less work on a CPU)")
    ap.add_argument("--no-final", action="store_true",
                    help="the out-of-fold models only (a refit of the answer model for the reader already bundled)")
    ap.add_argument("--no-cache", action="store_true", help="rerun the frozen layers every step instead of storing their states")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--pos-weight", type=float, default=3.0)
    ap.add_argument("--subset", type=float, default=1.0, help="share of the training questions used (a quick CPU rebuild)")
    ap.add_argument("--score-limit", type=int, default=0, help="score only the first N questions of each set (a smoke test)")
    ap.add_argument("--write", nargs="?", const=str(ROOT / ".reader" / "run"), default=None, metavar="RUN",
                    help="write the bundled reader (assistant/models/e5-small-ja-reader) from a training run's --out")
    args = ap.parse_args(argv)
    if args.write:
        write_reader(Path(args.write))
        return
    device = torch.device(args.device)
    torch.set_float32_matmul_precision("high")
    t_start = time.time()
    with gzip.open(args.pairs, "rt", encoding="utf-8") as f:
        data = json.load(f)
    texts, questions = data["texts"], data["questions"]
    reader, core = fresh_reader(device)
    ids, labels, owner = [], [], []
    offsets = []
    p_ids = [passage_ids(core, t) for t in texts]
    for qi, q in enumerate(questions):
        offsets.append(len(ids))
        q_ids = question_ids(core, q["q"])
        for tid, y in q["cands"]:
            ids.append(q_ids + p_ids[tid])
            labels.append(y)
            owner.append(qi)
    print(f"{len(questions)} questions, {len(ids)} pairs, tokenized in {time.time() - t_start:.0f} s", flush=True)
    rng = np.random.RandomState(SEED)
    keep = {qi for qi, q in enumerate(questions) if q["train_idx"] and rng.rand() < args.subset}

    def train_pairs(qis) -> list[int]:
        return [offsets[qi] + j for qi in qis for j in questions[qi]["train_idx"]]

    scores = np.full(len(ids), np.nan, dtype=np.float32)
    log: dict = {"args": vars(args), "folds": {}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    cache = None if args.no_cache else LowerCache(reader, ids, train_pairs(sorted(keep)), device)
    for f in range(args.folds):
        tr = [qi for qi in keep if fold_group(questions[qi], args.folds) != f]
        te = [qi for qi, q in enumerate(questions) if fold_group(q, args.folds) == f][: args.score_limit or None]
        if f > 0:
            reader, core = fresh_reader(device)
        losses = train(reader, ids, labels, train_pairs(tr), args, device, f"fold {f}", cache)
        save_file(top_tensors(reader, core), str(out / f"fold{f}.safetensors"))
        log["folds"][f] = {"losses": losses, "train_questions": len(tr)}
        if args.fold_scores == "all":
            te_idx = [offsets[qi] + j for qi in te for j in range(len(questions[qi]["cands"]))]
            scores[te_idx] = score(reader, ids, te_idx, device)
            log["folds"][f].update(quality(scores, questions, offsets, te))
        print(f"fold {f}: {log['folds'][f]}", flush=True)
    if not args.no_final:
        reader, core = fresh_reader(device)
        losses = train(reader, ids, labels, train_pairs(sorted(keep)), args, device, "final", cache)
        rest = [qi for qi, q in enumerate(questions) if q["fold"] < 0 or args.folds == 0][: args.score_limit or None]
        rest_idx = [offsets[qi] + j for qi in rest for j in range(len(questions[qi]["cands"]))]
        scores[rest_idx] = score(reader, ids, rest_idx, device)
        log["final"] = {"losses": losses, "train_questions": len(keep), **quality(scores, questions, offsets, rest)}
        save_file(top_tensors(reader, core), str(out / "reader_top.safetensors"))
    trained = [qi for qi, q in enumerate(questions) if q["fold"] >= 0]
    if args.folds and args.fold_scores == "all":
        log["out_of_fold"] = quality(scores, questions, offsets, trained)
    log["seconds"] = round(time.time() - t_start, 1)
    log["device"] = torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(json.dumps({k: v for k, v in log.items() if k != "args"}, indent=1), flush=True)
    np.save(out / "scores.npy", scores)
    (out / "log.json").write_text(json.dumps(log, indent=1), encoding="utf-8")

if __name__ == "__main__":
    main()

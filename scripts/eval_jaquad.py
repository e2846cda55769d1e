"""JaQuAD-dev "answer-bearing sentence found": does the assistant's answer contain the gold answer?

A bounded, seeded sample of JaQuAD dev questions (../shared/data/jaquad/dev.json.gz, CC BY-SA 3.0,
Japanese Wikipedia paragraphs with human questions) is drawn; the paragraphs those questions come
from become a temporary JSONL corpus; every sampled question is asked through ``Assistant.ask`` and
searched through ``Assistant.search``. Reported:

* answer contains gold — share of questions whose answer text contains the gold answer string
  (NFKC + whitespace removed; refusals count as misses);
* top-1 passage contains gold — the first retrieved passage contains the gold answer string;
* top-1 from gold paragraph — the first retrieved passage comes from the question's own paragraph;
* refused / hedged shares, ask latency.

It measures the same thing as the plan set's keyword hit, on text the system was never tuned on
(JaQuAD is marked for training in its README; nothing here trains on it). Runs in a few minutes on
two CPU cores with the default ``--n 300``.

    python scripts/eval_jaquad.py [--n 300] [--seed 0] [--model …] [--json] [--details FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation import _p95, is_hedged, paragraph_assistant  # noqa: E402
from assistant.japanese import compact  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "jaquad" / "dev.json.gz"


def sample(path: Path, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(paragraph records for a JSONL corpus, sampled questions with their paragraph id and gold answers)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    qas = []
    for art in data:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                qas.append((art.get("title", ""), p["context"], qa))
    rng = random.Random(seed)
    picked = rng.sample(qas, min(n, len(qas)))
    paras: dict[str, dict] = {}
    questions = []
    for title, ctx, qa in picked:
        rec = paras.setdefault(ctx, {"id": f"jq{len(paras):04d}", "title": title, "text": ctx})
        golds = sorted({a["text"] for a in qa["answers"] if a["text"].strip()})
        questions.append({"id": qa["id"], "question": qa["question"], "pid": rec["id"], "gold": golds})
    return list(paras.values()), questions


def run(path: Path, n: int, seed: int, model: str | None) -> dict:
    paras, questions = sample(path, n, seed)
    with paragraph_assistant(paras, "jaquad", model) as (a, build_s):
        rows, lat = [], []
        for q in questions:
            golds = [compact(g) for g in q["gold"]]
            t0 = time.perf_counter()
            ans = a.ask(q["question"])
            lat.append(time.perf_counter() - t0)
            hits = a.search(q["question"], k=1)
            text = compact(ans.text)
            top = hits[0] if hits else None
            rows.append({
                "id": q["id"], "question": q["question"], "gold": q["gold"],
                "answer_has_gold": (not ans.refused) and any(g in text for g in golds),
                "top1_has_gold": top is not None and any(g in compact(top.text) for g in golds),
                "top1_gold_paragraph": top is not None and top.doc_id == q["pid"],
                "refused": bool(ans.refused), "hedged": is_hedged(ans), "answer": ans.text,
            })
    k = max(len(rows), 1)
    return {
        "dataset": str(path), "n": len(rows), "paragraphs": len(paras), "seed": seed,
        "answer_contains_gold": sum(r["answer_has_gold"] for r in rows) / k,
        "top1_passage_contains_gold": sum(r["top1_has_gold"] for r in rows) / k,
        "top1_from_gold_paragraph": sum(r["top1_gold_paragraph"] for r in rows) / k,
        "refused": sum(r["refused"] for r in rows) / k,
        "hedged": sum(r["hedged"] for r in rows) / k,
        "ask_latency_ms": {"p50": 1000 * statistics.median(lat) if lat else 0.0, "p95": 1000 * _p95(lat)},
        "build_seconds": round(build_s, 1),
        "model": a.embedder.model_id,
        "items": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="JaQuAD dev JSON (.gz)")
    ap.add_argument("--n", type=int, default=300, help="questions sampled (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--details", default=None, metavar="FILE", help="write per-question rows as JSON")
    args = ap.parse_args(argv)
    rep = run(Path(args.data), args.n, args.seed, args.model)
    if args.details:
        Path(args.details).write_text(json.dumps(rep["items"], ensure_ascii=False, indent=1), encoding="utf-8")
    summary = {k: v for k, v in rep.items() if k != "items"}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    cmd = "python scripts/eval_jaquad.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"command: {cmd.strip()}")
    print(f"JaQuAD dev sample: n={rep['n']} questions over {rep['paragraphs']} paragraphs (seed {rep['seed']}), model {rep['model']}")
    print(f"answer contains gold:        {rep['answer_contains_gold']:.3f}")
    print(f"top-1 passage contains gold: {rep['top1_passage_contains_gold']:.3f}")
    print(f"top-1 from gold paragraph:   {rep['top1_from_gold_paragraph']:.3f}")
    print(f"refused {rep['refused']:.3f}  hedged {rep['hedged']:.3f}")
    lat = rep["ask_latency_ms"]
    print(f"ask latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms; build {rep['build_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Answer composition checked on every set we may tune on, in one process (issue 10, BENCHMARKS §9.14).

A change to how answers are composed must help on the tune split *and* not hurt on the plan training
questions (``scripts/data/plan_train/*.jsonl``) and the dev set: a rule that helps tune alone is fitted
to tune. For each set this prints keyword hit (answerable items), answerable refused / hedged,
out-of-scope refused, the answer length in characters (median and p95 of the answers that are not
refusals: answers must stay readable on a phone) and ask latency p50 / p95, then the keyword misses
whose right passage is in the top 5, one class each (``scripts/answer_misses.py``), with the totals
over all sets. ``--out DIR`` writes each set's per-item rows (``DIR/<set>.json``); ``--before DIR``
lists the items whose keyword hit changed against an earlier ``--out``.

    python scripts/bench_answers.py --out /tmp/after [--before /tmp/before]

The frozen test split is never run here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from answer_misses import classify  # noqa: E402

from assistant import Assistant, evaluation  # noqa: E402


def sets(extra: list[str]) -> list[tuple[str, Path, str | None]]:
    """(name, path, split) of every set to check: tune, dev, each plan training file, any extra."""
    out = [("tune", ROOT / "eval" / "plan_qa.jsonl", "tune"), ("dev", ROOT.parent / "shared" / "devset" / "qa.jsonl", None)]
    out += [(p.stem, p, None) for p in sorted((ROOT / "scripts" / "data" / "plan_train").glob("*.jsonl"))]
    out += [(Path(p).stem, Path(p), None) for p in extra]
    return [s for s in out if s[1].exists()]


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else 0.0


def summary(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    oos = [r for r in rows if not r["answerable"]]
    lengths = [len(r["answer"]) for r in rows if not r["refused"]]
    ms = [r["ask_ms"] for r in rows]
    share = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return {
        "answerable": len(ans), "keyword_hit": share([r["keywords_ok"] for r in ans]),
        "kw": sum(r["keywords_ok"] for r in ans),
        "refused": share([r["refused"] for r in ans]), "hedged": share([r["hedged"] for r in ans]),
        "oos": len(oos), "oos_refused": share([r["refused"] for r in oos]),
        "chars_median": statistics.median(lengths) if lengths else 0, "chars_p95": _pct(lengths, 0.95),
        "ask_p50": statistics.median(ms) if ms else 0, "ask_p95": _pct(ms, 0.95),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write each set's rows to DIR/<set>.json")
    ap.add_argument("--before", type=Path, help="an earlier --out: list the items whose keyword hit changed")
    ap.add_argument("--only", nargs="*", default=None, help="only these sets (names)")
    ap.add_argument("extra", nargs="*", help="more QA JSONL files")
    args = ap.parse_args()
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    chunks = {c.id: c for c in a.state.retriever.index.chunks}
    cities = sorted({c.municipality for c in chunks.values() if c.municipality and c.municipality != "不明"})
    a.ask("ウォームアップ")  # the first question loads models: not part of any set's latency
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    total: Counter = Counter()
    print(f"{'set':24s} {'kw hit':>14s} {'refused':>7s} {'hedged':>6s} {'oos ref':>12s} {'chars med/p95':>14s} {'ask p50/p95 ms':>15s}")
    for name, path, split in sets(args.extra):
        if args.only is not None and name not in args.only:
            continue
        rows = evaluation.eval_qa(a, path, split=split)["items"]
        if args.out:
            tmp = args.out / f".{name}.json.tmp"
            tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(args.out / f"{name}.json")
        s = summary(rows)
        classes: Counter = Counter()
        for r in rows:
            if r["answerable"] and not r["keywords_ok"] and r.get("rank") and r["rank"] <= 5:
                classes[classify(r, chunks, cities)[0]] += 1
        total.update(classes)
        print(f"{name:24s} {s['keyword_hit']:.3f} ({s['kw']:3d}/{s['answerable']:3d}) {s['refused']:7.3f} {s['hedged']:6.3f} "
              f"{s['oos_refused']:.3f} ({s['oos']:3d}) {s['chars_median']:6.0f} / {s['chars_p95']:5.0f} {s['ask_p50']:6.1f} / {s['ask_p95']:6.1f}")
        print("    misses, passage in top 5: " + ", ".join(f"{k} {v}" for k, v in classes.most_common()))
        if args.before and (args.before / f"{name}.json").exists():
            old = {r["id"]: r for r in json.loads((args.before / f"{name}.json").read_text(encoding="utf-8"))}
            for r in rows:
                o = old.get(r["id"])
                if o is not None and r["answerable"] and o.get("keywords_ok") != r.get("keywords_ok"):
                    print(f"    {'+' if r['keywords_ok'] else '-'} {r['id']} {r['question']}")
    print("all sets, misses with the passage in the top 5: " + ", ".join(f"{k} {v}" for k, v in total.most_common()))


if __name__ == "__main__":
    main()

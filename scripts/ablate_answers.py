"""Each composition rule of BENCHMARKS §9.14 switched off alone, on the items it can touch.

Reads two ``scripts/bench_answers.py --out`` directories — before the rules (BEFORE) and with all of
them (AFTER) — and re-asks only the questions whose answer differs between the two (an answer no
rule changed cannot change when one is switched off), once per rule with that rule disabled in this
process. For each rule: keyword items it gains (on with all rules, off without it), items it loses,
answers it changes, and the characters it adds over those answers.

    python scripts/ablate_answers.py /tmp/before /tmp/after [--latency 300]
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, answering, asked, japanese, named_rows  # noqa: E402


@contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


_announced = answering._announced_rows


def _no_caption_rows(best, following, next_chunks, notes=1):
    return [] if notes == 0 else _announced(best, following, next_chunks, notes)


def _parent_as_before(line, marker):
    return not line.rstrip().endswith("。")


RULES = {
    "glossary term → definition": (answering, "_labelled_body", lambda sents, pos: None),
    "office → contact lines": (answering, "_contact_lines", lambda sents, pos: []),
    "office asked in other words": (asked, "detail_for_answer", asked.asked_detail),
    "課題 is no office": (asked, "states_value", asked.holds_value),
    "caption → its table rows": (answering, "_announced_rows", _no_caption_rows),
    "body text is no parent": (answering, "_may_head_items", _parent_as_before),
    "measures after the aim": (answering, "_with_measures", lambda out, best, max_lines: out),
    "the row or label the question names": (named_rows, "prefer", lambda cands, question: None),
}


def latency(a, questions: list[str]) -> None:
    """Ask time with every rule off and with all on, alternating per question and which goes first, after
    one untimed ask of the question, in this one process (so the load of a shared machine and any cache
    fall on both alike): p50 / p95 in ms."""
    import statistics
    import time
    from contextlib import ExitStack

    times: dict[str, list[float]] = {"off": [], "on": []}
    for i, q in enumerate(questions):
        a.ask(q)  # untimed: whatever a repeated question finds cached, both modes find it
        for mode in (("off", "on") if i % 2 else ("on", "off")):
            with ExitStack() as stack:
                if mode == "off":
                    for obj, attr, off in RULES.values():
                        stack.enter_context(patched(obj, attr, off))
                t0 = time.perf_counter()
                a.ask(q)
                times[mode].append(1000 * (time.perf_counter() - t0))
    for mode, xs in times.items():
        s = sorted(xs)
        print(f"rules {mode:3s}: {len(xs)} questions, ask p50 {statistics.median(xs):.1f} ms, p95 {s[int(round(0.95 * (len(s) - 1)))]:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--latency", type=int, default=0, help="also time N questions of AFTER with all rules off / on, alternating")
    args = ap.parse_args()
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    a.ask("ウォームアップ")
    items = []  # (set, after row)
    for f in sorted(args.after.glob("*.json")):
        if not (args.before / f.name).exists():
            continue
        old = {r["id"]: r for r in json.loads((args.before / f.name).read_text(encoding="utf-8"))}
        for r in json.loads(f.read_text(encoding="utf-8")):
            if r["id"] in old and old[r["id"]]["answer"] != r["answer"]:
                items.append((f.stem, r))
    keywords = {}
    for path in [ROOT / "eval" / "plan_qa.jsonl", ROOT.parent / "shared" / "devset" / "qa.jsonl",
                 *sorted((ROOT / "scripts" / "data" / "plan_train").glob("*.jsonl"))]:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    it = json.loads(line)
                    if it.get("split") != "test":  # the frozen split is never read here
                        keywords[it["id"]] = it.get("answer_keywords", [])
    print(f"{len(items)} answers changed by the rules together")
    for name, (obj, attr, off) in RULES.items():
        gains, losses, changed, added = [], [], 0, 0
        with patched(obj, attr, off):
            for _set, r in items:
                ans = a.ask(r["question"])
                if ans.text != r["answer"]:
                    changed += 1
                    added += len(r["answer"]) - len(ans.text)
                if r["answerable"]:
                    kws = keywords.get(r["id"], [])
                    ok = all(japanese.compact(k) in japanese.compact(ans.text) for k in kws)
                    if r["keywords_ok"] and not ok:
                        gains.append(r["id"])
                    elif ok and not r["keywords_ok"]:
                        losses.append(r["id"])
        print(f"{name:45s} gains {len(gains)} {' '.join(gains)} | losses {len(losses)} {' '.join(losses)} | "
              f"answers changed {changed}, chars added {added}")
    if args.latency:
        qs = [r["question"] for f in sorted(args.after.glob("*.json")) for r in json.loads(f.read_text(encoding="utf-8"))]
        latency(a, qs[: args.latency])


if __name__ == "__main__":
    main()

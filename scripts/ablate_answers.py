"""Each composition rule of BENCHMARKS §9.13 switched off alone, on the items it can touch.

Reads two ``scripts/bench_answers.py --out`` directories — before the rules (BEFORE) and with all of
them (AFTER) — and re-asks only the questions whose answer differs between the two (an answer no
rule changed cannot change when one is switched off), once per rule with that rule disabled in this
process. For each rule: keyword items it gains (on with all rules, off without it), items it loses,
answers it changes, and the characters it adds over those answers.

    python scripts/ablate_answers.py /tmp/before /tmp/after
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
    "the row the question names": (named_rows, "prefer", lambda cands, question: None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
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


if __name__ == "__main__":
    main()

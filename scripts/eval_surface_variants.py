"""How far answers move when a question is typed differently but asks the same: courtesy around it, an
emoji, no final 「？」, ASCII punctuation, spaces for commas.

    python scripts/eval_surface_variants.py [--qa eval/plan_qa.jsonl] [--split tune] [--variants please,emoji]

Each variant rewrites every question of the set the same mechanical way (``VARIANTS``); the set is then
evaluated as ``python -m assistant eval`` does (one Assistant, loaded once, read-only). Printed per variant:
keyword hit, answerable refused, hedged, out-of-scope refused, and how many answers differ from the answers
to the questions as written. A robust assistant keeps the as-written figures and changes few answers:
these variants add nothing a resident asks. Never run it on the frozen test split to tune anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_END_RE = re.compile(r"[？?。！!]+$")


def _without_end(q: str) -> str:
    return _END_RE.sub("", q)


def _please(q: str) -> str:
    """「…ありますか？」 → 「…ありますか教えてください。」, 「…は何？」 → 「…は何か教えてください。」"""
    bare = _without_end(q)
    return bare + ("" if bare.endswith("か") else "か") + "教えてください。"


VARIANTS = {
    "as written": lambda q: q,
    "すみません、…": lambda q: "すみません、" + q,
    "…か教えてください。": _please,
    "… + emoji": lambda q: q + "😊",
    "no final mark": _without_end,
    "ASCII punctuation": lambda q: q.replace("？", "?").replace("、", ","),
    "spaces for 、": lambda q: q.replace("、", " "),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qa", default=str(ROOT / "eval" / "plan_qa.jsonl"))
    ap.add_argument("--split", default="tune", help="tune (default), test, or all")
    ap.add_argument("--variants", default="", help="comma-separated names of VARIANTS (default: all)")
    ap.add_argument("--json", help="write the per-variant figures here")
    args = ap.parse_args()

    from assistant.core import Assistant
    from assistant.evaluation import eval_qa, load_qa

    split = None if args.split == "all" else args.split
    items = load_qa(Path(args.qa), split)
    names = [n.strip() for n in args.variants.split(",") if n.strip()] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    if "as written" not in names:
        names.insert(0, "as written")
    assistant = Assistant.load(progress=False, read_only=True)
    answers: dict[str, dict[str, str]] = {}
    table = []
    print(f"{len(items)} questions of {args.qa} ({args.split})")
    print("| variant | keyword hit | answerable refused | hedged | out-of-scope refused | answers changed |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = Path(tmp) / "variant.jsonl"
            path.write_text("".join(json.dumps({**it, "question": VARIANTS[name](it["question"])}, ensure_ascii=False) + "\n"
                                    for it in items), encoding="utf-8")
            rep = eval_qa(assistant, path)
            answers[name] = {r["id"]: r["answer"] for r in rep["items"]}
            base = answers["as written"]
            changed = sum(answers[name][i] != base[i] for i in base)
            a = rep["answers"]
            row = {"variant": name, "keyword_hit": a["keyword_hit"], "answerable_refused": a["answerable_refused"],
                   "hedged": a["answerable_hedged"], "oos_refused": a["oos_refused"], "changed": changed, "n": rep["n"]}
            table.append(row)
            print(f"| {name} | {row['keyword_hit']:.3f} | {row['answerable_refused']:.3f} | {row['hedged']:.3f} | "
                  f"{row['oos_refused']:.3f} | {changed} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

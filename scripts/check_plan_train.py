"""Check (and label) the plan training questions in ``scripts/data/plan_train/*.jsonl`` (issue 10).

These questions are written from reading the bundled plans to give the fitted models (answer model,
pool reranker, e5 fine-tuning) many more lexically weak, everyday-wording examples than the tune split
holds. They are training data only — never an evaluation set — so they must never copy or nearly copy
a question of ``eval/plan_qa.jsonl``'s frozen test split (or of the batches written blind: 3 onwards).

For every item this checks: the fields and types, each evidence string found in a chunk of its
document, each answer keyword inside a passage holding the evidence, and the ``paraphrase`` flag as the
eval README's rule computes it (``--fix`` rewrites the flag in place, atomically). Near duplicates of
a protected eval question (character-bigram Jaccard ≥ ``--max-jaccard``) are reported by training id
only — the eval text is not printed, so a writer cannot read the frozen questions through this tool.

    python scripts/check_plan_train.py            # exit 1 when anything is wrong
    python scripts/check_plan_train.py --fix      # recompute the paraphrase flags, then check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import chunking, corpus  # noqa: E402
from assistant.evaluation import is_paraphrase  # noqa: E402
from assistant.japanese import compact  # noqa: E402

TRAIN_DIR = ROOT / "scripts" / "data" / "plan_train"
QA = ROOT / "eval" / "plan_qa.jsonl"
TYPES = {"resident", "staff", "number", "date", "paraphrase", "multi_doc", "out_of_scope", "near_miss"}


def bigrams(text: str) -> set[str]:
    t = compact(text)
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def load(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def write_atomic(path: Path, items: list[dict]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(it, ensure_ascii=False) + "\n" for it in items)
    os.replace(tmp, path)


def protected_questions() -> list[set[str]]:
    """Bigram sets of the eval questions a training question must not copy: the frozen test split and
    every item of the batches written blind (3 onwards: 3, 4, 5 …), so a later blind batch stays unseen."""
    return [bigrams(it["question"]) for it in load(QA) if it["split"] == "test" or int(it.get("batch") or 0) >= 3]


def check(paths: list[Path], fix: bool, max_jaccard: float) -> list[str]:
    chunks: dict[str, list[str]] = {}
    for c in chunking.chunk_corpus(corpus.load_corpus(ROOT / "corpus")):
        chunks.setdefault(c.doc_id, []).append(c.text)
    protected = protected_questions()
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        items = load(path)
        for it in items:
            iid = f"{path.name}:{it.get('id')}"
            if not {"id", "question", "docs", "evidence", "answer_keywords", "type"} <= it.keys():
                problems.append(f"{iid}: missing fields")
                continue
            if it["type"] not in TYPES:
                problems.append(f"{iid}: unknown type {it['type']!r}")
            key = compact(it["question"])
            if key in seen:
                problems.append(f"{iid}: same question as {seen[key]}")
            seen[key] = iid
            qb = bigrams(it["question"])
            if any(jaccard(qb, p) >= max_jaccard for p in protected):
                problems.append(f"{iid}: nearly copies a protected eval question (bigram Jaccard ≥ {max_jaccard})")
            if not it["docs"]:
                if it["evidence"] or it["answer_keywords"] or it["type"] not in ("out_of_scope", "near_miss"):
                    problems.append(f"{iid}: an unanswerable item has evidence/keywords or an answerable type")
                it["paraphrase"] = False
                continue
            evs = [compact(e) for e in it["evidence"]]
            passages = [t for d in it["docs"] for t in chunks.get(d, []) if any(e in compact(t) for e in evs)]
            missing = [e for e in it["evidence"] if not any(compact(e) in compact(t) for d in it["docs"] for t in chunks.get(d, []))]
            if missing:
                problems.append(f"{iid}: evidence not in any chunk of {it['docs']}: {missing}")
            joined = compact("".join(passages))
            bad_kw = [k for k in it["answer_keywords"] if compact(k) not in joined]
            if bad_kw:
                problems.append(f"{iid}: keywords not in the evidence passages: {bad_kw}")
            flag = is_paraphrase(it["question"], passages)
            if fix:
                it["paraphrase"] = flag
            elif it.get("paraphrase") is not flag:
                problems.append(f"{iid}: paraphrase flag should be {flag} (run with --fix)")
        if fix:
            write_atomic(path, items)
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="files to check (default: every plan_train/*.jsonl)")
    ap.add_argument("--fix", action="store_true", help="recompute the paraphrase flags in place")
    ap.add_argument("--max-jaccard", type=float, default=0.6)
    args = ap.parse_args()
    paths = args.paths or sorted(TRAIN_DIR.glob("*.jsonl"))
    problems = check(paths, args.fix, args.max_jaccard)
    n = sum(len(load(p)) for p in paths)
    for p in problems:
        print(p)
    print(f"{n} items in {len(paths)} file(s); {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

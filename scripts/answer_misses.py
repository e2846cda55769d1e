"""Why an answer misses the asked fact although the right passage was found (error analysis, issue 10).

Reads the ``--details`` JSON of ``python -m assistant eval`` and, for every answerable item whose
passage is in the top 5 but whose answer lacks an answer keyword, puts it in one class:

* ``refused`` / ``hedged``: the answer model refused, or answered with the hedge lead;
* ``wrong plan``: no cited passage comes from one of the item's documents;
* ``not in top passages``: no sentence of the top-5 passages holds the missing keyword (the evidence
  passage is found by its evidence string but the keyword is elsewhere, e.g. the next passage);
* ``list/table not included``: the keyword is in a list item or table row of a cited passage;
* ``neighbour cut``: the keyword is in a sentence next to a chosen one in the same passage;
* ``wrong sentence``: the keyword is in another sentence of the top-5 passages.

    python -m assistant eval eval/plan_qa.jsonl --split tune --details /tmp/tune.json
    python scripts/answer_misses.py /tmp/tune.json [--show]

Use on the tune split and the dev set only (never to choose anything on the test split).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, answering, japanese  # noqa: E402


def classify(item: dict, chunks: dict, top: int = 5) -> tuple[str, str]:
    if item.get("refused"):
        return "refused", ""
    if item.get("hedged"):
        return "hedged", ""
    docs = set(item.get("docs") or [])
    if not any(cid.split("#")[0] in docs for cid in item.get("cited", [])):
        return "wrong plan", ""
    missing = [japanese.compact(k) for k in item.get("keywords_missing", [])]
    answer = japanese.compact(item.get("answer", ""))
    where = []
    for cid in item.get("top_hits", [])[:top]:
        chunk = chunks.get(cid.split("#")[-1])  # details name passages doc#chunk
        if chunk is None:
            continue
        sents = [s for s, _l in answering._sentences(chunk.text)]
        chosen = [i for i, s in enumerate(sents) if japanese.compact(answering._tidy(s)) in answer]
        for i, s in enumerate(sents):
            if any(k in japanese.compact(s) for k in missing):
                where.append((cid in item.get("cited", []), i, s, chosen))
    if not where:
        return "not in top passages", ""
    cited_where = [w for w in where if w[0]]
    for _c, i, s, chosen in cited_where:
        if answering._ITEM_RE.match(s.strip()) or " / " in s:
            return "list/table not included", s
    for _c, i, s, chosen in cited_where:
        if any(abs(i - j) == 1 for j in chosen):
            return "neighbour cut", s
    return "wrong sentence", where[0][2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("details")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    items = json.loads(Path(args.details).read_text(encoding="utf-8"))
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    chunks = {c.id: c for c in a.state.retriever.index.chunks}
    counts: Counter = Counter()
    for it in items:
        if not it.get("answerable") or it.get("keywords_ok") or not it.get("rank") or it["rank"] > 5:
            continue
        cls, sent = classify(it, chunks)
        counts[cls] += 1
        if args.show:
            print(f"{it['id']} [{cls}] {it['question']}\n  missing {it['keywords_missing']}  ->  {sent[:100]}")
    print(dict(counts), "total", sum(counts.values()))


if __name__ == "__main__":
    main()

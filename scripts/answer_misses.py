"""Why an answer misses the asked fact although the right passage was found (error analysis, issue 10).

Reads the ``--details`` JSON of ``python -m assistant eval`` and, for every answerable item whose
passage is in the top 5 but whose answer lacks an answer keyword, puts it in one class (the first
that applies, in this order; BENCHMARKS §9.10):

* ``refused``: the answer model refused (hedged answers are classified like the others and flagged);
* ``multi-city``: the question names two or more cities (answered per city, each with its own search);
* ``normalisation``: the keyword is in the answer once both are folded (full/half width, 漢数字 digits,
  punctuation): the evaluation's string test, not the answer, misses;
* ``title/section only``: no sentence of the top-5 passages holds the keyword, but a title or
  section path does (a heading the answer cannot quote as a sentence);
* ``not in top passages``: no sentence, title or section of the top-5 passages holds it;
* ``cut``: the keyword is in a cited passage, in the list or table a chosen line announces, belongs
  to or sits beside, or in the sentence next to a chosen one (``--show`` says which);
* ``wrong sentence, right passage``: the keyword is in another sentence of a cited passage;
* ``another passage outranks``: the keyword is only in top-5 passages the answer does not cite.

    python -m assistant eval eval/plan_qa.jsonl --split tune --details /tmp/tune.json
    python scripts/answer_misses.py /tmp/tune.json [--show]

Use on the tune split and the dev set only (never to choose anything on the test split).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, answering, japanese  # noqa: E402


_KANSUJI = str.maketrans("〇一二三四五六七八九", "0123456789")
_PUNCT_RE = re.compile(r"[\s、。・,.()（）「」『』【】\[\]/:：%％-]")


def fold(text: str) -> str:
    """Looser than ``japanese.compact``: NFKC, no whitespace or punctuation, 漢数字 as digits."""
    return _PUNCT_RE.sub("", japanese.compact(text).translate(_KANSUJI)).lower()


def classify(item: dict, chunks: dict, municipalities: list[str], top: int = 5) -> tuple[str, str]:
    """(class, the sentence holding the missing keyword or a note) for one missed item."""
    if item.get("refused"):
        return "refused", ""
    named = [m for m in municipalities if m in item["question"] or m.rstrip("市町村") in item["question"]]
    if len(named) >= 2:
        return "multi-city", ", ".join(named)
    missing = [japanese.compact(k) for k in item.get("keywords_missing", [])]
    answer = japanese.compact(item.get("answer", ""))
    if all(fold(k) in fold(answer) for k in missing):
        return "normalisation", ", ".join(item.get("keywords_missing", []))
    cited = set(item.get("cited", []))
    found = []  # (cited?, sentence index, sentence, chosen indices, sentences)
    in_heads = False
    for cid in item.get("top_hits", [])[:top]:
        chunk = chunks.get(cid.split("#")[-1])  # details name passages doc#chunk
        if chunk is None:
            continue
        if any(k in japanese.compact(" ".join([chunk.title, *chunk.section])) for k in missing):
            in_heads = True
        sents = [s for s, _l in answering._sentences(chunk.text)]
        chosen = [i for i, s in enumerate(sents) if japanese.compact(answering._tidy(s)) in answer]
        for i, s in enumerate(sents):
            if any(k in japanese.compact(s) for k in missing):
                found.append((cid in cited, i, s, chosen, sents))
    if not found:
        return ("title/section only", "") if in_heads else ("not in top passages", "")
    for is_cited, i, s, chosen, sents in found:
        if not is_cited:
            continue
        for j in chosen:
            run = answering._list_run(sents, j)
            if i in run:
                return "cut: list run", s
            if answering._LIST_INTRO_RE.search(sents[j].strip()) and j < i <= j + 1 + answering.MAX_LIST_ITEMS and (
                    answering._ITEM_RE.match(s.strip()) or answering._is_row(s)):
                return "cut: announced list/table", s
            if abs(i - j) == 1:
                return "cut: neighbour" + (" row" if answering._is_row(s) else ""), s
    if any(w[0] for w in found):
        return "wrong sentence, right passage", next(w[2] for w in found if w[0])
    return "another passage outranks", found[0][2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("details")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    items = json.loads(Path(args.details).read_text(encoding="utf-8"))
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    chunks = {c.id: c for c in a.state.retriever.index.chunks}
    cities = sorted({c.municipality for c in chunks.values() if c.municipality and c.municipality != "不明"})
    counts: Counter = Counter()
    ids: dict[str, list[str]] = {}
    for it in items:
        if not it.get("answerable") or it.get("keywords_ok") or not it.get("rank") or it["rank"] > 5:
            continue
        cls, sent = classify(it, chunks, cities)
        counts[cls] += 1
        ids.setdefault(cls, []).append(it["id"] + ("(h)" if it.get("hedged") else ""))
        if args.show:
            print(f"{it['id']} [{cls}]{' hedged' if it.get('hedged') else ''} {it['question']}\n  missing {it['keywords_missing']}  ->  {sent[:100]}")
    for cls, n in counts.most_common():
        print(f"{n:3d}  {cls}: {' '.join(ids[cls])}")
    print("total", sum(counts.values()), "((h): hedged)")


if __name__ == "__main__":
    main()

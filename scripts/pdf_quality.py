"""Extraction quality per PDF: sentences whole, headings right, chart text excluded.

    python scripts/pdf_quality.py [PDF ...]     (default: ../shared/data/real-pdfs/*.pdf)

Per file, after extraction + cleaning + chunking (what `add` indexes):

* broken lines — body lines (not table rows) of ≥ 15 characters that end without sentence-final
  punctuation and are followed by a line starting with a hiragana/kanji/number continuation:
  a sentence cut at a printed line end;
* number soup — lines made only of numbers/percent signs (chart labels and values);
* letter-spaced — lines with three single CJK characters separated by spaces;
* suspicious section paths — a section heading containing two percentages or a number ≥ 20
  («41 令和4年度»), i.e. a chart row or label taken for a heading;
* table rows — labelled rows made from tables.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CJK = r"[\u3041-\u30ff\u4e00-\u9fff]"


def main() -> int:
    from assistant import chunking
    from assistant.corpus import read_document

    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT.parent / "shared" / "data" / "real-pdfs").glob("*.pdf"))
    print("| PDF | pages | time | lines | table rows | broken lines | number soup | letter-spaced | passages | suspicious section paths |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        t0 = time.perf_counter()
        doc = read_document(p)
        dt = time.perf_counter() - t0
        tables = set(doc.meta.get("table_lines", ()))
        body = [(i, l) for i, l in enumerate(doc.lines) if i not in tables]
        broken = 0
        for (i, a), (j, b) in zip(body, body[1:]):
            if j == i + 1 and len(a) >= 15 and not re.search(r"[。．！？!?｡」』）)]$", a) and re.match(rf"(?:{_CJK}|[0-9０-９(（｢「])", b) \
                    and not re.match(r"^(?:[(（]?[0-9０-９]{1,2}[)）.．\s]|[○●◆■・※①-⑳])", b):
                broken += 1
        soup = sum(1 for _, l in body if re.fullmatch(r"[\d０-９.．%％\s,()（）+\-−]+", l) and re.search(r"\d", l))
        spaced = sum(1 for _, l in body if re.search(rf"(?:^|\s){_CJK} {_CJK} {_CJK}(?:\s|$)", l))
        chunks = chunking.chunk_document(doc)
        paths_ = {" > ".join(c.section) for c in chunks}
        bad = sorted(s for s in paths_ if re.search(r"\d%.*\d%", s) or re.search(r"(?:^| > )(?:[2-9][0-9]|1[0-9]) ", s))
        pages = max(x for x in doc.pages if x) if doc.pages else 0
        print(f"| {p.name} | {pages} | {dt:.1f} s | {len(doc.lines)} | {len(tables)} | {broken} | {soup} | {spaced} | {len(chunks)} | {len(bad)} |")
        for s in bad[:5]:
            print(f"|  | | | | | | | | | e.g. {s[:60]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End-to-end check on real municipal PDFs: add them as a city's staff would, ask questions whose
answers are printed in them, and count answers that contain the fact and cite the right page.

    python scripts/eval_real_pdfs.py [--qa eval/real_pdfs_qa.jsonl] [--pdfs ../shared/data/real-pdfs] [-v]

Each QA line: ``{"id", "question", "docs", "answer_keywords", "pages"}``. An answer *hits* when
every keyword is in it (NFKC, spaces removed); it *cites the page* when one of its citations
comes from one of ``docs`` on one of ``pages``; it holds the fact *strictly* when every keyword is in
the sentences one citation on a right page quotes (not only in the answer's lead, which names the
source and its validity note).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qa", default=str(ROOT / "eval" / "real_pdfs_qa.jsonl"))
    ap.add_argument("--pdfs", default=str(ROOT.parent / "shared" / "data" / "real-pdfs"))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    from assistant.core import Assistant
    from assistant.ingest import add_documents
    from assistant.japanese import compact

    items = [json.loads(x) for x in Path(args.qa).read_text(encoding="utf-8").splitlines() if x.strip()]
    pdfs = sorted(Path(args.pdfs).glob("*.pdf"))
    if not pdfs:
        print(f"no PDFs in {args.pdfs}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        t0 = time.perf_counter()
        for r in add_documents(pdfs, corpus, municipality="高松市"):
            print(r)
        a = Assistant.load(corpus, index)
        print(f"add + index: {time.perf_counter() - t0:.1f}s")
        hits = pages_ok = strict = 0
        for it in items:
            ans = a.ask(it["question"])
            text = compact(ans.text)
            ok = all(compact(k) in text for k in it["answer_keywords"])
            cited = [(c.doc_id, c.hit.chunk.page) for c in ans.citations]
            page_ok = any(d in it["docs"] and p in it["pages"] for d, p in cited)
            # strictly: one citation on a right page quotes every keyword
            in_quote = any(c.doc_id in it["docs"] and c.hit.chunk.page in it["pages"]
                           and all(compact(k) in compact(" ".join(c.quote)) for k in it["answer_keywords"]) for c in ans.citations)
            hits += ok
            pages_ok += ok and page_ok
            strict += in_quote and page_ok
            mark = "OK " if in_quote and page_ok else ("ok~" if ok and page_ok else ("ok?" if ok else "-- "))
            print(f"{mark} {it['id']} {it['question']}  cited pages {[p for _, p in cited]}")
            if args.verbose or not ok:
                print("     " + ans.text.replace("\n", " ")[:300])
        n = len(items)
        print(f"\nfact in answer: {hits}/{n}   fact + right page cited: {pages_ok}/{n}   "
              f"fact in a quoted sentence + right page cited: {strict}/{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

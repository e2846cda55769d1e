"""How well and how fast the cited page is shown for real PDFs (docs/bench/page_images.md).

For every passage of the given PDFs that has a page, each of its sentences (as the citation card
numbers them) is looked for on that page the way ``assistant.page_image`` marks it: whole, by
clauses only, or not at all. Then a sample of pages is rendered with the passage highlighted,
cold and from the cache, with the PNG size.

    python scripts/bench_page_images.py ../shared/data/real-pdfs/*.pdf --renders 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

from assistant import chunking, corpus, japanese, page_image  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pdfs", nargs="+", type=Path)
    ap.add_argument("--renders", type=int, default=20, help="pages rendered per PDF (spread over the passages)")
    args = ap.parse_args()
    import pypdfium2 as pdfium

    for pdf_path in args.pdfs:
        doc = corpus.read_document(pdf_path)
        chunks = [c for c in chunking.chunk_document(doc) if c.page]
        pdf = pdfium.PdfDocument(str(pdf_path))
        folded: dict[int, str] = {}
        whole = clauses = none = 0
        for c in tqdm(chunks, desc=f"match {pdf_path.name}", unit="passage"):
            if c.page not in folded:
                tp = pdf[c.page - 1].get_textpage()
                folded[c.page] = page_image._page_chars(tp)[0]
                tp.close()
            text = folded[c.page]
            for s in japanese.split_sentences(c.text):
                target = page_image._fold(s)
                if len(target) < page_image.MIN_PIECE_CHARS:
                    continue
                if target in text:
                    whole += 1
                elif page_image.find_char_spans(text, [s]):
                    clauses += 1
                else:
                    none += 1
        pdf.close()
        n = whole + clauses + none
        print(f"{pdf_path.name}: {len(chunks)} passages, {n} sentences on their passage's page: "
              f"whole {whole / n:.1%}, by clauses {clauses / n:.1%}, not found {none / n:.1%}")

        step = max(1, len(chunks) // max(1, args.renders))
        sample = chunks[::step][: args.renders]
        cold, warm, sizes = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            cache = page_image.PageImageCache(tmp)
            for c in tqdm(sample, desc=f"render {pdf_path.name}", unit="page"):
                texts = japanese.split_sentences(c.text)
                key = cache.key(pdf_path, c.page, texts)
                t = time.perf_counter()
                img = page_image.render_page(pdf_path, c.page, texts)
                cache.put(key, img.png)
                cold.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert cache.get(key) == img.png
                warm.append(time.perf_counter() - t)
                sizes.append(len(img.png))
        print(f"  render+highlight+cache write, {len(cold)} pages: median {statistics.median(cold) * 1000:.0f} ms, "
              f"max {max(cold) * 1000:.0f} ms; cache hit median {statistics.median(warm) * 1000:.1f} ms; "
              f"PNG median {statistics.median(sizes) / 1024:.0f} KB, max {max(sizes) / 1024:.0f} KB")


if __name__ == "__main__":
    main()

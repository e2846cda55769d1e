#!/usr/bin/env python
"""Benchmark: how long does a city's 100-page plan PDF take from upload to answerable?

Why: staff must see a newly added plan answered the same day, on the modest machine the app
runs on. This measures each step separately so a slow step is visible:

1. generating a 100-page Japanese plan PDF with reportlab (CID font, running header, page
   numbers, fake-bold headings drawn 4×, a vertical side tab) — not part of ingestion;
2. text extraction (``assistant.formats.extract_pdf``) and extraction + cleaning
   (``corpus.read_document``);
3. ``ingest.add_documents`` (validation = extraction + cleaning, copy, catalog);
4. when ``assistant.core.Assistant`` is available: a full index build of the bundled corpus
   (baseline), the refresh after adding the PDF, and a forced full rebuild of corpus + PDF
   for comparison; plus one question only page 73 answers, to check the cited page.

Usage::

    python scripts/bench_ingest.py [--pages 100] [--corpus corpus] [--no-index] [--write docs/bench/ingest.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FACT_PAGE = 73
FACT = "空き店舗再生事業の補助上限額は一件あたり八十万円とし、商店街の若手起業者を優先します。"
QUESTION = "空き店舗再生事業の補助上限額はいくらですか？"

_TOPICS = ["地域コミュニティ", "市民活動", "子育て支援", "高齢者福祉", "防災", "公共交通", "環境保全", "観光振興",
           "農業振興", "生涯学習", "健康づくり", "行財政改革", "移住定住", "商工業", "文化芸術", "国際交流"]
_VERBS = ["推進します", "支援します", "充実を図ります", "整備を進めます", "連携を強化します", "検討します"]
_SUBJ = ["市民", "自治会", "NPO法人", "事業者", "大学", "関係機関", "地域づくり協議会", "ボランティア団体"]


def _page_lines(p: int) -> tuple[str, list[str]]:
    topic = _TOPICS[p % len(_TOPICS)]
    heading = f"第{p // 10 + 1}章 第{p % 10 + 1}節 {topic}の推進"
    lines = []
    for i in range(34):
        s = _SUBJ[(p + i) % len(_SUBJ)]
        v = _VERBS[(p * 3 + i) % len(_VERBS)]
        lines.append(f"{s}と協働し、{topic}に関する取組を{v}（指標{p}-{i}：目標値{(p * 7 + i) % 90 + 10}件）。")
    if p == FACT_PAGE:
        lines[17] = FACT
    return heading, lines


def make_pdf(path: Path, pages: int) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    for name in ("HeiseiKakuGo-W5", "HeiseiMin-W3"):
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("第3次さくら市総合計画（ベンチマーク用）")
    w, h = A4
    for p in range(1, pages + 1):
        heading, lines = _page_lines(p)
        c.setFont("HeiseiMin-W3", 9)
        c.drawString(56, h - 36, "第3次さくら市総合計画 基本計画編")
        c.setFont("HeiseiKakuGo-W5", 13)
        for dx, dy in ((0, 0), (0.25, 0), (0, 0.25), (0.25, 0.25)):
            c.drawString(64 + dx, h - 90 + dy, heading)
        c.setFont("HeiseiMin-W3", 10.5)
        y = h - 120
        for line in lines:
            c.drawString(64, y, line)
            y -= 19
        c.setFont("HeiseiKakuGo-W5", 11)
        ty = h / 2
        for ch in "基本計画":
            c.drawString(w - 30, ty, ch)
            ty -= 14
        c.setFont("HeiseiMin-W3", 9)
        c.drawCentredString(w / 2, 28, f"- {p} -")
        c.showPage()
    c.save()


class Secs(float):
    """Wall seconds that also carry the process CPU seconds of the same call: on a shared
    machine the wall time swings with other people's jobs, the CPU time much less."""

    cpu: float = 0.0

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}} s wall / {self.cpu:{spec}} s CPU"


def timed(fn, *a, **kw):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    secs = Secs(time.perf_counter() - t)
    secs.cpu = time.process_time() - c
    return out, secs


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1]) / 1e6
    except (OSError, StopIteration, ValueError):
        mem = 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical CPUs visible (shared with other jobs), {mem:.1f} GB RAM, "
            f"load average {load:.2f} at start; Python {platform.python_version()}, {platform.system()} {platform.release()}")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("pdfplumber", "pdfminer.six", "reportlab", "python-docx", "beautifulsoup4", "lxml", "faiss-cpu", "torch"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def _bench_index(Assistant, pdf: Path, src_corpus: Path, work: Path, rows: list, notes: list) -> None:
    from assistant import corpus
    from assistant.formats import clear_cache
    from assistant.ingest import add_documents

    clear_cache()
    base = work / "corpus_base"
    shutil.copytree(src_corpus, base) if src_corpus.is_dir() else base.mkdir()
    idx = work / "index"
    a, t_full = timed(Assistant.load, base, idx)
    n_base = len(a._state.search_index.chunks) if getattr(a, "_state", None) else None
    rows.append((f"baseline: full index build of the bundled corpus ({len(corpus.load_corpus(base))} docs, {n_base} chunks)", f"{t_full:.1f}"))
    # the same index directory, now with the PDF added through the ingest API
    (r2,), t_add = timed(add_documents, [pdf], base, municipality="さくら市", year=2024, kind="総合計画")
    built, t_ref = timed(a.refresh)
    n_all = len(a._state.search_index.chunks) if getattr(a, "_state", None) else None
    rows.append(("add the PDF: add_documents", f"{t_add:.2f}"))
    rows.append((f"add the PDF: Assistant.refresh() (rebuilt={built}; {n_all} chunks)", f"{t_ref:.1f}"))
    rows.append(("**upload → answerable, total** (one process, as CLI `add` and the admin tab do)", f"**{float(t_add) + float(t_ref):.1f} s wall** / {t_add.cpu + t_ref.cpu:.1f} s CPU"))
    clear_cache()
    _, t_force = timed(a.refresh, force=True)
    rows.append(("for comparison: forced full rebuild of corpus + PDF (extraction cache cleared)", f"{t_force:.1f}"))
    clear_cache()
    a2, t_cold = timed(Assistant.load, base, work / "index_cold")
    rows.append(("for comparison: fresh process-equivalent build of corpus + PDF in a new index dir", f"{t_cold:.1f}"))
    del a2
    ans = a.ask(QUESTION)
    cited = [(c.doc_id, getattr(c, "page", None)) for c in ans.citations]
    notes.append(f"question 「{QUESTION}」 → refused={ans.refused}, citations (doc, page): {cited}")
    notes.append(f"answer text: {ans.text[:160]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--corpus", default=str(ROOT / "corpus"), help="bundled corpus to index (copied to a temp dir)")
    ap.add_argument("--no-index", action="store_true", help="time extraction/ingest only")
    ap.add_argument("--repeat", type=int, default=2, help="extraction repetitions (min is reported)")
    ap.add_argument("--write", default=None, help="write the markdown report to this file")
    args = ap.parse_args()

    from assistant import corpus
    from assistant.formats import clear_cache, extract_pdf
    from assistant.ingest import add_documents

    rows: list[tuple[str, str]] = []
    notes: list[str] = []
    machine_at_start = machine()
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        pdf = work / "sakura_sogo_keikaku.pdf"
        _, t = timed(make_pdf, pdf, args.pages)
        rows.append((f"generate {args.pages}-page PDF (reportlab; not ingestion)", f"{t:.2f}"))
        size_mb = pdf.stat().st_size / 1e6

        times = []
        for _ in range(max(1, args.repeat)):
            ex, t = timed(extract_pdf.uncached, pdf)  # the real work, not the in-process cache
            times.append(t)
        rows.append((f"extract_pdf ({args.pages} pages, {size_mb:.1f} MB) — min of {len(times)}",
                     f"{min(times):.2f} ({float(min(times)) / args.pages * 1000:.0f} ms/page wall; runs: {', '.join(f'{float(x):.2f}/{x.cpu:.2f}' for x in times)} s wall/CPU)"))
        fact_pages = [p for line, p in zip(ex.lines, ex.pages) if "八十万円" in line]
        notes.append(f"extracted {len(ex.lines)} lines, {sum(len(l) for l in ex.lines):,} characters; "
                     f"the page-{FACT_PAGE} fact is on page(s) {fact_pages}; headers/page numbers/side tabs left: "
                     f"{sum(1 for l in ex.lines if 'さくら市総合計画' in l or l.startswith('- '))}")

        clear_cache()
        doc, t = timed(corpus.read_document, pdf)
        rows.append(("corpus.read_document (extract + cleaning)", f"{t:.2f} → {len(doc.lines)} cleaned lines"))

        cdir = work / "corpus"
        src_corpus = Path(args.corpus)
        if src_corpus.is_dir():
            shutil.copytree(src_corpus, cdir)
        else:
            cdir.mkdir()
        clear_cache()
        (res,), t = timed(add_documents, [pdf], cdir, municipality="さくら市", year=2024, kind="総合計画")
        if not res.ok:
            raise SystemExit(f"add_documents rejected the benchmark PDF: {res.reason}")
        rows.append(("ingest.add_documents (validate = extract + clean, copy, catalog)", f"{t:.2f}"))

        if args.no_index:
            notes.append("index timings skipped (--no-index)")
        else:
            try:
                from assistant.core import Assistant
            except ImportError as e:
                Assistant = None
                notes.append(f"assistant.core.Assistant not importable ({e}); timed extraction/ingest only")
            if Assistant is not None:
                try:
                    _bench_index(Assistant, pdf, src_corpus, work, rows, notes)
                except Exception as e:  # report, keep the extraction numbers
                    notes.append(f"index timings unavailable: Assistant failed ({type(e).__name__}: {str(e)[:200]})")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cmd = "python scripts/bench_ingest.py " + " ".join(sys.argv[1:])
    report = [
        "# Ingest benchmark: one 100-page PDF",
        "",
        f"Command: `{cmd.strip()}` (commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {machine_at_start}",
        "",
        f"Libraries: {versions()}",
        "",
        "| step | time |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    text = "\n".join(report)
    print(text)
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""PDF: the text layer page by page (pdfplumber), with page furniture and side tabs removed."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable

from ..cleaning.page_furniture import _is_page_number, _line_key, find_furniture  # noqa: F401
from ..cleaning.charts import chart_regions, chart_row_label, drop_number_runs, is_chart_text, ranking_captions
from ..cleaning.pdf_columns import read_label_columns
from ..cleaning.pdf_lines import drop_superscript_marks, join_wrapped_lines
from ..cleaning.pdf_tables import page_tables
from ..cleaning.pdf_text_columns import split_text_columns
from .common import _JUNK_TITLE_RE, Extracted, FormatError, ScannedPdfError, _cached


# Vertical side-tab glyphs are a handful per page; a page where many glyphs stand in vertical
# stacks is set in vertical writing (縦書き) and must not be thrown away.
_MAX_VERTICAL_SHARE = 0.25


def _vertical_tab_chars(chars: list[dict]) -> set[int]:
    """Indices of glyphs that form vertical side tabs (「計」「画」 stacked in the margin).

    A side-tab glyph has no horizontal neighbour on its row and another such glyph directly
    above or below it. Removing them at glyph level (not line level) matters: pdfplumber
    groups glyphs into lines by baseline, so a tab glyph sharing a baseline with body text
    would otherwise be glued onto that body line.
    """
    glyphs = [(i, c) for i, c in enumerate(chars) if c.get("text", "").strip()]
    if len(glyphs) < 2:
        return set()
    # rows of glyphs with (almost) the same top
    glyphs.sort(key=lambda ic: (ic[1]["top"], ic[1]["x0"]))
    rows: list[list[tuple[int, dict]]] = []
    for ic in glyphs:
        c = ic[1]
        tol = max(1.0, 0.3 * float(c.get("size") or 10))
        if rows and abs(rows[-1][0][1]["top"] - c["top"]) <= tol:
            rows[-1].append(ic)
        else:
            rows.append([ic])
    isolated: list[tuple[int, dict]] = []
    for row in rows:
        row.sort(key=lambda ic: ic[1]["x0"])
        for k, (i, c) in enumerate(row):
            size = float(c.get("size") or 10)
            gap_prev = c["x0"] - row[k - 1][1]["x1"] if k > 0 else math.inf
            gap_next = row[k + 1][1]["x0"] - c["x1"] if k + 1 < len(row) else math.inf
            if min(gap_prev, gap_next) > 1.5 * size:
                isolated.append((i, c))
    if len(isolated) < 2:
        return set()
    # stacks: isolated glyphs with the same horizontal centre, vertically adjacent
    isolated.sort(key=lambda ic: ((ic[1]["x0"] + ic[1]["x1"]) / 2, ic[1]["top"]))
    columns: list[list[tuple[int, dict]]] = []
    for ic in isolated:
        c = ic[1]
        cx = (c["x0"] + c["x1"]) / 2
        size = float(c.get("size") or 10)
        for col in columns:
            last = col[-1][1]
            if abs((last["x0"] + last["x1"]) / 2 - cx) <= 0.5 * size:
                col.append(ic)
                break
        else:
            columns.append([ic])
    out: set[int] = set()
    for col in columns:
        col.sort(key=lambda ic: ic[1]["top"])
        run = [col[0]]
        for ic in col[1:]:
            prev = run[-1][1]
            size = float(prev.get("size") or 10)
            if ic[1]["top"] - prev["bottom"] <= 1.0 * size:
                run.append(ic)
            else:
                if len(run) >= 2:
                    out.update(i for i, _ in run)
                run = [ic]
        if len(run) >= 2:
            out.update(i for i, _ in run)
    if len(out) > _MAX_VERTICAL_SHARE * len(glyphs):
        return set()
    return out


_CIRCLES = "○◯"
_KATAKANA_ORDER = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヰヱヲ"


def _enclosed(inner: str) -> str | None:
    """The enclosed form of what is drawn inside a circle: ア → ㋐, 3 → ③, 21 → ㉑ (None: no such form)."""
    if len(inner) == 1 and inner in _KATAKANA_ORDER:
        return chr(0x32D0 + _KATAKANA_ORDER.index(inner))
    d = inner.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")})
    if not (d.isascii() and d.isdigit()) or not 1 <= int(d) <= 50:
        return None
    n = int(d)
    return chr(ord("①") + n - 1) if n <= 20 else chr(0x3251 + n - 21) if n <= 35 else chr(0x32B1 + n - 36)


def compose_enclosed(chars: list[dict]) -> list[dict]:
    """Circled labels drawn as glyphs over each other — a 「○」 with a smaller 「ア」 or 「12」 printed
    inside it — become the one character they show (㋐, ⑫).

    Word makes 「㋐ 各施策の満足度」 this way when the font lacks ㋐; read as text it was
    「○ア各施策の満足度」, which is neither a heading nor a bullet. The geometry proves it: the
    inner glyphs are smaller and their centres lie inside the circle's box. A 「○」 bullet followed
    by a word (「○アンケート」) has its next glyph beside it, not inside it; a circled number with
    no character of its own (「○55」) is left as it is.

    The circle's glyph dict is changed in place (it is the page's own object, so the filtered
    page sees it); the inner glyphs are left out of the returned list."""
    out: list[dict] = []
    skip: set[int] = set()
    for i, c in enumerate(chars):
        if i in skip:
            continue
        if c.get("text") in _CIRCLES:
            size = float(c.get("size") or 0)
            inner: list[int] = []
            for j in range(i + 1, min(i + 3, len(chars))):
                d = chars[j]
                cx, cy = (d["x0"] + d["x1"]) / 2, (d["top"] + d["bottom"]) / 2
                if not (float(d.get("size") or 0) < size and c["x0"] <= cx <= c["x1"] and c["top"] <= cy <= c["bottom"]):
                    break
                inner.append(j)
            form = _enclosed("".join(chars[j].get("text", "") for j in inner)) if inner else None
            if form:
                c["text"] = form
                skip.update(inner)
        out.append(c)
    return out


class _IndexedChars(list):
    """A char list whose ``index()`` is O(1) (by identity).

    pdfplumber's ``dedupe_chars`` restores reading order with ``sorted(..., key=chars.index)``,
    which is quadratic: ~40 % of the extraction time of a dense Japanese page. Same
    algorithm and result, without the quadratic step.
    """

    def __init__(self, items: Iterable[dict]):
        super().__init__(items)
        self._pos = {id(c): i for i, c in enumerate(self)}

    def index(self, obj, *args) -> int:  # type: ignore[override]
        return self._pos[id(obj)]


def _pdf_page_lines(page, state: dict | None = None) -> list[dict]:
    """Lines of one page: fake-bold duplicates removed, side tabs removed, geometry kept.

    ``state`` carries what a page hands to the next (the current label of a label | text
    column block, ``cleaning/pdf_columns.py``)."""
    from pdfplumber.utils import dedupe_chars

    chars = dedupe_chars(_IndexedChars(page.chars), tolerance=1)
    drop = _vertical_tab_chars(chars)
    keep = {id(c) for c in compose_enclosed([c for i, c in enumerate(chars) if i not in drop])}
    page = page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) in keep)
    # Ruled tables are read cell by cell (cleaning/pdf_tables.py): their text is taken out of
    # the line stream and each row comes back as one tab-separated line where the table stands.
    tables = page_tables(page)
    if tables:
        def outside_tables(obj) -> bool:
            if obj.get("object_type") != "char":
                return True
            cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
            return not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b, _ in tables)

        page = page.filter(outside_tables)
    # x_tolerance relative to the glyph size: justified Japanese text has letter spacing that
    # an absolute 3pt tolerance would turn into spaces in the middle of words.
    lines = page.extract_text_lines(strip=True, return_chars=True, x_tolerance_ratio=0.5, y_tolerance=3)
    lines = [ln for ln in lines if ln["text"].strip()]
    # chart labels and data (cleaning/charts.py) are left out; the chart's title stays
    regions = chart_regions(page)
    kept = []
    for ln in lines:
        if is_chart_text(ln, regions):
            label = chart_row_label(ln["text"])  # a ranking row keeps its label, rank and total
            if label:
                kept.append(dict(ln, text=label, chart=True))
            continue
        kept.append(ln)
    # a narrow label column beside a text column (政策 | 自由意見) is read column by column
    # a ruled label | list table (cleaning/pdf_tables.py) hands its last label to the text below it
    anchors = [(bbox[3], rows[-1][0]) for bbox, rows in tables if len(rows[-1]) == 2 and rows[-1][0] and rows[-1][1][:1] in "○●◎◇◆■□・"]
    # (not on chart pages: a chart's legend beside its notes is no label column)
    # and a page set in two text columns is read one column after the other (cleaning/pdf_text_columns.py)
    lines = kept if regions else read_label_columns(split_text_columns(kept), state if state is not None else {}, anchors)
    for ln in lines:
        ln.pop("chars", None)
    for bbox, rows in tables:
        for k, row in enumerate(rows):
            y = bbox[1] + 0.001 * k  # keeps the rows in order where the table stands
            lines.append({"text": "\t".join(row), "x0": bbox[0], "x1": bbox[2], "top": y, "bottom": y, "table": True})
    lines.sort(key=lambda ln: ln.get("_order", ln["top"]))
    lines = drop_number_runs(lines)
    # lines wrapped at the column width become one line again (cleaning/pdf_lines.py)
    lines = join_wrapped_lines(drop_superscript_marks(lines))
    for k in ranking_captions(lines):  # a ranking chart's caption heads its rows (cleaning/charts.py)
        lines[k] = dict(lines[k], caption=True)
    return lines


def _pdf_title(pdf) -> str | None:
    meta = pdf.metadata or {}
    title = meta.get("Title")
    if isinstance(title, bytes):
        for enc in ("utf-16", "utf-8", "cp932"):
            try:
                title = title.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            return None
    if not isinstance(title, str):
        return None
    title = title.strip().strip("\x00")
    if not title or _JUNK_TITLE_RE.search(title):
        return None
    return title


@_cached
def extract_pdf(path: Path) -> Extracted:
    """Text layer of a PDF, page by page, with the 1-based page of every line.

    Removed as layout, by general rules: duplicated overprinted glyphs (fake bold drawn 2–4
    times, pdfplumber ``dedupe_chars``), running headers/footers (the same line, a page
    number aside, at the same place in the top/bottom margin of most pages — or of 3+ pages
    for chapter headers), bare page numbers at the top/bottom of a page, vertical side tabs
    and any other single-character line.
    """
    path = Path(path)
    try:
        import pdfplumber
        from pdfminer.pdfdocument import PDFPasswordIncorrect
        from pdfplumber.utils.exceptions import PdfminerException
    except ImportError as e:  # pragma: no cover - dependency missing
        raise FormatError(path, f"PDF support is not installed ({e.name}); pip install pdfplumber") from e

    try:
        pdf = pdfplumber.open(path)
    except (PdfminerException, PDFPasswordIncorrect) as e:
        cause = e.args[0] if e.args else e
        if isinstance(cause, PDFPasswordIncorrect) or "password" in str(cause).lower():
            raise FormatError(path, "PDF is password-protected/encrypted") from e
        raise FormatError(path, f"not a readable PDF ({type(cause).__name__}: {cause})") from e
    except Exception as e:  # pdfminer raises many different types on corrupt input
        raise FormatError(path, f"not a readable PDF ({type(e).__name__}: {e})") from e

    pages_lines: list[tuple[int, float, list[dict]]] = []  # (page no, height, lines)
    glyphs = 0
    textless_pages: list[int] = []
    blank_pages: list[int] = []
    broken_pages: list[str] = []
    try:
        with pdf:
            title = _pdf_title(pdf)
            n_pages = len(pdf.pages)
            if n_pages == 0:
                raise FormatError(path, "PDF has no pages")
            state: dict = {}
            for pno, page in enumerate(pdf.pages, start=1):
                try:
                    n = sum(1 for c in page.chars if c.get("text", "").strip())
                    lines = _pdf_page_lines(page, state) if n else []
                except Exception as e:  # one damaged page must not cost the other 99
                    broken_pages.append(f"{pno} ({type(e).__name__})")
                    pages_lines.append((pno, float(page.height), []))
                    continue
                finally:
                    page.flush_cache()  # keep memory flat on long documents
                glyphs += n
                if n == 0:
                    # a page with neither text nor images is blank, not scanned
                    (textless_pages if page.images else blank_pages).append(pno)
                pages_lines.append((pno, float(page.height), lines))
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(path, f"PDF could not be parsed ({type(e).__name__}: {e})") from e

    if broken_pages and len(broken_pages) == n_pages:
        raise FormatError(path, f"no page of the PDF could be parsed (pages {', '.join(broken_pages)})")
    if glyphs == 0:
        raise ScannedPdfError(path, f"{n_pages} page(s), no characters")

    text_pages = len(pages_lines) - len(textless_pages) - len(blank_pages) - len(broken_pages)
    furniture = find_furniture(pages_lines, text_pages, title)
    title = title or furniture.title

    out_lines: list[str] = []
    out_pages: list[int | None] = []
    headings: list[tuple[int, int, str]] = []  # chart captions over their ranking rows
    for pno, _height, lines in pages_lines:
        for i, ln in enumerate(lines):
            if ln.get("table"):
                out_lines.append(ln["text"])  # leading empty cells are columns: keep the tabs
                out_pages.append(pno)
                continue
            text = ln["text"].strip()
            if (pno, i) in furniture.drop:
                continue
            if len(re.sub(r"\s+", "", text)) <= 1:
                continue  # side-tab glyphs, stray bullets, lone page numbers
            if ln.get("caption"):
                headings.append((len(out_lines), 6, text))
            out_lines.append(text)
            out_pages.append(pno)

    warnings = []
    if broken_pages:
        warnings.append("pages that could not be parsed, their content is not indexed: " + ", ".join(broken_pages))
    if textless_pages:
        warnings.append(
            "pages without a text layer (scanned?), their content is not indexed: "
            + ", ".join(map(str, textless_pages))
        )
    if not out_lines:
        raise ScannedPdfError(path, "only page furniture (headers/page numbers) has a text layer")
    labels = {p: lab for p, lab in furniture.labels.items() if lab != str(p)}
    return Extracted(lines=out_lines, pages=out_pages, headings=headings or None, title=title, warnings=warnings, page_labels=labels,
                     as_of=furniture.as_of)

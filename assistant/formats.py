"""Text extraction from the formats cities actually publish: PDF, Word (.docx) and web pages.

Why a separate module: ``corpus.py`` owns reading plain text, encoding detection, cleaning and
the catalog; this module only turns a binary/markup file into *lines of text* plus the
structure the format itself knows (PDF pages, Word heading styles, HTML ``<h1>``–``<h6>``).
``corpus.py`` looks up the extractor by file extension in :data:`EXTRACTORS` and builds the
``Document`` (line numbers, cleaning, catalog metadata) from the returned :class:`Extracted`.

Each extractor is deliberately conservative: it removes what is *layout* (running headers,
page numbers, navigation menus, duplicated glyphs of fake-bold text) and keeps everything
that might be content. A file that cannot be read raises :class:`FormatError` with the file
name and the reason, so an upload can be rejected with a message instead of silently
producing an empty document.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import math
import re
import threading
import unicodedata
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = [
    "Extracted",
    "FormatError",
    "ScannedPdfError",
    "EXTRACTORS",
    "extract",
    "extract_pdf",
    "extract_docx",
    "extract_html",
    "supported_suffixes",
    "clear_cache",
]


@dataclass
class Extracted:
    """What an extractor knows about a file.

    ``lines``: text lines in reading order, no empty lines. ``pages[i]``: 1-based physical page
    of ``lines[i]`` (``None`` for formats without pages; then ``pages`` itself is ``None``).
    ``headings``: ``(line index, level, text)`` for formats that mark headings (docx, html);
    ``None`` where the format does not know (PDF), so the caller can fall back to heuristics.
    ``title``: a title the file declares itself (PDF metadata, docx core properties, HTML
    ``<h1>``/``<title>``), or ``None``. ``warnings``: non-fatal problems worth showing an
    administrator (e.g. pages without a text layer).
    """

    lines: list[str]
    pages: list[int | None] | None = None
    headings: list[tuple[int, int, str]] | None = None
    title: str | None = None
    warnings: list[str] = field(default_factory=list)

    def marked_lines(self) -> list[str]:
        """``lines`` with headings written as markdown headings (「## 計画期間」).

        That is the structural convention the rest of the pipeline already reads: corpus
        cleaning never joins a ``#`` line to its neighbours and the chunker puts markdown
        headings into the section path. Formats without headings return ``lines`` unchanged.
        """
        if not self.headings:
            return list(self.lines)
        out = list(self.lines)
        for i, level, _text in self.headings:
            if 0 <= i < len(out) and not out[i].startswith("#"):
                out[i] = "#" * max(1, min(level, 6)) + " " + out[i]
        return out

    def __iter__(self):
        """``lines, pages = extractor(path)``: the tuple contract of ``corpus.EXTRACTORS``, so
        these extractors plug into the corpus loader as they are (headings as markdown, see
        :meth:`marked_lines`)."""
        return iter((self.marked_lines(), self.pages))


class FormatError(ValueError):
    """The file cannot be turned into text. The message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


class ScannedPdfError(FormatError):
    """A PDF without a text layer (a scan). Reported as such: OCR is out of scope, and
    indexing it as an empty document would make its contents silently unanswerable."""

    def __init__(self, path: Path | str, detail: str = ""):
        reason = "scanned PDF: no text layer (OCR is not supported); please provide a PDF with selectable text"
        if detail:
            reason += f" ({detail})"
        super().__init__(path, reason)


# ----------------------------------------------------------------------------------------
# shared helpers

_WS_RE = re.compile(r"\s+")


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _join_cjk_aware(text: str) -> str:
    """Fold whitespace runs to one space; a run containing a line break between two CJK
    characters is dropped entirely.

    Source line breaks inside a Japanese sentence (HTML source wrapping, a Word soft return)
    carry no space in Japanese (CSS segment-break rules); keeping one would split words for
    the tokenizer. Spaces the author typed (「第1章 計画の概要」) are kept.
    """
    text = text.strip()

    def repl(m: re.Match) -> str:
        run, start, end = m.group(0), m.start(), m.end()
        if ("\n" in run or "\r" in run) and start > 0 and end < len(text) and _is_wide(text[start - 1]) and _is_wide(text[end]):
            return ""
        return " "

    return _WS_RE.sub(repl, text)


def _labelled_rows(rows: list[list[str]], header: list[str] | None) -> list[str]:
    """Tables as 「列名: 値 / 列名: 値」 lines: a row read out of its table keeps its meaning.

    Empty cells are skipped; a cell without a header label is emitted bare.
    """
    out = []
    for row in rows:
        parts = []
        for j, value in enumerate(row):
            if not value:
                continue
            label = header[j] if header is not None and j < len(header) else ""
            parts.append(f"{label}: {value}" if label and label != value else value)
        if parts:
            out.append(" / ".join(parts))
    return out


def _dedupe_consecutive(cells: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    out, last = [], object()
    for c in cells:
        k = key(c)
        if k != last:
            out.append(c)
        last = k
    return out


# ----------------------------------------------------------------------------------------
# in-process cache: adding a document extracts it to validate it, and the index refresh that
# follows (same process: CLI ``add``, the admin tab) reads the copied file again. Keyed by the
# bytes' hash, so the copy in the corpus hits the entry made for the upload.

_CACHE_MAX = 8
_cache: "OrderedDict[tuple[str, str], Extracted]" = OrderedDict()
_cache_lock = threading.Lock()


def _copy(ex: Extracted) -> Extracted:
    return Extracted(
        lines=list(ex.lines),
        pages=list(ex.pages) if ex.pages is not None else None,
        headings=list(ex.headings) if ex.headings is not None else None,
        title=ex.title,
        warnings=list(ex.warnings),
    )


def _cached(fn: Callable[[Path], Extracted]) -> Callable[[Path], Extracted]:
    @functools.wraps(fn)
    def wrapper(path: Path) -> Extracted:
        path = Path(path)
        try:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError as e:
            raise FormatError(path, f"cannot read file ({e.strerror or e})") from e
        key = (fn.__name__, h.hexdigest())
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return _copy(hit)
        ex = fn(path)
        with _cache_lock:
            _cache[key] = _copy(ex)
            while len(_cache) > _CACHE_MAX:
                _cache.popitem(last=False)
        return ex

    wrapper.uncached = fn  # type: ignore[attr-defined]
    return wrapper


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# ----------------------------------------------------------------------------------------
# PDF

# A line made only of a page number: 「12」「- 12 -」「－１２－」「p.12」「12ページ」「12/100」「iv」.
_PAGE_NO_RE = re.compile(
    r"^[\-‐‑–—―−~〜ー(\[]*"
    r"(?:p\.?|page|ページ|頁)?"
    r"(?:\d{1,4}|[ivxlcdm]{1,6})"
    r"(?:ページ|頁)?"
    r"(?:/\d{1,4})?"
    r"[\-‐‑–—―−~〜ー)\]]*$",
    re.IGNORECASE,
)
# Lines at the top/bottom of a page that are candidates for running headers/footers.
_EDGE_LINES = 2
# Fraction of the page height that counts as the top/bottom margin band.
_EDGE_BAND = 0.12
# Tolerance (pt) for "the same position on every page" of a running header/footer.
_SAME_POSITION = 3.0
# Vertical side-tab glyphs are a handful per page; a page where many glyphs stand in vertical
# stacks is set in vertical writing (縦書き) and must not be thrown away.
_MAX_VERTICAL_SHARE = 0.25
# Junk titles that PDF producers write into the metadata.
_JUNK_TITLE_RE = re.compile(r"^(microsoft (word|powerpoint|excel)\s*-|untitled|無題|document\d*$)|\.(docx?|xlsx?|pptx?|jtd)$", re.I)


_PAGE_NO_TOKEN = r"[\-‐‑–—―−~〜|｜(\[]*(?:p\.?|page)?\d{1,4}(?:ページ|頁)?(?:/\d{1,4})?[\-‐‑–—―−~〜|｜)\]]*"
_PAGE_NO_EDGE_RE = re.compile(rf"^\s*{_PAGE_NO_TOKEN}\s+|\s+{_PAGE_NO_TOKEN}\s*$", re.I)


def _line_key(text: str) -> str:
    """Comparison key for running headers: NFKC, a page number separated by space at the
    start/end removed (「基本計画編 12」 and 「基本計画編 13」 are the same header), no spaces.
    Other digits are kept, so 「第1章 …」 and 「第2章 …」 stay different lines."""
    norm = unicodedata.normalize("NFKC", text).strip()
    stripped = _PAGE_NO_EDGE_RE.sub("", norm)
    return re.sub(r"\s+", "", stripped or norm)


def _is_page_number(text: str) -> bool:
    return bool(_PAGE_NO_RE.match(re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))))


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


def _pdf_page_lines(page) -> list[dict]:
    """Lines of one page: fake-bold duplicates removed, side tabs removed, geometry kept."""
    from pdfplumber.utils import dedupe_chars

    chars = dedupe_chars(_IndexedChars(page.chars), tolerance=1)
    drop = _vertical_tab_chars(chars)
    keep = {id(c) for i, c in enumerate(chars) if i not in drop}
    page = page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) in keep)
    # x_tolerance relative to the glyph size: justified Japanese text has letter spacing that
    # an absolute 3pt tolerance would turn into spaces in the middle of words.
    lines = page.extract_text_lines(strip=True, return_chars=False, x_tolerance_ratio=0.5, y_tolerance=3)
    return [ln for ln in lines if ln["text"].strip()]


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
    broken_pages: list[str] = []
    try:
        with pdf:
            title = _pdf_title(pdf)
            n_pages = len(pdf.pages)
            if n_pages == 0:
                raise FormatError(path, "PDF has no pages")
            for pno, page in enumerate(pdf.pages, start=1):
                try:
                    n = sum(1 for c in page.chars if c.get("text", "").strip())
                    lines = _pdf_page_lines(page) if n else []
                except Exception as e:  # one damaged page must not cost the other 99
                    broken_pages.append(f"{pno} ({type(e).__name__})")
                    pages_lines.append((pno, float(page.height), []))
                    continue
                finally:
                    page.flush_cache()  # keep memory flat on long documents
                glyphs += n
                if n == 0:
                    textless_pages.append(pno)
                pages_lines.append((pno, float(page.height), lines))
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(path, f"PDF could not be parsed ({type(e).__name__}: {e})") from e

    if broken_pages and len(broken_pages) == n_pages:
        raise FormatError(path, f"no page of the PDF could be parsed (pages {', '.join(broken_pages)})")
    if glyphs == 0:
        raise ScannedPdfError(path, f"{n_pages} page(s), no characters")

    # Running headers/footers: the same line (page number aside) in the top/bottom margin band
    # of several pages *at the same position* — they come from the page template. Labels in
    # the body flow (「現状と課題」 under a policy title) repeat too, but their position moves
    # with the text above them, so they are kept.
    def edge_indices(lines: list[dict], height: float) -> dict[int, float]:
        idx = set(range(min(_EDGE_LINES, len(lines)))) | set(range(max(0, len(lines) - _EDGE_LINES), len(lines)))
        out = {}
        for i in idx:
            if lines[i]["top"] <= _EDGE_BAND * height:
                out[i] = float(lines[i]["top"])
            elif lines[i]["bottom"] >= (1 - _EDGE_BAND) * height:
                out[i] = -(height - float(lines[i]["bottom"]))  # distance from the bottom edge
        return out

    key_pos: dict[str, list[tuple[float, int]]] = defaultdict(list)
    edges: dict[int, dict[int, float]] = {}
    for pno, height, lines in pages_lines:
        edges[pno] = edge_indices(lines, height)
        for i, pos in edges[pno].items():
            key_pos[_line_key(lines[i]["text"])].append((pos, pno))
    text_pages = len(pages_lines) - len(textless_pages) - len(broken_pages)
    # "most pages" for short documents, but a chapter-long running header (3+ pages) in a
    # long one counts too.
    threshold = max(2, min(3, math.ceil(text_pages / 2)))
    running: set[tuple[str, int]] = set()  # (key, page)
    for key, occ in key_pos.items():
        if len({p for _, p in occ}) < threshold:
            continue
        occ.sort()
        for a, (pos_a, _) in enumerate(occ):
            window = [p for pos, p in occ[a:] if pos - pos_a <= _SAME_POSITION]
            if len(set(window)) >= threshold:
                running.update((key, p) for p in window)

    out_lines: list[str] = []
    out_pages: list[int | None] = []
    for pno, _height, lines in pages_lines:
        for i, ln in enumerate(lines):
            text = ln["text"].strip()
            if i in edges[pno] and ((_line_key(text), pno) in running or _is_page_number(text)):
                continue
            if len(re.sub(r"\s+", "", text)) <= 1:
                continue  # side-tab glyphs, stray bullets, lone page numbers
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
    return Extracted(lines=out_lines, pages=out_pages, headings=None, title=title, warnings=warnings)


# ----------------------------------------------------------------------------------------
# DOCX

_HEADING_STYLE_RE = re.compile(r"^(?:heading|見出し)\s*([1-9])$", re.I)
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _outline_level(ppr) -> int | None:
    if ppr is None:
        return None
    el = ppr.find(f"{{{_W_NS}}}outlineLvl")
    if el is None:
        return None
    try:
        lvl = int(el.get(f"{{{_W_NS}}}val"))
    except (TypeError, ValueError):
        return None
    return lvl + 1 if 0 <= lvl < 9 else None  # 9 = body text


def _heading_level(paragraph) -> int | None:
    """Heading level of a Word paragraph, from its style (見出し 1 / Heading 1, also inherited
    through custom styles based on them) or an explicit outline level. Localized Word writes
    the built-in names differently; python-docx reports the canonical English name, and the
    Japanese UI name is matched too for documents whose styles were renamed."""
    lvl = _outline_level(paragraph._p.pPr)
    if lvl is not None:
        return lvl
    style, depth = paragraph.style, 0
    while style is not None and depth < 10:
        m = _HEADING_STYLE_RE.match((style.name or "").strip())
        if m:
            return int(m.group(1))
        lvl = _outline_level(style.element.pPr)
        if lvl is not None:
            return lvl
        style, depth = style.base_style, depth + 1
    return None


def _is_title_style(paragraph) -> bool:
    name = (paragraph.style.name or "").strip().lower() if paragraph.style is not None else ""
    return name in ("title", "表題")


def _docx_table_lines(table) -> list[str]:
    rows: list[list[str]] = []
    for row in table.rows:
        # horizontally merged cells come back once per grid column: keep one
        cells = _dedupe_consecutive(list(row.cells), key=lambda c: id(c._tc))
        rows.append([_join_cjk_aware(c.text) for c in cells])
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) == 1:
        return _labelled_rows(rows, None)
    header, body = rows[0], rows[1:]
    return _labelled_rows(body, header)


@_cached
def extract_docx(path: Path) -> Extracted:
    """Paragraphs and tables of a Word file in document order.

    Heading styles become ``headings`` (the section path of chunks); tables become
    header-labelled rows. Page headers/footers of the Word file live outside the body and are
    not read. Word has no stable page numbers (they depend on the renderer), so ``pages`` is
    ``None``.
    """
    path = Path(path)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as e:  # pragma: no cover
        raise FormatError(path, f"Word support is not installed ({e.name}); pip install python-docx") from e
    try:
        document = docx.Document(str(path))
    except Exception as e:  # zipfile.BadZipFile, KeyError, lxml errors, PackageNotFoundError …
        raise FormatError(path, f"not a readable .docx file ({type(e).__name__}: {e})") from e

    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    title: str | None = None
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                raw = block.text
                if not raw.strip():
                    continue
                level = _heading_level(block)
                if level is not None or _is_title_style(block):
                    text = _join_cjk_aware(raw)
                    if _is_title_style(block):
                        title = title or text
                        level = level or 1
                    headings.append((len(lines), level, text))
                    lines.append(text)
                    continue
                # soft line breaks inside a paragraph are layout, the paragraph is the unit
                for part in raw.split("\n"):
                    part = part.strip()
                    if part:
                        lines.append(part)
            elif isinstance(block, Table):
                lines.extend(_docx_table_lines(block))
        core_title = (document.core_properties.title or "").strip()
    except Exception as e:
        raise FormatError(path, f".docx content could not be read ({type(e).__name__}: {e})") from e
    if core_title and not _JUNK_TITLE_RE.search(core_title):
        title = core_title
    if not lines:
        raise FormatError(path, "the Word document contains no text")
    return Extracted(lines=lines, pages=None, headings=headings, title=title)


# ----------------------------------------------------------------------------------------
# HTML

_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-.]+)""", re.I)
# Windows code pages are supersets of what Japanese pages label as Shift_JIS/EUC-JP
# (①, ㈱, NEC/IBM extensions) — the WHATWG encoding standard maps them the same way.
_CHARSET_ALIASES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932", "x-ms-cp932": "cp932",
    "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "eucjp": "euc_jp",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
}

# Supersets tried when a page does not decode strictly with its declared charset.
_WIDER = {"cp932": ("shift_jis_2004",), "euc_jp": ("euc_jis_2004", "euc_jisx0213"), "shift_jis": ("cp932", "shift_jis_2004")}

# Elements that never carry page content.
_DROP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg", "canvas", "object",
              "embed", "button", "select", "input", "textarea", "map", "head", "link", "meta"}
# Navigation-ish elements, dropped wherever they are.
_NAV_TAGS = {"nav", "aside", "menu"}
_NAV_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
# id/class tokens used for site furniture, including the words Japanese municipal CMSs use
# (pankuzu / topicpath = breadcrumbs, gnavi = global menu).
_BOILERPLATE_TOKEN_RE = re.compile(
    r"(?:^|[-_])(?:nav|navi|navigation|gnav|gnavi|lnav|lnavi|snav|localnav|globalnav|menu|"
    r"breadcrumbs?|pankuzu|topicpath|topic-path|footer|header|sidebar|side|sns|share|"
    r"pagetop|skip|banner|tool|tools|utility)(?:[-_]|\d*$)",
    re.I,
)
_MAIN_TOKEN_RE = re.compile(r"^(?:main|main[-_]?content|contents?|content[-_]?main|honbun|article|entry[-_]?content|page[-_]?body)$", re.I)
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "form", "hr", "li", "main", "ol",
    "p", "pre", "section", "summary", "ul", "tr", "table", "tbody", "thead", "tfoot", "html",
    "header", "footer",
}
_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}


def _normalize_charset(name: str) -> str | None:
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode HTML bytes: BOM, then ``<meta charset>`` / XML declaration, then detection.

    Returns ``(text, encoding)``. Shift_JIS is decoded as cp932 (what browsers do), otherwise
    characters such as ① or 髙 on municipal pages break decoding.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace").lstrip("\ufeff"), enc
    head = data[:8192]
    declared = None
    m = _META_CHARSET_RE.search(head) or _XML_DECL_RE.search(head)
    if m:
        declared = _normalize_charset(m.group(1).decode("ascii", "ignore"))
    if declared:
        # the declared charset, then the wider variants of the same family
        for enc in (declared, *_WIDER.get(declared, ())):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError:
                continue  # mislabelled page: fall through to detection
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            enc = _normalize_charset(best.encoding) or best.encoding
            try:
                return data.decode(enc), enc
            except (UnicodeDecodeError, LookupError):
                return str(best), best.encoding
    except ImportError:  # pragma: no cover
        pass
    enc = declared or "cp932"
    return data.decode(enc, errors="replace"), enc


def _attr_tokens(el) -> list[str]:
    toks = []
    cls = el.get("class")
    if cls:
        toks.extend(cls if isinstance(cls, list) else str(cls).split())
    if el.get("id"):
        toks.append(str(el.get("id")))
    return toks


def _is_hidden(el) -> bool:
    if el.has_attr("hidden") or str(el.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(el.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _inside(el, names: set[str]) -> bool:
    return any(p.name in names for p in el.parents)


def _html_main(soup):
    """The element holding the page's main content: ``<main>``/``role=main``, else the
    largest ``<article>``, else the largest element with a content-like id/class, else body."""
    def text_len(el) -> int:
        return len(el.get_text(strip=True))

    for sel in (lambda: soup.find_all("main"), lambda: soup.find_all(attrs={"role": "main"})):
        found = [e for e in sel() if text_len(e) > 0]
        if found:
            return max(found, key=text_len)
    articles = [e for e in soup.find_all("article") if text_len(e) > 0]
    if articles:
        best = max(articles, key=text_len)
        # several articles of similar size = a listing page; keep their common container
        if sum(text_len(a) for a in articles) <= 1.5 * text_len(best):
            return best
    cands = [e for e in soup.find_all(True) if any(_MAIN_TOKEN_RE.match(t) for t in _attr_tokens(e))]
    cands = [e for e in cands if text_len(e) > 0]
    if cands:
        return max(cands, key=text_len)
    return soup.body or soup


def _strip_boilerplate(root, in_main: bool) -> None:
    """Drop navigation and site furniture below ``root``. ``in_main``: ``root`` is a real
    main-content container, where a class like ``main-header`` wraps the page's own heading
    (kept when it holds ``h1``/``h2``); on ``<body>`` such blocks are the site banner."""
    for el in list(root.find_all(True)):
        if getattr(el, "decomposed", False) or el.parent is None:
            continue
        name = el.name
        if name in _DROP_TAGS or name in _NAV_TAGS:
            el.decompose()
            continue
        role = str(el.get("role", "")).lower()
        if role in _NAV_ROLES or _is_hidden(el):
            el.decompose()
            continue
        # <header>/<footer> are site banners only outside article/main/section (HTML spec)
        if name in ("header", "footer") and not _inside(el, {"article", "main", "section"}):
            el.decompose()
            continue
        if name not in ("body", "html", "main", "article") and any(
            _BOILERPLATE_TOKEN_RE.search(t) for t in _attr_tokens(el)
        ):
            if in_main and el.find(["h1", "h2"]) is not None:
                continue
            el.decompose()


class _HtmlText:
    """Walks the content tree, emitting one line per block and recording headings."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.headings: list[tuple[int, int, str]] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        text = _join_cjk_aware("".join(self.buf))
        self.buf = []
        if text:
            self.lines.append(text)

    def walk(self, el) -> None:
        from bs4 import NavigableString, Tag
        from bs4.element import Comment, Doctype, ProcessingInstruction

        for child in el.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.buf.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name == "br":
                self.flush()
            elif name in _HEADING_TAGS:
                self.flush()
                text = _join_cjk_aware(child.get_text(" "))
                if text:
                    self.headings.append((len(self.lines), _HEADING_TAGS[name], text))
                    self.lines.append(text)
            elif name == "table":
                self.flush()
                self.lines.extend(self.table(child))
            elif name == "pre":
                self.flush()
                self.lines.extend(s.strip() for s in child.get_text().splitlines() if s.strip())
            elif name == "img":
                alt = (child.get("alt") or "").strip()
                if alt and len(alt) > 1:
                    self.buf.append(alt)
            elif name in _BLOCK_TAGS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)

    def table(self, table) -> list[str]:
        rows: list[tuple[list[str], bool]] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # nested table rows belong to the nested table's cell text
            cells = tr.find_all(["th", "td"], recursive=False)
            if not cells:
                continue
            values = []
            for c in cells:
                v = _join_cjk_aware(c.get_text(" "))
                span = str(c.get("colspan", "1")).strip()
                values.extend([v] * (min(int(span), 50) if span.isdigit() and int(span) > 0 else 1))
            rows.append((values, all(c.name == "th" for c in cells) or tr.find_parent("thead") is not None))
        cap = table.find("caption")
        out = [_join_cjk_aware(cap.get_text(" "))] if cap and cap.get_text(strip=True) else []
        if not rows:
            return out
        if rows[0][1] and len(rows) > 1:
            out += _labelled_rows_colspan([r for r, _ in rows[1:]], rows[0][0])
        else:
            out += _labelled_rows_colspan([r for r, _ in rows], [])
        return out


def _labelled_rows_colspan(body: list[list[str]], header: list[str]) -> list[str]:
    """Header-labelled rows (「列名: 値 / 列名: 値」) where colspans were expanded: a value
    spanning several columns is emitted once, labelled with the first header it spans.
    A row whose first cell is a ``<th>`` row header simply leads the line."""
    out = []
    for row in body:
        parts, last = [], None
        for j, value in enumerate(row):
            if not value or value == last:
                last = value
                continue
            last = value
            label = header[j] if j < len(header) else ""
            parts.append(f"{label}: {value}" if label and label != value else value)
        if parts:
            out.append(" / ".join(parts))
    return out


@_cached
def extract_html(path: Path) -> Extracted:
    """Main content of a (municipal) web page.

    Charset from BOM / ``<meta charset>`` with detection as fallback (Shift_JIS pages are
    common). Navigation, menus, breadcrumbs, site header/footer, sidebars, scripts and styles
    are dropped by element semantics (``nav``, ``aside``, ARIA roles, site-level
    ``header``/``footer``) and by the id/class names CMSs use for them; the main content is
    ``<main>``/``role=main``/``<article>`` or the largest content-named container. Headings
    ``h1``–``h6`` are kept as headings; tables become header-labelled rows.
    """
    path = Path(path)
    try:
        from bs4 import BeautifulSoup
    except ImportError as e:  # pragma: no cover
        raise FormatError(path, f"HTML support is not installed ({e.name}); pip install beautifulsoup4 lxml") from e
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(path, f"cannot read file ({e.strerror or e})") from e
    if not data.strip():
        raise FormatError(path, "empty file")
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FormatError(path, "binary data, not an HTML page")
    text, _enc = decode_html(data)
    try:
        soup = BeautifulSoup(text, "lxml")
    except Exception:
        soup = BeautifulSoup(text, "html.parser")

    page_title = None
    if soup.title and soup.title.get_text(strip=True):
        page_title = _join_cjk_aware(soup.title.get_text(" "))
    for el in soup.find_all(list(_DROP_TAGS - {"head"})):
        el.decompose()
    main = _html_main(soup)
    _strip_boilerplate(main, in_main=main is not soup.body and main is not soup)
    walker = _HtmlText()
    walker.walk(main)
    walker.flush()
    if not walker.lines:
        raise FormatError(path, "no main text content found in the HTML page")
    h1 = next((t for _, lvl, t in walker.headings if lvl == 1), None)
    return Extracted(lines=walker.lines, pages=None, headings=walker.headings, title=h1 or page_title)


# ----------------------------------------------------------------------------------------

EXTRACTORS: dict[str, Callable[[Path], Extracted]] = {
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".html": extract_html,
    ".htm": extract_html,
}


def supported_suffixes() -> list[str]:
    return sorted(EXTRACTORS)


def extract(path: Path | str) -> Extracted:
    """Dispatch on the (lower-cased) suffix; :class:`FormatError` for unknown suffixes."""
    path = Path(path)
    fn = EXTRACTORS.get(path.suffix.lower())
    if fn is None:
        raise FormatError(path, f"unsupported file type {path.suffix or '(none)'}; supported: {', '.join(supported_suffixes())}")
    if not path.is_file():
        raise FormatError(path, "file not found")
    return fn(path)

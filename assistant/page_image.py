"""The cited page of a PDF as a PNG, with the cited text highlighted (issue 12).

Why a module of its own: a resident trusts a quotation more when the page it comes from is in
front of them, as it was printed. This module only turns (a PDF file, a page number, the texts
to mark) into PNG bytes, and keeps a bounded, atomically written cache of the results; *which*
file may be opened is decided above it (:meth:`assistant.core.Assistant.pdf_page_image` looks
the document up in the loaded index; the web route never passes a path).

Rendering is pypdfium2 (PDFium, the renderer Chromium uses); the text positions come from the
same PDFium text page, so the boxes sit on the glyphs that were drawn. The texts to mark are
matched after NFKC with whitespace removed, because the passages were cleaned (lines joined,
full-width digits folded) on their way into the index; a sentence that does not occur whole is
marked by its clauses (split at 、。・ and brackets) that do.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

RENDER_VERSION = "2"  # part of the cache key: bump when the drawing changes
MAX_WIDTH_PX = 1240  # resolution cap: about 150 dpi on A4, plenty for a phone screen
MAX_PIXELS = 1240 * 1754 * 2  # a page of an odd shape (a long poster) is scaled down to this
MAX_SCALE = 2.0  # never more than 144 dpi, however small the page
HIGHLIGHT_RGBA = (255, 214, 0, 110)  # semi-transparent yellow: the printed text stays readable
OUTLINE_RGBA = (200, 120, 0, 200)
MIN_PIECE_CHARS = 4  # a clause shorter than this would light up unrelated text
PALETTE_COLOURS = 64
EXCERPT_CONTEXT = 0.06  # an excerpt keeps this fraction of the page height above and below the marks
EXCERPT_MIN_ASPECT = 0.45  # and is at least this high relative to its width
EXCERPT_SIDE = 0.04  # beside the marks' column it keeps this fraction of the page width
EXCERPT_MIN_WIDTH = 0.6  # and is at least this fraction of the page wide
MAX_PAGES = 10000  # no plan has more; a larger number is refused before the file is opened


class PageImageError(Exception):
    """The page cannot be rendered: not a readable PDF, or no such page."""


class PageOutOfRange(PageImageError):
    """The PDF has no page of that number."""


@dataclass
class PageImage:
    png: bytes
    width: int
    height: int
    boxes: list[tuple[int, int, int, int]]  # highlighted rectangles in image pixels (left, top, right, bottom)


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _pieces(target: str) -> list[str]:
    """The target whole, else its clauses long enough to be specific."""
    parts = [p for p in re.split(r"[、。，．・「」『』（）()【】\[\]:：/]+", target) if len(p) >= MIN_PIECE_CHARS]
    return parts


def _page_chars(textpage) -> tuple[str, list[int]]:
    """The page's characters folded (NFKC, no whitespace) and, per folded character, the PDFium index."""
    import pypdfium2.raw as pdfium_c

    folded: list[str] = []
    index: list[int] = []
    for i in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, i)
        try:
            ch = chr(code)
        except (ValueError, OverflowError):
            continue
        for f in unicodedata.normalize("NFKC", ch):
            if not f.isspace() and f != "\x00":
                folded.append(f)
                index.append(i)
    return "".join(folded), index


def find_char_spans(page_text: str, texts: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of ``page_text`` (already folded) where ``texts`` occur: each text whole if it does,
    else its clauses of ≥ ``MIN_PIECE_CHARS`` characters that do. Every occurrence is marked."""
    spans: list[tuple[int, int]] = []
    for t in texts:
        target = _fold(t)
        if not target:
            continue
        for piece in ([target] if target in page_text else _pieces(target)):
            start = page_text.find(piece)
            while start != -1:
                spans.append((start, start + len(piece)))
                start = page_text.find(piece, start + len(piece))
    return sorted(set(spans))


def _to_device(page, size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    """PDF user space → image pixels, as PDFium itself maps them (crop box and /Rotate included)."""
    import pypdfium2.raw as pdfium_c

    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, ctypes.c_double(x), ctypes.c_double(y),
                               ctypes.byref(dx), ctypes.byref(dy))
    return dx.value, dy.value


def _line_boxes(textpage, page, size, char_ids: list[int]) -> list[tuple[int, int, int, int]]:
    """One rectangle per run of marked characters on one text line (not one per glyph)."""
    boxes: list[list[int]] = []
    for i in char_ids:
        left, bottom, right, top = textpage.get_charbox(i, loose=True)
        if right <= left or top <= bottom:
            continue
        pts = [_to_device(page, size, left, bottom), _to_device(page, size, right, top)]
        x0, x1 = sorted(p[0] for p in pts)
        y0, y1 = sorted(p[1] for p in pts)
        if boxes:
            b = boxes[-1]
            same_line = min(b[3], y1) - max(b[1], y0) > 0.5 * min(b[3] - b[1], y1 - y0)
            if same_line and x0 - b[2] < 2 * max(1, y1 - y0):
                b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1)
                continue
        boxes.append([x0, y0, x1, y1])
    pad = 2
    return [(b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad) for b in boxes]


def _excerpt_band(size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The part of the page around the marks — their text column, the lines above and below: on a
    phone a whole A4 page is a thumbnail whose text cannot be read, while the marked lines can."""
    w, h = size

    def span(lo: int, hi: int, pad: int, least: int, limit: int) -> tuple[int, int]:
        lo, hi = max(0, lo - pad), min(limit, hi + pad)
        short = least - (hi - lo)
        if short > 0:  # at least ``least`` long, centred on the marks as far as the page allows
            lo = max(0, lo - short // 2)
            hi = min(limit, lo + least)
            lo = max(0, hi - least)
        return lo, hi

    # the text column of the marks (not the page margins), then the lines around them
    left, right = span(min(b[0] for b in boxes), max(b[2] for b in boxes), int(EXCERPT_SIDE * w),
                       int(EXCERPT_MIN_WIDTH * w), w)
    top, bottom = span(min(b[1] for b in boxes), max(b[3] for b in boxes), int(EXCERPT_CONTEXT * h),
                       int(EXCERPT_MIN_ASPECT * (right - left)), h)
    return (left, top, right, bottom)


def render_page(pdf_path: str | os.PathLike, page_number: int, texts: Sequence[str] = (),
                excerpt: bool = False) -> PageImage:
    """Page ``page_number`` (1-based) of ``pdf_path`` as a PNG with ``texts`` highlighted; with
    ``excerpt``, only the part of the page around the highlights (the whole page when nothing is
    highlighted). ``boxes`` are in the returned image's pixels.

    The width is capped at ``MAX_WIDTH_PX`` and the area at ``MAX_PIXELS``; raises
    :class:`PageImageError` for an unreadable file or a page out of range.
    """
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    try:
        pdf = pdfium.PdfDocument(str(pdf_path))
    except Exception as e:  # PdfiumError: not a PDF, encrypted, damaged
        raise PageImageError(f"not a readable PDF: {e}") from None
    try:
        if not 1 <= int(page_number) <= len(pdf):
            raise PageOutOfRange(f"page {page_number} out of range 1..{len(pdf)}")
        page = pdf[int(page_number) - 1]
        w_pt, h_pt = page.get_size()
        scale = min(MAX_SCALE, MAX_WIDTH_PX / max(w_pt, 1.0), (MAX_PIXELS / max(w_pt * h_pt, 1.0)) ** 0.5)
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil().convert("RGB")
        boxes: list[tuple[int, int, int, int]] = []
        if texts:
            textpage = page.get_textpage()
            folded, index = _page_chars(textpage)
            ids = sorted({index[k] for s, e in find_char_spans(folded, texts) for k in range(s, e)})
            boxes = _line_boxes(textpage, page, image.size, ids)
            textpage.close()
        if boxes:
            overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            for b in boxes:
                draw.rectangle(b, fill=HIGHLIGHT_RGBA, outline=OUTLINE_RGBA, width=2)
            image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
            if excerpt:
                band = _excerpt_band(image.size, boxes)
                image = image.crop(band)
                boxes = [(b[0] - band[0], b[1] - band[1], b[2] - band[0], b[3] - band[1]) for b in boxes]
        out = io.BytesIO()
        # a 64-colour palette: a printed page is mostly paper and ink, and the PNG comes out about
        # 4× smaller and 8× faster to encode than full colour with optimize (docs/bench/page_images.md)
        image.quantize(PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", compress_level=6)
        page.close()
        return PageImage(out.getvalue(), image.size[0], image.size[1], boxes)
    finally:
        pdf.close()


class PageImageCache:
    """Rendered pages on disk, keyed by what determines the picture; bounded by total bytes.

    Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a
    reader sees a whole PNG or none; when the folder grows past ``max_bytes`` the least
    recently used files go. Everything here is derived: deleting the folder costs only time.
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int = 64 * 1024 * 1024):
        self.dir = Path(directory)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    @staticmethod
    def key(pdf_path: str | os.PathLike, page_number: int, texts: Sequence[str], excerpt: bool = False) -> str:
        st = os.stat(pdf_path)
        h = hashlib.sha256()
        for part in (RENDER_VERSION, str(Path(pdf_path).name), str(st.st_size), str(st.st_mtime_ns),
                     str(int(page_number)), "excerpt" if excerpt else "page", *texts):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()[:32]

    def get(self, key: str) -> bytes | None:
        p = self.dir / f"{key}.png"
        try:
            data = p.read_bytes()
            os.utime(p)  # recently used: evicted last
            return data
        except OSError:
            return None

    def put(self, key: str, png: bytes) -> None:
        """Store ``png``; a failed write (disk full, read-only) is logged and forgotten."""
        if len(png) > self.max_bytes:
            return
        tmp = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".page-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(png)
            os.replace(tmp, self.dir / f"{key}.png")
            tmp = None
            self._evict()
        except OSError as e:
            log.warning("page image cache: cannot write %s (%s)", self.dir, e)
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _evict(self) -> None:
        with self._lock:
            files = []
            now = time.time()
            for p in self.dir.iterdir():
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.suffix == ".tmp" and now - st.st_mtime > 3600:  # left by a killed process
                    p.unlink(missing_ok=True)
                elif p.suffix == ".png":
                    files.append((st.st_mtime, st.st_size, p))
            total = sum(s for _m, s, _p in files)
            for _m, size, p in sorted(files):
                if total <= self.max_bytes:
                    break
                p.unlink(missing_ok=True)
                total -= size

"""Page furniture: what the page template prints on every page, as opposed to content.

Dropped, by general rules, only what is provably furniture:

* **page numbers** at the top/bottom edge of a page (「- 9 -」「12」「p.3」); the printed number
  is kept as the page's label (``Furniture.labels``) so a citation can show it;
* **the document title band** — the line at the same place at the page edge on most pages,
  when it is the document's title (or, if the file declares none, becomes it);
* **identical header/footer text at the page edge on most pages** (a page number aside).

Everything else that recurs is kept: a section heading that recurs because the section recurs
(「◆前年度調査との比較」 in every chapter) or a chapter header printed over a few pages is
content. And of a running line that is dropped, the first occurrence is kept (unless it is
the title, which the document carries anyway): the validity date printed on every page of a
list (「（平成３０年６月２８日現在）」) must still answer "as of when?". Such a running validity
note qualifies every page, so it is also handed on (``Furniture.as_of``) for every passage of the
document to carry beside the title.

Edge lines are the first/last ``_EDGE_LINES`` text lines of a page inside the top/bottom
``_EDGE_BAND`` of its height; "the same place" is within ``_SAME_POSITION`` pt.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

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



# A running line that cannot be the document's title: a date / "as of" note, a parenthesised remark.
_NOT_TITLE_RE = re.compile(r"現在|[0-9０-９]+\s*年\s*[0-9０-９]+\s*月|^[(（［\[].*[)）］\]]$")


# A validity note: 「（平成３０年６月２８日現在）」「令和5年4月1日現在」「2023年3月末時点」.
_AS_OF_RE = re.compile(r"^[(（［\[]?[^。]{0,24}[0-9０-９元]\s*[年月日末][^。]{0,16}(?:現在|時点)\s*[)）］\]]?$")


def is_as_of_note(text: str) -> bool:
    """Is this line a validity note (「（平成３０年６月２８日現在）」) — a date the content holds at?"""
    return bool(_AS_OF_RE.match(text.strip()))


@dataclass
class Furniture:
    drop: set[tuple[int, int]] = field(default_factory=set)  # (page, line index) to leave out
    labels: dict[int, str] = field(default_factory=dict)  # page → printed page number
    title: str | None = None  # the title band, when the file declares no title
    # a validity note printed on most pages (「（平成３０年６月２８日現在）」): it qualifies every
    # page, so every passage carries it with the document's title (chunking), not only page 1's
    as_of: str | None = None


def _edges(lines: list[dict], height: float) -> dict[int, float]:
    """Edge lines of a page → position (top from the top edge, negative: from the bottom)."""
    idx = set(range(min(_EDGE_LINES, len(lines)))) | set(range(max(0, len(lines) - _EDGE_LINES), len(lines)))
    out = {}
    for i in idx:
        if lines[i].get("table"):
            continue
        if lines[i]["top"] <= _EDGE_BAND * height:
            out[i] = float(lines[i]["top"])
        elif lines[i]["bottom"] >= (1 - _EDGE_BAND) * height:
            out[i] = -(height - float(lines[i]["bottom"]))
    return out


def find_furniture(pages_lines: list[tuple[int, float, list[dict]]], text_pages: int, title: str | None = None) -> Furniture:
    """Which edge lines of ``pages_lines`` (``[(page, height, lines)]``) are furniture (see module docstring)."""
    f = Furniture()
    key_pos: dict[str, list[tuple[float, int, int]]] = defaultdict(list)  # key → (pos, page, line)
    for pno, height, lines in pages_lines:
        for i, pos in _edges(lines, height).items():
            text = lines[i]["text"].strip()
            if _is_page_number(text):
                f.drop.add((pno, i))
                f.labels[pno] = re.sub(r"[^0-9ivxlcdm]", "", unicodedata.normalize("NFKC", text).lower()) or text
                continue
            key_pos[_line_key(text)].append((pos, pno, i))
    most = max(2, math.ceil(text_pages / 2))
    title_key = _line_key(title) if title else None
    for key, occ in key_pos.items():
        if len({p for _, p, _ in occ}) < most:
            continue
        occ.sort()
        for a, (pos_a, _, _) in enumerate(occ):
            window = [(p, i) for pos, p, i in occ[a:] if pos - pos_a <= _SAME_POSITION]
            if len({p for p, _ in window}) < most:
                continue
            window.sort()
            first_page, first_i = window[0]
            text = next(ln["text"].strip() for pno, _, lines in pages_lines if pno == first_page for ln in [lines[first_i]])
            is_title = key == title_key or (
                f.title is None and title is None and pos_a >= 0 and len(text) <= 60 and not _NOT_TITLE_RE.search(text)
            )
            if is_title and f.title is None and title is None:
                f.title = text
            elif not is_title and f.as_of is None and is_as_of_note(text):
                f.as_of = text
            f.drop.update(window if is_title else window[1:])
            break
    return f

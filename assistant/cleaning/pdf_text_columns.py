"""Two text columns side by side (a two-column page of a plan) read one column after the other.

pdfplumber groups glyphs into lines by baseline across the whole page, so on a page set in two
columns every printed line runs across both: 「…切れ目のない支援を行うため、子育て世代包括 体制を
つくるため、放課後児童クラブの定員…」 — both columns' sentences are cut up and interleaved.

The gutter is found from the glyph positions alone: an x that no glyph crosses over a run of
consecutive printed lines (no blank of more than two lines between them), at least
``_MIN_TWO_SIDED`` of which have text on both sides. It is a
page of two *text* columns (not a label column beside text, ``pdf_columns``; not a form of
label/value pairs) only when both sides are running text: each at least ``_MIN_TEXT_CHARS``
characters wide and at least a third of the band's width, mostly letters rather than numbers,
and with ``_MIN_FULL_LINES`` lines that reach their column's right edge (the text wraps). Inside
the band each line is cut at the gutter and the left column's lines are read before the right
column's (``_order`` keeps that order when the page's lines are sorted by position); the wrapped
lines of each column are then joined by ``pdf_lines`` as on any page. Chart pages are not
searched (``formats/pdf.py``).
"""

from __future__ import annotations

from .pdf_columns import _WORDS_RE, _part, _runs, _size

_MIN_TWO_SIDED = 3
_MIN_TEXT_CHARS = 15
_MIN_FULL_LINES = 2
_MIN_SIDE_SHARE = 1 / 3


def _band(lines: list[dict]) -> tuple[int, int, float] | None:
    """``(first, last, x)`` of the longest run of lines split by a gutter between two text columns."""
    runs = [[(-1e9, 1e9)] if ln.get("chart") or ln.get("table") else _runs(ln) for ln in lines]
    candidates = sorted({rs[k][1] + 0.5 for rs in runs for k in range(len(rs) - 1)})
    best = None
    for x in candidates:
        start, two = None, 0
        for i, rs in enumerate(runs + [None]):
            # a blank of more than two lines (a heading or a table below the columns) ends the band
            gap = i < len(lines) and i > 0 and float(lines[i]["top"]) - float(lines[i - 1]["bottom"]) > 2 * _size(lines[i])
            if gap and start is not None and two >= _MIN_TWO_SIDED and (best is None or two > best[0]):
                best = (two, start, i - 1, x)
            if gap:
                start = None
            if rs is not None and not any(a < x < b for a, b in rs):
                if start is None:
                    start, two = i, 0
                if any(b <= x for a, b in rs) and any(a >= x for a, b in rs):
                    two += 1
                continue
            if start is not None and two >= _MIN_TWO_SIDED and (best is None or two > best[0]):
                best = (two, start, i - 1, x)
            start = None
    if best is None:
        return None
    _, first, last, x = best
    band = runs[first:last + 1]
    size = max(_size(ln) for ln in lines[first:last + 1])
    lo = min(rs[0][0] for rs in band)
    hi = max(rs[-1][1] for rs in band)
    left_ends = [max(b for a, b in rs if b <= x) for rs in band if any(b <= x for a, b in rs)]
    right_ends = [rs[-1][1] for rs in band if rs[-1][0] >= x]
    right_x0 = min(a for rs in band for a, b in rs if a >= x)
    for width, ends in ((x - lo, left_ends), (hi - right_x0, right_ends)):
        if width < _MIN_TEXT_CHARS * size or width < _MIN_SIDE_SHARE * (hi - lo):
            return None  # a narrow side: labels, numbers or a margin note, not a column of text
        if sum(1 for e in ends if e >= max(ends) - 2 * size) < _MIN_FULL_LINES:
            return None  # short entries (a form, a list of values), not wrapped running text
    for side in ("left", "right"):
        text = "".join(c["text"] for ln in lines[first:last + 1] for c in ln.get("chars") or []
                       if (c["x1"] <= x if side == "left" else c["x0"] >= x) and c["text"].strip())
        if not text or len(_WORDS_RE.findall(text)) < 0.6 * len(text):
            return None  # figures beside text: a table or chart, not two text columns
    return first, last, x


def split_text_columns(lines: list[dict]) -> list[dict]:
    """Lines of one page (``extract_text_lines`` dicts with ``chars``, top to bottom) with a band of
    two text columns, if any, read left column first, then right (see module docstring)."""
    found = _band(lines)
    if found is None:
        return lines
    first, last, x = found
    left, right = [], []
    for ln in lines[first:last + 1]:
        chars = [c for c in ln.get("chars") or [] if c.get("text", "").strip()]
        lc = [c for c in chars if c["x1"] <= x]
        rc = [c for c in chars if c["x0"] >= x]
        if lc:
            left.append(_part(ln, lc))
        if rc:
            right.append(_part(ln, rc))
    end = max(float(p["top"]) for p in lines[first:last + 1] + left)
    for k, part in enumerate(right):  # after the left column, before whatever follows the band
        part["_order"] = end + 0.001 * (k + 1)
    return lines[:first] + left + right + split_text_columns(lines[last + 1:])

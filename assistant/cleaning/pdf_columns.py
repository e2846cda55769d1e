"""Two-column label | text blocks in PDFs (「政策 | 自由意見」) read column by column.

A page laid out as a narrow label column beside a wide text column — the residents' comments
of a survey report, filed under the policy they concern — has no table the table finder can
see when its rows are not ruled. Read line by line, every printed line runs across both
columns: 「1 子どもが健やかに生まれ育 ○東京都でも実施された様に…」, then 「つ環境の充実 ○出産時
の費用無償化…」, so the label is cut in two and glued into two different comments.

The gutter is found from the word positions alone (no ruling needed): an x position that no
word crosses over a run of consecutive printed lines, at least three of which have text on
both sides of it. Not every gap is such a gutter: the left column must be narrow (≤ 40 % of the
band) and hold words, not item numbers; the right column must be running text (≥ 15 characters
wide, ≥ 3 lines reaching its right edge, mostly letters, not numbers); chart pages are never
searched (``formats/pdf.py``). A 「4 調査期間 令和５年1月15日～1月31日」 list stays as printed.
Inside that band

* the left column's lines form labels: a label continues on the next left line directly
  below it unless that line starts a new item (「8 地域を支える…」);
* the right column's lines are re-joined by layout (``pdf_lines.join_wrapped_lines``), so a
  comment is whole;
* each comment comes back as one table row ``label<TAB>comment`` (the label is the last one
  that starts at or above the comment), which the text cleaning labels like any table row
  (「政策: 1 子どもが健やかに生まれ育つ環境の充実 / 自由意見: ○東京都でも…」).

Comments continuing on a page whose label column is empty keep the label of the previous page
(``state["label"]``, with the gutter and the text column's left edge); so does text below a
ruled label | list table (``anchors``). The label ends at a line that reaches into the label
column or starts away from the text column's edge (a centred 「参考資料」); a page number does
not end it. Lines outside a band are returned untouched.
"""

from __future__ import annotations

import re

from .lines import _LIST_START_RE
from .page_furniture import _is_page_number
from .pdf_lines import join_wrapped_lines

_MIN_TWO_SIDED = 3  # lines with text on both sides of the gutter that make a band
_WORDS_RE = re.compile(r"[\u3041-\u30ff\u4e00-\u9fff]")
_MIN_TEXT_CHARS = 15  # the text column is at least this many characters wide
_MIN_FULL_LINES = 3  # text-column lines that reach the column's right edge (wrapped text)
_MIN_GAP = 1.0  # character sizes: a gap narrower than this is a space inside a column
_MAX_LABEL_SHARE = 0.4  # the label column is the narrow one: at most this share of the band's width


def _size(ln: dict) -> float:
    return max(1.0, float(ln["bottom"]) - float(ln["top"]))


def _runs(ln: dict) -> list[tuple[float, float]]:
    """x intervals covered by the line's glyphs, glyphs closer than a character merged."""
    chars = sorted((c for c in ln.get("chars") or [] if c.get("text", "").strip()), key=lambda c: c["x0"])
    if not chars:
        return [(float(ln["x0"]), float(ln["x1"]))]
    size = _size(ln)
    out = [[float(chars[0]["x0"]), float(chars[0]["x1"])]]
    for c in chars[1:]:
        if float(c["x0"]) - out[-1][1] < _MIN_GAP * size:
            out[-1][1] = max(out[-1][1], float(c["x1"]))
        else:
            out.append([float(c["x0"]), float(c["x1"])])
    return [(a, b) for a, b in out]


def _text(chars: list[dict]) -> str:
    chars = sorted(chars, key=lambda c: c["x0"])
    out = ""
    prev = None
    for c in chars:
        if prev is not None and out and not out.endswith(" "):
            gap, size = float(c["x0"]) - float(prev["x1"]), float(c.get("size") or 10)
            # a narrow gap is a space next to a Latin letter or digit (「1 子ども」), while
            # justified Japanese is spread by up to half a character
            latin = bool(re.match(r"[A-Za-z0-9]", prev["text"]) or re.match(r"[A-Za-z0-9]", c["text"]))
            if gap > (0.2 if latin else 0.5) * size:
                out += " "
        out += c["text"]
        prev = c
    return re.sub(r"\s+", " ", out).strip()


def _part(ln: dict, chars: list[dict]) -> dict:
    text = _text(chars)
    chars = [c for c in chars if c["text"].strip()]
    return {
        "text": text,
        "x0": min(float(c["x0"]) for c in chars),
        "x1": max(float(c["x1"]) for c in chars),
        "top": min(float(c["top"]) for c in chars),
        "bottom": max(float(c["bottom"]) for c in chars),
    }


def find_band(lines: list[dict], near: float | None = None) -> tuple[int, int, float] | None:
    """``(first, last, x)``: the longest run of lines ``first..last`` that a gutter at ``x`` splits.

    ``near``: the gutter of the block on the previous page; a gutter at the same place
    continues that block, and one line with text on both sides is then enough."""
    min_two = 1 if near is not None else _MIN_TWO_SIDED
    if len(lines) < min_two:
        return None
    # chart rows (already reduced to their labels) are never part of a band
    runs = [[(-1e9, 1e9)] if ln.get("chart") else _runs(ln) for ln in lines]
    # the best gutter starts just right of some glyph run that has another run after it
    candidates = sorted({rs[k][1] + 0.5 for rs in runs for k in range(len(rs) - 1)})
    if near is not None:
        candidates = [near] if any(b <= near for rs in runs for a, b in rs) else []
    best = None
    for x in candidates:
        start, two = None, 0
        for i, rs in enumerate(runs + [None]):
            crossed = rs is None or any(a < x < b for a, b in rs)
            if not crossed:
                if start is None:
                    start, two = i, 0
                if any(b <= x for a, b in rs) and any(a >= x for a, b in rs):
                    two += 1
                continue
            if start is not None and two >= min_two:
                if best is None or two > best[0]:
                    best = (two, start, i - 1, x)
            start = None
    if best is None:
        return None
    _, first, last, x = best
    # the gutter's centre: the middle of the empty strip around x in the two-sided lines
    left = max(b for rs in runs[first:last + 1] for a, b in rs if b <= x)
    right = min(a for rs in runs[first:last + 1] for a, b in rs if a >= x)
    x = (left + right) / 2
    band_lo = min(r[0][0] for r in runs[first:last + 1])
    band_hi = max(r[-1][1] for r in runs[first:last + 1])
    if x - band_lo > _MAX_LABEL_SHARE * (band_hi - band_lo):
        return None  # a wide left column: two text columns or a form, not labels beside text
    right = "".join(c["text"] for ln in lines[first:last + 1] for c in ln.get("chars") or [] if c["x0"] >= x)
    if len(_WORDS_RE.findall(right)) < 0.5 * len(right.replace(" ", "")):
        return None  # numbers beside labels: a chart or a figure table, not text
    # labels are words (not item numbers 「4」 before a heading), and the text column is running
    # text: several of its lines run to the column's right edge (they wrap)
    two_sided = [rs for rs in runs[first:last + 1] if any(b <= x for a, b in rs) and any(a >= x for a, b in rs)]
    labels = ["".join(c["text"] for c in ln.get("chars") or [] if c["x1"] <= x) for ln in lines[first:last + 1]]
    if sum(1 for t in labels if len(_WORDS_RE.findall(t)) >= 3) < min(2, len(two_sided)):
        return None
    if near is None:
        ends = [rs[-1][1] for rs in runs[first:last + 1] if rs[-1][0] >= x or len(rs) > 1]
        size = max(_size(ln) for ln in lines[first:last + 1])
        if sum(1 for e in ends if e >= max(ends) - 2 * size) < _MIN_FULL_LINES:
            return None
        col_x0 = min(a for rs in runs[first:last + 1] for a, b in rs if a >= x)
        if max(ends) - col_x0 < _MIN_TEXT_CHARS * size:
            return None  # a column of short values (「調査期間 令和５年1月15日～」), not running text
    return first, last, x


def _labels(left: list[dict]) -> list[dict]:
    """Left-column lines grouped into labels (a wrapped label is one)."""
    out: list[dict] = []
    for ln in left:
        if out and 0 <= ln["top"] - out[-1]["bottom"] < 0.8 * _size(ln) and not _LIST_START_RE.match(ln["text"]):
            out[-1] = dict(out[-1], text=out[-1]["text"] + ln["text"], bottom=ln["bottom"])
        else:
            out.append(dict(ln))
    return out


def read_label_columns(lines: list[dict], state: dict | None = None, anchors: list[tuple[float, str]] = ()) -> list[dict]:
    """Lines of one page (``extract_text_lines`` dicts with ``chars``, top to bottom) with a
    label | text band, if any, turned into ``label<TAB>text`` table rows (see module docstring).

    ``anchors``: ``(y, label)`` of labels printed elsewhere on the page (the last row of a ruled
    label | list table ending at ``y``); text right of the gutter below ``y`` is filed under it.
    """
    state = {} if state is None else state
    band = find_band(lines)
    if band is None and state.get("gutter") is not None:
        band = find_band(lines, near=state["gutter"])
    if band is not None:
        first, last, gx = band
        state["gutter"] = gx
        left_parts, right_parts = [], []
        for ln in lines[first:last + 1]:
            chars = ln.get("chars") or []  # spaces included: 「1 子ども…」 keeps its space
            lc = [c for c in chars if (c["x0"] + c["x1"]) / 2 < gx]
            rc = [c for c in chars if (c["x0"] + c["x1"]) / 2 >= gx]
            if any(c["text"].strip() for c in lc):
                left_parts.append(_part(ln, lc))
            if any(c["text"].strip() for c in rc):
                right_parts.append(_part(ln, rc))
        anchors = list(anchors) + [(lb["top"], lb["text"]) for lb in _labels(left_parts)]
        state["col_x0"] = min(p["x0"] for p in right_parts)
        right_parts = [dict(p, _band=True) for p in right_parts]
        lines = lines[:first] + right_parts + lines[last + 1:]
    gx = state.get("gutter")
    if gx is None:
        return lines
    return _file_under_labels(lines, gx, sorted(anchors), state)


def _file_under_labels(lines: list[dict], gx: float, anchors: list[tuple[float, str]], state: dict) -> list[dict]:
    """Text right of the gutter → ``label<TAB>text`` rows (wrapped lines joined); a line that
    reaches into the label column ends the label in force."""
    out: list[dict] = []
    group: list[dict] = []
    label = state.get("label")
    k = 0

    def flush() -> None:
        if group:
            out.extend(dict(it, text=f"{label}\t{it['text']}", table=True) for it in join_wrapped_lines(group))
            group.clear()

    for ln in lines:
        size = _size(ln)
        while k < len(anchors) and anchors[k][0] <= float(ln["top"]) + 0.5 * size:
            flush()
            label = anchors[k][1]
            k += 1
        # text column: right of the gutter and, outside the band, starting at the column's edge
        # (a centred title such as 「参考資料」 ends the block)
        right_only = min(a for a, _ in _runs(ln)) >= gx and (
            ln.get("_band") or float(ln["x0"]) <= state.get("col_x0", gx) + 2.5 * size)
        if label and right_only and not _is_page_number(ln["text"]):
            group.append({key: v for key, v in ln.items() if key not in ("chars", "_band")})
            continue
        flush()
        if not right_only and not _is_page_number(ln["text"]):
            label = None  # text across the page (not its page number): the label | text block has ended
        ln.pop("_band", None)
        out.append(ln)
    flush()
    if k < len(anchors):
        label = anchors[-1][1]
    state["label"] = label
    return out

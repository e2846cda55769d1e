"""Wrapped PDF lines re-joined by layout, so that a sentence is whole.

A PDF's text layer has one line per printed line. The text rule for wrapped lines
(``wrapped_lines``) only sees characters and joins after a hiragana or 「、」; a line that
wraps after a kanji, a number or a bracket (「…合わせた割合は、30」「(-0.3)と最も…」「｢地域交通
ネットワークの充実｣の不満度が」) stayed broken, and answers quoted the fragments. Here the
geometry decides. Line ``a`` continues on line ``b`` when

* ``a`` runs to the right edge of its column: what is left up to the widest line that starts
  at the same indentation on the page is less than 1.5 characters, or too narrow for the
  first word of ``b`` (「(-3.9)。」 does not fit after 「…86.9％」) — a short line ends its paragraph;
* ``a`` does not end a sentence (「。」「！」「？」);
* ``b`` follows directly below (gap < 0.8 line heights), in the same column (its left edge
  at ``a``'s, up to two characters left of it — the paragraph's first line is indented — or
  about one and a half characters right of it: the hanging indent under a 「○」 item),
  in the same font size (line heights within 10 %);
* ``b`` does not start a list item or heading (「（２）」「・」「第3章」 …), and neither is a
  table row or a chart's ranking row (whose box is its bars', no column width).

Japanese is joined without a space; a space is kept only between two Latin letters/digits.
"""

from __future__ import annotations

import re

from .lines import _LIST_START_RE

_SENTENCE_END = tuple("。．！？!?｡")
_DECIMAL_RE = re.compile(r"^[0-9０-９]+[.．][0-9０-９]")  # 「86.7％」 is a number, not item 86


def _size(ln: dict) -> float:
    return max(1.0, float(ln["bottom"]) - float(ln["top"]))


def join_wrapped_lines(lines: list[dict]) -> list[dict]:
    """Lines of one page (dicts with ``text, x0, x1, top, bottom``; ``table`` marks table rows),
    wrapped lines merged (see module docstring). Order is kept."""
    # (a chart's ranking row keeps the box of its bars, which is no column's width)
    body = [ln for ln in lines if not ln.get("table") and not ln.get("chart")]

    def column_right(a: dict, x0: float, size: float) -> float:
        """The column's right edge, as other lines of the page show it (one line alone proves nothing)."""
        xs = [float(o["x1"]) for o in body if o is not a and o is not a.get("_first") and abs(float(o["x0"]) - x0) <= 2 * size]
        return max(xs) if xs else float("inf")

    out: list[dict] = []
    for ln in lines:
        if out and not ln.get("table") and not out[-1].get("table") and not ln.get("chart") and not out[-1].get("chart"):
            a = out[-1]
            size = a.get("_last_size", _size(a))
            a_x0, a_x1, a_bottom = a.get("_last_x0", a["x0"]), float(a["x1"]), float(a["bottom"])
            at = a["text"].rstrip()
            bt = ln["text"].lstrip()
            # full: the next line's first word would not have fitted in what is left of the line
            # (with the punctuation that may not start a line, 「(-3.9)。」, kinsoku)
            m = re.match(r"([\x21-\x7e]*)([。、，．）」｣』]*)", bt)
            first_word = 0.6 * size * len(m.group(1)) + size * len(m.group(2)) if m.group(0) else size
            full = a_x1 >= column_right(a, a_x0, size) - max(1.5 * size, first_word + 0.5 * size)
            if (
                full
                and len(at) >= 10
                and not at.endswith(_SENTENCE_END)
                and 0 <= float(ln["top"]) - a_bottom < 0.8 * size
                and a_x0 - 2.2 * size <= float(ln["x0"]) <= a_x0 + 1.6 * size
                and abs(_size(ln) - size) <= 0.1 * size
                and not (_LIST_START_RE.match(bt) and not _DECIMAL_RE.match(bt))
            ):
                glue = " " if re.search(r"[A-Za-z0-9]$", at) and re.match(r"[A-Za-z0-9]", bt) else ""
                merged = dict(a)
                merged.setdefault("_first", a)
                merged.update(
                    text=at + glue + bt, x1=ln["x1"], bottom=ln["bottom"],
                    _last_x0=float(ln["x0"]), _last_size=_size(ln), _joined=a.get("_joined", 0) + 1,
                )
                out[-1] = merged
                continue
        out.append(ln)
    return out


# a line of reference marks only: 「※1 ※2」「*1」「注1 注2」
_MARKS_ONLY_RE = re.compile(r"^(?:(?:※|\*|＊|注)\s*[0-9０-９]{1,2}\s*)+$")


def drop_superscript_marks(lines: list[dict]) -> list[dict]:
    """Lines of superscript reference marks (「※1 ※2」 printed small above 「｢満足度 ｣の高い順…」)
    left out, so the paragraph they sit in is joined whole.

    pdfplumber puts the raised marks on a line of their own between two printed lines of the
    paragraph, which then cannot be joined (「…昨年度の結」 / 「※1 ※2」 / 「果と比較し…」). A
    line is such marks when it is only marks, smaller than the line below it (≤ 80 % of its
    height) and overlapping it vertically (raised above its baseline, not a line of its own).
    The notes the marks refer to (「※1満足度…」) are printed elsewhere and stay."""
    out: list[dict] = []
    for i, ln in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if (nxt is not None and not ln.get("table") and not nxt.get("table")
                and _MARKS_ONLY_RE.match(ln["text"].strip())
                and _size(ln) <= 0.8 * _size(nxt)
                and float(ln["bottom"]) > float(nxt["top"])):
            continue
        out.append(ln)
    return out

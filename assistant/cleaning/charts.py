"""Charts: the text of bar/pie charts is left out of passages; their title and caption stay.

A chart's text layer is data labels, axis ticks and legends scattered over the bars. Read as
lines it becomes number soup (「令和4年度 57.3% 27.2% 10.4%」「4.0%」「0% 20% 40% 60% 80% 100%」,
「2.60 .7」 for 2.6 and 0.7), which then turns into section headings (「20 年以上 63.5% …」) and
answers. Values cannot be paired reliably with their legend (small slices lose their label),
so the rule is to leave chart text out:

* **chart regions** are groups of coloured filled shapes (bars, pie slices: filled rectangles
  and curves that are neither white backgrounds nor hairline rules), ≥ ``_MIN_SHAPES`` of them;
* a text line inside a region (or within ``_MARGIN`` pt of it) is chart text when it is mostly
  numbers (``numeric_share`` ≥ 0.4: digits, 「%」, 「.」) — category labels and the chart's
  title (「属性別にみた愛着度」「図表5」) are words and stay;
* on a page with a chart, a line made only of numbers/percentages (a stray data label or the
  axis 「0% 20% 40% …」) is chart text wherever it stands;
* on any page, a line of three or more percentages that is mostly numbers and has no 「。」「、」
  (data labels of a chart drawn with lines, 「0% 2.9% 1.8% 2.4%」) is chart text;
* of a chart row that prints its label with a total in parentheses (a ranking: 「消防・救急の
  充実強化 1【1】 (55.0％) 11.4% 43.6% …」) the label, rank and total are kept
  (``chart_row_label``), the segment values dropped;
* on any page, three or more consecutive lines made only of numbers — or five and more making
  a quarter of the page's lines — are the scattered labels of a chart drawn without filled
  shapes (a scatter plot's ticks and point numbers).
"""

from __future__ import annotations

import re

_MIN_SHAPES = 3
_MARGIN = 12.0  # pt around a chart region that still belongs to it (labels, legend)
_JOIN = 30.0  # pt: shapes closer than this belong to the same chart
_HAIRLINE = 2.0
_NUMERIC_CHARS = set("0123456789０１２３４５６７８９.%％．,，()（）+-＋－▲△ ")
_PERCENT_RE = re.compile(r"[0-9０-９]\s*[%％]")
_ONLY_NUMBERS_RE = re.compile(r"^[\d０-９.．%％,，()（）+\-＋－▲△\s]+$")


def _is_white(color) -> bool:
    if color is None:
        return True
    if isinstance(color, (int, float)):
        return color >= 0.95
    vals = [float(v) for v in color if isinstance(v, (int, float))]
    if not vals:
        return False
    if len(vals) == 4:  # CMYK
        return all(v <= 0.05 for v in vals)
    return all(v >= 0.95 for v in vals)


def chart_regions(page) -> list[tuple[float, float, float, float]]:
    """Bounding boxes of the charts drawn on a pdfplumber page (see module docstring)."""
    area = float(page.width) * float(page.height)
    shapes = []
    for o in list(page.rects) + list(page.curves):
        w, h = float(o["x1"]) - float(o["x0"]), float(o["bottom"]) - float(o["top"])
        if not o.get("fill") or min(w, h) <= _HAIRLINE or w * h > 0.2 * area:
            continue
        if _is_white(o.get("non_stroking_color")):
            continue
        shapes.append([float(o["x0"]), float(o["top"]), float(o["x1"]), float(o["bottom"]), 1])
    # merge shapes into groups (repeat until stable; charts have tens of shapes, not thousands)
    groups: list[list[float]] = []
    for s in sorted(shapes, key=lambda b: (b[1], b[0])):
        for g in groups:
            if s[0] <= g[2] + _JOIN and s[2] >= g[0] - _JOIN and s[1] <= g[3] + _JOIN and s[3] >= g[1] - _JOIN:
                g[0], g[1], g[2], g[3], g[4] = min(g[0], s[0]), min(g[1], s[1]), max(g[2], s[2]), max(g[3], s[3]), g[4] + 1
                break
        else:
            groups.append(list(s))
    changed = True
    while changed:
        changed = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                g, h = groups[a], groups[b]
                if g[0] <= h[2] + _JOIN and g[2] >= h[0] - _JOIN and g[1] <= h[3] + _JOIN and g[3] >= h[1] - _JOIN:
                    groups[a] = [min(g[0], h[0]), min(g[1], h[1]), max(g[2], h[2]), max(g[3], h[3]), g[4] + h[4]]
                    del groups[b]
                    changed = True
                    break
            if changed:
                break
    return [tuple(g[:4]) for g in groups if g[4] >= _MIN_SHAPES]


def numeric_share(text: str) -> float:
    """Share of a line's non-space characters that are digits, 「%」, 「.」 and the like."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    return sum(1 for c in chars if c in _NUMERIC_CHARS) / len(chars)


def is_chart_text(line: dict, regions: list[tuple[float, float, float, float]]) -> bool:
    """Is this pdfplumber text line (with ``x0/x1/top/bottom``) part of a chart's labels?"""
    text = line["text"].strip()
    if len(_PERCENT_RE.findall(text)) >= 3 and not re.search(r"[。、]", text) and numeric_share(text) >= 0.5:
        return True  # 「0% 2.9% 1.8% 2.4%」: a row of data labels, whatever drew the chart
    if not regions:
        return False
    if _ONLY_NUMBERS_RE.match(text) and re.search(r"\d", unicodedata_fold(text)):
        return True
    cx, cy = (line["x0"] + line["x1"]) / 2, (line["top"] + line["bottom"]) / 2
    inside = any(r[0] - _MARGIN <= cx <= r[2] + _MARGIN and r[1] - _MARGIN <= cy <= r[3] + _MARGIN for r in regions)
    return inside and numeric_share(text) >= 0.4


def unicodedata_fold(text: str) -> str:
    return text.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")})


def drop_number_runs(lines: list[dict], min_run: int = 3) -> list[dict]:
    """Lines with runs of ≥ ``min_run`` consecutive only-number lines removed (table rows never count)."""
    def numeric(ln: dict) -> bool:
        return not ln.get("table") and bool(_ONLY_NUMBERS_RE.match(ln["text"].strip()))

    flags = [numeric(ln) for ln in lines]
    body = sum(1 for ln in lines if not ln.get("table"))
    if sum(flags) >= 5 and sum(flags) >= 0.25 * body:
        return [ln for ln, f in zip(lines, flags) if not f]  # a page of scattered chart labels
    out: list[dict] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and numeric(lines[j]):
            j += 1
        if j - i >= min_run:
            i = j
            continue
        out.extend(lines[i : max(j, i + 1)])
        i = max(j, i + 1)
    return out


# values at the end of a row; each value ends at 「%」, a space or the end, so the pattern has one
# way to match (no backtracking blow-up on long digit runs)
_TRAILING_VALUES_RE = re.compile(r"(?:\s*[0-9０-９.．]+(?:\s*[%％]|(?=\s|$))){2,}\s*$")
_TOTAL_RE = re.compile(r"[(（〈<＜]\s*[0-9０-９.．]+\s*[%％]?\s*[)）〉>＞]")
_LABEL_CHARS_RE = re.compile(r"[\u3041-\u30ff\u4e00-\u9fff]{2,}")


def chart_row_label(text: str) -> str | None:
    """The reliable part of a chart row: its label with the values printed as text beside it.

    「消防・救急の充実強化 1【1】 (55.0％) 11.4% 43.6% 38.0% 5.4% 1.7%」 → 「消防・救急の充実強化 1【1】
    (55.0％)」: the policy, its rank and its total are text; the segment values cannot be paired
    with the legend (small segments lose their label) and are left out. Rows without such a
    printed total (「男性 55.8% 26.4% …」) give ``None``.
    """
    if len(text) > 300:
        return None
    rest = _TRAILING_VALUES_RE.sub("", text).strip()
    if rest != text.strip() and _TOTAL_RE.search(rest) and _LABEL_CHARS_RE.search(rest):
        return rest
    return None


# A legend note between a chart's caption and its rows: 「( )は満足・やや満足の合計」「【 】は令和3年度順位」
# 「< >はやや不満・不満の合計」「※…」, or the figure number alone (「図表17」).
_MARK_NOTE_RE = re.compile(r"^(?:[(（【<＜〈《\[]\s*[)）】>＞〉》\]]\s*は|※|図\s*表?\s*[0-9０-９]+$|表\s*[0-9０-９]+$)")
_MIN_RANKING_ROWS = 3
# a ranking row as printed: label, rank (and last year's in 【】), total in brackets —
# 「消防・救急の充実強化 1【1】 (55.0％)」「公共交通の利便性の向上 1 <35.9％>」
_RANKING_ROW_RE = re.compile(
    r"^[^\s。].*[\u3041-\u30ff\u4e00-\u9fff]\s*[0-9０-９]{1,2}\s*(?:【\s*[0-9０-９]+\s*】)?\s*"
    r"[(（<＜〈]\s*[0-9０-９.．]+\s*[%％]\s*[)）>＞〉]$"
)


def _ranking_row(ln: dict) -> bool:
    return not ln.get("table") and bool(_RANKING_ROW_RE.match(ln["text"].strip()))


def ranking_captions(lines: list[dict]) -> list[int]:
    """Indices of the captions that head a chart's ranking rows.

    A ranking chart prints its caption (「令和4年度 施策に対する満足度の高い順」) above its rows,
    perhaps with legend notes in between (「( )は満足・やや満足の合計」). The rows alone
    (「消防・救急の充実強化 1【1】 (55.0％)」) do not say what they rank; as a heading over them
    the caption does — in the passage's section path, where "which policy is the most
    satisfying?" finds it. The caption is the nearest line above a run of ≥ 3 ranking rows that
    is not a legend note: short (≤ 60 characters), words rather than numbers (no percentage),
    no sentence. (The chunker lets such a heading hold for the rest of its page only.)
    """
    out: list[int] = []
    i = 0
    while i < len(lines):
        if not _ranking_row(lines[i]):
            i += 1
            continue
        j = i
        while j < len(lines) and (_ranking_row(lines[j]) or _MARK_NOTE_RE.match(lines[j]["text"].strip())):
            j += 1
        rows = sum(1 for ln in lines[i:j] if _ranking_row(ln))
        if rows >= _MIN_RANKING_ROWS:
            k = i - 1
            while k >= 0 and _MARK_NOTE_RE.match(lines[k]["text"].strip()):
                k -= 1
            if k >= 0 and not lines[k].get("table") and not _ranking_row(lines[k]):
                t = lines[k]["text"].strip()
                if (4 <= len(t) <= 60 and not re.search(r"[。．]", t) and not _PERCENT_RE.search(t)
                        and numeric_share(t) < 0.3 and _LABEL_CHARS_RE.search(t)):
                    out.append(k)
        i = j
    return out

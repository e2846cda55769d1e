"""Ruled tables in PDFs → one row per line, cells in order, merged cells spread.

Read as plain text lines, a PDF table interleaves its columns (a resident's comment broken
across the policy-name column, 「都心地域」 glued into 「多賀町三丁目」) and a value row loses its
header (「計 2,500 921 36.8」 far from 「回収率（％）」). pdfplumber's table finder gives the
cells of ruled tables; each table becomes tab-separated rows — header row first — which the
text cleaning then turns into labelled lines exactly like the tables of text files
(「配布枚数（枚）: 2,500 / 回収数（枚）: 921 … / 回収率（％）: 36.8」, see ``cleaning.tables``).

* A merged cell (``None`` in pdfplumber's grid) takes the text of the cell that covers it, so
  a row label spanning two rows (「A票」 over 紙/ウェブ) is repeated on both rows; a cell
  spanning several columns of the same row is kept once.
* Text inside a cell is tidied (``letter_spacing.tidy_cell``): wrapped lines joined,
  letter-spaced names closed up (「栗 林」 → 「栗林」).
* A cell holding a list — two or more printed lines that start with a bullet (「○」「●」「・」),
  such as a policy's residents' comments — becomes one row per item, the other cells repeated
  (「1 子どもが…の充実 | ○東京都でも…」), and each item's wrapped lines are joined without a space.
* Two-row headers come out as one (``combine_headers``): a header cell spanning sub-headers
  names each of them, 「回収数（枚）」 over 「紙」「WEB」 → 「回収数（枚）・紙」「回収数（枚）・WEB」;
  and where the sub-division is printed inside the cells — a row label spanning two rows
  (「A票」) whose cells read 「紙： 312」 / 「ウェブ： 163」 under 「回収数（枚）」 — the rows of one
  label become one row whose values are labelled 「回収数（枚）: 475 / 回収数（枚）・紙: 312 /
  回収数（枚）・ウェブ: 163」, so a question about the total finds it with its header.
* A total row names what it totals when its numbers prove it (``label_totals``): 「計」 under
  「A票」「B票」 → 「計（A票・B票）」.
* Only real tables are taken: at least 2 rows and 2 columns with text in several cells, and
  most of the text inside the table's box must sit in its cells. Bar charts drawn with
  rectangles produce "tables" of empty cells and are left to the chart rule.
"""

from __future__ import annotations

import re

from .letter_spacing import tidy_cell

# pdfplumber table settings: ruled tables (lines and rectangle edges).
_HAIRLINE = 2.0  # pt: thicker rectangles are shapes (chart bars), not rules
_MIN_DENSITY = 0.5  # share of grid cells with text below which a "table" is a chart's grid
_CHART_TOKEN_RE = re.compile(r"^(?:[A-Za-zＡ-Ｚａ-ｚ]|[0-9０-９ .%％]{1,6})$")
_LABEL_RE = re.compile(r"[\u3041-\u30ff\u4e00-\u9fff]{2,}")
_DEBUG = False
_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines", "snap_tolerance": 3, "join_tolerance": 3}


def _covering(tb, r: int, j: int) -> tuple | None:
    """Bounding box of the cell that covers grid position (row r, column j)."""
    try:
        top, bottom = tb.rows[r].bbox[1], tb.rows[r].bbox[3]
        x0, x1 = tb.columns[j].bbox[0], tb.columns[j].bbox[2]
    except (IndexError, AttributeError):
        return None
    # just below the row's top: a row's box grows with a cell spanning the rows below it, so
    # its middle can fall into the next row's cells
    cy, cx = min(top + 2.0, (top + bottom) / 2), (x0 + x1) / 2
    best = None
    for c in tb.cells:
        if c[0] - 0.5 <= cx <= c[2] + 0.5 and c[1] - 0.5 <= cy <= c[3] + 0.5:
            area = (c[2] - c[0]) * (c[3] - c[1])
            if best is None or area < best[0]:
                best = (area, c)
    return best[1] if best else None


_BULLET_RE = re.compile(r"^\s*[○●◎◇◆■□・]")


def list_items(raw: str) -> list[str] | None:
    """The items of a cell that holds a bulleted list (≥ 2 items), each on one line; else None."""
    lines = [ln.strip() for ln in (raw or "").split("\n") if ln.strip()]
    if sum(1 for ln in lines if _BULLET_RE.match(ln)) < 2 or not _BULLET_RE.match(lines[0]):
        return None
    items: list[str] = []
    for ln in lines:
        if _BULLET_RE.match(ln) or not items:
            items.append(ln)
        else:
            glue = " " if re.search(r"[A-Za-z0-9]$", items[-1]) and re.match(r"[A-Za-z0-9]", ln) else ""
            items[-1] += glue + ln
    return [tidy_cell(it) for it in items]


def _spread_lists(raw_row: list, cells: list[str]) -> list[list[str]]:
    """One row per item where exactly one cell of the row holds a list (see module docstring)."""
    lists = [(j, list_items(v)) for j, v in enumerate(raw_row) if v]
    lists = [(j, items) for j, items in lists if items]
    if len(lists) != 1:
        return [cells]
    j, items = lists[0]
    return [cells[:j] + [it] + cells[j + 1:] for it in items]


def table_rows(tb) -> list[list[str]]:
    """The table as rows of tidied cell texts, merged cells spread (see module docstring)."""
    raw = tb.extract()
    text_of: dict[tuple, str] = {}
    for r, row in enumerate(tb.rows):
        for j, bbox in enumerate(row.cells):
            if bbox is not None and r < len(raw) and j < len(raw[r]):
                text_of[tuple(bbox)] = tidy_cell(raw[r][j] or "")
    out: list[list[str]] = []
    for r, row in enumerate(raw):
        cells: list[str] = []
        owners: list[tuple | None] = []
        for j, value in enumerate(row):
            if value is not None:
                owner = tb.rows[r].cells[j]
                cells.append(tidy_cell(value))
            else:
                owner = _covering(tb, r, j)
                cells.append(text_of.get(tuple(owner), "") if owner else "")
            # a cell spanning columns of this row is said once
            if owner is not None and owners and owners[-1] is not None and tuple(owners[-1]) == tuple(owner):
                cells[-1] = ""
            owners.append(owner)
        out.extend(_spread_lists(row, cells))
    return out


_SUB_LABEL_RE = re.compile(r"^([^\d\s：:]{1,8})\s*[：:]\s*(.*)$")
_NUMBER_RE = re.compile(r"^[\d.,%％\s()（）▲△+\-]+$")


def _header_like(cells: list[str]) -> bool:
    ne = [c for c in cells if c]
    return len(ne) >= 2 and all(len(c) <= 20 and not _NUMBER_RE.match(c) and "。" not in c for c in ne)


def combine_headers(rows: list[list[str]]) -> list[list[str]]:
    """Two-row headers → one header row; in-cell sub-labels → labelled columns (module docstring)."""
    if len(rows) < 2 or not _header_like(rows[0]):
        return rows
    head, body = list(rows[0]), rows[1:]
    sub = body[0]
    spans = [j for j, c in enumerate(sub) if c and not head[j] and any(head[:j])]
    if spans and _header_like(sub) and not any(_NUMBER_RE.match(c) for c in sub if c):
        top = ""
        for j in range(len(head)):
            if head[j]:
                top = head[j]
            if sub[j] and sub[j] != head[j]:
                head[j] = f"{top}・{sub[j]}" if top else sub[j]
        # a top header with sub-headers under it names no column of its own
        for j in range(len(head)):
            if rows[0][j] and j + 1 < len(head) and not sub[j] and head[j + 1].startswith(rows[0][j] + "・"):
                head[j] = ""
        body = body[1:]
    if not any(_SUB_LABEL_RE.match(c) for r in body for c in r[1:] if c):
        return [head] + body
    return _merge_sub_labelled(head, body)


def _merge_sub_labelled(head: list[str], body: list[list[str]]) -> list[list[str]]:
    """Rows sharing their row label (a label spanning rows) become one; a cell 「紙：」 (the value in
    the next cell) or 「紙： 25.0」 under header H gives the column 「H・紙」."""
    groups: list[tuple[str, list[list[str]]]] = []
    for r in body:
        if groups and r[0] and r[0] == groups[-1][0]:
            groups[-1][1].append(r)
        else:
            groups.append((r[0], [r]))
    owner = []  # the header each column falls under (a spanning header covers the blanks to its right)
    top = ""
    for j, h in enumerate(head):
        top = h or top
        owner.append(top if j else h)
    keys: list[str] = []
    records: list[tuple[str, dict[str, str]]] = []
    for label, grp in groups:
        values: dict[str, str] = {}
        for r in grp:
            pending = None
            for j in range(1, len(r)):
                c, h = r[j], owner[j] if j < len(owner) else ""
                if not c:
                    continue
                m = _SUB_LABEL_RE.match(c)
                if m:
                    key = f"{h}・{m.group(1)}" if h else m.group(1)
                    if m.group(2):
                        values.setdefault(key, m.group(2))
                        pending = None
                    else:
                        pending = key
                    continue
                key = pending or h
                pending = None
                if key not in values:
                    values[key] = c
                elif c not in values[key].split(" "):  # a row label's spread copy is said once
                    values[key] += " " + c
        for k in values:
            if k not in keys:
                keys.append(k)
        records.append((label, values))
    # columns in the header's order, each header's sub-columns after it
    bases = [h for h in owner if h]
    keys.sort(key=lambda k: bases.index(k.split("・")[0]) if k.split("・")[0] in bases else len(bases))
    out = [[""] + keys]
    for label, values in records:
        out.append([label] + [values.get(k, "") for k in keys])
    return out


def page_tables(page, min_cells: int = 3) -> list[tuple[tuple[float, float, float, float], list[list[str]]]]:
    """Real tables of a pdfplumber page: ``[(bbox, rows)]`` (see module docstring)."""
    # Table rules are lines and hairline rectangles; the filled bars of a chart are not. Looking
    # only at rulings keeps charts out and the table finder fast on chart-heavy pages.
    def ruling(o) -> bool:
        if o.get("object_type") == "line":
            return True
        if o.get("object_type") == "rect":
            return min(float(o["width"]), float(o["height"])) <= _HAIRLINE
        return o.get("object_type") not in ("curve",)

    if sum(1 for o in page.lines) + sum(1 for o in page.rects if ruling(o)) < 4:
        return []
    try:
        found = page.filter(ruling).find_tables(_SETTINGS)
    except Exception:  # a malformed page: read it as text
        return []
    out = []
    for tb in found:
        rows = table_rows(tb)
        rows = [r for r in rows if any(c for c in r)]
        if len(rows) < 2 or max(len(r) for r in rows) < 2:
            continue
        filled = [c for r in rows for c in r if c]
        if len(filled) < min_cells or sum(1 for r in rows if sum(1 for c in r if c) >= 2) < 1:
            continue
        if len(filled) < _MIN_DENSITY * sum(len(r) for r in rows):
            continue  # a sparse grid: the gridlines of a chart or diagram, labels scattered in it
        labels = sum(1 for c in filled if _LABEL_RE.search(c))
        if (sum(1 for c in filled if _CHART_TOKEN_RE.match(c)) > 0.5 * len(filled) and labels < 0.2 * len(filled)
                and not (_header_like(rows[0]) and sum(1 for c in rows[0] if _LABEL_RE.search(c)) >= 2)):
            continue  # axis ticks and data labels (「13」「A」「8」) without row/column labels: a chart
        if _DEBUG:
            print("table", [round(x) for x in tb.bbox], len(filled), sum(len(r) for r in rows), labels)
        x0, top, x1, bottom = tb.bbox
        inside = [c for c in page.chars if x0 <= (c["x0"] + c["x1"]) / 2 <= x1 and top <= (c["top"] + c["bottom"]) / 2 <= bottom and c["text"].strip()]
        in_cells = sum(len(c.replace(" ", "").replace("\n", "")) for r in tb.extract() for c in r if c)
        if inside and in_cells < 0.6 * len(inside):
            continue
        out.append((tuple(tb.bbox), label_totals(combine_headers(rows))))
    return out


_TOTAL_LABELS = {"計", "合計", "総計", "総数"}


def _number(cell: str) -> float | None:
    t = cell.strip().replace(",", "").replace("，", "")
    t = t.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")})
    try:
        return float(t)
    except ValueError:
        return None


def label_totals(rows: list[list[str]], max_parts: int = 6) -> list[list[str]]:
    """A total row names what it totals: 「計」 under 「A票」「B票」 → 「計（A票・B票）」.

    A total row's label is one character that says nothing of its own; a question about the
    whole (「調査票は何枚配布？」) shares words with the part rows (「A票」) and not with it. The
    parts are the labelled rows above it (up to the header or the previous total), and only when
    the arithmetic proves it — at least one numeric column where the parts add up to the total
    (to rounding) — so a 「計」 that is not their sum is left as printed. More than ``max_parts``
    parts are not listed (the label would drown the row)."""
    out = [list(r) for r in rows]
    start = 1 if rows and _header_like(rows[0]) else 0
    for i in range(start, len(out)):
        label = out[i][0].strip() if out[i] else ""
        if re.sub(r"\s+", "", label) not in _TOTAL_LABELS:
            continue
        parts = [r for r in out[start:i] if r and r[0].strip()]
        if not 2 <= len(parts) <= max_parts or len({r[0] for r in parts}) != len(parts):
            start = i + 1
            continue
        adds_up = False
        for j in range(1, len(out[i])):
            total = _number(out[i][j])
            vals = [_number(r[j]) if j < len(r) else None for r in parts]
            if total is not None and all(v is not None for v in vals) and abs(sum(vals) - total) <= max(0.5, 0.005 * abs(total)):
                adds_up = True
                break
        if adds_up:
            out[i][0] = f"{label}（{'・'.join(r[0].strip() for r in parts)}）"
        start = i + 1
    return out

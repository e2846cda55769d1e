"""Tables: tab-separated rows → one self-explanatory line per row, each value labelled with its
(possibly two-row) column header: 「指標: … / 基準値 数値: 11団体 / …」."""

from __future__ import annotations

import re

from .lines import _LIST_START_RE, _Line


_NUMERIC_CELL_RE = re.compile(r"^[\d.,%\s()（）▲△+\-~～]+$")
_DECOR_RE = re.compile(r"^[\s▶►▷▸]+|[\s▶►▷▸]+$")
# An item id such as 「I - (1) - ①」 or 「①」 is a value, never a column header.
_ITEM_ID_RE = re.compile(r"[①-⑳㉑-㉟]|[(（]\s*\d+\s*[)）]\s*-")
_NUMBERED_RE = re.compile(r"^\s*(?:[①-⑳㉑-㉟]|[(（]\s*[0-9０-９]{1,2}\s*[)）]|[0-9０-９]{1,2}[.)．]|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ])")
# Characters no Japanese plan document uses: OCR noise such as 「ጥር። ባንጌ」「ż」「Ш」.
_ALIEN_RE = re.compile(r"[\u0100-\u024f\u0250-\u02af\u0370-\u03ff\u0400-\u04ff\u0590-\u08ff\u0e00-\u0eff\u1200-\u139f\u1400-\u18af\u2c00-\u2dff\ua000-\ua4cf]")
_JA_CHAR = r"[\u3041-\u30ff\u4e00-\u9fff々ー]"


def _is_noise(cell: str) -> bool:
    """A short cell/line made of OCR debris (alien scripts, stray symbols) rather than text."""
    c = cell.strip()
    if not c:
        return False
    if _ALIEN_RE.search(c) and len(c) <= 12:
        return True
    return False


def _cells(line: str) -> list[str]:
    out = []
    for c in line.split("\t"):
        c = _DECOR_RE.sub("", re.sub(r"\s+", " ", c)).strip()
        out.append("" if _is_noise(c) else c)
    return out


def _row_like(line: str) -> bool:
    """A tab-separated row: a tab between two non-empty cells, or leading tabs before a cell."""
    if "\t" not in line:
        return False
    cells = [c for c in line.split("\t")]
    nonempty = [c for c in cells if c.strip()]
    return len(nonempty) >= 2 or (len(nonempty) == 1 and not cells[0].strip())


def _looks_header_cell(c: str) -> bool:
    return len(c) <= 20 and "。" not in c and not _ITEM_ID_RE.search(c) and not _NUMERIC_CELL_RE.match(c)


def _smart_join(cells: list[str]) -> str:
    """Join cells of one row; fragments of one wrapped Japanese text are glued back together.

    PDF/OCR extraction often splits one wide cell into several columns
    (「地域活動や市民活\t動の活発化のため、」); two neighbours are glued when the left one is long
    enough to have been wrapped and both meet at Japanese letters, else they get 「 / 」.
    """
    out = ""
    prev = ""
    for c in cells:
        if not c:
            continue
        if out and len(prev) >= 7 and len(c) >= 3 and re.search(r"(?:" + _JA_CHAR + r"|、)$", prev) and re.match(_JA_CHAR, c):
            out += c
        else:
            out = f"{out} / {c}" if out else c
        prev = c
    return out


def _format_row(headers: list[str] | None, cells: list[str]) -> str:
    if headers:
        parts = []
        last_h = None
        for j, c in enumerate(cells):
            if not c:
                continue
            h = headers[j] if j < len(headers) else ""
            if h and h == last_h and parts:
                parts[-1] = parts[-1] + " " + c
                continue
            parts.append(f"{h}: {c}" if h else c)
            last_h = h
        return " / ".join(parts)
    ne = [c for c in cells if c]
    if len(ne) >= 2 and cells[0] and len(cells[0]) <= 10 and not re.search(r"[0-9０-９。]", cells[0]) and not _NUMBERED_RE.match(cells[0]):
        # a key–value row (「目的\t…」): the first cell names the rest
        return f"{_compact_header(cells[0])}: {_smart_join(cells[1:])}"
    return _smart_join(cells)


_VALUE_WITH_UNIT_RE = re.compile(r"[▲△+\-]?[\d.,]+\s*(?:%|％|件|人|団体|法人|か所|箇所|回|校|館)")


def _label_value_pairs(cells: list[str]) -> list[tuple[str, str]] | None:
    """The cells of a 「分野\t15\t分野\t2」 row — a statistics table printed as two (or more) label/number
    column pairs side by side — as (label, number) pairs; None when the row is not made of such pairs."""
    pairs = []
    for j in range(0, len(cells), 2):
        label, value = cells[j], cells[j + 1] if j + 1 < len(cells) else ""
        if not label and not value:
            continue
        numeric = bool(value) and (_NUMERIC_CELL_RE.match(value) or _VALUE_WITH_UNIT_RE.fullmatch(value))
        if not label or not numeric or len(label) > 20 or "。" in label or _NUMERIC_CELL_RE.match(label):
            return None
        pairs.append((label, value))
    return pairs or None


def _paired_table(records: list[list[str]]) -> list[list[tuple[str, str]]] | None:
    """Every record as label/number pairs when the block is a side-by-side pair table: all records pair up
    and at least two of them hold two pairs or more (a plain two-column key–value table is left alone)."""
    paired = [_label_value_pairs(r) for r in records]
    if len(paired) < 2 or any(p is None for p in paired) or sum(1 for p in paired if len(p) >= 2) < 2:
        return None
    return paired


def _compact_header(h: str) -> str:
    # 「指 標」「数 値」: letter-spaced labels in layout tables.
    if re.fullmatch(r"(?:[\u3040-\u30ff\u4e00-\u9fff] )+[\u3040-\u30ff\u4e00-\u9fff]", h):
        return h.replace(" ", "")
    return h


def _convert_tables(lines: list[_Line], stats: dict) -> list[_Line]:
    """Tab-separated row blocks → one labelled line per row (see module docstring)."""
    out: list[_Line] = []
    i, n = 0, len(lines)
    while i < n:
        if not _row_like(lines[i].text):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < n and _row_like(lines[j].text):
            j += 1
        block = lines[i:j]
        out.extend(_table_block(block))
        stats["table_rows"] = stats.get("table_rows", 0) + len(block)
        i = j
    return out


def _detect_header_rows(rows: list[list[str]]) -> int:
    """How many leading rows are column headers (0 if the block has none).

    Row 0 is a header when it has ≥ 2 cells and all are short labels (no sentence, number or
    item id). Following rows continue the header when they are sub-headers under a spanning
    cell (first cell empty, short labels) or parenthesised qualifiers such as 「(H18年度)」.
    """
    if len(rows) < 2:
        return 0
    first = [c for c in rows[0] if c]
    if len(first) < 2 or not all(_looks_header_cell(c) for c in first):
        return 0
    n = 1
    for r in rows[1:]:
        ne = [c for c in r if c]
        if not ne:
            break
        sub = (not r[0]) and all(len(c) <= 12 and not re.search(r"\d", c) for c in ne)
        # qualifiers under the labels (「(H18年度)」「実績」): at least one in parentheses, the rest short
        quals = [bool(re.fullmatch(r"[(（].*[)）]", c)) for c in ne]
        paren = any(quals) and all(q or (len(c) <= 6 and not re.search(r"\d", c)) for q, c in zip(quals, ne))
        if sub or paren:
            n += 1
        else:
            break
    return 0 if n == len(rows) else n


def _table_block(block: list[_Line]) -> list[_Line]:
    rows = [_cells(l.text) for l in block]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    kept = [(r, l) for r, l in zip(rows, block) if any(r)]
    paired = _paired_table([r for r, _l in kept])
    if paired:
        # 「地域安全: 2 / 活動団体の援助等: 14」: each number with its own label (not the left column's),
        # and no header guessed from a first row of labels and numbers
        return [_Line(" / ".join(f"{lab}: {v}" for lab, v in pairs), l.start, l.end, l.page, "table")
                for pairs, (_r, l) in zip(paired, kept)]
    header_rows = _detect_header_rows(rows)
    headers = None
    if header_rows:
        headers = []
        carry = ""
        for j in range(width):
            top = _compact_header(rows[0][j])
            if top:
                carry = top
            elif any(rows[h][j] for h in range(1, header_rows)):
                top = carry  # spanning header over sub-columns
            parts = [top] + [_compact_header(rows[h][j]) for h in range(1, header_rows)]
            headers.append(" ".join(p for p in parts if p))
        # columns with no header of their own inherit the spanning header on their left
        for j in range(1, width):
            if not headers[j] and any(r[j] for r in rows[header_rows:]):
                headers[j] = headers[j - 1]
    out: list[_Line] = []
    if header_rows:
        # the header itself stays as a readable line (it names what the rows measure)
        shown = [h for k, h in enumerate(headers) if h and (k == 0 or h != headers[k - 1])]
        out.append(_Line(" / ".join(shown), block[0].start, block[header_rows - 1].end, block[0].page, "table"))
    data = list(zip(rows[header_rows:], block[header_rows:]))
    firsts = [r[0] for r, _ in data if r[0]]
    numbered_first = bool(firsts) and sum(1 for c in firsts if _NUMBERED_RE.match(c)) * 2 > len(firsts)
    records: list[tuple[list[str], int, int, int | None]] = []
    header_cells = [[_compact_header(c) for c in rows[h]] for h in range(header_rows)]
    for r, l in data:
        ne = [c for c in r if c]
        if not ne or [_compact_header(c) for c in r] in header_cells:
            continue  # the header row repeated at the top of the next page
        if records and _is_continuation(r, records[-1][0], numbered_first):
            prev = records[-1][0]
            for j in range(width):
                if r[j]:
                    glue = " " if (not prev[j] or _LIST_START_RE.match(r[j])) else ""
                    prev[j] = (prev[j] + glue + r[j]).strip()
            records[-1] = (prev, records[-1][1], l.end, records[-1][3])
            continue
        records.append((list(r), l.start, l.end, l.page))
    if not header_rows and len(records) == 1 and sum(1 for c in records[0][0] if len(c) > 20) >= 2:
        # one wide row of long cells: a layout box, not a data table — one line per cell
        cells, s, e, p = records[0]
        return out + [_Line(c, s, e, p, "") for c in cells if c]
    for cells, s, e, p in records:
        text = _format_row(headers, cells)
        if text:
            out.append(_Line(text, s, e, p, "table"))
    return out


def _is_continuation(row: list[str], prev: list[str], numbered_first: bool) -> bool:
    """Is this row the wrapped rest of the previous record (a PDF table cell spilling over lines)?

    Yes when it has no numeric data cell and does not start a new numbered item, and either
    its first cell is empty, or the table numbers its records (①, (1) …) in the first column
    and this first cell carries no number.
    """
    ne = [c for c in row if c]
    if any(_NUMERIC_CELL_RE.match(c) for c in ne):
        return False
    first_ne = ne[0]
    if _NUMBERED_RE.match(first_ne):
        return False
    if row[0]:
        return numbered_first
    return True


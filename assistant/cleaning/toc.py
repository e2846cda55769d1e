"""Tables of contents: lines with dot leaders / page numbers, a 目次 title, and the entries between them."""

from __future__ import annotations

import re

from .lines import _LIST_START_RE, _WORDISH_RE, _Line


# Dot leaders: ・・・ …… ---- .... ‥‥ followed by an optional page number.
_LEADER_RE = re.compile(r"(?:[・･]{3,}|[…‥]{2,}|-{3,}|－{3,}|\.{4,}|…{1,}\s*\d+\s*$|ー{4,}|―{3,}|─{3,})\s*\d{0,4}\s*$")
_TOC_TITLE_RE = re.compile(r"^[#\s【\[《〈<]*目\s*次[】\]》〉>\s]*$")
_PAGE_CELL_RE = re.compile(r"^\s*[0-9０-９]{1,3}\s*$")


def _is_toc_entry(line: str) -> bool:
    s = line.rstrip()
    if _LEADER_RE.search(s) and len(_WORDISH_RE.findall(s)) >= 2:
        return True
    cells = [c.strip() for c in s.split("\t") if c.strip()]
    if len(cells) == 2 and _PAGE_CELL_RE.match(cells[1]) and _LIST_START_RE.match(cells[0]) and "。" not in cells[0]:
        return True
    return False


def _remove_toc(lines: list[_Line], stats: dict) -> list[_Line]:
    """Drop tables of contents: leader/page-number entries, a 目次 title, and short entries between them."""
    n = len(lines)
    toc = [_is_toc_entry(l.text) for l in lines]
    nonblank = [i for i in range(n) if lines[i].text.strip()]
    # A short entry without a page number sandwiched between TOC entries is part of the TOC.
    for j, i in enumerate(nonblank):
        if toc[i]:
            continue
        t = lines[i].text.strip()
        if len(t) > 60 or "。" in t:
            continue
        before = [nonblank[x] for x in range(max(0, j - 3), j)]
        after = [nonblank[x] for x in range(j + 1, min(len(nonblank), j + 4))]
        if any(toc[b] for b in before[-1:]) and any(toc[a] for a in after):
            toc[i] = True
        elif i + 1 < n and toc[i + 1] and "\t" in lines[i].text:
            # a tab-separated entry glued to the entries below it (「5\t市民が主役の地域づくり」)
            toc[i] = True
        elif _TOC_TITLE_RE.match(t) and any(toc[a] for a in after):
            toc[i] = True  # the 目次 title of the entries that follow
    out = []
    for i, l in enumerate(lines):
        if toc[i]:
            stats["toc"] = stats.get("toc", 0) + 1
            continue
        out.append(l)
    return out

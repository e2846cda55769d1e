"""Side tabs: page-edge navigation labels extracted one character per line (「序\\n論」,
「基\\n本\\n計\\n画」) and the running labels that repeat with them."""

from __future__ import annotations

from .lines import _LIST_START_RE, _PUNCT_RE, _Line


def _paragraphs(lines: list[_Line]) -> list[tuple[int, int]]:
    """(start, end) index ranges of blank-separated paragraphs."""
    out, i, n = [], 0, len(lines)
    while i < n:
        if not lines[i].text.strip():
            i += 1
            continue
        j = i
        while j < n and lines[j].text.strip():
            j += 1
        out.append((i, j))
        i = j
    return out


def _is_fragment_para(lines: list[_Line], a: int, b: int) -> bool:
    """Two or more lines of at most 2 characters each: text set vertically, one glyph per line."""
    if b - a < 2:
        return False
    for l in lines[a:b]:
        t = l.text.strip()
        if len(t) > 2 or _PUNCT_RE.search(t) or "\t" in l.text:
            return False
    return True


def _remove_side_tabs(lines: list[_Line], stats: dict) -> list[_Line]:
    """Remove page-edge navigation tabs and the short labels that repeat with them.

    A tab label is a paragraph of 1–2-character lines (vertical text) or a single short line
    whose text equals such a vertical label somewhere in the document. A run of two or more
    consecutive tab paragraphs is a side tab; so is a short unpunctuated line right after a
    side tab when that same line also follows another side tab or recurs ≥ 3 times.
    """
    paras = _paragraphs(lines)
    label_of = {}
    vertical_labels = set()
    for a, b in paras:
        if _is_fragment_para(lines, a, b):
            lab = "".join(l.text.strip() for l in lines[a:b])
            vertical_labels.add(lab)
            label_of[(a, b)] = ("v", lab)
    line_counts: dict[str, int] = {}
    for a, b in paras:
        if b - a == 1:
            t = lines[a].text.strip()
            line_counts[t] = line_counts.get(t, 0) + 1
    for a, b in paras:
        if (a, b) in label_of or b - a != 1:
            continue
        t = lines[a].text.strip()
        if t in vertical_labels and len(t) <= 12 and not _PUNCT_RE.search(t):
            label_of[(a, b)] = ("h", t)
    drop = set()
    # runs of consecutive label paragraphs
    run: list[int] = []
    after_tab_text: dict[str, int] = {}
    runs: list[list[int]] = []
    for idx, pr in enumerate(paras):
        if pr in label_of:
            run.append(idx)
        else:
            if len(run) >= 2 or (len(run) == 1 and label_of[paras[run[0]]][0] == "v"):
                runs.append(run)
            run = []
    if len(run) >= 2 or (len(run) == 1 and label_of[paras[run[0]]][0] == "v"):
        runs.append(run)
    followers = []
    for r in runs:
        for idx in r:
            a, b = paras[idx]
            drop.update(range(a, b))
        nxt = r[-1] + 1
        if nxt < len(paras):
            a, b = paras[nxt]
            t = lines[a].text.strip()
            if (
                b - a == 1 and len(t) <= 30 and not _PUNCT_RE.search(t)
                and "\t" not in lines[a].text and not _LIST_START_RE.match(t)
            ):
                followers.append((a, t))
                after_tab_text[t] = after_tab_text.get(t, 0) + 1
    for a, t in followers:
        if after_tab_text[t] >= 2 or line_counts.get(t, 0) >= 3:
            drop.add(a)
    if drop:
        stats["side_tab"] = stats.get("side_tab", 0) + len(drop)
    return [l for i, l in enumerate(lines) if i not in drop]

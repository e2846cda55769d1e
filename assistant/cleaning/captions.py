"""Photo captions: a lone short noun phrase standing after an image gap (3+ blank lines)."""

from __future__ import annotations

import re

from .lines import _COMPLETE_END_RE, _LIST_START_RE, _PUNCT_RE, _Line


def _is_caption(lines: list[_Line], i: int) -> bool:
    """A short lone phrase after an image gap (≥ 3 blank lines) that is not a sentence, heading or item.

    Photo captions are noun phrases standing between blocks; a line of the same shape that is
    numbered, ends in a predicate (「…を実現します」) or introduces a paragraph is a heading.
    """
    t = lines[i].text.strip()
    if not t or len(t) > 30 or "\t" in lines[i].text:
        return False
    if i < 3 or any(lines[k].text.strip() for k in range(i - 3, i)):
        return False
    if i + 1 < len(lines) and lines[i + 1].text.strip():
        return False
    if _PUNCT_RE.search(t) or re.search(r"[0-9０-９]", t) or _LIST_START_RE.match(t):
        return False
    if re.search(r"[「」『』()（）!！?？ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ]", t) or re.search(r"\b(?:I{1,3}|IV|VI{0,3}|IX|X)\b", t):
        return False  # numbered like a heading
    if _COMPLETE_END_RE.search(t) or re.search(r"(?:する|します|しよう|ること)$", t):
        return False  # a predicate: a heading or slogan, a photo caption is a noun phrase
    nxt = next((l.text.strip() for l in lines[i + 1 :] if l.text.strip()), "")
    if len(nxt) >= 20 and nxt.endswith("。"):
        return False  # a short line introducing a paragraph is its heading (「おわりに」)
    return True


def _remove_captions(lines: list[_Line], stats: dict) -> list[_Line]:
    out = []
    for i, l in enumerate(lines):
        if _is_caption(lines, i):
            stats["caption"] = stats.get("caption", 0) + 1
            continue
        out.append(l)
    return out


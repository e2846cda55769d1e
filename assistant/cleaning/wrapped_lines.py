"""Wrapped lines: a paragraph broken at the page width is re-joined so sentences are whole."""

from __future__ import annotations

import re

from .lines import _COMPLETE_END_RE, _LIST_START_RE, _Line


_NO_JOIN_END = set("。．！？!?」』）)】:：")
# a footnote of the plan's: 「注2) 総合サポート制度…」「注1）コーディネーター…」「（注）年齢不詳があるため…」 — a unit of
# its own, like a list item: its line ends in a noun (「…を行う制度」) and the next note or heading follows
# after a blank line, which the wrap rule would otherwise glue on (「…制度注3) 中間支援組織…組織基本施策2 …」)
_NOTE_START_RE = re.compile(r"^\s*(?:注\s*[0-9０-９]{1,2}\s*[)）]|[（(]注\s*[0-9０-９]{0,2}[)）])")


def _join_wrapped(lines: list[_Line], stats: dict) -> list[_Line]:
    """Re-join paragraph lines broken at the page width.

    A line is continued by the next text line when it does not end a sentence, neither line
    is a heading, list item, footnote (``_NOTE_START_RE``), table row or markdown line, and the break is clearly a wrap:
    the line stops mid-phrase (on a particle/okurigana hiragana or 「、」, ≥ 10 chars), or
    it is long (≥ 25 chars) and the next line follows after blank lines — the layout of
    extractors that put every printed line in its own paragraph. Consecutive lines without
    a blank between them that end in a noun are kept apart: that is how lists are written.
    """
    out: list[_Line] = []
    for l in lines:
        t = l.text.strip()
        if not t:
            out.append(l)
            continue
        if out:
            k = len(out) - 1
            while k >= 0 and not out[k].text.strip():
                k -= 1
            gap = len(out) - 1 - k  # blank lines between the two
            if k >= 0 and gap <= 2:
                prev = out[k]
                pt = prev.text.strip()
                mid_phrase = bool(re.search(r"[\u3041-\u3093、，]$", pt)) and len(pt) >= 10
                wrapped = gap >= 1 and len(pt) >= 25 and pt[-1] not in _NO_JOIN_END
                if _COMPLETE_END_RE.search(pt):
                    mid_phrase = wrapped = False
                if (
                    (mid_phrase or wrapped)
                    and pt[-1] not in _NO_JOIN_END
                    and not prev.tag
                    and not l.tag
                    and not _LIST_START_RE.match(pt)
                    and not _LIST_START_RE.match(t)
                    and not _NOTE_START_RE.match(pt)
                    and not _NOTE_START_RE.match(t)
                ):
                    del out[k + 1 :]
                    out[k] = _Line(pt + t, prev.start, l.end, prev.page, prev.tag)
                    stats["joined"] = stats.get("joined", 0) + 1
                    continue
        out.append(l)
    return out


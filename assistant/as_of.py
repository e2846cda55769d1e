"""Which sentence answers 「いつ現在の情報ですか？」: the validity note, quoted and cited.

Why: a list printed 「（平成３０年６月２８日現在）」 on every page keeps that line once (page 1,
cleaning/page_furniture) and every passage carries it in its title (chunking.passage_title). An
as-of question (``asked.asks_as_of``) then found the list's passages by their title, and quoted
whatever dated sentences they held (「平成２０年４月１日…経過措置」) — the date it asked for stood only
in the answer's lead. The answer is the note itself: a candidate sentence that states a validity
date (a date followed by 現在 / 時点) is preferred over every other; when none of the candidates does,
the note in the best passage's title is looked up in its document (``find``: a search limited to
that document) and the passage line that prints it becomes the answer, cited on its page.

Reads candidates (``.text``, ``.score``, ``.position``, ``.hit``) and raises scores or adds one; it
knows nothing of composition.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable

from . import asked, japanese

# a validity date: 「（平成３０年６月２８日現在）」「令和5年4月1日現在」「2023年3月末時点」
_STATES_RE = re.compile(r"[0-9０-９元]\s*[年月日末]\s*(?:[0-9０-９]+\s*[月日]\s*){0,2}(?:末)?\s*(?:現在|時点)")
# the note a passage title carries after the document's title: 「…一覧表（平成３０年６月２８日現在）」
_TITLE_NOTE_RE = re.compile(r"[（(]([^（）()]*?(?:現在|時点))[)）]\s*$")


def states_as_of(sentence: str) -> bool:
    """Does the sentence state the date its content holds at (a date, then 現在 / 時点)?"""
    return bool(_STATES_RE.search(sentence))


def title_note(title: str) -> str | None:
    """The validity note at the end of a passage title, or None."""
    m = _TITLE_NOTE_RE.search(title or "")
    return m.group(0).strip() if m and _STATES_RE.search(m.group(1)) else None


def prefer(cands: list, question: str, find: Callable[[str, str], list] = lambda _note, _doc: []) -> list:
    """For an as-of question: the candidates stating a validity date first (above every other
    candidate); if none does, the passage line printing the best hit's title note, found with
    ``find(note, doc_id)`` (hits of that document), added as the best candidate. Other questions,
    or no note anywhere: ``cands`` unchanged."""
    if not cands or not asked.asks_as_of(question):
        return cands
    top = max(abs(c.score) for c in cands) or 1.0
    stating = [c for c in cands if states_as_of(c.text)]
    if not stating:
        best = max(cands, key=lambda c: c.score)
        note = title_note(best.hit.title)
        if note is None:
            return cands
        line = _find_line(note, best.hit.doc_id, find)
        if line is None:
            return cands
        hit, pos, text = line
        added = copy.copy(best)
        added.hit = dataclasses.replace(hit, rank=best.hit.rank) if dataclasses.is_dataclass(hit) else hit
        added.position, added.text, added.coverage, added.features = pos, text, max(best.coverage, 1e-6), None
        added.score = best.score
        cands = [*cands, added]
        stating = [added]
    for c in stating:
        c.score += 2 * top
    return cands


def _find_line(note: str, doc_id: str, find: Callable[[str, str], list]):
    """(hit, sentence position, sentence) of the first passage line of ``doc_id`` printing ``note``."""
    want = japanese.compact(note)
    for hit in find(note, doc_id):
        if hit.doc_id != doc_id:
            continue
        for i, s in enumerate(japanese.split_sentences(hit.text)):
            if want in japanese.compact(s) or (japanese.compact(s) in want and states_as_of(s)):
                return hit, i, s
    return None

"""Which line answers a question that names it: a table row by its key (「通まちづくり協議会の地区の高齢化率は？」),
a heading or article by its numbered label (「基本方針Ⅲは何ですか」「条例第3条の…」).

Why: a table of districts (「団体名: 白潟地区まちづくり協議会 / 人口: 773 / 高齢化率: 37.65% / …」, one
row per 協議会) gives every row the question's words — まちづくり, 協議会, 地区, 高齢化率 — so the
ordering score ranks them alike and the answer quotes the first four rows, not the one asked about.
What tells the right row apart is its key: the value of its first cell (「通まちづくり協議会」) is
written in the question itself. When some candidate row's key is (≥ 3 characters, after NFKC and
without spaces), those rows are raised above every other candidate, and the other rows *of the same
table* (same first-cell label) are halved, so that the answer quotes the named row and not its
neighbours. Likewise a heading or article whose numbered label (基本方針Ⅲ, 推進方針I, 第3条) the question
writes is raised: it is halved as heading-like otherwise, though it *is* what 「基本方針Ⅲは何ですか」 asks.
Nothing changes when the question names no row's key and no label.

This module reads candidate sentences (``.text``, ``.score``) and only changes scores; it knows
nothing of search or composition.
"""

from __future__ import annotations

import re

from . import japanese

# a key shorter than this (「市」「地域」) names no row: it is in many questions by chance
MIN_KEY_CHARS = 3


def row_key(sentence: str) -> tuple[str, str] | None:
    """(label, key) of a table row as the cleaning writes it (cells joined by 「 / 」, the first one
    「label: value」): 「団体名: 通まちづくり協議会 / 人口: …」 → ("団体名", "通まちづくり協議会");
    None for any other sentence."""
    if " / " not in sentence:
        return None
    first = sentence.split(" / ", 1)[0]
    if ":" not in first:
        return None
    label, value = first.split(":", 1)
    return japanese.compact(label), japanese.compact(value)


# a numbered label opening a heading or an article: 「基本方針Ⅲ 開かれた市政を実現します」「推進方針I」「第3条 …」
# (after NFKC: Ⅲ is III); the numeral must end where the question's does (推進方針I is not 推進方針II), and
# 第N needs its 条 / 章 / 節 (「第2次長門市総合計画」 is a plan's name, not a numbered article)
_NUMERAL = r"[IVX0-9一二三四五六七八九十]+"
_LABEL_WORDS = r"(?:基本方針|基本施策|基本目標|個別施策|推進方針|推進施策)"
_LABEL_RE = re.compile(rf"^(?:{_LABEL_WORDS}{_NUMERAL}|第{_NUMERAL}(?:条|章|節))")
# 「個別施策（1）」「推進施策 (3)」: the numeral in brackets, read as 「個別施策1」
_BRACKETED_RE = re.compile(rf"({_LABEL_WORDS})\(({_NUMERAL})\)")


def _unbracketed(text: str) -> str:
    return _BRACKETED_RE.sub(r"\1\2", japanese.compact(text))


def label_key(sentence: str) -> str | None:
    """The numbered label a heading or article starts with (「基本方針III」「第3条」「個別施策1」), or None."""
    m = _LABEL_RE.match(_unbracketed(sentence).lstrip("・-*●○◆■□"))
    return m.group(0) if m else None


def _names(question: str, key: str) -> bool:
    return _named_at(question, key) >= 0


def _named_at(question: str, key: str) -> int:
    m = re.search(re.escape(key) + r"(?![IVX0-9一二三四五六七八九十])", question)
    return m.start() if m else -1


def _innermost(cands: list, labelled: list[int], question: str) -> list[int]:
    """Of the labelled candidates, those of the label the question names last when it names several
    (「基本施策4の個別施策（1）は何ですか」 asks the 個別施策, under 基本施策4): every 基本施策 has its own
    個別施策（1）, so the passage must also hold the labels named before it (its text or section path);
    with none such, every line of that label."""
    keys = {i: label_key(cands[i].text) for i in labelled}
    if len(set(keys.values())) < 2:
        return labelled
    inner = max(set(keys.values()), key=lambda k: _named_at(question, k))
    outer = set(keys.values()) - {inner}
    of_inner = [i for i in labelled if keys[i] == inner]

    def under(c) -> bool:
        where = _unbracketed(" ".join([*c.hit.section, c.hit.chunk.text]))
        return all(_named_at(where, o) >= 0 for o in outer)

    return [i for i in of_inner if under(cands[i])] or of_inner


def prefer(cands: list, question: str) -> None:
    """Raise the candidate rows whose key the question names, and the headings or articles whose
    numbered label it names (「基本方針Ⅲは何ですか」), above all others (their order among themselves
    kept), and halve the other rows of the same tables."""
    if not cands:
        return
    q = japanese.compact(question)
    keys = [row_key(c.text) for c in cands]
    named = [i for i, k in enumerate(keys) if k is not None and len(k[1]) >= MIN_KEY_CHARS and k[1] in q]
    ql = _unbracketed(question)
    labelled = _innermost(cands, [i for i, c in enumerate(cands) if (lk := label_key(c.text)) is not None and _names(ql, lk)], ql)
    if labelled:
        top = max(abs(c.score) for c in cands) or 1.0
        for i in labelled:
            cands[i].score += 2 * top
    if not named:
        return
    labels = {keys[i][0] for i in named}
    top = max(abs(c.score) for c in cands) or 1.0
    for i, (c, k) in enumerate(zip(cands, keys)):
        if i in named:
            c.score += 2 * top
        elif k is not None and k[0] in labels:
            c.score *= 0.5

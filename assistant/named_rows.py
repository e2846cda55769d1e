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
_LABEL_RE = re.compile(rf"^(?:(?:基本方針|基本施策|基本目標|個別施策|推進方針|推進施策){_NUMERAL}|第{_NUMERAL}(?:条|章|節))")


def label_key(sentence: str) -> str | None:
    """The numbered label a heading or article starts with (「基本方針III」「第3条」), or None."""
    m = _LABEL_RE.match(japanese.compact(sentence).lstrip("・-*●○◆■□"))
    return m.group(0) if m else None


def _names(question: str, key: str) -> bool:
    return re.search(re.escape(key) + r"(?![IVX0-9一二三四五六七八九十])", question) is not None


def prefer(cands: list, question: str) -> None:
    """Raise the candidate rows whose key the question names, and the headings or articles whose
    numbered label it names (「基本方針Ⅲは何ですか」), above all others (their order among themselves
    kept), and halve the other rows of the same tables."""
    if not cands:
        return
    q = japanese.compact(question)
    keys = [row_key(c.text) for c in cands]
    named = [i for i, k in enumerate(keys) if k is not None and len(k[1]) >= MIN_KEY_CHARS and k[1] in q]
    labelled = [i for i, c in enumerate(cands) if (lk := label_key(c.text)) is not None and _names(q, lk)]
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

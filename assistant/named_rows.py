"""Which table row answers a question that names the row: 「通まちづくり協議会の地区の高齢化率は？」.

Why: a table of districts (「団体名: 白潟地区まちづくり協議会 / 人口: 773 / 高齢化率: 37.65% / …」, one
row per 協議会) gives every row the question's words — まちづくり, 協議会, 地区, 高齢化率 — so the
ordering score ranks them alike and the answer quotes the first four rows, not the one asked about.
What tells the right row apart is its key: the value of its first cell (「通まちづくり協議会」) is
written in the question itself. When some candidate row's key is (≥ 3 characters, after NFKC and
without spaces), those rows are raised above every other candidate, and the other rows *of the same
table* (same first-cell label) are halved, so that the answer quotes the named row and not its
neighbours. Nothing changes when no row's key is in the question.

This module reads candidate sentences (``.text``, ``.score``) and only changes scores; it knows
nothing of search or composition.
"""

from __future__ import annotations

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


def prefer(cands: list, question: str) -> None:
    """Raise the candidate rows whose key the question names above all others (their order among
    themselves kept) and halve the other rows of the same tables."""
    if not cands:
        return
    q = japanese.compact(question)
    keys = [row_key(c.text) for c in cands]
    named = [i for i, k in enumerate(keys) if k is not None and len(k[1]) >= MIN_KEY_CHARS and k[1] in q]
    if not named:
        return
    labels = {keys[i][0] for i in named}
    top = max(abs(c.score) for c in cands) or 1.0
    for i, (c, k) in enumerate(zip(cands, keys)):
        if i in named:
            c.score += 2 * top
        elif k is not None and k[0] in labels:
            c.score *= 0.5

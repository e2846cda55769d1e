"""Which sentence answers a superlative question: 「満足度が最も高かった施策は何ですか？」.

Why: a survey report says 「最も高く」 many times — 「｢満足度｣は、70歳代が最も高く…」 (an age group),
「｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。」 (a 施策) — and every such sentence
shares all the question's words. What tells the answer apart is *what* the extreme is about: the
question asks for the extreme of a quantity (満足度) among things of one kind (施策), so the answer
states an extreme (「最も高く」「1位」「最多」, or rank 1 of a ranking 「…の高い順」) in the same
direction, of that quantity, about that kind of thing — named in the sentence, in its nearest heading
(「㋐各施策の満足度」) or in the label line just above it. A sentence that states it is preferred over
one that merely shares words (``prefer``). Where a table's rows are parsed into labelled rows
(「施策: … / 満足度: 55.0%」, cleaning/pdf_tables) and the whole table lies in one passage, the row
whose value is its column's maximum (minimum) is preferred next.

This module reads candidate sentences (``.text``, ``.score``, ``.position``, ``.hit.section``,
``.hit.text``) and only raises scores; it knows nothing of search or composition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import asked, japanese

_MOST = r"(?:最も|もっとも|一番|いちばん)"
# an extreme stated in a sentence: 最も + the word of its end (and a change that may follow it)
_STATED_RE = re.compile(rf"{_MOST}\s*(高|多|低|少な|大き|小さ)?")
_STATED_NOUN_RE = re.compile(r"最高|最多|最大|最低|最少|最小|首位|トップ|(?<![0-9０-９.．])第?[1１一]\s*位")
_RANK_RE = re.compile(r"(?<![0-9０-９.．])第?\s*([0-9０-９]{1,2})\s*位")
_HIGH_END = {"高", "多", "大き", "最高", "最多", "最大", "首位", "トップ"}
# a ranking's caption: 「施策に対する満足度の高い順」「順位」
_RANKING_RE = re.compile(r"(高|多|低|少な|大き|小さ)い順|順位|ランキング")
# a ranking row: a name, then its rank as a number of its own (「消防・救急の充実強化 1【1】 (55.0％)」)
_ROW_RANK_RE = re.compile(r"^(\D+?)\s+([0-9０-９]{1,3})(?=\s|【|[（(<＜〈]|$)")
_NUMBER_RE = re.compile(r"[-－−]?[0-9０-９][0-9０-９,，]*(?:[.．][0-9０-９]+)?")


def _label_above(sents: Sequence[str], pos: int) -> str:
    """The nearest short label line above ``pos`` in its passage (「年齢別」「㋐各施策の満足度」)."""
    for s in reversed(sents[max(0, pos - 12) : pos]):
        if len(japanese.compact(s)) < 20 and not s.rstrip().endswith("。"):
            return s
    return ""


_DIRECTED_RE = re.compile(r"(?:高|多|低|少な|大き|小さ)い順")


def _caption_above(sents: Sequence[str], pos: int) -> str:
    """The caption of the ranking a row belongs to: the nearest line above that ranks in a direction
    (「＜参考＞令和3年度 施策に対する重要度の高い順 …」), past the chart's column header (「施策 順位
    重要度」) and the rows; none past a sentence of running text."""
    for s in reversed(sents[max(0, pos - 15) : pos]):
        if _DIRECTED_RE.search(japanese.compact(s)):
            return s
        if s.rstrip().endswith("。"):
            break
    return ""


def _about(word: str | None, *texts: str) -> bool:
    return word is None or any(japanese.compact(word) in japanese.compact(t) for t in texts if t)


def states(sup: asked.Superlative, sentence: str) -> bool:
    """Does ``sentence`` state an extreme at the end ``sup`` asks for (and of the change it asks
    for)? 「…が55.0％と最も高くなっています」 for 「最も高かった」; not 「最も大きく増加」 for it."""
    for m in _STATED_RE.finditer(sentence):
        end = m.group(1)
        c = asked.CHANGE_RE.search(sentence[m.end() : m.end() + 8].split("、")[0].split("。")[0])
        change = c.group(0) if c else None
        if bool(change) != bool(sup.change):
            continue
        if change:
            if bool(asked.DECREASE_RE.fullmatch(change)) == sup.high:
                continue
            return True
        if end and (end in _HIGH_END) == sup.high:
            return True
    for m in _STATED_NOUN_RE.finditer(sentence):
        if not sup.change and ((m.group(0) in _HIGH_END or "位" in m.group(0)) == sup.high):
            return True
    if sup.top and not sup.change:  # 「上位3施策」: 「2 位は｢水の安定供給｣…、3 位が…」 states the rest
        return any(int(japanese.normalize(m.group(1))) <= sup.top for m in _RANK_RE.finditer(sentence))
    return False


def first_in_ranking(sup: asked.Superlative, sentence: str, heading: str) -> bool:
    """A ranking row at rank 1 under a caption ranking in the asked direction: 「消防・救急の充実強化
    1【1】 (55.0％)」 under 「…満足度の高い順」."""
    cap = _RANKING_RE.search(japanese.compact(heading))
    if not cap or sup.change:
        return False
    if cap.group(1) and (cap.group(1) in _HIGH_END) != sup.high:
        return False
    if not cap.group(1) and not sup.high:  # 「順位」 alone: rank 1 is the top
        return False
    m = _ROW_RANK_RE.match(sentence.strip())
    return bool(m) and 1 <= int(japanese.normalize(m.group(2))) <= (sup.top or 1)


def _is_row(line: str) -> bool:
    """A labelled row as the cleaning writes it: two or more 「label: value」 cells joined by 「 / 」."""
    cells = line.split(" / ")
    return len(cells) >= 2 and all(":" in c for c in cells)


def _rows(sents: Sequence[str]) -> list[tuple[int, list[tuple[str, str]]]]:
    """Labelled rows (「施策: … / 満足度: 55.0%」) as (position, [(label, value), …])."""
    out = []
    for i, s in enumerate(sents):
        if _is_row(s):
            cells = s.split(" / ")
            out.append((i, [tuple(x.strip() for x in c.split(":", 1)) for c in cells]))
    return out


def table_extremes(sup: asked.Superlative, sents: Sequence[str]) -> set[int]:
    """Positions of rows holding the maximum (minimum) of the one column named by the asked quantity,
    in a table that begins and ends inside ``sents`` (a table cut by a passage boundary is not judged:
    its maximum there need not be the table's: ``stitched`` joins the passages it runs into). The key cell's
    label, or most of the row keys, must name the asked subject."""
    if sup.quantity is None or sup.change:
        return set()
    rows = _rows(sents)
    out: set[int] = set()
    q = japanese.compact(sup.quantity)
    # runs of consecutive rows with the same labels: one table each
    runs: list[list[tuple[int, list[tuple[str, str]]]]] = []
    for pos, cells in rows:
        if runs and runs[-1][-1][0] == pos - 1 and [lab for lab, _v in runs[-1][-1][1]] == [lab for lab, _v in cells]:
            runs[-1].append((pos, cells))
        else:
            runs.append([(pos, cells)])
    for run in runs:
        first, last = run[0][0], run[-1][0]
        if len(run) < 2 or first == 0 or last == len(sents) - 1:
            continue  # a table whose start or end may lie in another passage
        labels = [lab for lab, _v in run[0][1]]
        if not (_about(sup.subject, labels[0]) or _keys_name(sup.subject, [cells[0][1] for _p, cells in run])):
            continue
        cols = [j for j, lab in enumerate(labels[1:], 1) if q in japanese.compact(lab)]
        exact = [j for j in cols if japanese.compact(labels[j]) == q]
        cols = exact if len(exact) == 1 else cols  # 「人口」 beside 「65歳以上 人口」: the column named just so
        if len(cols) != 1:
            continue  # none, or several (this year's and last year's): not ours to pick
        values = []
        for pos, cells in run:
            m = _NUMBER_RE.search(japanese.normalize(cells[cols[0]][1]))
            values.append((float(m.group(0).replace(",", "").replace("−", "-")), pos) if m else None)
        known = [v for v in values if v is not None]
        if len(known) < 2:
            continue
        best = max(v for v, _p in known) if sup.high else min(v for v, _p in known)
        hits = [p for v, p in known if v == best]
        if len(hits) == 1:
            out.add(hits[0])
    return out


def _keys_name(subject: str | None, keys: list[str]) -> bool:
    """Do most of a table's row keys name the asked kind of thing? 「団体名: むかつく地域協議会」「団体名: 通まちづくり
    協議会」 … are 協議会 though the column says 団体名."""
    return subject is not None and 2 * sum(_about(subject, k) for k in keys) > len(keys)


def names_another(quantity: str | None, sentence: str) -> bool:
    """Does the sentence name a quantity of the asked one's kind that is not it — 「満足度」 in a
    sentence read for 「不満度」 (both 〜度), 「回収数」 for 「配布数」?"""
    if not quantity:
        return False
    q = japanese.compact(quantity)
    found = re.findall(rf"[\u4e00-\u9fff]+{re.escape(q[-1])}", japanese.compact(sentence))
    return bool(found) and not any(q in f or f in q for f in found)


def tier(sup: asked.Superlative, sentence: str, sents: Sequence[str], pos: int, section: Sequence[str]) -> int:
    """2: the sentence states the asked extreme of the asked quantity about the asked kind of thing
    (or is rank 1 of such a ranking, not one shown for reference: 「＜参考＞令和3年度 …の高い順」);
    1: it is the extreme row of a parsed table; 0: neither. The quantity and the kind of thing may
    be named by the nearest heading or label line instead, unless the sentence names another
    quantity of that kind."""
    heading = section[-1] if section else ""
    label = _label_above(sents, pos)
    caption = _caption_above(sents, pos)
    ranked = any(first_in_ranking(sup, sentence, cap) and "参考" not in cap for cap in (heading, caption))
    if (states(sup, sentence) or ranked) and not names_another(sup.quantity, sentence):
        context = (sentence, heading, label, caption if ranked else "")
        if _about(sup.quantity, *context) and _about(sup.subject, *context):
            return 2
    if pos in table_extremes(sup, sents):
        return 1
    return 0


# passages read on each side of a candidate's passage while a table runs across their boundary
TABLE_PASSAGES = 3


def stitched(sents: list[str], before: Sequence[str] = (), after: Sequence[str] = ()) -> tuple[list[str], int]:
    """(the passage's lines with those of the passages around it that the same table runs into, the
    number of lines put before). ``before``: the texts of the passages before it, nearest first;
    ``after``: those after it. A passage is joined while the lines at the boundary are both table rows,
    at most ``TABLE_PASSAGES`` on each side, and the first line past the table's end (or before its
    start) comes too, which shows that the table ends there.
    Why: a long table is cut into passages (「《参考：…既設の協議会》」 over 12 rows: 8 in one passage, 4 in
    the next), and the highest 高齢化率 of one part need not be the table's (docs/BENCHMARKS.md §9.29)."""
    out = list(sents)
    put_before = 0
    for text in list(before)[:TABLE_PASSAGES]:
        prev = japanese.split_sentences(text)
        if not (prev and out and _is_row(out[0])):
            break
        if not _is_row(prev[-1]):  # the line before the table: it begins in ``out``
            out, put_before = [prev[-1], *out], put_before + 1
            break
        out = prev + out
        put_before += len(prev)
    for text in list(after)[:TABLE_PASSAGES]:
        nxt = japanese.split_sentences(text)
        if not (nxt and out and _is_row(out[-1])):
            break
        if not _is_row(nxt[0]):  # the line after the table: it ends in ``out``
            out.append(nxt[0])
            break
        out = out + nxt
    return out, put_before


def prefer(cands: list, question: str, around=None) -> None:
    """Raise the scores of the candidates that answer a superlative question (``tier``) above all
    others, tier by tier, keeping their order within a tier; nothing changes for other questions, or
    when no candidate states the extreme asked for. ``around(hit)``: (texts of the passages before
    ``hit``, nearest first; texts of those after it), so that a table cut into passages is judged whole
    (``stitched``)."""
    sup = asked.asked_superlative(question)
    if sup is None or (sup.quantity is None and sup.subject is None) or not cands:
        return
    tiers = []
    split: dict[int, tuple[list[str], int]] = {}  # each passage split once, however many of its sentences are candidates
    for c in cands:
        if id(c.hit) not in split:
            own = japanese.split_sentences(c.hit.text)
            split[id(c.hit)] = stitched(own, *around(c.hit)) if around is not None else (own, 0)
        sents, shift = split[id(c.hit)]
        pos = c.position + shift
        tiers.append(tier(sup, c.text, sents, pos, c.hit.section) if pos < len(sents) else 0)
    if not any(tiers):
        return
    top = max(abs(c.score) for c in cands) or 1.0
    for c, t in zip(cands, tiers):
        if t:
            c.score += 2 * t * top

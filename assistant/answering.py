"""From retrieved passages to a short, cited answer — or an honest refusal.

No generative model runs offline, and a city must not publish invented text, so answers are
*composed from the documents' own sentences*: we pick the 1–4 sentences (or table rows, or list
items) that best cover the question, order them by source, and end each with its ``[n]`` marker.

Evidence is judged on the question's own content words (IDF-weighted coverage, expansions counting
partially) together with sentence-encoder similarity: a fitted answerability model
(``evidence_model``, threshold fitted by ``scripts/fit_answer_model.py``) refuses and shows the closest
sections instead; with the bag-of-words model as answer encoder, the hand-weighted ``evidence()`` and
its calibrated threshold do (see ``docs/BENCHMARKS.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import time
import unicodedata
from dataclasses import dataclass

import numpy as np

from . import as_of, asked, definitions, evidence_model, item_sheets, japanese, named_rows, reader, superlatives
from .conversation import (BULLET_RE, clean_question, followup_aspect, last_answer, previous_sources, previously_cited,
                           rewrite_followup)
from .query import QueryAnalysis, municipality_forms, municipality_stem
from .question_form import plain_question
from .types import Answer, Chunk, Citation, Hit

log = logging.getLogger(__name__)

MAX_SENTENCES = 4
MAX_LIST_ITEMS = 8
# rows of a table read before the ones shown are picked (``_rows_shown``)
MAX_TABLE_ROWS = 40
# All lines of one answer: its sentences plus the lists they announce, belong to or head.
MAX_ANSWER_LINES = 12
MAX_SOURCES = 3
TOP_HITS = 8
# Passages whose sentences are answer candidates.
CANDIDATE_HITS = 5
# Passages searched for another plan that also answers a question naming no city (``other_plan_lines``).
OTHER_PLAN_HITS = 3
# Calibrated on the dev set's unanswerable items and JSQuAD questions against the bundled corpus
# (scripts/calibrate_refusal.py); see docs/BENCHMARKS.md.
REFUSAL_THRESHOLD = 0.22
DENSE_FLOOR = 0.45
# Between the refusal threshold and this, the answer is led by HEDGE_TEXT (or DETAIL_HEDGE_TEXT).
HEDGE_THRESHOLD = 0.35

EMPTY_PROMPT = "計画書について知りたいことを入力してください。例:「NPOを立ち上げたい。市はどんな支援をしてくれる？」"
REFUSAL_TEXT = "ご質問の内容は、掲載している計画書からは見つかりませんでした。"
HEDGE_TEXT = "ご質問にぴったり当てはまる記載は見つかりませんでしたが、関連する記述として次の箇所があります。"
# A hedged answer to a question asking a detail (``asked.plainly_asked_detail``) that none of its lines states
# (``asked.may_hold_value``) is a near miss: the plans name the festival, the centre, the committee, but
# not its date, fee or size. Its lead says which detail the plans lack, so a resident need not read the
# quoted lines to find that out. One fixed sentence per detail kind; nothing else is added (no contact
# point or advice the plans do not give).
DETAIL_HEDGE_TEXT: dict[str, str] = {
    kind: f"計画書には関連する記述がありますが、ご質問の{what}は書かれていません。関連する箇所は次のとおりです。"
    for kind, what in {
        "money": "金額・料金",
        "date": "日時・日付",
        "time": "時間（開館時間・受付時間など）",
        "phone": "電話番号・連絡先",
        "place": "場所・窓口",
        "count": "人数・数",
        "procedure": "手続きの方法（申込み・申請など）",
    }.items()
}
# every lead a hedged answer can start with (``evaluation.is_hedged`` counts an answer led by any)
HEDGE_LEADS: tuple[str, ...] = (HEDGE_TEXT, *DETAIL_HEDGE_TEXT.values())


def hedge_lead(kind: str | None, lines: list[str]) -> str:
    """The lead of a hedged answer: the sentence naming the asked detail ``kind`` when the question
    asks one and none of the answer's ``lines`` states a value of that kind; otherwise the generic
    ``HEDGE_TEXT`` (a question asking no detail, or lines that hold one but fit the question loosely)."""
    if kind in DETAIL_HEDGE_TEXT and not any(asked.may_hold_value(kind, line) for line in lines):
        return DETAIL_HEDGE_TEXT[kind]
    return HEDGE_TEXT


def _hedged(text: str, qa: QueryAnalysis, chosen: list["_Candidate"]) -> str:
    """An answer's text led by its hedge (``hedge_lead`` for the question's plainly asked detail)."""
    return f"{hedge_lead(asked.plainly_asked_detail(qa.text), [c.text for c in chosen])}\n\n{text}"


def is_hedge_text(text: str) -> bool:
    """Whether an answer's text starts with one of the hedged answer's leads (``HEDGE_LEADS``)."""
    return text.startswith(HEDGE_LEADS)

# --- evidence and sentence choice -------------------------------------------------------------

_DATE_RE = re.compile(r"(明治|大正|昭和|平成|令和|[HR]\d|\d{4}年|\d+年度|\d+月|年度|までに|期間|から|まで)")
_NUM_RE = re.compile(r"\d")
_PLACE_RE = re.compile(r"(窓口|センター|課|室|電話|TEL|相談|問い合わせ|問合せ|所|館)")
_HOW_RE = re.compile(r"(支援|推進|実施|取り組|取組|制度|事業|行います|図ります|進めます|努めます|設置|開催|提供)")
_DEF_RE = re.compile(r"(とは|をいう|のこと|を指|と定義|意味)")


@dataclass
class _Candidate:
    hit: Hit
    position: int
    text: str
    score: float
    coverage: float
    features: dict | None = None
    logit: float = 0.0
    # the detail the answer should state (``asked.detail_for_answer``: "date", "count", "place" …), or None
    detail: str | None = None


@functools.lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """A passage's sentences with their content lemmas, cached: passages recur across questions."""
    return tuple((s, frozenset(japanese.meaning_words(s))) for s in japanese.split_sentences(text))


def warm_up(texts: list[str]) -> None:
    """Tokenize passages ahead of the first questions (small corpora only: the cache is bounded)."""
    for t in texts[: _sentences.cache_info().maxsize]:
        _sentences(t)
        time.sleep(0)  # yield the GIL between passages so a question asked meanwhile is not held up


@functools.lru_cache(maxsize=8192)
def _lemmas(text: str) -> frozenset[str]:
    return frozenset(japanese.meaning_words(text))


def _term_weights(retriever, qa: QueryAnalysis) -> dict[str, float]:
    """The question's own content words weighted by IDF: rarer words say more about the topic, and
    a word the documents never use weighs most of all (it is what the plans would have to cover)."""
    idx = retriever.index
    n = max(len(idx.chunks), 1)
    absent = float(np.log(1 + (n + 0.5) / 0.5))
    weights: dict[str, float] = {}
    muni_stems = {municipality_stem(m) for m in qa.municipalities} | set(qa.municipalities)
    for w in dict.fromkeys(qa.words):
        if w in muni_stems or not w or _NUM_ONLY_RE.fullmatch(w):
            continue
        df = idx.doc_freq(w)
        weights[w] = float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df else absent
    return weights


_NUM_ONLY_RE = re.compile(r"[\d.,%]+")


@functools.lru_cache(maxsize=32768)
def _folded(text: str) -> str:
    """Compact, lower-cased form for substring tests (cached: passages and phrases recur)."""
    return japanese.compact(text).lower()


def _coverage(text: str, lemmas: set[str], weights: dict[str, float], qa: QueryAnalysis) -> float:
    """IDF-weighted share of the question's words that ``text`` contains. A word that is missing
    but stood in for by one of its expansions counts at that expansion's weight."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    comp = _folded(text)
    credit = {w: 1.0 for w in weights if w in lemmas or (len(w) >= 2 and w.lower() in comp)}
    for w, wt in _stood_in(qa, [comp]).items():
        if w in weights and credit.get(w, 0.0) < wt:
            credit[w] = wt
    return sum(weights[w] * c for w, c in credit.items()) / total


def _stood_in(qa: QueryAnalysis, folded_texts: list[str]) -> dict[str, float]:
    """The question's words that one of their expansions stands in for in ``folded_texts`` (``_folded``),
    each with the best such expansion's weight (at most 1): 「旅券」 where a text says 「パスポート」."""
    credit: dict[str, float] = {}
    for phrase, wt in qa.expansions.items():
        if len(phrase) < 2:
            continue
        f = _folded(phrase)
        if not any(f in t for t in folded_texts):
            continue
        for w in qa.covers.get(phrase, []):
            credit[w] = max(credit.get(w, 0.0), min(float(wt), 1.0))
    return credit


def _type_bonus(qtype: str, sentence: str) -> float:
    rx = {"when": _DATE_RE, "number": _NUM_RE, "where": _PLACE_RE, "how": _HOW_RE, "what": _DEF_RE}.get(qtype)
    return 0.12 if rx is not None and rx.search(sentence) else 0.0


# a line that is nothing but the name of an office or a contact point: 「市民協働推進室」「協働推進課」
_OFFICE_LINE_RE = re.compile(r"[^\s。、]{1,20}(?:課|室|係|センター|窓口|事務所|支所|出張所)")


def asked_type(qa: QueryAnalysis) -> str:
    """What the question asks for, for choosing sentences (``asked.asked_type``: ``qa.qtype``, except
    that a "general" question asking 「何名」「どれだけ」「いくら」 asks for a figure)."""
    return asked.asked_type(qa.qtype, qa.text)


def _is_heading_like(s: str, section: list[str], asked: str = "general") -> bool:
    """Section titles, bracket labels (「< 地区市民センターの体制 >」) and header-only table rows make
    poor answers on their own — except, for a question asking where (「担当の窓口はどこ？」), a line
    that is just an office's name (「市民協働推進室」 under 「問い合わせ先」): that *is* the answer."""
    c = japanese.compact(s)
    if asked == "where" and _OFFICE_LINE_RE.fullmatch(c):
        return False
    if any(c == japanese.compact(h) or c.endswith(japanese.compact(h)) for h in section if h):
        return True
    if re.fullmatch(r"[<＜〈《【\[].*[>＞〉》】\]]", c):
        return True
    if " / " in s and ":" not in s and all(len(cell) <= 15 for cell in s.split(" / ")):  # a table's header row
        return True
    if BULLET_RE.match(s.strip()):  # 「・まちづくり講習会の実施」: a list item is content, however short
        return False
    return len(c) < 14 and not _NUM_RE.search(s) and not s.endswith("。")


_LIST_INTRO_RE = re.compile(r"以下の|次の|下記の|次のとおり|以下のとおり|[:：]$")
# (it takes 「これまで…」「それぞれ…」 for carrying on too; the answer reader reads what this brings, so
# narrowing it changes the reader's input and waits for a refit: measured, docs/BENCHMARKS.md §9.30)
_CONTINUES_RE = re.compile(r"^(?:この|その|これ|それ|また、|さらに|具体的には|具体的に|例えば|たとえば|なお、)")
# an example that makes a chosen sentence concrete (「たとえば、従業員等が地域活動へ参加しやすい環境を…」):
# it carries on from any chosen sentence, not only the best one
_EXAMPLE_RE = re.compile(r"^(?:例えば|たとえば|具体的には|具体的に)")
_ITEM_RE = re.compile(r"^(?:[・●○◆◇■□▪\-\*]|[①-⑳]|[(（][ア-ンァ-ヶ一二三四五六七八九十\d]+[)）]|[ア-ン][.．])")


def _row_about_something_else(sentence: str, weights: dict[str, float]) -> bool:
    """A table row (「団体名: 白潟地区まちづくり協議会 / 人口: 773 / 高齢化率: 37.65%」) whose key — the
    first cell — shares none of the question's distinctive words: it answers for one district or
    item, while the question asked about another (or about the whole city)."""
    if " / " not in sentence or ":" not in sentence.split(" / ", 1)[0] or not weights:
        return False
    key = sentence.split(" / ", 1)[0].split(":", 1)[1]
    comp = japanese.compact(key).lower()
    shared = sum(w for word, w in weights.items() if len(word) >= 2 and word.lower() in comp)
    return shared < 0.5 * max(weights.values())


def _marker(sentence: str) -> str | None:
    """The kind of list marker a line starts with (「-」「・」, circled numbers, 「(1)」, 「(ア)」, 「ア.」),
    or None for a line that is not a list item: items of one list share a kind, sub-items differ."""
    m = _ITEM_RE.match(sentence.strip())
    if not m:
        return None
    t = m.group(0)
    if "①" <= t[0] <= "⑳":
        return "circled"
    if t[0] in "(（":
        return "paren-digit" if t[1:-1].isdigit() else "paren-other"
    if t[-1] in ".．":
        return "kana"
    return t[0]


def _may_head_items(line: str, marker: str | None) -> bool:
    """Whether a line can be the label or parent item of the items after it: no sentence end, no table
    row, and not an unmarked run of body text (over 25 characters with 「、」: 「地域住民の窓口、市民参画と
    自主活動の促進、地域に関する事業執行 など」 is the body of the caption above it, and the 「・本庁機能」
    after it starts the next caption, not a sub-list)."""
    t = line.rstrip()
    if t.endswith("。") or _is_row(t):
        return False
    return marker is not None or len(japanese.compact(t)) <= 25 or "、" not in t


def _list_run(sents: list[str], pos: int, limit: int = MAX_LIST_ITEMS) -> list[int]:
    """The positions of the list a line belongs to or heads, in reading order (empty when none).

    * a label or parent item followed by items of another kind (「<主な取組>」「- 窓口サービスの提供体制」
      then 「・窓口業務に…」): those sub-items, until the list ends or the parent's kind returns;
    * a list item: its siblings — the unbroken run of items of the same kind around it, since one
      item of 「職員研修会の開催 / 視察研修の実施 / 職員向けマニュアルの作成」 is not the answer to
      「どんな取組？」; a window of ``limit`` lines centred on it when the list is longer.
    """
    here = _marker(sents[pos])
    after = [i for i in range(pos + 1, len(sents))]
    if after and _marker(sents[after[0]]) not in (None, here) and _may_head_items(sents[pos], here):
        kind = _marker(sents[after[0]])
        run = []
        for i in after:
            k = _marker(sents[i])
            if k != kind:
                break
            run.append(i)
        return [pos] + run[: limit]
    if here is None:
        return []
    lo = pos
    while lo > 0 and _marker(sents[lo - 1]) == here:
        lo -= 1
    hi = pos
    while hi + 1 < len(sents) and _marker(sents[hi + 1]) == here:
        hi += 1
    if hi == lo:
        return []
    start = max(lo, min(pos - limit // 2, hi + 1 - limit))
    return list(range(start, min(hi + 1, start + limit)))


# body lines an item may have under it (``_item_with_body``)
MAX_BODY_LINES = 3


def _bodies(sents: list[str], marker: str) -> dict[int, list[int]]:
    """Per item of kind ``marker``: the unmarked lines right under it, up to the next item (of any kind);
    not an item with a table under it (「②市民活動を行っている市民の割合【単位:%】」 over its rows: a caption)."""
    out: dict[int, list[int]] = {}
    current = None
    for i, line in enumerate(sents):
        m = _marker(line)
        if m is not None:
            current = i if m == marker else None
            if current is not None:
                out[current] = []
        elif current is not None:
            if " / " in line:  # a table (its header row or rows) under the item: a caption, not a body
                out[current] = [-1]
                current = None
            else:
                out[current].append(i)
    return {k: b for k, b in out.items() if b != [-1]}


def _item_with_body(sents: list[str], pos: int) -> list[int]:
    """An item of a list whose items each carry a body of unmarked lines (「・支所機能」 then 「市民の身近な
    ところにおける行政サービスの提供と地域まちづくりの拠点機能」 「地域住民の窓口、… など」, then 「・本庁機能」 and its
    body): the item and its body, in reading order, whether ``pos`` is the item or one of its body lines.
    Empty when the line is neither, or when the list's items do not carry bodies (another item of its
    kind must have one too, each at most ``MAX_BODY_LINES``: a paragraph after a plain list is no item's body).
    Why: the item names what its body says (「「庁内分権」の推進」 → what it is for); either alone left the
    asked fact out (「庁内分権って何のため」, docs/BENCHMARKS.md §9.29)."""
    item = pos
    while item >= 0 and _marker(sents[item]) is None:
        item -= 1
    if item < 0 or pos - item > MAX_BODY_LINES:
        return []
    bodies = _bodies(sents, _marker(sents[item]))
    body = bodies.get(item, [])
    if not body or len(body) > MAX_BODY_LINES or (pos != item and pos not in body):
        return []
    if sum(1 for k, b in bodies.items() if k != item and 0 < len(b) <= MAX_BODY_LINES) < 1:
        return []
    return [item, *body]


def _introduces_list(sentence: str, following: list[str]) -> bool:
    """「次の事項を基本理念として…進めます。」 followed by (1), (2) … items."""
    return bool(_LIST_INTRO_RE.search(sentence.strip())) and bool(following) and bool(_ITEM_RE.match(following[0].strip()))


def _candidates(hits: list[Hit], qa: QueryAnalysis, weights: dict[str, float]) -> list[_Candidate]:
    """Every sentence of the top passages, scored by how much of the question it covers (alone and
    with its section path), how good its passage is, and whether it has what the question type
    asks for (a date, a figure, a place …)."""
    out: list[_Candidate] = []
    seen: set[str] = set()
    top = hits[0].fusion_score if hits else 1.0
    named = [m for city in qa.municipalities for m in (city, municipality_stem(city))] + ["本市", "全市"]
    atype = asked_type(qa)
    detail = asked.detail_for_answer(qa.text)
    for hit in hits:
        head = " ".join(hit.section)
        head_lemmas = _lemmas(head)
        sents = _sentences(hit.text)
        for pos, (sent, lemmas) in enumerate(sents):
            key = japanese.compact(sent)
            if key in seen or len(key) < 6:
                continue
            seen.add(key)
            cov = _coverage(sent, lemmas, weights, qa)
            # with its local context: the section path and the line before (often a caption such
            # as 「《…条例抜粋》」 that names what the sentence is about)
            prev, prev_lemmas = sents[pos - 1] if pos > 0 else ("", frozenset())
            cov_ctx = _coverage(f"{head} {prev} {sent}", lemmas | head_lemmas | prev_lemmas, weights, qa)
            score = 0.4 * cov + 0.2 * cov_ctx + 0.25 * (hit.fusion_score / top if top > 0 else 0) + _type_bonus(atype, sent)
            if qa.municipalities and any(m in sent for m in named):
                score += 0.05
            if _introduces_list(sent, [x for x, _l in _sentences(hit.text)[pos + 1 : pos + 2]]):
                score += 0.08  # the list it announces will be part of the answer
            if _is_heading_like(sent, hit.section, atype):
                score *= 0.5
            elif _row_about_something_else(sent, weights):
                score *= 0.8
            out.append(_Candidate(hit, pos, sent, score, max(cov, cov_ctx), detail=detail))
    return out


def _is_row(sentence: str) -> bool:
    """A table row as the cleaning writes it: cells joined by 「 / 」, the first one 「label: value」
    (「推進方針: 全体計 / 項目数: 47 / 実施済: 8 (17.0%)」)."""
    return " / " in sentence and ":" in sentence.split(" / ", 1)[0]


def _announced_rows(best: _Candidate, following: list, next_chunks: list, notes: int = 1, row_score=None) -> list[tuple]:
    """The table a 「…の推進状況は下記のとおりとなっています。」 announces: its rows, in reading order,
    at most ``MAX_LIST_ITEMS`` (``_rows_shown``: the ones nearest the question when it is longer). The
    table may start after ``notes`` lines between (a note such as 「各項目の取り扱いは、別表に整理しています。」)
    and its header row (cells without labels), and may run on into the passages that follow. Empty when
    no table follows."""
    lines = list(following)
    start = None
    skipped = 0
    for j, (_h, _p, s) in enumerate(lines):
        if _is_row(s):
            start = j
            break
        if " / " in s:  # a header row: its cells are repeated as the rows' labels
            continue
        skipped += 1
        if skipped > notes:
            return []
    rows = []
    for h, p, s in lines[len(lines) if start is None else start:]:  # no row in this passage: try the next
        if not _is_row(s):
            return _rows_shown(rows, row_score)
        rows.append((h, p, s))
    for chunk in next_chunks:  # the table (or the sentence announcing it) ends its passage
        if len(rows) >= MAX_TABLE_ROWS:
            break
        nxt = Hit(chunk=chunk, score=best.hit.score, fused=best.hit.fused)
        for i, (s, _l) in enumerate(_sentences(chunk.text)):
            if not rows and " / " in s and not _is_row(s):
                continue  # the header row opening the next passage
            if not _is_row(s):
                return _rows_shown(rows, row_score)
            rows.append((nxt, i, s))
    return _rows_shown(rows, row_score)


def _rows_shown(rows: list[tuple], row_score=None) -> list[tuple]:
    """The rows of a table an answer shows: all of them up to ``MAX_LIST_ITEMS``; of a longer one, the
    ``MAX_LIST_ITEMS`` that ``row_score(hit, position)`` rates nearest the question, still in reading
    order (without ``row_score``: the first ones).
    Why: a table of 10 fields cut at its first 8 rows answered 「防犯系のNPOっていくつある？」 without
    its 「地域安全: 2」 row, the 9th (docs/BENCHMARKS.md §9.29); the search encoder's cosine of each row,
    stored at build time, knows 防犯 and 地域安全 are near where no word is shared."""
    if len(rows) <= MAX_LIST_ITEMS or row_score is None:
        return rows[:MAX_LIST_ITEMS]
    scores = [row_score(h, p) for h, p, _s in rows]
    keep = sorted(sorted(range(len(rows)), key=lambda i: (-scores[i], i))[:MAX_LIST_ITEMS])
    return [rows[i] for i in keep]


def _continuation(best: _Candidate, next_chunks: list, allow_follow_on: bool = True, row_score=None, bodies: bool = True) -> list[_Candidate]:
    """Sentences that complete the best one: the list a 「以下の責務を負います。」 announces (from the
    same passage and, when the items are headings of their own, from the passages that follow) or the
    table rows a 「…は下記のとおりです。」 announces, the list it belongs to or heads (``_list_run``:
    then the result includes ``best`` itself, in reading order), the rows of the table a caption heads
    (``_is_caption``), the definition a glossary term introduces (``_labelled_body``), the contact lines
    under an office's name (``_contact_lines``) or the office a contact line reaches (``_contact_head``), an
    item's body or the item a body line belongs to (``_item_with_body``; not with ``bodies=False``, which the
    answer reader's text asks: read with them its scores moved the tune split's hedging and refusal, and it
    was fitted on candidates read without them, docs/BENCHMARKS.md §9.29), or the one sentence that carries on
    from it (「この開催に当たっては…」「たとえば、…」)."""
    sents = [s for s, _l in _sentences(best.hit.text)]
    following = _lines_after(best)
    if _LIST_INTRO_RE.search(best.text.strip()) and not _is_row(best.text):
        rows = _announced_rows(best, following, next_chunks, row_score=row_score)
        if rows:
            return [_Candidate(h, p, s, best.score, best.coverage, detail=best.detail) for h, p, s in rows]
    if _LIST_INTRO_RE.search(best.text.strip()) and (not following or _ITEM_RE.match(following[0][2].strip())):
        items = [(h, p, s) for h, p, s in following if _ITEM_RE.match(s.strip())]
        for chunk in next_chunks:
            if len(items) >= MAX_LIST_ITEMS:
                break
            nxt = Hit(chunk=chunk, score=best.hit.score, fused=best.hit.fused)
            sents = [s for s, _l in _sentences(chunk.text)]
            if not sents or not _ITEM_RE.match(sents[0].strip()):
                break  # the list ended
            items.extend((nxt, i, s) for i, s in enumerate(sents) if _ITEM_RE.match(s.strip()))
        return [_Candidate(h, p, s, best.score, best.coverage) for h, p, s in items[:MAX_LIST_ITEMS]]
    run = _list_run(sents, best.position)
    if len(run) > 1:
        return [best if p == best.position else _Candidate(best.hit, p, sents[p], best.score, best.coverage) for p in run]
    if _is_caption(best.text):
        # 「①地域活動に参加している市民の割合【単位:%】」 over its table: the rows are what it labels —
        # a whole table for the best line, a short one (≤ CAPTION_ROWS_OTHER rows) for any other
        rows = _announced_rows(best, following, next_chunks, notes=0, row_score=row_score)
        if rows and (allow_follow_on or len(rows) <= CAPTION_ROWS_OTHER):
            return [_Candidate(h, p, s, best.score, best.coverage, detail=best.detail) for h, p, s in rows]
    block = _item_with_body(sents, best.position) if bodies else []
    if block:
        return [best if p == best.position else _Candidate(best.hit, p, sents[p], best.score, best.coverage, detail=best.detail) for p in block]
    body = _labelled_body(sents, best.position)
    if body is not None:
        return [_Candidate(best.hit, body, sents[body], best.score, best.coverage, detail=best.detail)]
    contact = _contact_lines(sents, best.position)
    if contact:
        return [_Candidate(best.hit, p, sents[p], best.score, best.coverage, detail=best.detail) for p in contact]
    head = _contact_head(sents, best.position)
    if head is not None:
        # 「TEL 0837-23-1172」 chosen alone: the office it reaches and the rest of its block, in reading order
        return [best if p == best.position else _Candidate(best.hit, p, sents[p], best.score, best.coverage, detail=best.detail)
                for p in [head, *_contact_lines(sents, head)]]
    nxt = following[0][2].strip() if following else ""
    if following and (_EXAMPLE_RE.match(nxt) or (allow_follow_on and _CONTINUES_RE.match(nxt))):
        h, p, s = following[0]
        return [_Candidate(h, p, s, best.score, best.coverage)]
    return []


# a term being defined, as a glossary prints it: 「ドメスティック・バイオレンス（DV）：」 (the definition on the next line)
_TERM_LABEL_RE = re.compile(r"[^。]{1,40}[:：]$")
# the lines of a contact point that follow its office's name: postcode and address, phone, fax, mail, web
_CONTACT_RE = re.compile(r"^(?:〒|TEL|ＴＥＬ|FAX|ＦＡＸ|E-?mail|Ｅ-?mail|E\s*メール|メール|電話|住所|所在地|URL|https?://)", re.I)
MAX_CONTACT_LINES = 4
# a caption that is not the answer's best line brings its table only when the table is this short
# (an indicator's one row of 基準値 / 実績 / 目標値), so a side table cannot crowd the answer out
CAPTION_ROWS_OTHER = 2


def _is_caption(line: str) -> bool:
    """A title over a table: no sentence end, at most 40 characters, no field of its own (「推進項目: …」,
    whose rows after it are the same record's other fields), not a note in brackets (「(手続きは…参照)」)
    nor a table cell's overflow (「/ 対象事業例: …」) — 「①地域活動に参加している市民の割合【単位:%】」,
    「活動分野別市内NPO法人数(平成29年1月末現在)」 (``_continuation`` asks only after a list item's
    siblings were looked for)."""
    t = BULLET_RE.sub("", line.strip())
    if not t or t.endswith("。") or t[0] in "(（/／" or len(japanese.compact(t)) > 40:
        return False
    return not re.search(r"[:：](?!\s*%)", re.sub(r"【[^】]*】", "", t))  # 【単位:%】 is part of a title


def _lines_after(c: _Candidate) -> list[tuple[Hit, int, str]]:
    """The lines of ``c``'s passage after it, each as (passage, position, text)."""
    sents = [s for s, _l in _sentences(c.hit.text)]
    return [(c.hit, c.position + 1 + i, s) for i, s in enumerate(sents[c.position + 1 :])]


def _best_row_alone(caption: _Candidate, next_chunks: list, row_score) -> "_Candidate | None":
    """A chosen table caption whose rows the answer cannot show (no room, or a table too long for a line
    that is not the best: ``CAPTION_ROWS_OTHER``): the row that names what the question asks and the caption
    does not (``RowScore.names``; the nearest of several), which says more than the caption alone; the
    caption comes back before it where room is left (``_with_captions``). None when no row names it: an
    arbitrary row would mislead."""
    if not isinstance(row_score, RowScore) or not _is_caption(caption.text):
        return None
    rows = _announced_rows(caption, _lines_after(caption), next_chunks, notes=0, row_score=row_score)
    rows = [r for r in rows if row_score.names(r[0], r[1], besides=caption.text) > 0]
    if not rows:
        return None
    h, p, s = max(rows, key=lambda r: row_score(r[0], r[1]))
    return _Candidate(h, p, s, caption.score, caption.coverage, detail=caption.detail)


def _with_captions(out: list[_Candidate], max_lines: int, prev_chunks=lambda _hit: []) -> list[_Candidate]:
    """``out`` with the caption of each table a shown row belongs to (``_row_caption``), the name of the
    plan item a shown body line belongs to (``item_sheets.name_of``, in the passage before too where the
    passage opens inside the sheet: ``prev_chunks``) or the term a glossary's definition defines
    (``_glossary_term``), just before the first line it captions,
    where it is not shown already and ``max_lines`` leaves room.
    Composition only: the answer reader reads a row as it was fitted to (``reader_text`` through
    ``_continuation``), without its caption — read with one, its scores moved far on rows whose caption
    says nothing about the question (「目標指標」 over 「出前講座の年間開催数」: 0.32 → 0.98 for an
    out-of-scope question, docs/BENCHMARKS.md §9.29)."""
    shown = {(c.hit.id, c.position) for c in out}
    result: list[_Candidate] = []
    for i, c in enumerate(out):
        sents = [s for s, _l in _sentences(c.hit.text)]
        cap = None
        if c.position < len(sents):
            pos = _row_caption(sents, c.position)
            pos = _glossary_term(sents, c.position) if pos is None else pos
            if pos is not None:
                cap = _line_of(c, c.hit.chunk, pos, sents[pos])
            elif item_sheets.is_body(sents[c.position]):
                lines, places, at = _window(c, prev_chunks, lambda _hit: [])
                name = item_sheets.name_of(lines, at)
                cap = None if name is None else _line_of(c, places[name][0], places[name][1], lines[name])
        # the answer's length with the caption: what is placed, the caption, and c and the lines after it
        if cap is not None and (cap.hit.id, cap.position) not in shown and len(result) + 1 + len(out) - i <= max_lines:
            result.append(cap)
            shown.add((cap.hit.id, cap.position))
        result.append(c)
    return result


# a sentence that opens by pointing back with a demonstrative: 「この実質公債費比率が18%を超えると…」 needs the
# sentence that says what the ratio is (「また、」「さらに、」 add a point and mostly read alone: measured, §9.30)
_REFERS_BACK_RE = re.compile(r"^(?:この|その|これ|それ)(?!まで|から|ぞれ|他|ほか)")  # not 「これまで」「それぞれ」「その他」


def _with_antecedents(out: list[_Candidate], chosen: list[_Candidate], max_lines: int) -> list[_Candidate]:
    """``out`` with the sentence before each chosen line that opens by pointing back (``_REFERS_BACK_RE``),
    where that sentence is in the same passage, is a plain sentence (not a heading, table row or list item)
    and is not shown already, as far as ``max_lines`` leaves room.
    Why: read alone, 「この計画に基づき、階層別・体系別の…職員研修会や講演会等を開催する…」 does not say which
    plan; the sentence before it (「…研修計画を作成します。」) does. Composition only: the answer reader reads
    a line as it was fitted to (``reader_text``)."""
    shown = {(c.hit.id, c.position) for c in out}
    ids = {id(c) for c in chosen}
    result: list[_Candidate] = []
    for i, c in enumerate(out):
        prev = c.position - 1
        if (id(c) in ids and prev >= 0 and (c.hit.id, prev) not in shown and len(result) + 1 + len(out) - i <= max_lines
                and _REFERS_BACK_RE.match(BULLET_RE.sub("", c.text.strip()))):
            sents = [s for s, _l in _sentences(c.hit.text)]
            before = sents[prev].strip() if prev < len(sents) else ""
            if before.endswith("。") and not (_is_row(before) or _ITEM_RE.match(before) or _is_caption(before)):
                result.append(_Candidate(c.hit, prev, sents[prev], c.score, c.coverage, detail=c.detail))
                shown.add((c.hit.id, prev))
        result.append(c)
    return result


def _row_caption(sents: list[str], pos: int) -> int | None:
    """For a table row, the caption over its table in the same passage (past the header row and the rows
    above it); None for any other line or a table with no caption there.
    Why: a row's values often do not say what they measure — 「基準値 (H18年度): 10.8 / H23年度 実績: 11.6 / …」
    is 「②市民活動を行っている市民の割合【単位:%】」 only by its caption, and an answer quoting the row alone
    leaves the reader to guess which of three indicators it is (docs/BENCHMARKS.md §9.29)."""
    if not _is_row(sents[pos]):
        return None
    p = pos - 1
    while p >= 0 and " / " in sents[p] and pos - p <= MAX_TABLE_ROWS:
        p -= 1
    return p if p >= 0 and _is_caption(sents[p]) else None


def _glossary_term(sents: list[str], pos: int) -> int | None:
    """For a glossary's definition (「地方自治体が、…借金の返済に充てる費用のこと。」), the line above it naming
    the term alone (「※公債費：」, ``_TERM_LABEL_RE``); None for any other line. Why: the definition never says
    which term it defines, and a glossary lists several (「※実質公債費比率：」 just above)."""
    if pos < 1 or _is_row(sents[pos]) or _is_row(sents[pos - 1]):
        return None
    term = japanese.compact(BULLET_RE.sub("", sents[pos - 1].strip()))
    return pos - 1 if _TERM_LABEL_RE.fullmatch(term) and not _TERM_LABEL_RE.fullmatch(japanese.compact(sents[pos])) else None


def _with_item_field(out: list["_Candidate"], chosen: list["_Candidate"], best: "_Candidate", label: str | None, max_lines: int,
                     prev_chunks=lambda _hit: [], next_chunks=lambda _hit: []) -> list["_Candidate"]:
    """``out`` with the row the question asks of an item sheet (``asked.asked_item_field``: 「…どうなったら
    ゴール？」 asks 「完了の目安」, 「どの年度に？」 the schedule) of the sheet whose name was chosen (the best
    scored name among ``chosen``), else of the sheet the best line belongs to, else of the first shown line on a
    sheet — after that sheet's last shown line (the first row, 「担当課」, before its
    first), where it is not shown already and ``max_lines`` leaves room; the sheet may run on into the passage
    before or after (``_window``).
    Why: the sentence model picks the item by its name or aim, and the row asked for often shares no word with
    the question (「人探しの仕掛けづくり、どこまでいけばゴール？」 → 「完了の目安: …人材を発掘する仕組みづくりが
    行われたときを完了とします」). Composition only."""
    if label is None or len(out) >= max_lines:
        return out
    # an item's name chosen in its own right names the item asked about more surely than a body row, which
    # may be another item's (「…アドバイザーの派遣を担当するのは？」: ⑦'s 推進内容 mentions アドバイザーの派遣 too)
    names = sorted((c for c in chosen if item_sheets.is_name(c.text)), key=lambda c: -c.score)
    for c in [*names, best, *out]:
        lines, places, at = _window(c, prev_chunks, next_chunks)
        rows = item_sheets.field_of(lines, at, label)
        if not rows:
            continue
        shown = {(x.hit.id, x.position) for x in out}
        rows = [g for g in rows if (places[g][0].id, places[g][1]) not in shown][: max_lines - len(out)]
        if not rows:
            return out
        first = rows[0]
        extra = [_line_of(c, places[g][0], places[g][1], lines[g]) for g in rows]
        index = {(chunk.id, pos): g for g, (chunk, pos) in enumerate(places)}
        where = [index.get((x.hit.id, x.position)) for x in out]  # each shown line's place in the window
        if first < at:  # the sheet's first row: before the sheet's first shown line
            pos = next((i for i, g in enumerate(where) if g is not None and first < g <= first + item_sheets.ITEM_ROWS), len(out))
        else:  # a body row: after the sheet's last shown line above it
            same = [i for i, g in enumerate(where) if g is not None and g < first and first - g <= item_sheets.ITEM_ROWS]
            pos = (max(same) + 1) if same else len(out)
        return out[:pos] + extra + out[pos:]
    return out


def _window(c: "_Candidate", prev_chunks, next_chunks) -> tuple[list[str], list[tuple[Chunk, int]], int]:
    """The lines of ``c``'s passage with those of the passage before it and the two after it (``prev_chunks``
    / ``next_chunks``, nearest first; an item sheet may run across their boundaries), each line's (passage,
    position), and ``c``'s index among them."""
    lines: list[str] = []
    places: list[tuple[Chunk, int]] = []
    at = 0
    # two passages on: a sheet's name may end one passage, its 年次計画 the next, and the row under it open a third
    for chunk in [*prev_chunks(c.hit)[:1], c.hit.chunk, *next_chunks(c.hit)[:2]]:
        if chunk is c.hit.chunk:
            at = len(lines) + c.position
        for i, (s, _l) in enumerate(_sentences(chunk.text)):
            lines.append(s)
            places.append((chunk, i))
    return lines, places, at


def _line_of(c: "_Candidate", chunk: Chunk, pos: int, text: str) -> "_Candidate":
    """A line of ``chunk`` shown with ``c`` (as good as ``c``): on ``c``'s own hit when ``chunk`` is its passage."""
    hit = c.hit if chunk.id == c.hit.id else Hit(chunk=chunk, score=c.hit.score, fused=c.hit.fused, rank=c.hit.rank)
    return _Candidate(hit, pos, text, c.score, c.coverage, detail=c.detail)


def _labelled_body(sents: list[str], pos: int) -> int | None:
    """The definition a glossary term introduces, when the chosen line is only the term ending in 「：」
    (「※ドメスティック・バイオレンス（DV）：」, the definition on the next line) — not followed by another
    item, term, row or fragment. The term alone holds nothing a resident asked for. (A short bulleted
    caption bringing its first body line, 「○ 事業着手の背景」 → …, was measured too: no keyword gained on
    any set, 6 answers longer by ~120 characters; not kept, BENCHMARKS §9.14.)"""
    here = sents[pos].strip()
    if pos + 1 >= len(sents) or _is_row(here) or not _TERM_LABEL_RE.fullmatch(japanese.compact(BULLET_RE.sub("", here))):
        return None
    nxt = sents[pos + 1].strip()
    if _ITEM_RE.match(nxt) or _is_row(nxt) or _TERM_LABEL_RE.fullmatch(japanese.compact(nxt)) or len(japanese.compact(nxt)) < 14:
        return None
    return pos + 1


def _contact_lines(sents: list[str], pos: int) -> list[int]:
    """The contact lines right after a chosen line that names an office or a contact point
    (「市民協働推進室」「【お問い合わせ先】 | 山口市 地域振興部 協働推進課」): 〒 and address, TEL, FAX,
    e-mail — at most ``MAX_CONTACT_LINES``. An answer that points to an office gives how to reach it."""
    here = japanese.compact(sents[pos])
    if not (_OFFICE_LINE_RE.search(here) or "問い合わせ" in here or "問合せ" in here) or len(here) > 40 or here.endswith("。"):
        return []  # a name or label line, not a sentence that mentions an office
    out = []
    for p in range(pos + 1, min(len(sents), pos + 1 + MAX_CONTACT_LINES)):
        if not _CONTACT_RE.match(sents[p].strip()):
            break
        out.append(p)
    return out


def _contact_head(sents: list[str], pos: int) -> int | None:
    """For a contact line (「TEL …」「〒…」), the line naming the office whose block it belongs to
    (``_contact_lines`` of that line holds it); None for any other line.
    Why: a phone number without the office it reaches does not answer 「担当の窓口はどこ？」, and the
    answer then said no office was named while the line above named one (docs/BENCHMARKS.md §9.29)."""
    if not _CONTACT_RE.match(sents[pos].strip()):
        return None
    p = pos - 1
    while p >= 0 and _CONTACT_RE.match(sents[p].strip()):
        p -= 1
    return p if p >= 0 and pos in _contact_lines(sents, p) else None


def _bigram_share(question_bigrams: frozenset[str], text: str) -> float:
    if not question_bigrams:
        return 0.0
    return len(question_bigrams & set(japanese.char_bigrams(text))) / len(question_bigrams)


def _question_bigrams(qa: QueryAnalysis) -> frozenset[str]:
    """The question's character bigrams, minus those of city names (every passage of a city's plan
    has them) and of question words."""
    text = qa.text
    for m in qa.municipalities:
        text = text.replace(m, " ").replace(municipality_stem(m), " ")
    text = re.sub(r"(どこ|どう|どんな|いつ|なに|何|ですか|ますか|でしょうか|ください|教えて|について|ありますか|には)", " ", text)
    return frozenset(japanese.char_bigrams(text))


_ACTION_RE = re.compile(r"施策|取組|取り組|推進内容|推進項目|事業|展開|方針|支援策|ねらい|具体的")
_STATUS_RE = re.compile(r"現状|課題|背景|経緯|沿革|これまで|状況")


def _section_kind(hit: Hit, sents, pos: int) -> tuple[float, float]:
    """Whether a sentence sits under what the plan *does* (施策展開, 主な取組, 推進内容 …) or under
    what it *found* (現状と課題, 背景 …), from the last two headings of its section path and the
    nearest label line above it in the passage (「<主な取組>」「●現状」「【ねらい】」): residents ask
    what the city does, and status sentences share their words without saying it."""
    label = ""
    for s, _l in reversed(sents[:pos]):
        c = japanese.compact(s)
        if len(c) < 16 and not s.rstrip().endswith("。") and (not _ITEM_RE.match(s.strip()) or _ACTION_RE.search(s) or _STATUS_RE.search(s)):
            label = s
            break
    text = " ".join([*hit.section[-2:], label])
    return (1.0 if _ACTION_RE.search(text) else 0.0, 1.0 if _STATUS_RE.search(text) else 0.0)


def model_candidates(retriever, qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float], qvec, sv,
                     search_side: tuple | None = None) -> list[_Candidate]:
    """Candidates with the features of the sentence model (``evidence_model.SENTENCE_FEATURES``)
    in ``features``; ``qvec``/``sv`` (query vector, sentence vectors) may be None (lexical model).
    ``search_side``: (query vector, sentence vectors) of the fine-tuned search encoder, which adds the
    chooser's ``scos`` and ``scos_rel`` (``evidence_model.CHOOSER_FEATURES``)."""
    cands = _candidates(hits, qa, weights)
    qb = _question_bigrams(qa)
    atype = asked_type(qa)
    top = hits[0].fusion_score if hits else 1.0
    pos_of = retriever._position
    named = [m for city in qa.municipalities for m in (city, municipality_stem(city))] + ["本市", "全市"]
    for c in cands:
        sents = _sentences(c.hit.text)
        prev = sents[c.position - 1][0] if c.position > 0 else ""
        head = " ".join(c.hit.section)
        lemmas = sents[c.position][1]
        cov = _coverage(c.text, lemmas, weights, qa)
        cov_ctx = _coverage(f"{head} {prev} {c.text}", lemmas | _lemmas(head) | (sents[c.position - 1][1] if c.position > 0 else frozenset()), weights, qa)
        i = pos_of.get(c.hit.id)
        c.features = {
            "cos": _sentence_cos(qvec, sv, i, c.position),
            "pcos": c.hit.dense,
            "fused": c.hit.fusion_score / top if top > 0 else 0.0,
            "inv_rank": 1.0 / max(c.hit.rank, 1),
            "cov": cov,
            "cov_ctx": cov_ctx,
            "bigram": _bigram_share(qb, c.text),
            "type": 1.0 if _type_bonus(atype, c.text) else 0.0,
            "heading": 1.0 if _is_heading_like(c.text, c.hit.section, atype) else 0.0,
            "row_other": 1.0 if _row_about_something_else(c.text, weights) else 0.0,
            "intro": 1.0 if _introduces_list(c.text, [x for x, _l in sents[c.position + 1 : c.position + 2]]) else 0.0,
            "names_city": 1.0 if qa.municipalities and any(m in c.text for m in named) else 0.0,
            "prior": c.score,  # the hand-weighted lexical score of _candidates, as one more feature
            "item": 1.0 if _ITEM_RE.match(c.text.strip()) else 0.0,
        }
        c.features["sec_action"], c.features["sec_status"] = _section_kind(c.hit, sents, c.position)
    _with_relative(cands, "cos")
    if search_side is not None:
        sqvec, ssv = search_side
        for c in cands:
            c.features["scos"] = _sentence_cos(sqvec, ssv, pos_of.get(c.hit.id), c.position)
        _with_relative(cands, "scos")
    return cands


def _with_relative(cands: list[_Candidate], feature: str) -> None:
    """``<feature>_rel``: each candidate's ``feature`` minus the best one's (how far from the question's best)."""
    best = max((c.features[feature] for c in cands), default=0.0)
    for c in cands:
        c.features[feature + "_rel"] = c.features[feature] - best


def row_relevance(retriever, qa: QueryAnalysis) -> "RowScore | None":
    """``row_score(hit, position)`` for ``choose`` (``RowScore``), or None when the index has no sentence
    vectors of the search side."""
    encoder, sv = retriever.sentence_side()
    if sv is None or encoder is retriever.embedder:
        return None
    terms = {w: 1.0 for w in qa.words if len(w) >= 2 and w not in qa.municipalities}
    for phrase, weight in qa.expansions.items():
        if len(phrase) >= 2:
            terms[phrase] = max(terms.get(phrase, 0.0), weight)
    return RowScore(retriever.sentence_query_vector(qa.text, adapted=False), sv, retriever.positions, terms)


class RowScore:
    """How near a table row is to the question: the cosine of its stored sentence vector under the search
    side's encoder (the vectors the chooser reads; the query vector is the one search already made), plus
    how much of the question it names (``names``: its words and their thesaurus expansions, by weight, at
    most 1). Why both: 「IT系のNPOはいくつ？」 asks the row 「情報化社会の発展: 2」 of a table of NPO fields,
    which the thesaurus names (IT → 情報化社会の発展) and the cosine alone ranked below 「保健・医療・福祉」."""

    def __init__(self, qvec, sv, positions: dict[str, int], terms: dict[str, float]):
        self.qvec, self.sv, self.positions, self.terms = qvec, sv, positions, terms

    def names(self, hit: Hit, position: int, besides: str = "") -> float:
        """The weight of the question's terms the row names (``besides``: not counting those this text —
        the table's caption — names already)."""
        sents = _sentences(hit.text)
        text = sents[position][0] if position < len(sents) else ""
        return min(1.0, sum(w for t, w in self.terms.items() if t in text and t not in besides))

    def __call__(self, hit: Hit, position: int) -> float:
        return _sentence_cos(self.qvec, self.sv, self.positions.get(hit.id), position) + self.names(hit, position)


def _sentence_cos(qvec, sv, i: int | None, position: int) -> float:
    """Cosine of the query vector and the sentence's stored vector (0 when either is missing)."""
    if qvec is None or sv is None or i is None:
        return 0.0
    rows = sv.for_chunk(i)
    return float(rows[position] @ qvec) if position < len(rows) else 0.0



_SPECIFIC_TYPES = ("when", "number", "where")


def missing_max(retriever, qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float]) -> float:
    """The most distinctive question noun that none of the top three passages (with title and
    section path) contains, as a share of the weight of a word the corpus never uses: 「電話番号」 in
    「協働推進課の電話番号は？」 — the topic is found, the asked thing is not written there."""
    if not weights or not hits:
        return 0.0
    n = max(len(retriever.index.chunks), 1)
    absent = float(np.log(1 + (n + 0.5) / 0.5))
    texts = [_folded(" ".join([h.title, *h.section, h.text])) for h in hits[:3]]
    lemmas = frozenset().union(*(_lemmas(" ".join([h.title, *h.section])) for h in hits[:3]), *(lem for h in hits[:3] for _s, lem in _sentences(h.text)))
    nouns = {t.lemma for t in japanese.analyze(qa.text) if t.pos1 == "名詞"}  # verbs (始める, 作る) ask no thing
    missing = [w for w in weights if w in nouns and w not in lemmas and not (len(w) >= 2 and any(w.lower() in t for t in texts))]
    # a noun an expansion stands in for is missing only in part, as _coverage credits it
    stood_in = _stood_in(qa, texts) if missing else {}
    return max((weights[w] * (1.0 - stood_in.get(w, 0.0)) for w in missing), default=0.0) / absent


def detail_features(cands: list[_Candidate], kind: str | None) -> dict[str, float]:
    """Asked-detail evidence (``asked.asked_detail``): does any sentence about the question's topic
    state a value of the asked kind — a fee in 円, a date, a count of people, a clock time, a phone
    number, a place, a procedure?

    ``detail_asked``: the question asks such a detail. ``detail_miss``: it does and none of the three
    best sentences (by the sentence model) holds a value of that kind. ``detail_gap``: the topic
    coverage (``cov_ctx``: the question's weighted words in the sentence, its heading and the sentence
    before) of the best-covering sentence minus that of the best-covering sentence *holding such a
    value* — large when the plans talk about the thing asked about (the marathon, the festival) but
    never next to a fee or a date."""
    if kind is None or not cands:
        return {"detail_asked": 0.0, "detail_miss": 0.0, "detail_gap": 0.0}
    top3 = sorted(cands, key=lambda c: -c.logit)[:3]
    best = max(c.features["cov_ctx"] for c in cands)
    with_value = [c.features["cov_ctx"] for c in cands if asked.holds_value(kind, c.text)]
    return {
        "detail_asked": 1.0,
        "detail_miss": 0.0 if any(asked.holds_value(kind, c.text) for c in top3) else 1.0,
        "detail_gap": best - max(with_value, default=0.0),
    }


def question_features(cands: list[_Candidate], hits: list[Hit], passage_cov: float, weights: dict[str, float], absent_weight: float,
                      qtype: str = "general", miss: float = 0.0, near: float = 0.0, detail: str | None = None,
                      n_bigrams: int = 0) -> dict[str, float]:
    """Question-level evidence for the answerability model (after candidates got ``logit``).

    ``type_miss``: the question asks a date, a figure or a place and none of the three best
    sentences (by the sentence model) has one; ``miss_max``: ``missing_max``; ``near_q``: how much
    closer the question is to answerable training questions than to out-of-scope ones
    (``evidence_model.QuestionBank``); ``q_len``: log(1 + the question's character bigrams, city names and
    question words left out) — a short question (「ボランティアを始めるには？」) shares most of its few
    bigrams with any sentence on its topic, so ``bigram_max`` means less for it than for a long one;
    ``bigram_len``: their product, so that the model can weigh the overlap by the question's length."""
    logits = sorted((c.logit for c in cands), reverse=True)
    top3 = sorted(cands, key=lambda c: -c.logit)[:3]
    type_miss = 1.0 if qtype in _SPECIFIC_TYPES and not any(c.features["type"] for c in top3) else 0.0
    coss = [c.features["cos"] for c in cands]
    total = sum(weights.values())
    return {
        "s_best": logits[0] if logits else -10.0,
        "s_second": logits[1] if len(logits) > 1 else -10.0,
        "cos_max": max(coss) if coss else 0.0,
        "cos_gap": (max(coss) - float(np.mean(coss))) if coss else 0.0,
        "pcos_max": max((h.dense for h in hits[:3]), default=0.0),
        "cov_sent": max((c.features["cov"] for c in cands), default=0.0),
        "cov_pass": passage_cov,
        "bigram_max": max((c.features["bigram"] for c in cands), default=0.0),
        "absent": absent_weight / total if total > 0 else 0.0,
        "type_miss": type_miss,
        "miss_max": miss,
        "near_q": near,
        "q_len": math.log1p(n_bigrams),
        "bigram_len": max((c.features["bigram"] for c in cands), default=0.0) * math.log1p(n_bigrams),
        # the answer reader's best logit over the candidates it read (add_reader_features)
        "reader_max": max((c.features.get("reader_best", c.features.get("reader", evidence_model.READER_FLOOR)) for c in cands),
                          default=evidence_model.READER_FLOOR),
    } | detail_features(cands, detail)


def evidence(retriever, qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float]) -> float:
    """How well the top passages support an answer, in [0, 1].

    Three signals, each computed over the top three hits: how much of the question a passage
    covers (with its title and section path), how much a single sentence covers (an answer is
    usually one sentence, while unrelated passages only scatter the words), and dense similarity
    above its floor. The mix was chosen on the dev set and JSQuAD questions 300–699 as negatives;
    the threshold is checked on JSQuAD questions 0–299 (scripts/calibrate_refusal.py).
    """
    passage_cov, sentence_cov, dense = _evidence_parts(qa, hits, weights)
    return 0.3 * passage_cov + 0.3 * sentence_cov + 0.3 * dense


def _evidence_parts(qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float]) -> tuple[float, float, float]:
    if not hits:
        return 0.0, 0.0, 0.0
    passage_cov = sentence_cov = 0.0
    for h in hits[:3]:
        head = " ".join([h.title, *h.section])
        sents = _sentences(h.text)
        ctx_lemmas = _lemmas(head).union(*(lem for _s, lem in sents))
        passage_cov = max(passage_cov, _coverage(head + " " + h.text, ctx_lemmas, weights, qa))
        for sent, lemmas in sents:
            sentence_cov = max(sentence_cov, _coverage(sent, lemmas, weights, qa))
    # cosine between unrelated Japanese texts is rarely below ~0.45 with the bundled model, so
    # only the part above that floor counts as evidence
    dense = max(0.0, max(h.dense for h in hits[:3]) - DENSE_FLOOR) / (1 - DENSE_FLOOR)
    return passage_cov, sentence_cov, dense


def absent_weight(retriever, weights: dict[str, float]) -> float:
    """The IDF weight of the question's words that no passage contains (what the plans would have to cover)."""
    n = max(len(retriever.index.chunks), 1)
    absent = float(np.log(1 + (n + 0.5) / 0.5))
    return sum(w for w in weights.values() if abs(w - absent) < 1e-9)


def _tidy(sentence: str) -> str:
    s = BULLET_RE.sub("", sentence.strip())
    return unicodedata.normalize("NFC", s)


def _source_label(hit: Hit) -> str:
    if hit.municipality and hit.municipality != "不明" and hit.municipality not in hit.title:
        return f"{hit.title}（{hit.municipality}）"
    return hit.title


def compose(chosen: list[_Candidate], grouped: bool = False) -> tuple[str, list[Citation]]:
    """Lead naming the source(s), then each sentence with its ``[n]``; citations numbered in order.
    ``grouped``: every source gets its own 「…では、」 part even when there is only one (an answer
    that set out to say what each city's plan says)."""
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    for c in chosen:
        if c.hit.id not in numbers:
            numbers[c.hit.id] = len(numbers) + 1
            citations.append(Citation(number=numbers[c.hit.id], hit=c.hit))
    for c in chosen:
        citations[numbers[c.hit.id] - 1].quote.append(_tidy(c.text))
    by_doc: dict[str, list[_Candidate]] = {}
    for c in chosen:
        by_doc.setdefault(c.hit.doc_id, []).append(c)
    parts: list[str] = []
    for group in by_doc.values():
        label = _source_label(group[0].hit)
        lead = f"{label}によると、" if len(by_doc) == 1 and not grouped else f"{label}では、"
        lines = [f"{text} [{numbers[c.hit.id]}]" for c, text in _shown_lines(group)]
        if len(lines) == 1:
            parts.append(lead + lines[0])
        else:
            parts.append(lead + "\n" + "\n".join("・" + line for line in lines))
    return "\n\n".join(parts), citations


def _shown_lines(group: list[_Candidate]) -> list[tuple[_Candidate, str]]:
    """Each line of one source's part of the answer with the text it is shown with: as it stands (tidied),
    except an item sheet's schedule, whose years and row of what is done each year are shown as one line
    (``item_sheets.schedule_text``; the citation still quotes both rows, as the passage has them)."""
    shown: list[tuple[_Candidate, str]] = []
    skip = False
    for c, nxt in zip(group, [*group[1:], None]):
        if skip:
            skip = False
            continue
        merged = None
        if nxt is not None and nxt.hit.id == c.hit.id and nxt.position == c.position + 1:
            merged = item_sheets.schedule_text(c.text, nxt.text)
        skip = merged is not None
        shown.append((c, _tidy(merged or c.text)))
    return shown


def choose(cands: list[_Candidate], next_chunks=lambda _hit: [], ratio: float = 0.75, *, max_sentences: int = MAX_SENTENCES,
           max_sources: int = MAX_SOURCES, max_lines: int = MAX_ANSWER_LINES, asks_measures: bool = False,
           row_score=None, spread: bool = False, item_field: str | None = None, prev_chunks=lambda _hit: []) -> list[_Candidate]:
    """The best sentence plus others nearly as good (from at most ``max_sources`` passages,
    ``max_sentences`` in all) and the sentence model's confident first choice when the score left it
    out (``_model_pick``), then what completes each (``_continuation``): the list or table it announces,
    belongs to or heads, the rows under a caption, a glossary term's definition, the contact lines
    under an office's name, an example that follows it, or (for the best one) the sentence that
    carries on from it;
    and when the question asks a detail no line states, the row or sentence beside the best one that
    does (``_asked_value_beside``) — ``max_lines`` lines at most (an answer about several cities gives
    each city its share of these). ``asks_measures``: the question asks what is done (「どのような取組を
    行いますか」); then the list of measures that follows the best sentence under its own label comes
    too (``_measures_after``), unless a list of the best sentence's passage is shown already (another
    passage's list is about something else). ``row_score(hit, position)``: how near a table row is to the question, which picks
    the rows of a table too long to show whole (``_rows_shown``). ``spread``: the answer is hedged, so when its
    lines all come from one passage the best line of another joins them (``_another_passage``).
    ``item_field``: the row of an item sheet the question asks for (``asked.asked_item_field``), brought
    from the best line's sheet (``_with_item_field``). ``prev_chunks(hit)``: the passages before ``hit``,
    nearest first (an item sheet that began there, ``_window``)."""
    if not cands:
        return []
    cands = sorted(cands, key=lambda c: -c.score)
    best = cands[0]
    chosen: list[_Candidate] = [best]
    taken = {japanese.compact(best.text)}
    sources = {best.hit.id}
    for c in cands[1:]:
        if len(chosen) >= max_sentences:
            break
        if c.score < ratio * best.score or c.coverage <= 0 or japanese.compact(c.text) in taken:
            continue
        if c.hit.id not in sources and len(sources) >= max_sources:
            continue
        chosen.append(c)
        taken.add(japanese.compact(c.text))
        sources.add(c.hit.id)
    pick = _model_pick(cands, chosen, max_sources)
    if pick is not None:
        chosen.append(pick)
    if spread and (other := _another_passage(cands, chosen)) is not None:
        chosen.append(other)
    # reading order: by passage rank, then by position within the passage
    chosen.sort(key=lambda c: (c.hit.rank, c.position))
    out: list[_Candidate] = []
    in_out: set[str] = set()
    for i, c in enumerate(chosen):
        if japanese.compact(c.text) in in_out:
            continue  # already shown as part of an earlier sentence's list
        room = max_lines - len(out) - (len(chosen) - i - 1)
        cont = _continuation(c, next_chunks(c.hit), allow_follow_on=(c is best), row_score=row_score) if room > 1 else []
        if not cont and room >= 1 and (row := _best_row_alone(c, next_chunks(c.hit), row_score)) is not None:
            c = row
        if any(x is c for x in cont):
            # the list c belongs to (its siblings) or heads (its sub-items), in reading order, in c's place
            add = [x for x in cont if japanese.compact(x.text) not in in_out][:room]
        else:
            # c, then the list it announces or the sentence that carries on from it (not shown elsewhere)
            later = {japanese.compact(x.text) for x in chosen[i + 1 :]}
            add = [c] + [x for x in cont if japanese.compact(x.text) not in in_out | later][: room - 1]
        out += add
        in_out |= {japanese.compact(x.text) for x in add}
    if asks_measures and not any(_ITEM_RE.match(x.text.strip()) and x.hit.id == best.hit.id for x in out):
        out = _with_measures(out, best, max_lines)
    out = _with_antecedents(out, chosen, max_lines)
    extra = _asked_value_beside(best, out)
    if extra is not None and len(out) < max_lines and japanese.compact(extra.text) not in in_out:
        at = next((i for i, x in enumerate(out) if x.hit.id == best.hit.id and x.position == best.position), None)
        if at is None:
            out.append(extra)
        else:
            out.insert(at if extra.position < best.position else at + 1, extra)
    out = _with_item_field(out, chosen, best, item_field, max_lines, prev_chunks, next_chunks)
    # last: a caption or an item's name only says what a shown line is about, the lines above answer
    return _with_captions(out, max_lines, prev_chunks)


# how far after the best sentence its passage's list of measures may start (the label's position)
MEASURES_WINDOW = 3


def _measures_after(best: _Candidate) -> list[int]:
    """The list of measures a plan sets under a label right after the sentence stating the aim
    (「…広報・広聴機能の充実を図ります。」 … 「<主な取組>」 「・広報紙、ホームページの充実」 …; 「【ねらい】」
    body, then 「個別施策（1）…」 and its items): the label (a caption naming 取組, 施策, 事業, 推進項目 …,
    ``_ACTION_RE``) within ``MEASURES_WINDOW`` lines after the best sentence, and its items. Empty when
    no such list follows."""
    sents = [s for s, _l in _sentences(best.hit.text)]
    for pos in range(best.position + 1, min(len(sents) - 1, best.position + 1 + MEASURES_WINDOW)):
        line = sents[pos]
        if _is_caption(line) and _ACTION_RE.search(line) and _ITEM_RE.match(sents[pos + 1].strip()):
            run = _list_run(sents, pos)
            return run if len(run) > 1 else []
    return []


def _with_measures(out: list[_Candidate], best: _Candidate, max_lines: int) -> list[_Candidate]:
    """``out`` with the best sentence's list of measures (``_measures_after``) placed after the lines of
    the best sentence's passage that come before it, as far as ``max_lines`` allows."""
    run = _measures_after(best)
    shown = {(x.hit.id, x.position) for x in out}  # by place: another list's 「<主な取組>」 is not this one's
    sents = [s for s, _l in _sentences(best.hit.text)]
    add = [_Candidate(best.hit, p, sents[p], best.score, best.coverage, detail=best.detail) for p in run
           if (best.hit.id, p) not in shown][: max(0, max_lines - len(out))]
    if len(add) < 2:  # a label alone, or nothing
        return out
    at = next(i for i, x in enumerate(out) if x is best) + 1 if any(x is best for x in out) else len(out)
    while at < len(out) and out[at].hit.id == best.hit.id and out[at].position < run[0]:
        at += 1
    return out[:at] + add + out[at:]


def _model_pick(cands: list[_Candidate], chosen: list[_Candidate], max_sources: int) -> "_Candidate | None":
    """The sentence model's own first choice, when it is confident (probability above one half) and the
    ordering score left it out. The score blends the hand-weighted score with a small share of the
    model (``order_by_model``), which keeps the lexically closest sentences first; for a question in
    other words than the plan's (「まちの紹介パンフや名所の案内図」 for 「市勢要覧、観光マップ」) the model
    is often right where the hand score is not, so its pick joins the answer rather than replacing it —
    when it is a sentence or an item of a list, not a lone label. No-op for the hand-calibrated path
    (every logit 0)."""
    top = max(cands, key=lambda c: c.logit)
    if top.logit <= 0 or top.coverage <= 0 or any(c is top for c in chosen):
        return None
    if not _stands_alone(top):
        return None
    if japanese.compact(top.text) in {japanese.compact(c.text) for c in chosen}:
        return None
    if top.hit.id not in {c.hit.id for c in chosen} and len({c.hit.id for c in chosen}) >= max_sources:
        return None
    return top


def _stands_alone(c: _Candidate) -> bool:
    """A sentence, or one item of a list (which brings its siblings); not a lone label such as
    「○ 地域公共交通」 or 「⑤…の割合【単位:%】」, which heads a paragraph or table the answer would not show."""
    sents = [s for s, _l in _sentences(c.hit.text)]
    return not (_is_heading_like(c.text, c.hit.section) or (not c.text.rstrip().endswith("。") and len(_list_run(sents, c.position)) < 2))


def _another_passage(cands: list[_Candidate], chosen: list[_Candidate]) -> "_Candidate | None":
    """For a hedged answer whose lines all come from one passage: the best line of another passage
    (one that stands alone and shares a word with the question), so that the answer shows the two
    places the plans come nearest to the question rather than four lines of one.
    Why: a hedged answer is one the answer model doubts; its first passage is then the wrong one more
    often than for a confident answer, and the right line was in the second passage for most tune
    questions whose right passage was among the top five but not cited (docs/BENCHMARKS.md §9.29)."""
    if len({c.hit.id for c in chosen}) != 1:
        return None
    shown = {japanese.compact(c.text) for c in chosen}
    for c in cands:  # cands in score order
        if c.hit.id != chosen[0].hit.id and c.coverage > 0 and japanese.compact(c.text) not in shown and _stands_alone(c):
            return c
    return None


def _asked_value_beside(best: _Candidate, out: list[_Candidate], kind: str | None = None) -> "_Candidate | None":
    """When the question asks a detail (``asked.detail_for_answer``: a date, a count, a fee, an office …)
    and no line of the answer states a value of that kind (``asked.states_value``: 「地域課題」 names no
    office), the sentence right after — else right before — the best one in its passage, if it does (when
    the best line is a numbered item and a neighbouring row carries an item number, only the item's own row:
    ``_row_number``):
    tables and running text often put the asked value in the next or previous row (「推進項目: …」 beside
    「担当課 / 行革推進課…」). (Looking beside every chosen line, not only the best, gained nothing on any
    set: BENCHMARKS §9.14.)"""
    kind = kind or best.detail
    # an office is the best line's own: one another passage's line names (another item's 担当課) is not it
    stating = [x for x in out if kind != "office" or x.hit.id == best.hit.id]
    if kind is None or any(asked.states_value(kind, x.text) for x in stating):
        return None
    sents = _sentences(best.hit.text)
    item = _item_number(best.text)
    found = []
    for pos in (best.position + 1, best.position - 1):
        if 0 <= pos < len(sents):
            s = sents[pos][0]
            if asked.states_value(kind, s) and len(japanese.compact(s)) >= 6 and not _is_heading_like(s, best.hit.section):
                row = _row_number(s)
                if item is not None and row is not None:
                    if row != item:
                        continue  # another item's row
                    found.insert(0, pos)  # the item's own row, on whichever side
                else:
                    found.append(pos)
    if not found:
        return None
    return _Candidate(best.hit, found[0], sents[found[0]][0], best.score, best.coverage, detail=kind)


# 「推進項目: ③ 地域間交流の促進」, 「③ 地域間交流の促進」: an item line's own number
_ITEM_NUMBER_RE = re.compile(r"^(?:[^:：/]{1,8}[:：]\s*)?([①-⑳])")
# 「整理番号: Ⅱ - (5) - ③ / 種別 / 新規 担当課 / …」: the number of the item a row belongs to
_ROW_NUMBER_RE = re.compile(r"番号\s*[:：]?\s*[^/]*?([①-⑳])\s*(?:/|$)")


def _circled(m: "re.Match | None") -> int | None:
    return int(unicodedata.numeric(m.group(1))) if m else None


def _item_number(line: str) -> int | None:
    return _circled(_ITEM_NUMBER_RE.match(line.strip()))


def _row_number(line: str) -> int | None:
    """The item number a plan table's row carries (its 整理番号's last part), or None. Why: an action plan
    lays each item out as a box (整理番号 and 担当課 on one row, 推進項目, 目的, 推進内容 …), and the box's
    row may come before or after its item line in the text, next to another item's row; the numbers
    say which row is the item's own (「③ 地域間交流の促進」 ↔ 「整理番号: Ⅱ-(5)-③ … 担当課 / …」)."""
    return _circled(_ROW_NUMBER_RE.search(line))


def answer_model(retriever) -> "evidence_model.AnswerModel | None":
    """The fitted answer model for the retriever's answer encoder, if it can be used with this index.

    A model fitted with cosine features needs that encoder's sentence vectors in the index, and the
    search model it was fitted with; otherwise the lexical entry is used (with a warning). ``None``
    (the encoder's entry says ``legacy-evidence``, or nothing is fitted at all) means the
    hand-calibrated evidence score and ``REFUSAL_THRESHOLD``.
    """
    cached = retriever.__dict__.get("_answer_model", False)
    if cached is not False:
        return cached
    model_id = retriever.answer_encoder.model_id
    model = evidence_model.for_embedder(_entry_key(retriever, model_id))
    sv = retriever.index.sentence_vectors
    if model is not None and model.uses_cosines and (sv is None or sv.model_id != model_id):
        log.warning("index has no sentence vectors of %s: answering with the lexical answer model", model_id)
        model = evidence_model.lexical()
    fitted_weights = (model.info.get("fitted_on") or {}).get("weights_id") if model is not None and model.uses_cosines else None
    if fitted_weights and fitted_weights != getattr(retriever.answer_encoder, "weights_id", None):
        # its cosine features and threshold belong to other weights of the same model id (a rebuilt or
        # fine-tuned encoder): used as is it refuses or answers at random, so fall back loudly
        log.warning("answer model %s was fitted on encoder weights %s, this index's encoder runs %s: answering with "
                    "the lexical answer model (refit: %s)", model_id, fitted_weights, getattr(retriever.answer_encoder, "weights_id", None),
                    evidence_model.REFIT_COMMAND)
        model = evidence_model.lexical()
    fitted_with = model.info.get("retrieval_model") if model is not None else None
    if fitted_with and fitted_with != retriever.embedder.model_id:
        # its fused scores and passage cosines came from another search model: not comparable
        log.warning("answer model %s was fitted with search model %s, not %s: answering with the lexical answer model",
                    model_id, fitted_with, retriever.embedder.model_id)
        model = evidence_model.lexical()
    if model is not None and model.chooser is not None:
        chooser_weights = (model.info.get("fitted_on") or {}).get("search_weights_id")
        search_weights = getattr(retriever.search_encoder, "weights_id", None) if retriever.two_sided else None
        if search_weights is None or chooser_weights != search_weights:
            # its scos features came from other search-encoder weights (or there are none): the sentence
            # model orders the candidates instead
            if search_weights is not None:
                log.warning("answer model's chooser was fitted on search-encoder weights %s, this index's search encoder runs %s: "
                            "ordering answer sentences with the sentence model (refit: %s)", chooser_weights, search_weights,
                            evidence_model.REFIT_COMMAND)
            model = dataclasses.replace(model, chooser=None)
    retriever._answer_model = model
    return model


def _entry_key(retriever, model_id: str) -> str:
    """The answer model entry to use: the one fitted with the answer reader's features (``<id>+reader``)
    when the reader is loaded and is the one that entry was fitted with; else the encoder's own entry."""
    rd = retriever.reader
    key = model_id + evidence_model.READER_SUFFIX
    if rd is None or not evidence_model.has_entry(key):
        return model_id
    entry = evidence_model.for_embedder(key)
    use = entry.reader if entry is not None else None
    if use is None or use.weights_id != rd.weights_id:
        log.warning("answer model %s was fitted with other reader weights (%s, loaded: %s): answering without the reader "
                    "(refit: python scripts/fit_answer_model.py --reader --write)", key, use and use.weights_id, rd.weights_id)
        return model_id
    return key


def order_by_model(cands: list[_Candidate], choice: str, blend: float = 0.0) -> None:
    """Set each candidate's ``score`` (what ``choose`` orders by) from the fitted entry's choice:
    "model" — odds relative to the best sentence, so ``choose`` keeps others within ``keep_ratio``;
    "blend" — the hand-weighted score plus ``blend`` × the sentence model's probability;
    "prior" — the hand-weighted score alone (unchanged)."""
    if choice == "model":
        best = max((c.logit for c in cands), default=0.0)
        for c in cands:
            c.score = float(np.exp(c.logit - best))
    elif choice == "blend":
        for c in cands:
            c.score = c.features["prior"] + blend / (1.0 + float(np.exp(-max(-30.0, min(30.0, c.logit)))))
    else:
        for c in cands:
            c.score = c.features["prior"]


def reader_text(retriever, c: _Candidate) -> str:
    """What the answer reader reads for candidate ``c`` (``reader.passage_text``): its passage's nearest heading,
    the sentence and what choosing it brings: the list it announces … (``_continuation``) and, when the
    question asks a place or office none of those lines states, the line beside that states it
    (``_asked_value_beside``: 「推進項目: ① 地域づくりリーダーの育成」 brings its 「…担当課 / (仮称)地域活性化センター」 row).
    Why: the reader should judge what the answer would show; read alone, an item line cannot answer
    「担当はどこ？」 (tune: 「リーダー育成の担当はどこ？」 p 0.05 → 0.65, docs/BENCHMARKS.md §9.24). Places only: a plan's
    item rows carry their office beside them, while the number or date beside a line is often another
    row's (「公募委員には何歳から？」 read beside a table of 女性委員の割合 as answered, p 0.14 → 0.95)."""
    heading = c.hit.section[-1] if c.hit.section else c.hit.title
    brought = _continuation(c, retriever.following_chunks(c.hit), bodies=False)
    # an office question is read as a place question, as the reader was fitted (composition alone
    # tells an office from a place: asked.states_value)
    beside = _asked_value_beside(c, [c, *brought], kind="place") if c.detail in ("place", "office") else None
    if beside is not None:
        brought = [*brought, beside] if beside.position > c.position else [beside, *brought]
    return reader.passage_text(heading, c.text, [x.text for x in brought])


def add_reader_features(use: "evidence_model.ReaderUse", cands: list[_Candidate], read, search_cands: list[_Candidate] = ()) -> None:
    """Set the reader's features on the judging side's ``cands``: the ``use.k`` candidates the entry's first
    stage (its sentence model fitted without the reader's features) ranks highest are read — ``read(candidates)``
    gives their logits —, the others get ``use.floor``; ``reader_rel`` is each one's logit minus the best.
    ``search_cands``: the search side's candidates in the chooser's order, whose first ``use.search_k`` are read
    too (one call with the judging side's); ``reader_best`` (→ ``reader_max``) is the best over both sides.
    Why the search side: for most answerable questions refused, no judging-side candidate the first stage
    puts first holds the answer while the search side's do (docs/BENCHMARKS.md §9.24, §9.25).
    Why so few: each read costs 6–15 ms on two cores, and the reader's gain is in deciding whether to answer;
    the answer's sentences are chosen as without it."""
    if not cands:
        return
    z = np.array([use.sentence.logit(c.features) for c in cands])
    top = [int(i) for i in np.argsort(-z, kind="stable")[: use.k]]
    extra = list(search_cands[: use.search_k])
    got = np.asarray(read([cands[i] for i in top] + extra), dtype=np.float64)
    vals = np.full(len(cands), use.floor, dtype=np.float64)
    vals[top] = got[: len(top)]
    best = float(vals.max())
    overall = max(best, float(got[len(top):].max(initial=use.floor)))
    for c, v in zip(cands, vals):
        c.features["reader"] = float(v)
        c.features["reader_rel"] = float(v) - best
        c.features["reader_best"] = overall


def _score_with_model(retriever, model, qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float],
                      judge: bool = True, search_cands: list[_Candidate] = ()) -> tuple[list[_Candidate], float]:
    """Candidates with their sentence-model logits (ordering them too when the entry's ``choice`` is
    "model"; otherwise ``score`` stays the hand-weighted one) and the probability that the plans
    answer the question (0 when not ``judge``). ``search_cands``: the search side's candidates in the
    chooser's order (the reader reads their first ``search_k`` too)."""
    if not hits:
        return [], 0.0
    qvec = retriever.answer_query_vector(qa.text) if model.uses_cosines else None
    sv = retriever.index.sentence_vectors if model.uses_cosines else None
    # the chooser orders the search side's candidates (never judged on: its cosines make everyday
    # questions look answered); without the search encoder's vectors the sentence model orders them
    chooser = model.chooser if not judge and retriever.two_sided else None
    search_side = (retriever.sentence_query_vector(qa.text, adapted=False), retriever.sentence_side()[1]) if chooser else None
    cands = model_candidates(retriever, qa, hits[:CANDIDATE_HITS], weights, qvec, sv, search_side)
    if judge and model.reader is not None and retriever.reader is not None:
        read_as = retriever.reader_query_text(qa.text)  # as asked unless reader_expansions is set (§9.24)
        add_reader_features(model.reader, cands, lambda cs: retriever.reader.scores(read_as, [reader_text(retriever, c) for c in cs]),
                            search_cands)
    for c in cands:
        c.logit = (chooser or model.sentence).logit(c.features)
    order_by_model(cands, model.choice, model.blend)
    if not judge:
        return cands, 0.0
    pcov = _evidence_parts(qa, hits, weights)[0]
    near = model.bank.nearness(qvec) if model.bank is not None and qvec is not None else 0.0
    qf = question_features(cands, hits, pcov, weights, absent_weight(retriever, weights), asked_type(qa), missing_max(retriever, qa, hits, weights), near,
                           asked.asked_detail(qa.text), len(_question_bigrams(qa)))
    return cands, model.answerable.prob(qf)


# --- follow-ups asking one aspect of the previous answer (「それはいつまで？」「担当はどこ？」) -------------

# what a sentence (or table cell) must contain to state the aspect
_ASPECT_RES = {
    "when": re.compile(r"((?:明治|大正|昭和|平成|令和)\s*(?:\d|元)|(?<![A-Za-z])[HR]\s*\d|\d\s*年|年度|\d\s*月|\d\s*日|期間|期限|までに|以降|から\s*\d)"),
    "how_much": re.compile(r"(\d[\d,，.]*\s*(?:千|万|億|兆)?\s*円|予算|費用|金額|経費|負担金|補助率)"),
    "where": re.compile(r"(課|室|センター|窓口|市役所|役場|支所|公民館|事務所|会館|施設|拠点|協議会)"),
    # an actor, not a topic word: a role (担当課, 所管, 実施主体, 〜が主体, 担い手), a named office of the
    # administration (〜課, 〜部, 〜局, 〜室 — not 課題, 一部, 部分), or residents, groups, businesses
    # or the city as the subject of what is done (「市民・団体が…担う」「市は…支援します」)
    "who": re.compile(
        r"(担当課|担当部署|所管|実施主体|事業主体|対象主体|が主体|主体(?:と|的|:|：)|担い手|実施者|"
        r"[\u4e00-\u9fff\u30a1-\u30fa]{2,12}(?<![一全細内外])(?:課|部|局|室)(?=[がはにのでとや、。・）)」\s/:：]|$)|"
        r"(?:市民|住民|団体|NPO|事業者|企業|自治会|地域協働体|協議会|行政|市|町|村)(?:等|など|の皆さん)?(?:が|は|と)"
        r"(?=[^。]{0,40}?(?:担|行[いうっえ]|実施|取り?組|進め|支援|推進|設置|運営|役割|協力|参加|参画|連携|協働)))"
    ),
}
ASPECT_LABELS = {"when": "時期・期間（いつ）", "how_much": "費用・金額（いくら）", "where": "場所・窓口（どこ）", "who": "担い手（誰）"}
ASPECT_LEAD = "前の回答の出典のうち、{label}について書かれている箇所です。"
ASPECT_MISSING = "前の回答の出典には、{label}についての記載は見当たりませんでした。"


def _aspect_part(sentence: str, pattern: re.Pattern) -> str:
    """A table row narrowed to its label cell and the cells stating the aspect (verbatim cells);
    any other sentence as it is."""
    cells = [c for c in sentence.split(" / ")]
    if len(cells) < 3 or not all(":" in c for c in cells):
        return sentence
    keep = [cells[0]] + [c for c in cells[1:] if pattern.search(c)]
    return " / ".join(keep) if len(keep) > 1 else sentence


def _previous_chunks(retriever, history: list[dict] | None, quoted: set[str]) -> list:
    """The passages the previous answer cited, in citation order.

    By id when the history carries them (``conversation.previous_sources``: a dictionary lookup
    per id); otherwise — an API client sending plain text — each quoted sentence is searched for
    among the passages that contain it verbatim, so neither way scans every passage. A sentence a plan
    repeats (「…【再掲】」 lists) is in several passages: the fewest passages that hold every quoted
    sentence are kept (greedily, the one holding most of those not yet held first), not every passage
    that repeats one of them."""
    ids = previous_sources(history)
    if ids:
        found = {i: retriever.index.chunk_by_id(i) for i in ids}  # dict: each id once, in order
        return [c for c in found.values() if c is not None]
    if not quoted:
        return []
    prev = japanese.compact(last_answer(history))
    holds: dict[str, tuple[object, set[str]]] = {}  # passage id → (passage, the quoted sentences it holds)
    for s in sorted(quoted, key=prev.find):
        for hit in retriever.search(s, k=3):
            if s in japanese.compact(hit.chunk.text):
                holds.setdefault(hit.chunk.id, (hit.chunk, set()))[1].add(s)
    left = set().union(*(h for _c, h in holds.values())) if holds else set()
    cited: list[tuple[int, object]] = []
    while left:
        chunk, held = max(holds.values(), key=lambda t: (len(t[1] & left), -min(prev.find(s) for s in t[1])))
        cited.append((min(prev.find(s) for s in held & left), chunk))
        left -= held
    return [c for _at, c in sorted(cited, key=lambda t: t[0])]


def aspect_answer(retriever, aspect: str, history: list[dict] | None, query: str, notes: list[str]) -> Answer | None:
    """That aspect of the passages the previous answer cited, or a plain "not stated there" with
    those passages; ``None`` when the previous answer cited nothing we can find."""
    quoted = previously_cited(history)
    chunks = _previous_chunks(retriever, history, quoted)
    if not chunks:
        return None
    hits = [Hit(chunk=chunk, score=1.0, rank=i) for i, chunk in enumerate(chunks[:MAX_SOURCES])]
    pattern = _ASPECT_RES[aspect]
    cands: list[_Candidate] = []
    for hit in hits:
        mine: list[_Candidate] = []
        sents = [s for s, _l in _sentences(hit.text)]
        said = [i for i, s in enumerate(sents) if any(q in japanese.compact(s) or japanese.compact(_tidy(s))[:40] == q for q in quoted)]
        for pos, sent in enumerate(sents):
            if len(japanese.compact(sent)) < 6 or not pattern.search(sent):
                continue
            near = min((abs(pos - i) for i in said), default=len(sents))
            mine.append(_Candidate(hit=hit, position=pos, text=_aspect_part(sent, pattern), score=1.0 / (1 + near), coverage=1.0))
        # where the quoted sentences themselves state it, they are the answer; else the nearest that do
        cands += [c for c in mine if c.score == 1.0] or mine
    label = ASPECT_LABELS[aspect]
    if not cands:
        citations = [Citation(number=i + 1, hit=h) for i, h in enumerate(hits)]
        where = "\n".join(f"・{_source_label(h)} {' > '.join(h.section) or '（本文）'} [{i + 1}]" for i, h in enumerate(hits))
        text = ASPECT_MISSING.format(label=label) + "\n\n確認した箇所:\n" + where
        return Answer(text=text, citations=citations, refused=False, query_used=query, confidence=0.0, related=[], notes=notes)
    cands.sort(key=lambda c: (-c.score, c.hit.rank, c.position))
    chosen: list[_Candidate] = []
    taken: set[str] = set()
    for c in cands:
        key = japanese.compact(c.text)
        if key not in taken and len(chosen) < MAX_SENTENCES:
            chosen.append(c)
            taken.add(key)
    chosen.sort(key=lambda c: (c.hit.rank, c.position))
    text, citations = compose(chosen)
    return Answer(text=ASPECT_LEAD.format(label=label) + "\n\n" + text, citations=citations, refused=False,
                  query_used=query, confidence=1.0, related=[], notes=notes)


def refusal(hits: list[Hit], query: str, notes: list[str], confidence: float) -> Answer:
    related: list[Hit] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for h in hits:
        key = (h.doc_id, tuple(h.section))
        if key not in seen:
            seen.add(key)
            related.append(h)
        if len(related) == 3:
            break
    text = REFUSAL_TEXT
    if related:
        text += "\n\n関連しそうな箇所:\n" + "\n".join(
            f"・{_source_label(h)} {' > '.join(h.section) or '（本文）'}" for h in related
        )
    return Answer(text=text, refused=True, query_used=query, confidence=confidence, related=related, notes=notes)


def answer(
    retriever, question: object, history: list[dict] | None = None, *, municipality: str | None = None,
    doc_id: str | None = None, k: int = TOP_HITS,
) -> Answer:
    """The whole answering step. Never raises for user input."""
    q, notes = clean_question(question)
    q = plain_question(q)
    if not q:
        return Answer(text=EMPTY_PROMPT, refused=False, query_used="", notes=notes)
    first = retriever.analyze(q)
    query, wants_more = rewrite_followup(q, history, retriever.municipalities, first.words)
    aspect = followup_aspect(q) if history else None
    if aspect:
        # 「それはいつまで？」: that aspect of the passages the previous answer cited
        by_aspect = aspect_answer(retriever, aspect, history, query, notes)
        if by_aspect is not None:
            return by_aspect
    qa = first if query == q else retriever.analyze(query)
    exclude: set[str] = set()
    if wants_more:
        quoted = previously_cited(history)
        exclude = {c.id for c in retriever.index.chunks if any(s in japanese.compact(c.text) for s in quoted)}
    if len(qa.municipalities) >= 2 and not municipality and not doc_id:
        # 「山口市と長門市で、…はそれぞれ何ですか？」: one search and one answer part per named city
        return per_city_answer(retriever, qa, query, notes, k=k, exclude=exclude)
    hits = retriever.search(query, k=max(k, 1), municipality=municipality, doc_id=doc_id, exclude_ids=exclude, analysis=qa)
    weights = _term_weights(retriever, qa)
    model = answer_model(retriever)
    cands, conf, refuse_below, hedge_below = _judge(
        retriever, model, qa, hits, weights,
        judging_hits(retriever, hits, query, k=max(k, 1), municipality=municipality, doc_id=doc_id, exclude_ids=exclude, analysis=qa))
    if not hits or conf < refuse_below:
        return refusal(hits, query, notes, conf)
    chosen = choose(cands, retriever.following_chunks, ratio=0.75 if model is None else model.keep_ratio,
                    asks_measures=asked_type(qa) == "how", row_score=row_relevance(retriever, qa), spread=conf < hedge_below,
                    item_field=asked.asked_item_field(qa.text), prev_chunks=retriever.preceding_chunks)
    if not chosen:
        return refusal(hits, query, notes, conf)
    if not qa.municipalities and not municipality and not doc_id:
        chosen += other_plan_lines(retriever, model, query, hits, chosen, hedge_below, k=k, exclude=exclude)
    text, citations = compose(chosen)
    if conf < hedge_below:
        # weak but not absent evidence: say so rather than present a loosely related passage as the
        # answer, and name the asked detail when no quoted line states it
        text = _hedged(text, qa, chosen)
    return Answer(text=text, citations=citations, refused=False, query_used=query, confidence=conf, related=[], notes=notes)


def other_plan_lines(retriever, model, query: str, hits: list[Hit], chosen: list[_Candidate], min_conf: float, *,
                     k: int = TOP_HITS, exclude: set[str] | frozenset[str] = frozenset()) -> list[_Candidate]:
    """For a question naming no city: the lines of another plan among the first ``OTHER_PLAN_HITS``
    passages that the answer does not quote yet, when that plan, searched and judged on its own, answers the
    question at least as surely as ``min_conf`` (the hedge threshold); [] otherwise.

    Why: 「審議会のメンバーに女の人を増やす考えは？」 asked without a city is answered by more than one city's
    plan, and the best passage decides which one the answer quotes — for half of such plan training questions
    whose first passages come from different plans, not the plan the asker had in mind (docs/BENCHMARKS.md
    §9.35). Its part, labelled by its plan, gets the share a two-city answer gives each city; the answer
    judged on the whole corpus stays first and whole, so nothing it held is lost, and a refusal stays one."""
    have = {c.hit.doc_id for c in chosen}
    other = next((h.doc_id for h in hits[:OTHER_PLAN_HITS] if h.doc_id not in have), None)
    if other is None:
        return []
    return _part_lines(retriever, model, _Part(query, {"doc_id": other}), 2, k=k, exclude=exclude, min_conf=min_conf)[0]


def judging_hits(retriever, hits: list[Hit], query: str, **search_args) -> list[Hit]:
    """The passages answerability is judged on: the answer side's (``Retriever.search(side="answer")``)
    when a fine-tuned search encoder ordered ``hits``, else ``hits`` themselves.

    Why two searches: the search encoder finds far more passages for questions in residents' own words,
    but it also brings everyday out-of-scope questions passages that look relevant, and the answer model
    judged on them refused far fewer of those (docs/BENCHMARKS.md §9.19: out of fold, everyday
    questions refused 0.856 vs 0.895, tune out-of-scope 0.722 vs 0.789). So answerability is judged as
    the model was fitted — on the untouched encoder's ordering — and the answer is composed from the
    search side's passages."""
    if not retriever.two_sided or not hits:
        return hits
    return retriever.search(query, side="answer", **search_args)


def _judge(retriever, model, qa: QueryAnalysis, hits: list[Hit], weights: dict[str, float], judge_hits: list[Hit] | None = None):
    """(candidates from ``hits``, answerability judged on ``judge_hits`` (default: ``hits``), refusal
    threshold, hedge threshold): the fitted answer model's, or with no fitted model the hand-calibrated
    evidence score's."""
    judge_hits = hits if judge_hits is None else judge_hits
    if model is None:
        conf = evidence(retriever, qa, judge_hits, weights)
        cands = _candidates(hits[:CANDIDATE_HITS], qa, weights) if hits and conf >= REFUSAL_THRESHOLD else []
        return _prefer_asked(retriever, qa, cands), conf, REFUSAL_THRESHOLD, HEDGE_THRESHOLD
    if judge_hits is hits:
        cands, conf = _score_with_model(retriever, model, qa, judge_hits, weights)
    else:  # the search side first: the reader may read its first candidates for the judgement
        cands = _score_with_model(retriever, model, qa, hits, weights, judge=False)[0]
        conf = _score_with_model(retriever, model, qa, judge_hits, weights, search_cands=sorted(cands, key=lambda c: -c.logit))[1]
    return _prefer_asked(retriever, qa, cands), conf, model.threshold, model.hedge


def _first_rows_by_their_items(cands: list[_Candidate], next_chunks) -> None:
    """For an office question, score each item sheet's first row (「整理番号: … 担当課 / 協働推進課」) as its item's
    own lines score (the best of its name and body rows among ``cands``; unchanged when none is a candidate).
    Why: the first row holds the word 担当課 the question asks with and an office's name, so every sheet's first
    row matches an office question about as well, whatever item it is (「地域間交流の担当課は？」 put five other
    items' first rows above 「推進項目: ③ 地域間交流の促進」's); which item is asked is said by its name and body."""
    by_place = {(c.hit.id, c.position): c for c in cands}
    for c in cands:
        if not item_sheets.is_start(c.text):
            continue
        lines, places, at = _window(c, lambda _hit: [], next_chunks)
        own = []
        for g in range(at + 1, min(len(lines), at + 1 + item_sheets.ITEM_ROWS)):
            if item_sheets.is_start(lines[g]) or (g > at + 1 and item_sheets.is_name(lines[g])):
                break
            line = by_place.get((places[g][0].id, places[g][1]))
            if line is not None:
                own.append(line.score)
        if own:
            c.score = max(own)


def _line_before(c: _Candidate) -> str:
    """The line before candidate ``c`` in its passage ("" for its first line)."""
    sents = _sentences(c.hit.text)
    return sents[c.position - 1][0] if 0 < c.position <= len(sents) else ""


def _prefer_asked(retriever, qa: QueryAnalysis, cands: list[_Candidate]) -> list[_Candidate]:
    """A superlative (「最も高かった施策は？」) or as-of (「いつ現在？」) question: the sentences stating
    the asked extreme or validity date first (``superlatives``, ``as_of``); a question naming a table
    row's key (「通まちづくり協議会の高齢化率は？」) or a numbered heading (「基本方針Ⅲは何ですか」): that
    line first (``named_rows``); a definition question (「協働とは？」): the lines defining the term first
    (``definitions``); others unchanged. Runs after the answer model judged answerability, so
    none of these moves a refusal."""
    named_rows.prefer(cands, qa.text)
    definitions.prefer(cands, qa.text, _line_before)
    if asked.asked_item_field(qa.text) == item_sheets.OFFICE:
        _first_rows_by_their_items(cands, retriever.following_chunks)
    superlatives.prefer(cands, qa.text, lambda hit: ([c.text for c in retriever.preceding_chunks(hit, superlatives.TABLE_PASSAGES)],
                                                     [c.text for c in retriever.following_chunks(hit, superlatives.TABLE_PASSAGES)]))
    return as_of.prefer(cands, qa.text, lambda note, doc_id: retriever.search(note, k=3, doc_id=doc_id))


# --- questions about two or more cities' plans -------------------------------------------------

CITY_MISSING_TEXT = "{city}の計画書からは、ご質問に当てはまる記載は見つかりませんでした。"
_JOIN = r"(?:と|、|,|，|や|及び|および|並びに|ならびに)"
# words that ask for the comparison itself, which the per-city composition gives: not part of what
# each city's plan must say
_COMPARE_RE = re.compile(r"それぞれ|比べると|比較すると|比べて")


def city_question(text: str, city: str, others: list[str]) -> str:
    """The question as asked of ``city`` alone: every other named city is removed with the particle
    that joins it to the list (「山口市と長門市で、…」 → 「長門市で、…」 / 「山口市で、…」), and
    「それぞれ」「比べると」 go, since one city's plan cannot compare. The city's own name stays, so
    the per-city question is analysed like any single-city question."""
    for other in others:
        names = "|".join(re.escape(n) for n in sorted(municipality_forms(other), key=len, reverse=True) if len(n) >= 2)
        followed = re.compile(rf"(?:{names})\s*{_JOIN}\s*")
        text, n = followed.subn("", text, count=1)
        if not n:
            text = re.sub(rf"\s*{_JOIN}?\s*(?:{names})", "", text, count=1)
    out = re.sub(r"^[のとでは、,，\s]+", "", _COMPARE_RE.sub("", text)).strip(" 、,，")
    return out or text


def _first_mention(text: str, city: str) -> int:
    found = [i for i in (text.find(form) for form in municipality_forms(city)) if i >= 0]
    return min(found, default=len(text))


def per_city_answer(retriever, qa: QueryAnalysis, query: str, notes: list[str], *, k: int = TOP_HITS,
                    exclude: set[str] | frozenset[str] = frozenset()) -> Answer:
    """A question naming two or more cities, answered one city at a time: each city's question
    (``city_question``) is searched with that city as the filter and judged by the same answer model;
    the answer has one part per city that its plan answers — each with its own sentences and
    citations, in the order the question names them — and says plainly which named city's plans do
    not. Refused only when no city's plans answer."""
    cities = sorted(qa.municipalities, key=lambda c: _first_mention(qa.text, c))
    parts = [_Part(city_question(qa.text, city, [c for c in cities if c != city]), {"municipality": city}, city) for city in cities]
    return _answer_in_parts(retriever, qa, query, notes, parts, k=k, exclude=exclude)


@dataclass
class _Part:
    """One part of an answer given plan by plan: the question as asked of it, the search filter that
    keeps to it, and the name said when its plans do not answer (None: the part is left out silently)."""

    question: str
    where: dict
    missing: str | None = None


def _answer_in_parts(retriever, qa: QueryAnalysis, query: str, notes: list[str], parts: list[_Part], *, k: int = TOP_HITS,
                     exclude: set[str] | frozenset[str] = frozenset()) -> Answer:
    """One search, judgement and choice per part; the answer has one part per plan that answers, each with
    its own sentences and citations, in the order of ``parts``. Each part gets an equal share of the lines
    and sentences one answer may have, so that one plan's long list cannot crowd out another's."""
    model = answer_model(retriever)
    n = len(parts)
    chosen_all: list[_Candidate] = []
    missing: list[str] = []
    confs: list[float] = []
    all_hits: list[Hit] = []
    refuse_at = hedge_at = 0.0
    for part in parts:
        chosen, conf, hits, refuse_at, hedge_at = _part_lines(retriever, model, part, n, k=k, exclude=exclude)
        all_hits += hits
        if chosen:
            chosen_all += [c for c in chosen if all(c.hit.id != x.hit.id or c.position != x.position for x in chosen_all)]
            confs.append(conf)
        elif part.missing:
            missing.append(part.missing)
    if not chosen_all:
        all_hits.sort(key=lambda h: -h.score)
        return refusal(all_hits, query, notes, max(confs, default=0.0))
    text, citations = compose(chosen_all, grouped=True)
    if missing:
        text += "\n\n" + "\n".join(CITY_MISSING_TEXT.format(city=c) for c in missing)
    conf = min(confs)
    if conf < hedge_at:
        text = _hedged(text, qa, chosen_all)
    return Answer(text=text, citations=citations, refused=False, query_used=query, confidence=conf, related=[], notes=notes)


def _part_lines(retriever, model, part: _Part, n: int, *, k: int, exclude, min_conf: float | None = None):
    """(chosen lines, confidence, hits, refusal threshold, hedge threshold) of one part of an answer in
    ``n`` parts: its own search, judgement and an ``n``-th share of the lines (none when it is judged
    below ``min_conf``, default the refusal threshold)."""
    cqa = retriever.analyze(part.question)
    hits = retriever.search(part.question, k=max(k, 1), exclude_ids=exclude, analysis=cqa, **part.where)
    weights = _term_weights(retriever, cqa)
    cands, conf, refuse_at, hedge_at = _judge(
        retriever, model, cqa, hits, weights,
        judging_hits(retriever, hits, part.question, k=max(k, 1), exclude_ids=exclude, analysis=cqa, **part.where))
    chosen = []
    if hits and conf >= (refuse_at if min_conf is None else min_conf):
        chosen = choose(cands, retriever.following_chunks, ratio=0.75 if model is None else model.keep_ratio,
                        max_sentences=max(1, MAX_SENTENCES // n), max_sources=max(1, MAX_SOURCES // n + (MAX_SOURCES % n > 0)),
                        max_lines=max(2, MAX_ANSWER_LINES // n), asks_measures=asked_type(cqa) == "how",
                        row_score=row_relevance(retriever, cqa), item_field=asked.asked_item_field(cqa.text),
                        prev_chunks=retriever.preceding_chunks)
    return chosen, conf, hits, refuse_at, hedge_at

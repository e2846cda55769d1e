"""Which line defines what a question asks to have defined (「協働とは？」「さぽらんてって何？」「協働ってどういう意味」).

Why: a definition question shares its one content word with every sentence about the term, and the
sentence model's features (overlap, cosine, 「意味」 as a definition cue) score 「市民協働は、…まちづくりを進める
意味からも…」 as high as 「『協働』とは、『市民と行政、又は市民同士が…共通の目的に向かい…』です」 — the plans'
own definition, in the passage ranked first, lost to a sentence that merely says 意味 (plan training: QK015).
What tells the definition apart is its form, which plans write in a few fixed ways:

* 「X とは、…」 (also quoted: 「『協働』とは」「「小さな拠点」とは」, or after a lead: 「センターの愛称である「さぽらんて」とは」);
* 「…を「X」といいます／と呼びます／と位置づけ…」, 「…した団体が X です」;
* a glossary note: 「注6）アダプト制度…行政が…制度。」, 「X：…」 at the start of a line, or the term alone on
  its line (「※公債費：」「【市民協働】」) over its definition;
* a short line naming what X is, X in brackets after it: 「◆市民活動支援センター「さぽらんて」」.

When a candidate defines the asked term in one of these forms, the defining candidates are raised
above every other (their order among themselves kept), as ``named_rows`` raises a named row. Nothing
changes for a question that asks no definition or when no candidate defines the term: this reorders
what the answer quotes and never decides whether to answer.

This module reads candidate sentences (``.text``, ``.score``) and only changes scores.
"""

from __future__ import annotations

import re

from . import japanese

# a term shorter than this (「市」) is in too many sentences by chance
MIN_TERM_CHARS = 2
# 「X とは」 defines X when it opens the sentence, give or take a lead (「センターの愛称である」)
MAX_LEAD_CHARS = 20

# the question's tail that asks what something is (compact NFKC text: no spaces, ASCII ?)
_ENDS = r"(?:ですか|でしょうか|なの|なのか|なん|だろう|だ|か)*[。?!]*$"
_ASKS_RE = re.compile(
    r"^(?P<x>.+?)(?:"
    rf"(?:って|とは|っていうのは|というのは)(?:何|なに|なん)(?:のこと)?{_ENDS}"
    rf"|(?:って|とは|っていうのは|というのは)どういう(?:意味|こと|もの){_ENDS}"
    rf"|とは{_ENDS}"
    rf"|の(?:意味|定義)(?:は|って|を教えて(?:ください)?)?(?:何|なに|なん)?{_ENDS}"
    rf"|(?:を|は)(?:どのように|どう)(?:定義|説明)(?:して(?:い|お)?ます|され(?:てい)?ます|する|して(?:い|お)る)?{_ENDS}"
    r")"
)
# a term in quotes inside the asked phrase is the term: 「長門市の条例では「市民協働」をどのように定義…」
_QUOTED_TERM_RE = re.compile(r"[「『]([^」』]{2,30})[」』]")
_QUOTES_OPEN = "「『\"“"
_QUOTES_CLOSE = "」』\"”"


def asked_terms(question: str) -> list[str]:
    """The term a definition question asks about, longest reading first: 「山口の地域づくり計画って何」 →
    ["山口の地域づくり計画", "地域づくり計画"] (a reading after each 「の」, so a city named before the term
    does not keep the plans' wording from matching); [] for any other question."""
    q = japanese.compact(question)
    m = _ASKS_RE.match(q)
    if not m:
        return []
    x = re.split(r"[、,]", m.group("x"))[-1]
    quoted = _QUOTED_TERM_RE.findall(x)
    if quoted:
        return [quoted[-1]] if len(quoted[-1]) >= MIN_TERM_CHARS else []
    x = x.strip(_QUOTES_OPEN + _QUOTES_CLOSE)
    terms = [x] + [x[i + 1 :] for i, ch in enumerate(x) if ch == "の"]
    return [t for t in terms if len(t) >= MIN_TERM_CHARS]


def _patterns(term: str) -> list[re.Pattern]:
    # a Latin abbreviation is defined with the noun it heads: 「NPOって何？」 ← 「…登記した団体がNPO法人（…）です」
    t = re.escape(term) + (r"[\u4e00-\u9fff]{0,4}" if term.isascii() and term.isalpha() else "")
    quoted = rf"[{_QUOTES_OPEN}]?{t}[{_QUOTES_CLOSE}]?"
    # the term must start a word: after the start, a quote, a bullet or punctuation, not inside 「市民協働」
    start = rf"(?:^|(?<=[{_QUOTES_OPEN}・●○◆■□\-*、。:：）)]))"
    return [
        re.compile(rf"^.{{0,{MAX_LEAD_CHARS}}}?{start}{quoted}とは"),
        re.compile(rf"[{_QUOTES_OPEN}]{t}[{_QUOTES_CLOSE}]と(?:いい|いう|言い|言う|呼|称|位置づけ|位置付け|定義)"),
        re.compile(rf"が{t}(?:[(（][^)）]*[)）])?です。?$"),
        re.compile(rf"^[-・●○◆■□*※]?(?:注\d+\))?{t}(?:\.\.\.|:)."),  # NFKC: 「…」→「...」,「）」→「)」,「：」→「:」
        # a short line naming what the term is, the term in brackets after it: 「◆市民活動支援センター「さぽらんて」」
        re.compile(rf"^[-・●○◆■□*]?[^。、「」『』()]{{2,30}}(?:[「『]{t}[」』]|\({t}\))$"),
    ]


def defines(sentence: str, term: str) -> bool:
    """Whether ``sentence`` defines ``term`` in one of the plans' forms (module docstring)."""
    s = japanese.compact(sentence)
    return term in s and any(p.search(s) for p in _patterns(term))


def names_term(line: str, term: str) -> bool:
    """Whether ``line`` is only the term as a glossary or a box names it, its definition on the next line:
    「※公債費：」, 「【市民協働】」."""
    s = japanese.compact(line)
    return bool(re.fullmatch(rf"[-・●○◆■□*※]?(?:{re.escape(term)}:|【{re.escape(term)}】)", s))


def prefer(cands: list, question: str, line_before=lambda _c: "") -> None:
    """Raise the candidates that define the asked term (its longest reading any candidate defines)
    above all others, their order among themselves kept and all of them within ``choose``'s ratio.
    ``line_before(c)``: the line before candidate ``c`` in its passage; a candidate under a line that only
    names the term (``names_term``: 「※公債費：」 over 「地方自治体が、…借金の返済に充てる費用のこと。」) defines it."""
    if not cands:
        return
    for term in asked_terms(question):
        defining = [c for c in cands if defines(c.text, term) or names_term(c.text, term) or names_term(line_before(c), term)]
        if defining:
            # far enough above the rest that every definition stays within ``choose``'s ratio of the
            # first (a short defining line such as a heading scored low by the model is kept too)
            top = max(abs(c.score) for c in cands) or 1.0
            for c in defining:
                c.score += 10 * top
                # a definition covers what the question asks, whatever the tokenizer made of the term
                # (「さぽらんて」 is no dictionary word: no content word of the question is found in it)
                c.coverage = max(c.coverage, 1.0)
            return

"""Japanese text handling shared by every layer: normalization, tokens, sentences, 和暦.

Why one module: the index, the query side and the embedder must see *the same* tokens,
so there is exactly one tagger (fugashi + unidic-lite, pinned by the package version) and
one definition of a "content word".
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

import fugashi

# Parts of speech that carry no searchable content.
_DROP_POS1 = {"助詞", "助動詞", "補助記号", "記号", "空白", "接続詞", "感動詞", "フィラー"}
# Light verbs / formal nouns that match everything ("する", "ある", "こと", "ため" …).
LIGHT_LEMMAS = {
    "為る", "居る", "有る", "成る", "出来る", "為", "事", "物", "所", "此れ", "其れ", "彼れ",
    "様", "等", "又", "及び", "並びに", "若しくは", "或いは", "行う", "御", "ます", "です",
}
_WS_RE = re.compile(r"[ \t\u3000\u00a0]+")


@dataclass(frozen=True)
class Token:
    surface: str
    lemma: str  # dictionary lemma, loanword suffix stripped; surface for unknown words
    pos1: str
    pos2: str
    reading: str


_THREAD = threading.local()


def tagger() -> fugashi.Tagger:
    """This thread's tagger (unidic-lite's dictionary is pinned by its package version).

    One per thread, not one per process: a MeCab tagger parses into its own lattice, and two
    threads sharing one corrupt each other's results (three threads re-tokenizing the bundled
    corpus's lines got 63 of 6,528 wrong; request threads of the app, the answer warm-up thread and a
    build do exactly that). The dictionary is memory-mapped, so another tagger costs little."""
    t = getattr(_THREAD, "tagger", None)
    if t is None:
        t = _THREAD.tagger = fugashi.Tagger()
    return t


def normalize(text: str) -> str:
    """NFKC (full-width ASCII/digits → half-width, half-width kana → full-width) + whitespace folding.

    Used for everything that is *matched*; display text keeps the original characters.
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _WS_RE.sub(" ", text)
    return text.strip()


def compact(text: str) -> str:
    """Normalized text with all whitespace removed: for substring checks ("is this evidence in here?")."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _lemma(word) -> str:
    f = word.feature
    lemma = getattr(f, "lemma", None)
    if word.is_unk or not lemma or lemma == "*":
        return word.surface
    # Proper nouns: UniDic's lemma is often a katakana reading (長門 → ナガト); the surface is what
    # documents and users write.
    if getattr(f, "pos2", "") == "固有名詞":
        return word.surface
    # UniDic marks loanwords as 「スポーツ-sport」: keep the Japanese part.
    if "-" in lemma:
        head = lemma.split("-", 1)[0]
        if head:
            lemma = head
    return lemma


def analyze(text: str) -> list[Token]:
    """All tokens of normalized text with lemma, POS and reading."""
    out = []
    for w in tagger()(normalize(text)):
        f = w.feature
        out.append(
            Token(
                surface=w.surface,
                lemma=_lemma(w),
                pos1=getattr(f, "pos1", "") or "",
                pos2=getattr(f, "pos2", "") or "",
                reading=(getattr(f, "kana", None) or getattr(f, "lForm", None) or "") if not w.is_unk else "",
            )
        )
    return out


def is_content(tok: Token) -> bool:
    return _is_content(tok.surface, tok.lemma, tok.pos1, tok.pos2)


def _is_content(surface: str, lemma: str, pos1: str, pos2: str) -> bool:
    if pos1 in _DROP_POS1:
        return False
    if pos2 == "非自立可能" and pos1 in {"動詞", "形容詞", "名詞"}:
        return False
    if lemma in LIGHT_LEMMAS:
        return False
    if not surface.strip():
        return False
    return True


def is_meaningful(tok: Token) -> bool:
    """Content words plus main verbs UniDic marks 非自立可能 (出す, 見る, 行く …), minus light verbs.

    Keyword search leaves those verbs out (they are too common to rank by), but judging whether a
    sentence says what was asked needs them: 「ごみの出し方」 is about 出す as much as about ごみ.
    """
    return is_content(tok) or (tok.pos1 == "動詞" and tok.pos2 == "非自立可能" and tok.lemma not in LIGHT_LEMMAS)


def meaning_words(text: str) -> list[str]:
    """Lemmas of :func:`is_meaningful` tokens, in order."""
    return [t.lemma for t in analyze(text) if is_meaningful(t)]


def content_words(text: str) -> list[str]:
    """Lemmas of content words, in order (duplicates kept, as BM25 wants term frequency).

    The same as ``[t.lemma for t in analyze(text) if is_content(t)]`` without building a
    ``Token`` per word: every passage of a build goes through here, and those objects cost
    more than the fugashi analysis itself (docs/BENCHMARKS.md §4.1)."""
    out = []
    for w in tagger()(normalize(text)):
        f = w.feature
        lemma = _lemma(w)
        if _is_content(w.surface, lemma, getattr(f, "pos1", "") or "", getattr(f, "pos2", "") or ""):
            out.append(lemma)
    return out


def char_bigrams(text: str) -> list[str]:
    """NFKC character bigrams over runs of letters/digits (no spaces or punctuation).

    They recover compounds the tagger splits differently in query and passage
    (「市民活動」 vs 「市民 活動」) and unknown proper nouns (「さぽらんて」).
    """
    out: list[str] = []
    for run in re.findall(r"[\w々〆ヶー]+", normalize(text)):
        run = run.lower()
        if len(run) == 1:
            continue
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def search_tokens(text: str) -> list[str]:
    """Tokens for the keyword index: content-word lemmas plus ``#``-prefixed character bigrams.

    The prefix keeps the two vocabularies apart (a one-character lemma never collides with a bigram).
    """
    return content_words(text) + ["#" + b for b in char_bigrams(text)]


# --- sentences --------------------------------------------------------------------------

_OPENERS = "「『（(【"
_CLOSERS = "」』）)】"
_PAIR = dict(zip(_OPENERS, _CLOSERS))
_TERMINALS = "。！？!?"


def _matched_openers(line: str) -> set[int]:
    """Positions of opening brackets that are closed later on the same line.

    An opener without its closer (「(1」 from a broken extraction, a quote continued on the next
    line) must not swallow every sentence end after it, so only matched pairs protect their
    contents from being split.
    """
    stack: list[tuple[int, str]] = []
    matched: set[int] = set()
    for i, ch in enumerate(line):
        if ch in _PAIR:
            stack.append((i, _PAIR[ch]))
        elif ch in _CLOSERS:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][1] == ch or (ch in ")）" and stack[k][1] in ")）"):
                    matched.add(stack[k][0])
                    del stack[k:]
                    break
    return matched


def split_sentences(text: str) -> list[str]:
    """Split display text into sentences.

    - a sentence ends at 。！？!? (plus any further terminal marks and closing brackets that
      follow, as in 「…です!!」 or 「…とする。)」) but never inside a matched 「」/『』/（）/【】;
    - every line is its own unit at least: list items (・, ●, ①, (1) …), headings and table
      rows carry no terminal punctuation, and plan documents use line breaks as structure.
    """
    sentences: list[str] = []
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            continue
        matched = _matched_openers(line)
        buf: list[str] = []
        depth = 0
        i = 0
        while i < len(line):
            ch = line[i]
            buf.append(ch)
            if ch in _OPENERS and i in matched:
                depth += 1
            elif ch in _CLOSERS and depth > 0:
                depth -= 1
            elif ch in _TERMINALS and depth == 0:
                while i + 1 < len(line) and line[i + 1] in _CLOSERS + _TERMINALS:
                    i += 1
                    buf.append(line[i])
                s = "".join(buf).strip()
                if s:
                    sentences.append(s)
                buf = []
            i += 1
        rest = "".join(buf).strip()
        if rest:
            sentences.append(rest)
    return sentences


# --- 和暦 ⇔ 西暦 --------------------------------------------------------------------------

# Era → (year before its first year, first Western year, last Western year). The first and
# last years overlap with the neighbouring eras (1989 is 昭和64年 and 平成元年).
ERA_RANGES = {
    "明治": (1867, 1868, 1912),
    "大正": (1911, 1912, 1926),
    "昭和": (1925, 1926, 1989),
    "平成": (1988, 1989, 2019),
    "令和": (2018, 2019, 9999),
}
ERAS = {era: base for era, (base, _, _) in ERA_RANGES.items()}
_ERA_ABBR = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
_WAREKI_RE = re.compile(r"(明治|大正|昭和|平成|令和|(?<![A-Za-z])[MTSHR](?=\d))\s*(元|\d{1,2})\s*(年度|年|\.|(?=\D|$))")
_SEIREKI_RE = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)\s*(年度|年)")


def wareki_to_seireki(era: str, year: int) -> int:
    """(平成, 29) → 2017; abbreviations (H, R …) are accepted."""
    era = _ERA_ABBR.get(era, era)
    return ERAS[era] + year


def seireki_to_wareki(year: int) -> list[str]:
    """All era names a Western year can be written in (2019 → 平成31 and 令和元; 2030 → 令和12 only)."""
    out = []
    for era, (base, first, last) in ERA_RANGES.items():
        if first <= year <= last:
            y = year - base
            out.append(f"{era}{'元' if y == 1 else y}")
    return out


def year_expansions(text: str) -> list[str]:
    """Other spellings of every year in ``text``, for query/index expansion.

    「平成29年度」→「2017年度」; 「H29」→「2017年」「平成29年」; 「令和元年」→「2019年」「令和1年」「平成31年」;
    「2017年」→「平成29年」. A year that is written in an era that had already ended (平成35年) still
    maps to its Western year, which is how such plans were printed.
    """
    text = normalize(text)
    out: list[str] = []
    for m in _WAREKI_RE.finditer(text):
        era, num, suffix = m.group(1), m.group(2), m.group(3)
        year = 1 if num == "元" else int(num)
        full_era = _ERA_ABBR.get(era, era)
        if full_era not in ERAS or year < 1:
            continue
        suffix = suffix if suffix in ("年", "年度") else "年"
        seireki = wareki_to_seireki(full_era, year)
        out.append(f"{seireki}{suffix}")
        if era != full_era or num == "元":
            out.append(f"{full_era}{year}{suffix}")
        if num != "元" and year == 1:
            out.append(f"{full_era}元{suffix}")
        out.extend(f"{w}{suffix}" for w in seireki_to_wareki(seireki) if not w.startswith(full_era))
    for m in _SEIREKI_RE.finditer(text):
        year, suffix = int(m.group(1)), m.group(2)
        out.extend(f"{w}{suffix}" for w in seireki_to_wareki(year))
    seen: set[str] = set()
    return [x for x in out if x not in text and not (x in seen or seen.add(x))]

"""Query understanding: from a resident's words to weighted search terms.

Residents ask in everyday words (「お金の援助はある？」) what plans say in administrative words
(財政支援, 交付金). We expand the question's content words from three sources, each weighted below
the user's own words so an expansion can help a passage rank but never outweighs what was asked:

- the domain thesaurus (``data/thesaurus.txt``, editable by a city),
- the Sudachi synonym dictionary (``data/sudachi_synonyms.tsv.gz``, Apache-2.0),
- nearest neighbours in the embedder's word vectors (bundled model only),

plus 和暦⇔西暦 spellings of any year in the question.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from . import japanese

W_USER = 1.0
W_THESAURUS = 0.6
# rules learnt from the plan training questions (data/thesaurus_learned.txt, scripts/learn_thesaurus.py):
# weighted as the hand-written ones, as measured (docs/BENCHMARKS.md §9.21)
W_LEARNED = 0.6
W_SUDACHI_SAME = 0.6  # same lexeme, other spelling
W_SUDACHI_NEAR = 0.35  # near-synonym in the same group
W_NEIGHBOUR = 0.25
W_YEAR = 0.8
# A word already used in this many passages needs little help: its expansions are scaled down.
COMMON_DF = 3
COMMON_WORD_SCALE = 0.3
MAX_PER_WORD = 6
NEIGHBOUR_MIN_SIM = 0.6

# Question words and politeness that say *what kind* of answer is wanted, not what about.
_QUESTION_LEMMAS = {
    "何", "何処", "何時", "誰", "如何", "幾つ", "幾ら", "幾", "何故", "教える", "知る", "思う", "下さる",
    "有る", "居る", "出来る", "くらい", "ぐらい", "どう", "どんな", "どの", "どれ", "いつ", "どこ",
    "方", "感じ", "時", "場合", "皆", "さん", "ちゃん", "何だ", "何れ", "此の", "其の", "市", "ね", "よ",
    # conversational filler that says nothing about the topic (「どんなふうに」「人たち」「〜って」)
    "風", "人", "達", "言う", "欲しい", "貰う", "呉れる", "遣る", "良い", "今", "具体", "例えば",
}


@dataclass
class QueryAnalysis:
    text: str  # normalized question
    words: list[str]  # the user's content lemmas (question words removed)
    expansions: dict[str, float] = field(default_factory=dict)  # expansion phrase → weight
    qtype: str = "general"
    municipalities: list[str] = field(default_factory=list)
    # which of the user's words each expansion stands in for (「補助金」 → ["金"] for 「お金」)
    covers: dict[str, list[str]] = field(default_factory=dict)
    # written in English (or another Latin-script language): no word of it can match the plans' text
    latin: bool = False

    def weighted_token_groups(self) -> list[tuple[float, list[str]]]:
        """Search tokens grouped by weight, for weighted BM25."""
        groups: dict[float, list[str]] = defaultdict(list)
        groups[W_USER] = japanese.search_tokens(self.text)
        own = set(groups[W_USER])
        for phrase, w in self.expansions.items():
            toks = [t for t in japanese.content_words(phrase) if t not in own]
            # bigrams of an expansion only help when it is a single compound word
            toks += ["#" + b for b in japanese.char_bigrams(phrase) if "#" + b not in own]
            groups[w].extend(toks)
        return [(w, toks) for w, toks in groups.items() if toks]


class Thesaurus:
    """Word → {expansion: weight} from the domain file and the Sudachi synonym groups."""

    def __init__(self, domain_lines: list[str], sudachi_rows: list[str], learned_lines: list[str] = ()):
        self.map: dict[str, dict[str, float]] = defaultdict(dict)
        # for each (word, expansion) a learnt rule set: its weight from the other sources (None: no other
        # source gives it), so ``curated`` can take the learnt rules back out
        self._unlearned: dict[tuple[str, str], float | None] = {}
        self._curated: "Thesaurus | None" = None
        for lines, weight in ((domain_lines, W_THESAURUS), (learned_lines, W_LEARNED)):
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                if "=>" in line:
                    lhs, rhs = line.split("=>", 1)
                    sources = [w.strip() for w in lhs.split(",") if w.strip()]
                    targets = [w.strip() for w in rhs.split(",") if w.strip()]
                else:
                    sources = targets = [w.strip() for w in line.split(",") if w.strip()]
                for s in sources:
                    for t in targets:
                        if t != s:
                            self._add(s, t, weight, learned=lines is learned_lines)
        groups: dict[str, list[tuple[str, bool, str]]] = defaultdict(list)
        for row in sudachi_rows:
            parts = row.split("\t")
            if len(parts) == 4:
                g, lex, trig, word = parts
                groups[g].append((lex, trig == "1", word))
        for members in groups.values():
            if len(members) > 25:  # huge groups are too loose to help search
                continue
            for lex, trig, word in members:
                if not trig:
                    continue
                for lex2, _t2, word2 in members:
                    if word2 != word and not re.fullmatch(r"[A-Za-z .\-]+", word2):
                        self._add(word, word2, W_SUDACHI_SAME if lex2 == lex else W_SUDACHI_NEAR)

    def _add(self, src: str, dst: str, w: float, learned: bool = False) -> None:
        key = japanese.normalize(src).lower()
        dst = japanese.normalize(dst)
        if learned:
            self._unlearned.setdefault((key, dst), self.map[key].get(dst))
        elif (key, dst) in self._unlearned:
            self._unlearned[(key, dst)] = max(self._unlearned[(key, dst)] or 0.0, w)
        if self.map[key].get(dst, 0) < w:
            self.map[key][dst] = w

    def lookup(self, word: str) -> dict[str, float]:
        return self.map.get(japanese.normalize(word).lower(), {})

    def curated(self) -> "Thesaurus":
        """This thesaurus without the rules learnt from training questions: the domain file and Sudachi's
        synonyms only, words that mean the same. Why: a learnt rule maps a resident's word to the plan words
        that helped search find passages (「写し => 効率, サービス, 行政」), fine as weighted search terms but
        noise to a model that reads the expansions as words of the question (``Retriever.reader_query_text``)."""
        if not self._unlearned:
            return self
        if self._curated is None:
            curated = Thesaurus([], [])
            curated.map = defaultdict(dict, self.map)
            for key in {k for k, _d in self._unlearned}:
                curated.map[key] = dict(self.map[key])
            for (key, dst), w in self._unlearned.items():
                if w is None:
                    curated.map[key].pop(dst, None)
                else:
                    curated.map[key][dst] = w
            self._curated = curated
        return self._curated


@functools.lru_cache(maxsize=4)
def load_thesaurus(domain_path: str | None = None) -> Thesaurus:
    """The default thesaurus (package data), or one with a city's own domain file; with the rules learnt
    from the plan training questions (``data/thesaurus_learned.txt``) either way: they map residents'
    words to plan words, and on another city's plans a target word that is not there finds nothing."""
    base = resources.files("assistant") / "data"
    domain = Path(domain_path).read_text(encoding="utf-8") if domain_path else (base / "thesaurus.txt").read_text(encoding="utf-8")
    learned = (base / "thesaurus_learned.txt").read_text(encoding="utf-8") if (base / "thesaurus_learned.txt").is_file() else ""
    with gzip.open(str(base / "sudachi_synonyms.tsv.gz"), "rt", encoding="utf-8") as f:
        sudachi = f.read().splitlines()
    return Thesaurus(domain.splitlines(), sudachi, learned.splitlines())


_QTYPE_RULES = [
    ("when", re.compile(r"いつ|何年|何月|期間|期限|までに|いつまで|時期|年度|制定|策定|施行")),
    ("number", re.compile(r"いくつ|幾つ|何団体|何人|何件|何地区|何か所|何箇所|何%|何パーセント|目標値|割合|率|数は|どれくらい|どのくらい|何倍|人数|件数")),
    ("where", re.compile(r"どこ|窓口|問い合わせ|問合せ|連絡先|場所|担当")),
    ("how", re.compile(r"どうすれば|どうしたら|方法|支援|手続|やり方|始める|には|どんなこと|取り組|取組")),
    ("what", re.compile(r"とは|って何|とは何|どんな|何ですか|意味|定義|どういう")),
]


_JA_CHAR_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z]{2,}")


def is_latin_question(text: str) -> bool:
    """A question with no Japanese character and at least three Latin-script words (「How do I …」), which
    keyword search and the bag-of-words model cannot match against Japanese plans. 「NPOとは？」 is Japanese."""
    return not _JA_CHAR_RE.search(text) and len(_LATIN_WORD_RE.findall(text)) >= 3


def question_type(text: str) -> str:
    for name, rx in _QTYPE_RULES:
        if rx.search(text):
            return name
    return "general"


def analyze_query(
    text: str,
    thesaurus: Thesaurus | None = None,
    embedder=None,
    municipalities: list[str] | None = None,
    doc_freq: Callable[[str], int] | None = None,
) -> QueryAnalysis:
    """Normalize, type and expand a question.

    ``doc_freq(word)`` (how many passages contain the word) lets expansion target the real
    problem, a *vocabulary gap*: a word the documents already use often (「協働」) keeps its
    expansions small, while a word they never use (「お金」) gets the full weight, and only such
    absent words are sent to the (noisier) word-vector neighbours.
    """
    norm = japanese.normalize(text)
    all_toks = japanese.analyze(norm)
    toks = [t for t in all_toks if japanese.is_content(t)]
    # main verbs count too: without 出す, 「ごみの出し方は？」 would be about 「ごみ」 alone
    words = [t.lemma for t in all_toks if japanese.is_meaningful(t) and t.lemma not in _QUESTION_LEMMAS and t.pos1 != "接尾辞"]
    qa = QueryAnalysis(text=norm, words=words, qtype=question_type(norm), latin=is_latin_question(norm))
    if municipalities:
        qa.municipalities = [m for m in municipalities if m and m != "不明" and _mentions(norm, m, municipalities)]
    thesaurus = thesaurus or load_thesaurus()
    df = doc_freq or (lambda _w: 0)
    exp: dict[str, float] = {}

    covers: dict[str, list[str]] = {}

    def expand(source: str, candidates: dict[str, float], lemmas: list[str]) -> None:
        if not candidates:  # nothing to add: do not ask doc_freq (on a large index it reads postings)
            return
        scale = COMMON_WORD_SCALE if df(source) >= COMMON_DF else 1.0
        best = sorted(candidates.items(), key=lambda kv: -kv[1])[:MAX_PER_WORD]
        for phrase, w in best:
            w *= scale
            if phrase and phrase not in norm and exp.get(phrase, 0) < w:
                exp[phrase] = w
                covers[phrase] = [x for x in lemmas if x in words]

    # look up the question's words and every run of 2–4 consecutive tokens that starts on a
    # content word (or a prefix: 「お金」「ご相談」) and ends on one, so compounds the tagger
    # split (「補助金」 = 補助 + 金) are found whole
    for i, t in enumerate(all_toks):
        prefix = t.pos1 == "接頭辞"
        if not prefix and (not japanese.is_content(t) or t.lemma in _QUESTION_LEMMAS):
            continue
        if t.pos2 == "固有名詞":  # place and person names are not paraphrased
            continue
        if not prefix:
            expand(t.lemma, thesaurus.lookup(t.lemma) | thesaurus.lookup(t.surface), [t.lemma])
        span = t.surface
        span_lemmas = [] if prefix else [t.lemma]
        for j in range(i + 1, min(i + 4, len(all_toks))):
            span += all_toks[j].surface
            span_lemmas.append(all_toks[j].lemma)
            if japanese.is_content(all_toks[j]) or all_toks[j].surface in ("の", "ー"):
                expand(span, thesaurus.lookup(span), list(span_lemmas))
    if embedder is not None and getattr(embedder, "word_neighbours", None):
        for t in toks:
            if len(t.lemma) < 2 or t.pos2 == "固有名詞" or t.lemma in _QUESTION_LEMMAS or df(t.lemma) > 0:
                continue
            neighbours = {nb: W_NEIGHBOUR for nb, sim in _neighbours(embedder, t.lemma) if sim >= NEIGHBOUR_MIN_SIM}
            expand(t.lemma, neighbours, [t.lemma])
    for y in japanese.year_expansions(norm):
        if exp.get(y, 0) < W_YEAR:
            exp[y] = W_YEAR
    qa.expansions = exp
    qa.covers = covers
    return qa


def _neighbours(embedder, word: str) -> list[tuple[str, float]]:
    """The embedder's nearest words, remembered per embedder (a lookup costs ~1 ms; words recur)."""
    cache = embedder.__dict__.setdefault("_neighbour_cache", {})
    if word not in cache:
        if len(cache) > 50_000:
            cache.clear()
        cache[word] = embedder.word_neighbours(word, k=3)
    return cache[word]


def municipality_stem(name: str) -> str:
    """「長門市」→「長門」, 「山陽小野田市」→「山陽小野田」: residents often drop the suffix."""
    return re.sub(r"(市|町|村|区|県|都|府)$", "", name)


@functools.lru_cache(maxsize=4)
def load_municipality_aliases(path: str | None = None) -> dict[str, tuple[str, ...]]:
    """Other names residents use for a municipality (``data/municipality_aliases.txt``, or ``path``):
    「自治体名: 呼び名, 呼び名」 per line — mostly the towns merged into it (「小野田で…」 asks about
    山陽小野田市). A line without a colon is one clear error naming the file and the line."""
    file = Path(path) if path else resources.files("assistant") / "data" / "municipality_aliases.txt"
    out: dict[str, tuple[str, ...]] = {}
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.replace("：", ":").partition(":")
        if not sep or not name.strip():
            raise ValueError(f"{file}:{n}: expected 「自治体名: 呼び名, 呼び名」, got {line!r}")
        names = [a.strip() for a in re.split(r"[,、，]", rest) if a.strip()]
        out[name.strip()] = tuple(dict.fromkeys(out.get(name.strip(), ()) + tuple(names)))
    return out


def municipality_forms(name: str, others: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every way a question may name ``name``: the name, its stem when ≥ 2 characters, and its aliases
    (``load_municipality_aliases``) — less any alias inside another municipality's name or stem in
    ``others``, where it could name either."""
    stem = municipality_stem(name)
    forms = [name] + ([stem] if len(stem) >= 2 and stem != name else [])
    taken = [f for o in others if o != name for f in (o, municipality_stem(o))]
    forms += [a for a in load_municipality_aliases().get(name, ()) if len(a) >= 2 and not any(a in t for t in taken)]
    return list(dict.fromkeys(forms))


def _mentions(text: str, municipality: str, others: list[str] | tuple[str, ...] = ()) -> bool:
    forms = municipality_forms(municipality, others)
    if any(form in text for form in forms):
        return True
    # in romaji: the stem and the aliases (「Onoda」), not the name with its 市 (「…shi」 is rarely written)
    spoken = [municipality_stem(municipality)] + [f for f in forms if f not in (municipality, municipality_stem(municipality))]
    return is_latin_question(text) and any(_romaji_mentions(text, f) for f in spoken)


def _fold_romaji(s: str) -> str:
    """Letters only, lower case, long vowels folded, so 「San'Youonoda」 (cutlet's Hepburn of 山陽小野田),
    "Sanyo-Onoda" and "Sanyoonoda" compare equal."""
    s = re.sub(r"[^a-z]", "", s.lower())
    while True:
        folded = re.sub(r"ou|uu|oo|aa|ii|ee", lambda m: m.group(0)[0], s)
        if folded == s:
            break
        s = folded
    return re.sub(r"(?<=[aeiou])h(?![aeiouy])", "", s)


@functools.lru_cache(maxsize=256)
def _romaji_key(stem: str) -> str:
    import cutlet  # only English questions need it

    return _fold_romaji(cutlet.Cutlet().romaji(stem))


def _romaji_mentions(text: str, stem: str) -> bool:
    """Does an English question name the city in romaji (「Nagato」, "Sanyo-Onoda City")? Matched on word
    boundaries over up to four consecutive words, so "Ube" does not match inside "YouTube"."""
    key = _romaji_key(stem)
    if len(key) < 3:
        return False
    words = re.findall(r"[a-z]+", text.lower())
    for i in range(len(words)):
        acc = ""
        for w in words[i : i + 4]:
            acc += w
            folded = _fold_romaji(acc)
            if folded == key:
                return True
            if len(folded) > len(key):
                break
    return False

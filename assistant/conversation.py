"""The conversation around a question: input hygiene and follow-up questions.

Residents type casual, sometimes pasted or marked-up text, and lean on the previous turn
(「それはいつまで？」「長門市は？」「他には？」). This module turns that into one clean, self-contained
query before anything is searched; it knows nothing about retrieval or answers.
"""

from __future__ import annotations

import re
import unicodedata

from . import japanese
from .query import municipality_forms
from .question_form import plain_question

MAX_QUESTION_CHARS = 500
TRUNCATED_NOTE = f"質問が長すぎるため、最初の{MAX_QUESTION_CHARS}文字で検索しました。"

_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def strip_invisible(text: str) -> str:
    """Drop characters that are not shown but change what is shown or searched: format
    characters (Unicode category Cf — zero-width spaces and joiners, bidi embeddings and
    overrides such as U+202E, the BOM, tag characters) and lone surrogates (Cs, which
    cannot even be encoded as UTF-8 and crash tokenizers). Deleted, not replaced by a
    space: 「ご\u200bみ」 is the word ごみ."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cs"))
_TAG_RE = re.compile(r"<[^>\n]{0,200}>")
_MD_LINK_RE = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^()]*\))*\)")
# list bullets a quoted answer line may start with
BULLET_RE = re.compile(r"^(?:[・●○◆◇■□▪▶►※\-\*]\s*)+")


def clean_question(question: object) -> tuple[str, list[str]]:
    """User input → searchable text and notes. HTML/Markdown are plain text: tags and link targets
    are dropped for searching, never interpreted. Over-long questions are truncated with a note."""
    notes: list[str] = []
    if not isinstance(question, str):
        question = "" if question is None else str(question)
    q = _CTRL_RE.sub(" ", strip_invisible(question))
    q = _MD_LINK_RE.sub(r"\1", q)
    q = _TAG_RE.sub(" ", q)
    q = re.sub(r"\s+", " ", q).strip()
    if len(q) > MAX_QUESTION_CHARS:
        q = q[:MAX_QUESTION_CHARS]
        notes.append(TRUNCATED_NOTE)
    return q, notes


# --- follow-up questions -------------------------------------------------------------------

_ANAPHORA_RE = re.compile(r"^(?:それ|そこ|その|それって|あれ|これ|この|こちら|そちら|じゃあ|では|で、|なら|それなら|じゃ)")
_MORE_RE = re.compile(r"^(?:他には|ほかには|他に|ほかに|それ以外|その他|もっと|ほかの|他の)")
# what may follow a city's name in a follow-up that only switches the city: 「長門市は？」「日南だと？」
# 「山陽小野田市の場合は？」「小野田のほうは？」
_CITY_TAIL = r"(?:では|の場合(?:は|だと)?|だと|だったら|なら|の方は|のほうは|は|も|の方|のほう)?[？?。]?"
_MUNI_ONLY_RE = re.compile(rf"^(.{{1,10}}?(?:市|町|村)){_CITY_TAIL}$")
_LEAD_RE = re.compile(r"^(?:じゃあ|じゃ|では|なら|それなら|それでは|で、)\s*、?\s*")


def city_only(question: str, municipalities: list[str] | tuple[str, ...] = ()) -> str | None:
    """The city a follow-up only switches to, or None: one of ``municipalities`` named in any of its forms
    (「長門は？」「じゃあ小野田は？」: ``query.municipality_forms``), else any name ending in 市・町・村
    (「高松市は？」, a city the index may not hold)."""
    q = _LEAD_RE.sub("", question.strip())
    for city in municipalities:
        forms = sorted(municipality_forms(city, municipalities), key=len, reverse=True)
        if re.fullmatch(rf"(?:{'|'.join(map(re.escape, forms))}){_CITY_TAIL}", q):
            return city
    m = _MUNI_ONLY_RE.match(q)
    return m.group(1) if m else None


def _user_turns(history: list[dict] | None) -> list[str]:
    return [str(t.get("content", "")) for t in (history or []) if isinstance(t, dict) and t.get("role") == "user" and t.get("content")]


def _assistant_turns(history: list[dict] | None) -> list[str]:
    return [str(t.get("content", "")) for t in (history or []) if isinstance(t, dict) and t.get("role") == "assistant" and t.get("content")]


def is_followup(question: str, analysis_words: list[str]) -> bool:
    q = question.strip()
    return bool(_ANAPHORA_RE.match(q) or _MORE_RE.match(q) or _MUNI_ONLY_RE.match(q) or len(analysis_words) <= 1
                or _aspect_of(q) is not None)


def rewrite_followup(question: str, history: list[dict] | None, municipalities: list[str], words: list[str]) -> tuple[str, bool]:
    """Rewrite a question that leans on the previous turn into a self-contained query.

    Returns (query, wants_more) where ``wants_more`` means "other passages than last time" (「他には？」).
    """
    users = _user_turns(history)
    new_city = city_only(question, municipalities) if users else None
    if not users or not (new_city or is_followup(question, words)):
        return question, False
    # the earlier turns as the models read them (question_form: courtesy and emoji off)
    prev = plain_question(clean_question(users[-1])[0])
    # a previous follow-up borrowed its topic from the turn before it
    if len(users) >= 2 and is_followup(prev, japanese.content_words(prev)):
        prev = plain_question(clean_question(users[-2])[0]) + " " + prev
    q = question.strip()
    if new_city:
        for city in list(municipalities) + [new_city]:
            for form in municipality_forms(city):
                if len(form) >= 2:
                    prev = prev.replace(form + "で、", "").replace(form + "で", "").replace(form + "の", "").replace(form, "")
        return f"{new_city}の{prev.strip('、 ')}", False
    if _MORE_RE.match(q):
        rest = _MORE_RE.sub("", q).strip("はもにの？?、。 ")
        return (prev + (" " + rest if rest else "")).strip(), True
    rest = _ANAPHORA_RE.sub("", q).lstrip("はがをにでのもって、 ")
    return f"{prev} {rest}".strip(), False


def previously_cited(history: list[dict] | None) -> set[str]:
    """Sentences quoted in earlier answers (compact form), to find other passages for 「他には？」."""
    out: set[str] = set()
    for text in _assistant_turns(history)[-1:]:
        for line in text.splitlines():
            line = re.sub(r"^.*?(?:によると、|では、)", "", line.strip())  # drop the source lead
            line = re.sub(r"\[\d+\]", "", BULLET_RE.sub("", line))
            c = japanese.compact(line)
            if len(c) >= 10:
                out.add(c[:40])
    return out


MAX_SOURCE_IDS = 10  # an answer cites at most a handful of passages


def previous_sources(history: list[dict] | None) -> list[str]:
    """The passage ids the previous answer cited, when the history carries them (the UI does; an
    API client may echo ``citations[].id`` as ``"sources"`` on its assistant turns); else []."""
    turns = [t for t in (history or []) if isinstance(t, dict) and t.get("role") == "assistant"]
    if not turns:
        return []
    ids = turns[-1].get("sources")
    if not isinstance(ids, list):
        return []
    return [i for i in ids if isinstance(i, str) and i][:MAX_SOURCE_IDS]


def last_answer(history: list[dict] | None) -> str:
    """The previous assistant answer ('' if there is none)."""
    turns = _assistant_turns(history)
    return turns[-1] if turns else ""


# --- follow-ups that ask one aspect of the previous answer (「それはいつまで？」「費用は？」) -----------

# (aspect, keyword pattern), tried in order: 「どこが担当？」 asks who, 「担当はどこ？」 asks where
_ASPECT_WORDS: list[tuple[str, str]] = [
    ("who", r"誰|だれ|どなた|どこが(?:担当|やる|実施|行う|する)|(?:実施)?主体|担い手|所管|担当課|担当部署"),
    ("how_much", r"いくら|費用|金額|何円|予算|料金|経費"),
    ("when", r"いつ|期間|期限|何年|何月|何日|時期"),
    ("where", r"どこ|窓口|場所|担当|問い合わせ先|問合せ先|連絡先"),
]
# what may surround the aspect word in such a follow-up: particles, copulas and light verbs
_ASPECT_FILLER_RE = re.compile(
    r"(?:ですか|でしょうか|でしょう|ですの|です|ますか|なんですか|なの|なん|"
    r"かかりますか|かかります|かかるの|かかる|すればいい|すればよい|したらいい|したらよい|いいですか|いい|よい|"
    r"相談|聞けば|やるの|やる|するの|する|します|って|まで|から|は|が|を|に|で|の|も|か|ね|よ)*"
)


def _aspect_of(question: str) -> str | None:
    """The aspect asked when the question's only words ask one (「担当はどこ？」 → "where"), else None."""
    rest = re.sub(r"[\s？?。、！!…]+", "", _ANAPHORA_RE.sub("", question.strip()))
    found: str | None = None
    for kind, pattern in _ASPECT_WORDS:
        if re.search(pattern, rest):
            found = found or kind
            rest = re.sub(pattern, "", rest)
    if found is None or not _ASPECT_FILLER_RE.fullmatch(rest):
        return None
    return found


def followup_aspect(question: str) -> str | None:
    """"when" / "where" / "who" / "how_much" for a follow-up (per ``is_followup``) whose only words
    ask that aspect of the previous answer (「それはいつまでですか？」「担当はどこ？」「費用は？」);
    ``None`` for any other question, 「他には？」 and 「長門市は？」 included."""
    q = question.strip()
    if not q or _MORE_RE.match(q) or _MUNI_ONLY_RE.match(q):
        return None
    return _aspect_of(q)

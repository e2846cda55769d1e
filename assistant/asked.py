"""What a question asks for, and whether a sentence states a value of that kind.

Two levels, kept in this one place:

* ``asked_type`` — the coarse type used to choose answer sentences (``query.question_type``'s
  when / number / where / how / what / general, except that 「何名」「いくら」 ask for a figure);
* ``asked_detail`` — the *detail* a question asks for, finer than the type: a fee or amount, a
  count of people or things, a date, a clock time, a phone number, a place or contact point, a
  procedure (how to apply or book). ``DETAIL_VALUE_RES[kind]`` says whether a sentence holds a value
  of that kind (「1,000円」「30人」「4月」「9時」「0837-23-1234」「市民活動推進課」「申込み」).

Why: the plans often *name* the thing a resident asks about — the 向津具 marathon, the 市民まつり, the
推進委員会 — without the asked detail (its fee, its date, its size). Word overlap then finds the
right passage and the answer model answers from it; what tells the near miss apart is that no sentence
about the topic states a value of the asked kind (``answering.detail_features``).

This module knows nothing of search or answers: text in, labels out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# --- the coarse type -------------------------------------------------------------------------

# 「何名」「どれだけ」「いくら」 ask for a figure too, though query.question_type leaves them "general"
_NUMBER_ASK_RE = re.compile(r"何名|何人|何歳|何割|何回|何校|どれだけ|どれほど|いくら|金額|数字|人数")


def asked_type(qtype: str, text: str) -> str:
    """The type for choosing sentences: ``qtype`` (``query.question_type``), except that a "general"
    question asking 「何名」「どれだけ」「いくら」 asks for a figure."""
    if qtype == "general" and _NUMBER_ASK_RE.search(text):
        return "number"
    return qtype


# --- the asked detail ------------------------------------------------------------------------

# In priority order: the first kind whose pattern the question matches is the asked detail
# (「何時から」 is a time, not a date; 「電話番号」 a phone number, not a place).
DETAIL_ASK_RES: list[tuple[str, re.Pattern]] = [
    ("phone", re.compile(r"電話番号|電話で|連絡先|メールアドレス|ファクス|FAX|ＦＡＸ")),
    ("time", re.compile(r"何時|時間帯|開館時間|受付時間|営業時間|利用時間|開所時間")),
    ("money", re.compile(r"いくら|料金|費用|参加費|会費|受講料|利用料|使用料|手数料|金額|値段|何円|有料|無料|報酬|掛け金|謝礼|お金(?:は|が)?かか")),
    # 「何年に1回」「何か月ごと」 ask how often (a count of times), not a date: before "date" (何年に)
    ("count", re.compile(r"何人|何名|人数|何件|何団体|何か所|何箇所|何ヶ所|何校|何回|何台|何組|何チーム|何部|何歳|何ページ|いくつ(?!もり)|幾つ"
                         r"|何(?:年|か月|ヶ月|カ月|週間?|日)(?:に[1１一](?:回|度)|ごと|おき)")),
    ("date", re.compile(r"いつ|何日|何月|何曜日|日程|日時|開催日|期日|締め?切り|何年に|何年度に|何年度から|何年から|次回")),
    ("place", re.compile(r"どこ|場所|会場|住所|窓口|どの課|どの部署|担当課|担当部署")),
    ("procedure", re.compile(r"申し?込|申請|手続き?|予約|登録|届け?出|借りられ|借りる|入会|退会|加入")),
]

# A value of each kind, as a sentence of the plans would state it.
_DIGIT = r"[0-9０-９一二三四五六七八九十百千]"
DETAIL_VALUE_RES: dict[str, re.Pattern] = {
    "phone": re.compile(r"\d{2,5}\s*[-－‐（(]\s*\d{1,4}\s*[-－‐）)]\s*\d{3,4}|電話|TEL|ＴＥＬ|メール|FAX|ＦＡＸ"),
    "time": re.compile(rf"{_DIGIT}+\s*時|\d{{1,2}}\s*[:：]\s*\d{{2}}|午前|午後|夜間|開館|閉館"),
    "money": re.compile(rf"{_DIGIT}[\d,，.０-９]*\s*(?:千|万|億)?\s*円|無料|有料|負担金|会費|手数料"),
    "count": re.compile(rf"{_DIGIT}[\d,，０-９]*\s*(?:人|名|件|団体|か所|箇所|ヶ所|校|回|台|組|チーム|地区|組織|世帯|戸|点|社|市|町|つ|歳|ページ|[^\s\d。、]{{0,3}}所)"
                        rf"|{_DIGIT}+\s*(?:年|か月|ヶ月|カ月|週間?|日)(?:ごと|おき|に[1１一]度)"),
    # plan tables write eras by letter: 「基準年: H19.3」「目標値 (H29年度)」「R2年」
    "date": re.compile(rf"(?:明治|大正|昭和|平成|令和)\s*(?:{_DIGIT}+|元)\s*年|\d{{4}}\s*年|{_DIGIT}+\s*月|{_DIGIT}+\s*日|曜日|毎月|毎年|上旬|中旬|下旬|春|夏|秋|冬"
                       r"|(?<![A-Za-z])[HRS]\s*\d{1,2}\s*(?:[.．]\s*\d{1,2}|年)"),
    "place": re.compile(r"課|室|センター|窓口|市役所|役場|支所|公民館|事務所|会館|施設|所在地|住所|[^\s]{1,10}(?:町|丁目)\d"),
    "procedure": re.compile(r"申し?込|申請|手続|予約|登録|届け?出|受付|応募|問い?合わせ|相談"),
}

DETAIL_KINDS = [k for k, _rx in DETAIL_ASK_RES]


def asked_detail(text: str) -> str | None:
    """The detail kind the question asks for (one of ``DETAIL_KINDS``), or None when it asks for none
    of them (「協働とは？」「どんな支援がありますか？」). A superlative's 「どこ」 asks no place: in
    「満足度が最も高い居住地域はどこですか？」 it asks which of the kind of thing named (a district the
    survey names 「西部南」), and reading it as a place made the answer model refuse the sentence stating it."""
    text = _NOT_ASKING_RE.sub("", text)
    for kind, rx in DETAIL_ASK_RES:
        m = rx.search(_NOT_WHERE_RE.sub("", text) if kind == "place" else text)
        if m:
            if kind == "place" and m.group(0) == "どこ" and (sup := asked_superlative(text)) is not None and sup.subject:
                continue
            return kind
    return None


# 「どこまで」 (how far), 「どこか」 (some), 「どこも」 (every), 「どこと」 (with whom) ask no place:
# 「役所がどこまで口をはさむかは、決まってるの？」「どこと組んで乗り切るの？」. Read as places, the answer
# model took the lack of an office or a centre in the answer for a near miss.
_NOT_WHERE_RE = re.compile(r"どこ(?:まで|か(?![らん所月])|も|と)")
# 「いつも」 (always), 「いつまでも」 (for ever), 「いつでも」, 「いくつも」 (many), 「いくつか」 (some), 「何名かの」:
# words of a question that ask no date or count (「いくつもの町にまたがる事柄…」「援助って、いつまでも受け続け
# られるもの？」). Not before ら/う: 「いつもらえる？」 asks when.
_NOT_ASKING_RE = re.compile(r"(?:どこ|いつ|いくつ)(?:まで)?(?:でも|も)(?![らう])|(?:いつ|いくつ)か(?![らん所月])|何(?:名|人|件)かの")


# 「どこか」「いつか」「いくつか」 are indefinite (somewhere, some day, some): 「どこかの大学と組んでるの？」
# asks yes or no, not for a place. Not before ら/ん/所/月 (「いつから」「何か所」 still ask).
_INDEFINITE_RE = re.compile(r"(?:どこ|いつ|いくつ)か(?![らん所月])")


def plainly_asked_detail(text: str) -> str | None:
    """The detail kind the question asks for, for *saying* the plans lack it (``answering.hedge_lead``):
    as ``asked_detail``, but an indefinite 「いつか」「いくつか」 asks none either (「どこか」 asks no place in
    ``asked_detail`` itself, BENCHMARKS §9.34; the others it keeps matching, since the fitted answer model's
    features are computed from it and no refit has measured them apart)."""
    return asked_detail(_INDEFINITE_RE.sub("", text))


def holds_value(kind: str | None, sentence: str) -> bool:
    """Whether ``sentence`` states a value of the asked ``kind`` (False when nothing is asked)."""
    rx = DETAIL_VALUE_RES.get(kind or "")
    return bool(rx is not None and rx.search(sentence))


# Saying a detail is *missing* (``answering.hedge_lead``) must err towards not saying it: a value
# ``DETAIL_VALUE_RES`` misses but a resident reads as the answer (「40万人を超えるボランティア」: a count
# in 万) would make the claim false. These wider patterns count too; they are not in ``holds_value``,
# which the fitted answer model's features are computed from.
_WIDER_VALUE_RES: dict[str, re.Pattern] = {
    "count": re.compile(rf"{_DIGIT}[\d,，.０-９]*\s*(?:十|百|千|万|億)+\s*(?:人|名|件|団体|か所|箇所|ヶ所|校|回|台|組|世帯|戸|社)"),
}


def may_hold_value(kind: str | None, sentence: str) -> bool:
    """Whether ``sentence`` holds, or may hold, a value of ``kind``: ``holds_value`` or a wider pattern
    (a count in 万 or 億). For claiming a value is absent, not for the answer model's features."""
    rx = _WIDER_VALUE_RES.get(kind or "")
    return holds_value(kind, sentence) or bool(rx is not None and rx.search(sentence))


# --- for composing the answer only (the answer model's features never read these) ---------------
# 「担当している課は？」「所管する部署は？」「…の担当は？」 ask an office as surely as 「どの課」 does; and an office is
# named by 〜課, never by 課題 (「地域課題」), which ``DETAIL_VALUE_RES["place"]`` also matches.
# 「…の担当は？」「担当って？」 ending the question ask the same (not 「担当者を置いていますか？」)
_OFFICE_ASK_RE = re.compile(r"担当(?:して(?:いる|る)|する|の)?(?:課|部署|部局)|所管(?:する|して(?:いる|る)|の)?(?:課|部署|部局)?"
                            r"|担当(?:して(?:いる|る)|する)(?:の|ところ)(?:は|って)?(?:どこ|誰|だれ|\s*[?？]?\s*$)"
                            r"|担当(?:者|部署|部局)?(?:は|って)?(?:誰|だれ|どこ)?(?:です|でしょう)?か?\s*[?？]?\s*$")
_NOT_AN_OFFICE_RE = re.compile(r"課題|日課|課税|課金")


# 「どの課が担当？」「担当部署は？」: the office in charge, which 「〜センター」「〜施設」 (places) do not name
# (the office words of ``DETAIL_ASK_RES["place"]``: where this says "office", ``asked_detail`` said "place")
_WHICH_OFFICE_RE = re.compile(r"どの課|担当課|どの部署|担当部署")
# an office's name: 〜課, 〜室, 〜係 (「行革推進課・職員課」「市民協働推進室」)
_OFFICE_VALUE_RE = re.compile(r"[^\s/:：、。・「」()（）]{1,15}(?:課(?![題程税金])|室|(?<!関)係(?![るわり]))")


def detail_for_answer(text: str) -> str | None:
    """The detail an answer should state: ``asked_detail``, or a place when the question asks which
    office is in charge in other words (「…を担当している課は？」) — "office" when it asks an office in
    any words (「どの課」「担当部署は？」), a narrower place. Wider than ``asked_detail`` on purpose and kept
    apart from it, so the fitted answer model's features do not move."""
    if _OFFICE_ASK_RE.search(text) or _WHICH_OFFICE_RE.search(text):
        return "office"
    return asked_detail(text)


def states_value(kind: str | None, sentence: str) -> bool:
    """``holds_value`` for composing an answer: as strict, except that 課題 (and other words ending in
    課 that name no office) do not count as a place, and an office (kind "office") is named only by
    〜課・〜室・〜係: an item's 「完了の目安: …地域交流センター等へ移譲したとき…」 names a place, not the
    office in charge, so the item's 担当課 row beside it is still wanted."""
    if kind in ("place", "office"):
        sentence = _NOT_AN_OFFICE_RE.sub("", sentence)
    if kind == "office":
        return bool(_OFFICE_VALUE_RE.search(sentence))
    return holds_value(kind, sentence)


# --- a row of a plan's item sheet -------------------------------------------------------------
# Some plans write each of their measures as a sheet of labelled rows (山口市: 46 推進項目, each with
# 目的 / 推進内容 / 完了の目安 / 年次計画); a question asking when a measure counts as done (「どうなったら
# ゴール？」「どこまでいけば完了？」), what it is for (「何のため？」「ねらいは？」) or when it is done (「どの年度に実施？」
# 「初年度はどう取り組む？」) asks for that row.
ITEM_FIELD_ASK_RES: list[tuple[str, re.Pattern]] = [
    ("完了の目安", re.compile(r"ゴール|完了|どうなったら|どうなれば|どこまで(?:いけば|やれば|進めば|できたら)|区切り")),
    ("目的", re.compile(r"何のため|目的|ねらい|狙い")),
    # when it is done, year by year (「年次計画: H25 / … / H29」 and the row of 実施 / 検討 / → under it)
    ("年次計画", re.compile(r"どの年度|何年度|初年度|最終年度|年度(?:に|には|から|まで)は?(?:どの|何|どう)|いつ(?:から|まで|頃|ごろ)"
                        r"|いつ(?:実施|始|やる|行う|取り組)|スケジュール|年次計画|工程")),
]


def asked_item_field(text: str) -> str | None:
    """The label of the item-sheet row the question asks for (「担当課」 for an office question — the sheet's
    first row holds it: 「整理番号: I - (1) - ① / 種別 / 新規 担当課 / 協働推進課」 —, 「完了の目安」「目的」「年次計画」),
    or None."""
    if detail_for_answer(text) == "office":
        return "担当課"
    return next((label for label, rx in ITEM_FIELD_ASK_RES if rx.search(text)), None)


# --- finer still: a superlative, an "as of when" ---------------------------------------------
# These refine the detail without changing ``asked_detail`` (the fitted answer model's features
# are computed from it): 「満足度が最も高かった施策は？」 asks *which* 施策 has the extreme value of
# 満足度; 「いつ現在の情報ですか？」 asks the date the content holds at, not just any date.

_NOUN = r"[\u4e00-\u9fff\u30a1-\u30faー々〇A-Za-zＡ-Ｚａ-ｚ0-9０-９・]+"
_MOST = r"(?:最も|もっとも|一番|いちばん)"
# the word that says which end: an adjective after 最も/一番, or a noun of its own
_END_ADJ = r"(高|多|低|少な|大き|小さ)(?:い|かっ|く)"
_END_NOUN_RE = re.compile(r"最高|最多|最大|最低|最少|最小|上位|トップ|首位|[1１一]位|最下位|下位")
_HIGH = {"高", "多", "大き", "最高", "最多", "最大", "上位", "トップ", "首位", "1位", "１位", "一位"}
# a change rather than a level: 「最も大きく増加している施策」 answers 「最も増えた…」, not 「最も高い…」
CHANGE_RE = re.compile(r"増加|減少|増え|減っ|減り|伸び|上昇|低下|改善|悪化|差")
DECREASE_RE = re.compile(r"減少|減っ|減り|低下|悪化")


@dataclass(frozen=True)
class Superlative:
    """A question for the extreme of a quantity among things of one kind: 「満足度が最も高かった施策」
    → quantity 「満足度」, high, subject 「施策」. ``quantity`` / ``subject`` are None when the
    question does not name them (「一番多いのは？」); ``change``: the word of change when it asks for the largest change (「増加」);
    ``top``: how many from the top (or bottom) it asks for, when it asks for several (「上位3施策」 → 3)."""

    high: bool
    quantity: str | None
    subject: str | None
    change: str | None = None
    top: int | None = None


_QTY_BEFORE_RE = re.compile(rf"({_NOUN})(?:が|の|で|は)\s*{_MOST}")  # 満足度が最も
_QTY_AFTER_RE = re.compile(rf"{_MOST}\s*({_NOUN})(?:が|の)\s*{_END_ADJ}")  # 最も満足度が高い
_SUBJ_AFTER_RE = re.compile(rf"(?:{_END_ADJ}た?|(?:最高|最多|最大|最低|最少|最小|上位|トップ|首位)の?)\s*({_NOUN})")  # 高かった施策
_SUBJ_WHICH_RE = re.compile(rf"(?:どの|何の|どんな)\s*({_NOUN})")  # どの施策
_SUBJ_AMONG_RE = re.compile(rf"({_NOUN})(?:の中で|のうち|で)\s*{_MOST}")  # 施策の中で最も
# the thing asked about, just before the topic particle: 「…増加した施策は何？」
_SUBJ_TOPIC_RE = re.compile(rf"({_NOUN})(?:は|って|とは)(?:何|どこ|どれ|誰|[？?]|$)")
_ASK_WORDS = {"何", "どこ", "誰", "何処", "どれ"}


def asked_superlative(text: str) -> Superlative | None:
    """The superlative a question asks for, or None (「満足度は？」「最も重要なことは何？」 asks no
    extreme of a *quantity* among things: it has no 高い/多い/上位 …)."""
    t = re.sub(r"\s+", "", text)
    m_adj = re.search(rf"{_MOST}[^。？?]{{0,12}}?{_END_ADJ}", t)
    m_noun = _END_NOUN_RE.search(t)
    m_change = re.search(rf"{_MOST}[^。？?]{{0,8}}?({CHANGE_RE.pattern})", t)
    if not (m_adj or m_noun or m_change):
        return None
    if m_change:  # 「最も大きく減少した」: the largest decrease is the low end
        high = not DECREASE_RE.fullmatch(m_change.group(1))
    else:
        high = (m_adj.group(1) if m_adj else m_noun.group(0)) in _HIGH
    quantity = None
    m = _QTY_AFTER_RE.search(t) or _QTY_BEFORE_RE.search(t)
    if m:
        quantity = m.group(1)
    elif m_noun:
        q = re.search(rf"({_NOUN})(?:の|が|で)?$", t[: m_noun.start()]) or re.search(rf"({_NOUN})が{_END_ADJ}", t)
        quantity = q.group(1) if q else None
    subject = None
    for rx in (_SUBJ_WHICH_RE, _SUBJ_AFTER_RE, _SUBJ_AMONG_RE, _SUBJ_TOPIC_RE):
        s = rx.search(t)
        # 「上位3施策」「トップ5つの施策」: the count is not the kind of thing
        word = re.sub(r"^(?:上位|下位|トップ|ベスト|ワースト)?[0-9０-９]*(?:つの|つ|位まで(?:の)?)?", "", s.group(s.lastindex)) if s else ""
        if word and word not in _ASK_WORDS and not CHANGE_RE.fullmatch(word):
            subject = word
            break
    n = re.search(r"(?:上位|下位|トップ|ベスト|ワースト)\s*([0-9０-９]+)", t)
    top = int(unicodedata.normalize("NFKC", n.group(1))) if n else None
    if subject == quantity:
        subject = None
    return Superlative(high=high, quantity=quantity or None, subject=subject or None, change=(c.group(0) if (c := CHANGE_RE.search(t)) else None), top=top)


_AS_OF_ASK_RE = re.compile(r"(?:いつ|何年何月何日|何日|何月|どの時点|いつの時点)\s*(?:現在|時点)|時点の(?:情報|データ|もの)|"
                           r"いつの(?:情報|データ|数字|数値|もの)|いつ時点")


def asks_as_of(text: str) -> bool:
    """「一覧表はいつ現在の情報ですか？」「いつ時点のデータ？」: the date the content holds at (a
    refinement of the "date" detail), which a validity note (「（平成３０年６月２８日現在）」) states."""
    return bool(_AS_OF_ASK_RE.search(re.sub(r"\s+", "", text)))

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
    ("count", re.compile(r"何人|何名|人数|何件|何団体|何か所|何箇所|何ヶ所|何校|何回|何台|何組|何チーム|何部|何歳|何ページ|いくつ(?!もり)|幾つ")),
    ("date", re.compile(r"いつ|何日|何月|何曜日|日程|日時|開催日|期日|締め?切り|何年に|何年度に|何年度から|何年から|次回")),
    ("place", re.compile(r"どこ|場所|会場|住所|窓口")),
    ("procedure", re.compile(r"申し?込|申請|手続き?|予約|登録|届け?出|借りられ|借りる|入会|退会|加入")),
]

# A value of each kind, as a sentence of the plans would state it.
_DIGIT = r"[0-9０-９一二三四五六七八九十百千]"
DETAIL_VALUE_RES: dict[str, re.Pattern] = {
    "phone": re.compile(r"\d{2,5}\s*[-－‐（(]\s*\d{1,4}\s*[-－‐）)]\s*\d{3,4}|電話|TEL|ＴＥＬ|メール|FAX|ＦＡＸ"),
    "time": re.compile(rf"{_DIGIT}+\s*時|\d{{1,2}}\s*[:：]\s*\d{{2}}|午前|午後|夜間|開館|閉館"),
    "money": re.compile(rf"{_DIGIT}[\d,，.０-９]*\s*(?:千|万|億)?\s*円|無料|有料|負担金|会費|手数料"),
    "count": re.compile(rf"{_DIGIT}[\d,，０-９]*\s*(?:人|名|件|団体|か所|箇所|ヶ所|校|回|台|組|チーム|地区|組織|世帯|戸|点|社|市|町|つ|歳|ページ|[^\s\d。、]{{0,3}}所)"),
    "date": re.compile(rf"(?:明治|大正|昭和|平成|令和)\s*(?:{_DIGIT}+|元)\s*年|\d{{4}}\s*年|{_DIGIT}+\s*月|{_DIGIT}+\s*日|曜日|毎月|毎年|上旬|中旬|下旬|春|夏|秋|冬"),
    "place": re.compile(r"課|室|センター|窓口|市役所|役場|支所|公民館|事務所|会館|施設|所在地|住所|[^\s]{1,10}(?:町|丁目)\d"),
    "procedure": re.compile(r"申し?込|申請|手続|予約|登録|届け?出|受付|応募|問い?合わせ|相談"),
}

DETAIL_KINDS = [k for k, _rx in DETAIL_ASK_RES]


def asked_detail(text: str) -> str | None:
    """The detail kind the question asks for (one of ``DETAIL_KINDS``), or None when it asks for none
    of them (「協働とは？」「どんな支援がありますか？」)."""
    for kind, rx in DETAIL_ASK_RES:
        if rx.search(text):
            return kind
    return None


def holds_value(kind: str | None, sentence: str) -> bool:
    """Whether ``sentence`` states a value of the asked ``kind`` (False when nothing is asked)."""
    rx = DETAIL_VALUE_RES.get(kind or "")
    return bool(rx is not None and rx.search(sentence))

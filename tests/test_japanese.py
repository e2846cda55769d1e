"""Golden tests of the Japanese text module with the pinned dictionary (unidic-lite 1.0.8).

Table-driven like fugashi's own tests: each row is an input and the exact output we rely on.
If a dictionary upgrade changes a row, the index and the query side change together — that is
what these tests are for: notice it, re-check retrieval, then update the table deliberately.
"""

from __future__ import annotations

import pytest

from assistant import japanese as ja

# --------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, normalized, compacted",
    [
        ("ＮＰＯ　法人", "NPO 法人", "NPO法人"),
        ("１３団体", "13団体", "13団体"),
        ("ｶﾀｶﾅ", "カタカナ", "カタカナ"),
        ("（１）地域コミュニティの振興", "(1)地域コミュニティの振興", "(1)地域コミュニティの振興"),
        ("  市民\t\t活動  ", "市民 活動", "市民活動"),
        ("①　協働", "1 協働", "1協働"),  # NFKC folds circled digits: matching only, display keeps ①
        ("行1\r\n行2", "行1\n行2", "行1行2"),
    ],
)
def test_normalize_and_compact(text, normalized, compacted):
    assert ja.normalize(text) == normalized
    assert ja.compact(text) == compacted


# --------------------------------------------------------------------------------------
# Tokens (surface, lemma, POS) with the pinned dictionary
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        (
            "市民活動を推進します。",
            [("市民", "市民", "名詞"), ("活動", "活動", "名詞"), ("を", "を", "助詞"), ("推進", "推進", "名詞"),
             ("し", "為る", "動詞"), ("ます", "ます", "助動詞"), ("。", "。", "補助記号")],
        ),
        (
            "ボランティアに参加している",
            [("ボランティア", "ボランティア", "名詞"), ("に", "に", "助詞"), ("参加", "参加", "名詞"),
             ("し", "為る", "動詞"), ("て", "て", "助詞"), ("いる", "居る", "動詞")],
        ),
        (
            "ＮＰＯ法人の認証数",
            [("NPO", "NPO", "名詞"), ("法人", "法人", "名詞"), ("の", "の", "助詞"), ("認証", "認証", "名詞"), ("数", "数", "名詞")],
        ),
        ("まちづくりを進める", [("まちづくり", "町作り", "名詞"), ("を", "を", "助詞"), ("進める", "進める", "動詞")]),
    ],
)
def test_analyze_golden(text, tokens):
    assert [(t.surface, t.lemma, t.pos1) for t in ja.analyze(text)] == tokens


@pytest.mark.parametrize(
    "surface, raw_lemma, lemma",
    [
        ("スポーツ", "スポーツ-sport", "スポーツ"),
        ("ボランティア", "ボランティア-volunteer", "ボランティア"),
        ("コミュニティ", "コミュニティー-community", "コミュニティー"),  # and the ー variant is unified
        ("センター", "センター-center", "センター"),
    ],
)
def test_loanword_lemma_suffix_is_stripped(surface, raw_lemma, lemma):
    (word,) = ja.tagger()(surface)
    assert word.feature.lemma == raw_lemma
    assert [t.lemma for t in ja.analyze(surface)] == [lemma]


@pytest.mark.parametrize(
    "text, words",
    [
        ("市民活動を推進します。", ["市民", "活動", "推進"]),
        ("スポーツ振興会の活動", ["スポーツ", "振興", "会", "活動"]),
        ("長門市の協働アクションプラン", ["長門", "市", "協働", "アクション", "プラン"]),  # proper noun keeps its surface
        ("ＮＰＯ法人の認証数は１３団体", ["NPO", "法人", "認証", "数", "13", "団体"]),
        ("地域コミュニティの振興", ["地域", "コミュニティー", "振興"]),
        ("まちづくりを進めるため", ["町作り", "進める"]),  # 「ため」 is a light formal noun
        ("市民と行政が協働する", ["市民", "行政", "協働"]),
        ("これはあります", []),
    ],
)
def test_content_words_golden(text, words):
    assert ja.content_words(text) == words


def test_query_and_passage_spellings_meet_in_the_same_lemma():
    assert ja.content_words("コミュニティー") == ja.content_words("コミュニティ")
    assert ja.content_words("ＮＰＯ") == ja.content_words("NPO")


def test_char_bigrams_and_search_tokens():
    assert ja.char_bigrams("市民活動、さぽらんて") == ["市民", "民活", "活動", "さぽ", "ぽら", "らん", "んて"]
    assert ja.search_tokens("市民活動") == ["市民", "活動", "#市民", "#民活", "#活動"]


# --------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("地域で支えます。市民が主役です。", ["地域で支えます。", "市民が主役です。"]),
        ("「地域の役に立ちたい。力になりたい」という声がある。", ["「地域の役に立ちたい。力になりたい」という声がある。"]),
        ("期間は平成21年(2009年)度から。計画です。", ["期間は平成21年(2009年)度から。", "計画です。"]),
        ("推進していきます!!次に進みます。", ["推進していきます!!", "次に進みます。"]),
        ("本当ですか？はい。", ["本当ですか？", "はい。"]),
        ("・市民活動ガイドブックの作成\n・情報収集", ["・市民活動ガイドブックの作成", "・情報収集"]),
        ("(1) 地域コミュニティの振興\n基本方針\nコミュニティ組織を支援します。", ["(1) 地域コミュニティの振興", "基本方針", "コミュニティ組織を支援します。"]),
        # an opener never closed on the line does not swallow the sentence ends after it
        ("(1 括弧が欠けています。次の文です。", ["(1 括弧が欠けています。", "次の文です。"]),
        # a quote closed on this line but opened on the previous one stays with its sentence
        ("続きの引用です。」と述べた。", ["続きの引用です。」", "と述べた。"]),
        ("比率は10.5%です。", ["比率は10.5%です。"]),
        ("", []),
    ],
)
def test_split_sentences(text, sentences):
    assert ja.split_sentences(text) == sentences


# --------------------------------------------------------------------------------------
# 和暦 ⇔ 西暦
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expansions",
    [
        ("平成29年度", ["2017年度"]),
        ("2017年度", ["平成29年度"]),
        ("H29", ["2017年", "平成29年"]),
        ("H29年度", ["2017年度", "平成29年度"]),
        ("Ｈ２９年度", ["2017年度", "平成29年度"]),
        ("令和元年", ["2019年", "令和1年", "平成31年"]),
        ("令和1年", ["2019年", "令和元年", "平成31年"]),
        ("平成31年", ["2019年", "令和元年"]),
        ("2019年", ["平成31年", "令和元年"]),
        ("R2年度", ["2020年度", "令和2年度"]),
        ("昭和64年", ["1989年", "平成元年"]),
        ("H18.1", ["2006年", "平成18年"]),
        ("平成21年(2009年)度から平成29年(2017年)度まで", []),  # both spellings already there
        ("平成21年度から平成29年度まで", ["2009年度", "2017年度"]),
        ("2030年", ["令和12年"]),
        ("計画期間は5年間", []),
    ],
)
def test_year_expansions(text, expansions):
    assert ja.year_expansions(text) == expansions


@pytest.mark.parametrize(
    "year, names",
    [(2017, ["平成29"]), (2019, ["平成31", "令和元"]), (1989, ["昭和64", "平成元"]), (2030, ["令和12"]), (1926, ["大正15", "昭和元"])],
)
def test_seireki_to_wareki(year, names):
    assert ja.seireki_to_wareki(year) == names


@pytest.mark.parametrize("era, year, seireki", [("平成", 29, 2017), ("H", 29, 2017), ("令和", 1, 2019), ("R", 7, 2025), ("昭和", 64, 1989)])
def test_wareki_to_seireki(era, year, seireki):
    assert ja.wareki_to_seireki(era, year) == seireki


def test_content_words_are_the_content_tokens_of_analyze_on_every_line_of_the_bundled_corpus():
    # the build's fast path (no Token objects) must index exactly what the Token path did
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    lines = [line for p in sorted(corpus.glob("*.txt")) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) > 1000
    for line in lines:
        assert ja.content_words(line) == [t.lemma for t in ja.analyze(line) if ja.is_content(t)], line


def test_threads_tokenizing_at_once_get_the_same_tokens_as_one_thread_alone():
    # a MeCab tagger is not thread-safe: request threads, the answer warm-up and a build share the process
    import threading
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    lines = [line for p in sorted(corpus.glob("*.txt")) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()][:2000]
    alone = [ja.content_words(line) for line in lines]
    wrong = []

    def tokenize():
        wrong.extend(line for line, want in zip(lines, alone) if ja.content_words(line) != want)

    threads = [threading.Thread(target=tokenize) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []

"""How questions are cleaned, typed, expanded and rewritten before any search happens."""

import pytest

from assistant.conversation import MAX_QUESTION_CHARS, clean_question, rewrite_followup
from assistant.query import analyze_query, question_type

CITIES = ["山口市", "長門市", "山陽小野田市"]


def _hist(*turns):
    roles = ["user", "assistant"]
    return [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  NPOの支援は？  ", "NPOの支援は?" if False else "NPOの支援は？"),
        ("<script>alert(1)</script>補助金", "alert(1) 補助金"),
        ("[補助金](javascript:alert(1))はある？", "補助金はある？"),
        ("ボランティア\x00を\x1b始めたい", "ボランティア を 始めたい"),
        ("", ""),
        ("   \n\t ", ""),
    ],
)
def test_clean_question_treats_markup_as_plain_text_and_drops_control_characters(raw, expected):
    assert clean_question(raw)[0] == expected


def test_overlong_question_is_truncated_with_a_note():
    q, notes = clean_question("協働" * 400)
    assert len(q) == MAX_QUESTION_CHARS
    assert notes and "文字" in notes[0]


def test_non_string_input_is_treated_as_empty_or_text():
    assert clean_question(None)[0] == ""
    assert clean_question(123)[0] == "123"


@pytest.mark.parametrize(
    "question, qtype",
    [
        ("計画期間はいつまでですか？", "when"),
        ("NPO法人認証数の目標値は？", "number"),
        ("相談窓口はどこですか", "where"),
        ("ボランティアを始めるにはどうすればいい？", "how"),
        ("協働ラウンドテーブルとは？", "what"),
    ],
)
def test_question_type(question, qtype):
    assert question_type(question) == qtype


@pytest.mark.parametrize(
    "question, must_expand_to",
    [
        ("お金の援助はある？", "補助金"),
        ("NPOを立ち上げたい", "特定非営利活動法人"),
        ("お年寄りの見守りは？", "高齢者"),
        ("車がなくて送り迎えが大変", "移送"),
        ("平成29年度の目標は", "2017年度"),
    ],
)
def test_everyday_words_expand_to_administrative_words(question, must_expand_to):
    qa = analyze_query(question)
    assert must_expand_to in qa.expansions
    assert all(w < 1.0 for w in qa.expansions.values()), "expansions weigh less than the user's words"


@pytest.mark.parametrize(
    "question, words",
    [
        # 「いくつ」 after 「って」 tokenizes as 幾 + つ: the question word, not a topic the plans must hold
        ("防犯系のNPOっていくつある？", ["防犯", "NPO"]),
        ("NPOは幾つありますか", ["NPO"]),
        ("補助金はいくら？", ["補助"]),
    ],
)
def test_question_words_are_not_topic_words(question, words):
    assert analyze_query(question).words == words


def test_municipality_named_without_suffix_is_recognised():
    assert analyze_query("長門の高齢化率は？", municipalities=CITIES).municipalities == ["長門市"]


@pytest.mark.parametrize(
    "question, cities",
    [
        ("小野田で人の役に立つ活動がしたい", ["山陽小野田市"]),  # 旧小野田市, merged into 山陽小野田市
        ("三隅地区の協議会は何世帯？", ["長門市"]),  # 旧三隅町
        ("小郡と長門で、市民活動の拠点はどこ？", ["山口市", "長門市"]),  # 旧小郡町 and a stem
        ("山陽新幹線の駅はどこ？", []),  # 「山陽」 alone is no alias: it names a railway and a region too
    ],
)
def test_a_town_merged_into_a_city_names_that_city(question, cities):
    assert analyze_query(question, municipalities=CITIES).municipalities == cities


def test_an_alias_that_could_name_another_indexed_city_names_neither(tmp_path, monkeypatch):
    from assistant import query

    aliases = tmp_path / "aliases.txt"
    aliases.write_text("# 呼び名\n山口市: 小郡\n", encoding="utf-8")
    read = query.load_municipality_aliases
    monkeypatch.setattr(query, "load_municipality_aliases", lambda path=None: read(str(aliases)))
    assert query.municipality_forms("山口市") == ["山口市", "山口", "小郡"]
    assert query.municipality_forms("山口市", others=["山口市", "小郡市"]) == ["山口市", "山口"]


def test_an_aliases_file_line_without_a_colon_is_an_error_naming_the_line(tmp_path):
    from assistant.query import load_municipality_aliases

    bad = tmp_path / "aliases.txt"
    bad.write_text("山口市: 小郡\n長門市 三隅\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"aliases.txt:2"):
        load_municipality_aliases(str(bad))


class TestFollowUps:
    def test_when_question_borrows_the_topic_of_the_previous_turn(self):
        h = _hist("山口市協働推進プランの計画期間は？", "…によると、平成21年度から平成29年度までの9年間 [1]")
        q, more = rewrite_followup("それはいつまで？", h, CITIES, [])
        assert "計画期間" in q and "いつまで" in q and not more

    def test_other_city_replaces_the_city_of_the_previous_question(self):
        h = _hist("山口市のNPO法人の数は？", "…")
        q, _ = rewrite_followup("長門市は？", h, CITIES, ["長門市"])
        assert q.startswith("長門市の") and "NPO法人の数" in q and "山口" not in q

    @pytest.mark.parametrize("followup, city", [
        ("長門は？", "長門市"),  # without 市
        ("じゃあ長門は？", "長門市"),
        ("山陽小野田市の場合は？", "山陽小野田市"),
        ("小野田だと？", "山陽小野田市"),  # a merged town's name
    ])
    def test_a_city_named_in_any_of_its_forms_switches_the_city(self, followup, city):
        h = _hist("山口市でNPOを立ち上げるときの相談先は？", "…")
        q, more = rewrite_followup(followup, h, CITIES, ["x", "y"])
        assert q == f"{city}のNPOを立ち上げるときの相談先は？" and not more

    def test_asking_for_more_keeps_the_topic_and_asks_for_other_passages(self):
        h = _hist("ボランティアを始めるには？", "…")
        q, more = rewrite_followup("他には？", h, CITIES, [])
        assert "ボランティア" in q and more

    def test_there_refers_to_the_previous_topic(self):
        h = _hist("長門市の市民活動支援センターについて教えて", "…")
        q, _ = rewrite_followup("そこでのNPO法人の数は？", h, CITIES, ["NPO", "法人", "数"])
        assert "市民活動支援センター" in q and "NPO法人の数" in q

    def test_a_self_contained_question_is_left_alone(self):
        h = _hist("山口市の計画期間は？", "…")
        q = "長門市で公民館の運営を地域の団体がしているところはありますか？"
        assert rewrite_followup(q, h, CITIES, ["長門", "公民館", "運営", "地域", "団体"]) == (q, False)

    def test_without_history_nothing_is_rewritten(self):
        assert rewrite_followup("それはいつまで？", None, CITIES, []) == ("それはいつまで？", False)

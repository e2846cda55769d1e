"""A definition question (「協働とは？」「協働ってどういう意味」) gets the plans' definition first, not a sentence that
merely shares the term or says 意味 (issue 10, BENCHMARKS §9.32): the definition is told apart by its form."""

import pytest
from answer_candidates import candidates

from assistant import answering, definitions

PASSAGE = ("本市にとって市民協働は、市政運営の根幹をなすものであり、市民主体のまちづくりを進める意味からも、その位置付けを明確にする必要があります。\n"
           "『協働』とは、『市民と行政、又は市民同士が相互に相手の特性を理解及び尊重し、共通の目的に向かい、共に取り組むこと』です。\n"
           "協働の取組は年々増えています。")


def _cands(text: str, scores: list[float]) -> list:
    return candidates(text, scores, section=["協働とは"])


@pytest.mark.parametrize("question, terms", [
    ("協働とは？", ["協働"]),
    ("協働ってどういう意味", ["協働"]),
    ("さぽらんてとは何ですか。", ["さぽらんて"]),
    ("市民活動の定義は？", ["市民活動"]),
    ("協働の意味を教えて", ["協働"]),
    ("地域協働体って何？", ["地域協働体"]),
    # a city before the term: the term alone is read too
    ("山口の地域づくり計画って何", ["山口の地域づくり計画", "地域づくり計画"]),
    # these ask a name, a content or an ability, not what the term means
    ("長門の自転車の催しって何という名前？", []),
    ("ボランティアって何をするの？", []),
    ("非営利のグループが役所より得意なことって？", []),
    ("協働を進めるために市は何をしますか", []),
    # how a plan defines a term: the term in quotes is the term, whatever stands before it
    ("長門市の条例では「市民協働」をどのように定義していますか", ["市民協働"]),
    ("地域づくり協議会はどう定義されていますか", ["地域づくり協議会"]),
])
def test_asked_terms_reads_definition_questions_only(question, terms):
    assert definitions.asked_terms(question) == terms


@pytest.mark.parametrize("sentence, term, expected", [
    ("『協働』とは、『市民と行政…』です。", "協働", True),
    ("協働とは、さまざまなテーマ、場所、場面で、多様な主体が連携・協力して、活動する「手段」です。", "協働", True),
    ("- ●地域コミュニティとは、自治会や町内会、婦人会…", "地域コミュニティ", True),
    ("センターの愛称である「さぽら んて」とは、「さぽーと・ボラン ティア・手」を表し", "さぽらんて", True),
    ("…地域づくりに取り組む主体を総称して「地域づくり協議会」と位置づけており、", "地域づくり協議会", True),
    ("「市民活動を組織的かつ継続的に行う団体」を「市民活動団体」といいます。", "市民活動団体", True),
    ("市民活動団体のうち、…認証を受け、登記した団体がNPO法人（特定非営利活動法人）です。", "NPO法人", True),
    ("注6）アダプト制度…行政が特定の公共財（道路、公園など）について…制度。", "アダプト制度", True),
    ("※ドメスティック・バイオレンス：配偶者などからの暴力。", "ドメスティック・バイオレンス", True),
    # a Latin abbreviation with the noun it heads (「NPOって何？」)
    ("市民活動団体のうち、…認証を受け、登記した団体がNPO法人（特定非営利活動法人）です。", "NPO", True),
    ("◆市民活動支援センター「さぽらんて」", "さぽらんて", True),
    # the term inside a longer word, as a topic, in a heading, or a glossary mark in running text
    ("「市民協働」とは、まちづくりの主体である市民等と行政…", "協働", False),
    ("本市にとって市民協働は、市政運営の根幹をなすものであり、…意味からも", "協働", False),
    ("第1章 協働推進プランとは", "協働", False),
    ("アダプト制度（注6）などの協働による事業手法の普及・促進", "アダプト制度", False),
    ("① 市民活動支援センター(さぽらんて)の中間支援機能の充実", "さぽらんて", False),
])
def test_defines_knows_the_plans_forms_of_definition(sentence, term, expected):
    assert definitions.defines(sentence, term) is expected


def test_the_definition_is_the_answer_to_a_definition_question():
    cands = _cands(PASSAGE, [0.95, 0.70, 0.60])
    definitions.prefer(cands, "協働ってどういう意味")
    chosen = answering.choose(cands)
    assert chosen[0].text.startswith("『協働』とは")
    assert not any(c.text.startswith("本市にとって") for c in chosen)


def test_other_questions_leave_the_scores_alone():
    cands = _cands(PASSAGE, [0.95, 0.70, 0.60])
    definitions.prefer(cands, "協働の取組はどれくらい増えていますか")
    assert [c.score for c in cands] == [0.95, 0.70, 0.60]


def test_no_defining_line_leaves_the_scores_alone():
    cands = _cands(PASSAGE, [0.95, 0.70, 0.60])
    definitions.prefer(cands, "地域協働体とは何ですか")
    assert [c.score for c in cands] == [0.95, 0.70, 0.60]


def test_every_definition_of_the_term_is_kept_however_low_the_model_scored_it():
    text = "◆市民活動支援センター「さぽらんて」\nセンターの愛称である「さぽらんて」とは、「さぽーと・ボランティア・手」を表します。\nセンターは相談を受け付けています。"
    cands = candidates(text, [0.05, 0.9, 0.8])
    for c in cands:
        c.coverage = 0.0  # no content word of the question found: 「さぽらんて」 is no dictionary word
    definitions.prefer(cands, "さぽらんてって何？")
    assert {c.text for c in answering.choose(cands)} >= set(text.splitlines()[:2])


@pytest.mark.parametrize("line, term, expected", [
    ("※公債費：", "公債費", True),
    ("【市民協働】", "市民協働", True),
    # another term of the glossary that holds the asked one, or running text
    ("※実質公債費比率：", "公債費", False),
    ("市民協働を以下のとおり定義しています。", "市民協働", False),
])
def test_names_term_knows_a_line_that_only_names_the_term(line, term, expected):
    assert definitions.names_term(line, term) is expected


GLOSSARY = ("※実質公債費比率：\n地方債の償還額の標準財政規模に対する割合のこと。\n"
            "※公債費：\n地方自治体が、一般財源の中から借金の返済に充てる費用のこと。")


def test_a_glossary_definition_under_the_terms_name_is_the_answer_and_comes_with_the_name():
    cands = candidates(GLOSSARY, [0.9, 0.8, 0.1, 0.3])
    lines = GLOSSARY.splitlines()
    definitions.prefer(cands, "公債費とはどういう意味ですか", answering._line_before)
    shown = [c.text for c in answering.choose(cands)]
    assert shown[:2] == lines[2:]
    assert lines[1] not in shown

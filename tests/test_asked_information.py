"""The sentence an answer quotes holds what the question asks for: a figure for 「何名」, an office for 「どこ」."""

import pytest

from assistant import answering
from assistant.query import QueryAnalysis


@pytest.mark.parametrize(
    "question, qtype, asked",
    [
        # query.question_type leaves these "general"; they ask for a figure
        ("山陽小野田市の公務員って、住民何名を受け持つ計算になってる？", "general", "number"),
        ("借金の返済にどれだけ縛られているか", "general", "number"),
        ("まちづくり講座の受講料はいくら？", "general", "number"),
        # a type query.py found is kept
        ("条例ができたのはいつですか？", "when", "when"),
        ("担当の窓口はどこ？", "where", "where"),
        ("市民協働とは？", "what", "what"),
        ("協働のまちづくりの考え方を教えて", "general", "general"),
    ],
)
def test_what_the_question_asks_for(question, qtype, asked):
    assert answering.asked_type(QueryAnalysis(text=question, words=[], qtype=qtype)) == asked


def test_a_line_naming_an_office_answers_a_where_question_but_is_a_label_otherwise():
    assert not answering._is_heading_like("市民協働推進室", [], "where")
    assert answering._is_heading_like("市民協働推進室", [], "general")
    # a section label stays a label, even for a where question
    assert answering._is_heading_like("< 地区市民センターの体制 >", [], "where")


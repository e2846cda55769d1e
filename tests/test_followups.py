"""Follow-ups that ask one aspect (when / where / who / how much) of the previous answer answer
that aspect from the passages the previous answer cited, or say plainly that it is not stated there."""

import pytest

from assistant.answering import ASPECT_MISSING, REFUSAL_TEXT
from assistant.conversation import followup_aspect, rewrite_followup


@pytest.mark.parametrize(
    "question, aspect",
    [
        ("それはいつまでですか？", "when"),
        ("それはいつまで？", "when"),
        ("いつから？", "when"),
        ("期間は？", "when"),
        ("それって期限は？", "when"),
        ("どこに相談すればいい？", "where"),
        ("担当はどこ？", "where"),
        ("窓口は？", "where"),
        ("誰がやるの？", "who"),
        ("どなたが担当ですか？", "who"),
        ("どこが担当？", "who"),
        ("いくら？", "how_much"),
        ("費用は？", "how_much"),
        ("その費用はいくらかかりますか？", "how_much"),
        # not aspect-only follow-ups
        ("他には？", None),
        ("長門市は？", None),
        ("そこでのNPO法人の数は？", None),
        ("計画期間はいつまでですか？", None),
        ("NPO法人の認証数の目標値は？", None),
        ("", None),
    ],
)
def test_followup_aspect(question, aspect):
    assert followup_aspect(question) == aspect


def test_an_aspect_only_question_borrows_the_previous_topic():
    h = [{"role": "user", "content": "市民活動団体への支援は？"}, {"role": "assistant", "content": "…"}]
    q, more = rewrite_followup("担当はどこ？", h, ["山口市"], ["担当", "何処"])
    assert "市民活動団体への支援" in q and not more


def _turn(assistant, question, history=None):
    ans = assistant.ask(question, history or [])
    return ans, (history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": ans.text}]


def test_when_follow_up_answers_the_period_of_the_cited_row(bundled_assistant):
    first, h = _turn(bundled_assistant, "NPO法人の認証数の目標値は？")
    assert "H29" in first.text
    ans = bundled_assistant.ask("それはいつまでですか？", h)
    assert not ans.refused
    assert "H29" in ans.text or "平成29" in ans.text
    assert ans.text != first.text
    assert "説明: 特定非営利活動促進法" not in ans.text, "the row is narrowed to the cells that state the period"
    assert "ボランティア団体数" not in ans.text, "the quoted row, not its neighbours"
    assert {c.id for c in ans.citations} <= {c.id for c in first.citations}


def test_where_follow_up_names_the_place_from_the_cited_passages(bundled_assistant):
    first, h = _turn(bundled_assistant, "市民活動団体への支援は？")
    ans = bundled_assistant.ask("どこに相談すればいい？", h)
    assert not ans.refused
    assert any(w in ans.text for w in ("センター", "窓口"))
    assert ans.citations and {c.id for c in ans.citations} <= {c.id for c in first.citations}


def test_who_follow_up_answers_from_the_cited_passages(bundled_assistant):
    first, h = _turn(bundled_assistant, "市民活動団体への支援は？")
    ans = bundled_assistant.ask("誰がやるの？", h)
    assert not ans.refused and ans.citations
    assert {c.id for c in ans.citations} <= {c.id for c in first.citations}
    assert any(w in ans.text for w in ("市民", "団体", "センター", "行政"))


def test_an_aspect_the_cited_passages_do_not_state_is_said_plainly(bundled_assistant):
    first, h = _turn(bundled_assistant, "NPO法人の認証数の目標値は？")
    ans = bundled_assistant.ask("費用は？", h)
    assert not ans.refused
    assert ans.text.startswith(ASPECT_MISSING.split("{")[0])
    assert "円" not in ans.text
    # the resident sees where it was looked for: the previous passages
    assert ans.citations and {c.id for c in ans.citations} <= {c.id for c in first.citations}


def test_without_a_cited_previous_answer_the_follow_up_is_answered_as_before(bundled_assistant):
    h = [{"role": "user", "content": "山口市協働推進プランの計画期間は？"}, {"role": "assistant", "content": REFUSAL_TEXT}]
    ans = bundled_assistant.ask("それはいつまで？", h)
    assert "計画期間" in ans.query_used and not ans.refused


@pytest.mark.parametrize("follow_up", ["他には？", "長門市は？"])
def test_non_aspect_follow_ups_behave_as_before(bundled_assistant, follow_up):
    first, h = _turn(bundled_assistant, "NPO法人の認証数の目標値は？")
    ans = bundled_assistant.ask(follow_up, h)
    assert not ans.text.startswith("前の回答の出典")
    if follow_up == "他には？":
        assert {c.id for c in ans.citations}.isdisjoint({c.id for c in first.citations})
    else:
        assert ans.query_used.startswith("長門市")
        assert ans.citations and ans.citations[0].municipality == "長門市"


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



# ---- "who" names an actor; the previous answer's passages are found by id -------------------

@pytest.mark.parametrize("sentence, states_who", [
    ("整理番号: Ⅳ-(1)-① / 種別 / 継続 担当課 / 協働推進課", True),
    ("市民活動推進課が窓口となります。", True),
    ("協働推進室と連携して進めます。", True),
    ("市は運営費を補助します。", True),
    ("市民・団体が主体となって取り組みます。", True),
    ("地域住民が主体となった地域づくり協議会を設立します。", True),
    ("地域づくりの担い手を育成します。", True),
    ("実施主体は各地区の自治会です。", True),
    # topic words are not actors
    ("NPO法人の認証数 / 現状値 (H23年度): 13団体 / 目標値 (H29年度): 20団体", False),
    ("地域の課題を解決するための仕組みが重要です。", False),
    ("一部の地区で試行しています。", False),
    ("大部分の住民が満足しています。", False),
    ("「市民活動のきっかけづくり」を主体に置きながら進めてきました。", False),
    ("市民活動団体数の推移", False),
])
def test_who_means_an_actor_not_a_topic(sentence, states_who):
    from assistant.answering import _ASPECT_RES

    assert bool(_ASPECT_RES["who"].search(sentence)) is states_who


@pytest.mark.parametrize("question", ["担い手は？", "実施主体は？", "所管は？", "担当課は？", "誰が担当？"])
def test_asking_for_the_actor_is_a_who_follow_up(question):
    assert followup_aspect(question) == "who"


def _turn_ids(assistant, question, history=None):
    """A turn as the UI keeps it: the answer's cited passage ids travel with its text."""
    ans = assistant.ask(question, history or [])
    return ans, (history or []) + [{"role": "user", "content": question},
                                   {"role": "assistant", "content": ans.text, "sources": [c.id for c in ans.citations]}]


def test_who_follow_up_names_the_office_in_charge(bundled_assistant):
    first, h = _turn_ids(bundled_assistant, "協働推進の体制は？")
    assert not first.refused
    ans = bundled_assistant.ask("誰がやるの？", h)
    assert not ans.refused and "担当課" in ans.text and "協働推進課" in ans.text
    assert {c.id for c in ans.citations} <= {c.id for c in first.citations}


def test_who_follow_up_does_not_answer_with_counts(bundled_assistant):
    """The issue's complaint: after a question about NPO counts, a follow-up got the counts again."""
    first, h = _turn_ids(bundled_assistant, "NPO法人の認証数の目標値は？")
    ans = bundled_assistant.ask("誰が担当ですか？", h)
    assert "目標値" not in ans.text and "認証数 /" not in ans.text
    assert {c.id for c in ans.citations} <= {c.id for c in first.citations}


class _NoScan(list):
    """A passage list that fails the test if anything walks through all of it."""

    def __iter__(self):
        raise AssertionError("the follow-up scanned every passage")


def test_the_previous_passages_are_looked_up_by_id_not_by_scanning(bundled_assistant, monkeypatch):
    first, h = _turn_ids(bundled_assistant, "市民活動団体への支援は？")
    index = bundled_assistant.state.search_index
    index.chunk_by_id(first.citations[0].id)  # the id map is built once per loaded index, before
    monkeypatch.setattr(index, "chunks", _NoScan(index.chunks))
    ans = bundled_assistant.ask("それはいつまでですか？", h)
    assert not ans.refused and ans.citations
    assert {c.id for c in ans.citations} <= {c.id for c in first.citations}


def test_ids_decide_which_passages_even_when_the_text_differs(bundled_assistant):
    first, h = _turn_ids(bundled_assistant, "NPO法人の認証数の目標値は？")
    other, _ = _turn_ids(bundled_assistant, "協働推進の体制は？")
    h[-1]["sources"] = [c.id for c in other.citations]  # the text says NPO counts, the ids say 体制
    ans = bundled_assistant.ask("誰がやるの？", h)
    assert {c.id for c in ans.citations} <= {c.id for c in other.citations}
    assert "協働推進課" in ans.text


def test_the_api_accepts_cited_ids_on_assistant_turns_only():
    from assistant.web.api import AnswerCache, ApiError, parse_ask_payload

    def parse(history):
        return parse_ask_payload({"question": "誰が担当？", "history": history}, max_question_chars=500,
                                 municipalities=set(), doc_ids=set())

    ok = parse([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "sources": ["c1", "c2"]}])
    assert ok.history[-1]["sources"] == ["c1", "c2"]
    for bad in ([{"role": "user", "content": "q", "sources": ["c1"]}],
                [{"role": "assistant", "content": "a", "sources": "c1"}],
                [{"role": "assistant", "content": "a", "sources": [1]}],
                [{"role": "assistant", "content": "a", "sources": ["c"] * 11}]):
        with pytest.raises(ApiError) as e:
            parse(bad)
        assert e.value.status == 422 and e.value.code == "invalid_history"
    plain = parse([{"role": "assistant", "content": "a"}])
    key = AnswerCache.key
    assert key("q", ok.history[-1:], None, None, 1) != key("q", plain.history, None, None, 1), \
        "an answer cached for other cited passages is not reused"

"""A question naming two or more cities is answered one city at a time: one cited part per city.

「山口市と長門市で、…はそれぞれ何ですか？」 asks what *each* plan says. A single search ranks one city's
passages first and fills the answer from them; per-city search with the city filter and one answer part
per named city gives both (issue 10, docs/BENCHMARKS.md §9.5)."""

import re

import pytest

from assistant import answering, asked
from assistant.answering import CITY_MISSING_TEXT, REFUSAL_TEXT, city_question

CITIES = ["山口市", "長門市", "山陽小野田市", "日南市"]


@pytest.mark.parametrize(
    "question, city, expected",
    [
        ("山口市と長門市で、市民活動団体を資金面で支える制度はそれぞれ何ですか？", "長門市", "長門市で、市民活動団体を資金面で支える制度は何ですか？"),
        ("山口市と長門市で、市民活動団体を資金面で支える制度はそれぞれ何ですか？", "山口市", "山口市で、市民活動団体を資金面で支える制度は何ですか？"),
        ("審議会の女性委員について、山陽小野田市と長門市はどんな目標を持っていますか？", "山陽小野田市",
         "審議会の女性委員について、山陽小野田市はどんな目標を持っていますか？"),
        # the short form of a city's name is removed too, and 「比べると」 asks for what the parts do together
        ("山陽小野田と長門のNPO法人の数を比べるとどうなっていますか？", "長門市", "長門のNPO法人の数をどうなっていますか？"),
    ],
)
def test_the_question_for_one_city_leaves_out_the_others(question, city, expected):
    others = [c for c in CITIES if c != city]
    assert city_question(question, city, others) == expected


def _parts(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def test_each_named_city_gets_its_own_cited_part_in_the_order_asked(bundled_assistant):
    ans = bundled_assistant.ask("山陽小野田市と長門市のNPO法人の数を比べるとどうなっていますか？")
    assert not ans.refused
    parts = _parts(ans.text)
    assert len(parts) == 2, ans.text
    for part, city in zip(parts, ["山陽小野田市", "長門市"]):
        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", part)}
        assert numbers, part
        # every citation of a city's part is a passage of that city's plan
        assert {ans.citations[n - 1].municipality for n in numbers} == {city}, part
        # the part is led by the plan it quotes
        assert part.startswith(answering._source_label(ans.citations[min(numbers) - 1].hit) + "では、"), part
    # the figure each plan gives
    assert "13団体" in parts[0].replace(" ", "") and "22団体" in parts[1].replace(" ", "")


def test_both_dates_are_given_when_each_city_made_its_ordinance(bundled_assistant):
    ans = bundled_assistant.ask("日南市と長門市で、協働のまちづくり条例ができたのはそれぞれいつですか？")
    assert not ans.refused
    flat = ans.text.replace(" ", "")
    assert "平成２３年４月" in flat or "平成23年4月" in flat
    assert "平成24年7月" in flat
    assert {c.municipality for c in ans.citations} == {"日南市", "長門市"}


def test_a_city_whose_plans_do_not_answer_is_named_not_filled_with_unrelated_text(bundled_local, monkeypatch):
    judge = answering._judge

    def no_evidence_for_nagato(retriever, model, qa, hits, weights, judge_hits=None):
        cands, conf, refuse, hedge = judge(retriever, model, qa, hits, weights, judge_hits)
        return (cands, 0.0, refuse, hedge) if qa.municipalities == ["長門市"] else (cands, conf, refuse, hedge)

    monkeypatch.setattr(answering, "_judge", no_evidence_for_nagato)
    ans = bundled_local.ask("山陽小野田市と長門市のNPO法人の数を比べるとどうなっていますか？")
    assert not ans.refused
    assert ans.text.rstrip().endswith(CITY_MISSING_TEXT.format(city="長門市"))
    assert {c.municipality for c in ans.citations} == {"山陽小野田市"}


def test_a_two_city_question_no_plan_answers_is_refused(bundled_assistant):
    ans = bundled_assistant.ask("山口市と長門市で、ごみの収集日はそれぞれ何曜日ですか？")
    assert ans.refused and ans.text.startswith(REFUSAL_TEXT)
    assert not ans.citations


def test_a_city_chosen_in_the_filter_answers_as_a_one_city_question(bundled_local):
    ans = bundled_local.ask("山陽小野田市と長門市のNPO法人の数を比べるとどうなっていますか？", municipality="長門市")
    assert {c.municipality for c in ans.citations} <= {"長門市"}


@pytest.fixture
def hedging(monkeypatch):
    """Every city's confidence inside the hedge band (above refusal, below the hedge threshold):
    what is under test is the hedge's words, not which questions hedge."""
    judge = answering._judge

    def in_hedge_band(retriever, model, qa, hits, weights, judge_hits=None):
        cands, _conf, refuse, hedge = judge(retriever, model, qa, hits, weights, judge_hits)
        return cands, (refuse + hedge) / 2, refuse, hedge

    monkeypatch.setattr(answering, "_judge", in_hedge_band)


def test_a_hedged_two_city_answer_without_the_asked_time_says_the_plans_do_not_give_it(bundled_local, hedging):
    # the plans name 市民活動支援センター but give no opening hours for it in either city
    ans = bundled_local.ask("山口市と長門市で、市民活動センターの開館時間はそれぞれ何時までですか？")
    assert not ans.refused
    assert ans.text.startswith(answering.DETAIL_HEDGE_TEXT["time"] + "\n\n"), ans.text
    assert not any(asked.holds_value("time", q) for c in ans.citations for q in c.quote)


def test_a_hedged_two_city_answer_that_quotes_the_asked_dates_keeps_the_generic_hedge(bundled_local, hedging):
    ans = bundled_local.ask("日南市と長門市で、協働のまちづくり条例ができたのはそれぞれいつですか？")
    assert ans.text.startswith(answering.HEDGE_TEXT + "\n\n"), ans.text
    assert "平成24年7月" in ans.text.replace(" ", "")

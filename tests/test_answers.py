"""Answers are the documents' own sentences with numbered citations, or an honest refusal."""

import json
import re
import subprocess
import sys

import pytest

from assistant.answering import EMPTY_PROMPT, REFUSAL_TEXT
from assistant.japanese import compact

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sentences_with_markers(text):
    """(sentence, [numbers]) for every line of an answer that ends with citation markers."""
    out = []
    for line in text.splitlines():
        m = re.search(r"((?:\s*\[\d+\])+)\s*$", line)
        if m:
            body = line[: m.start()].lstrip("・").split("、", 1)[-1] if "によると、" in line or "では、" in line else line[: m.start()].lstrip("・")
            out.append((body.strip(), [int(n) for n in re.findall(r"\[(\d+)\]", m.group(1))]))
    return out


def test_an_answer_quotes_the_cited_passages_and_names_the_source(bundled_assistant):
    ans = bundled_assistant.ask("長門市の市民協働のまちづくり条例の基本理念は？")
    assert not ans.refused
    assert ans.citations and ans.citations[0].number == 1
    assert "[1]" in ans.text
    assert ans.text.startswith(ans.citations[0].title) or ans.citations[0].title in ans.text.splitlines()[0]
    for sentence, numbers in _sentences_with_markers(ans.text):
        for n in numbers:
            cited = ans.citations[n - 1]
            assert compact(sentence)[-20:] in compact(cited.text), (sentence, cited.text)
    c = ans.citations[0]
    assert c.municipality == "長門市" and c.section and c.doc_id.startswith("002_")


def test_every_citation_is_numbered_in_order_of_first_use(bundled_assistant):
    ans = bundled_assistant.ask("協働のまちづくりで、事業者にはどんな役割が期待されていますか？")
    used = [int(n) for n in re.findall(r"\[(\d+)\]", ans.text)]
    assert used and sorted(set(used)) == list(range(1, len(ans.citations) + 1))
    assert [c.number for c in ans.citations] == list(range(1, len(ans.citations) + 1))


@pytest.mark.parametrize(
    "question",
    [
        "ごみの収集日は何曜日ですか？",
        "運転免許証の更新はどこでできますか？",
        "婚姻届はどこに出せばいいですか？",
        "明日の天気を教えて",
    ],
)
def test_questions_the_plans_do_not_cover_are_refused_with_related_sections(bundled_assistant, question):
    ans = bundled_assistant.ask(question)
    assert ans.refused, ans.text
    assert ans.text.startswith(REFUSAL_TEXT)
    assert not ans.citations
    assert len(ans.related) <= 3


@pytest.mark.parametrize(
    "question, must_mention",
    [
        # 000 mentions the 市パスポートセンター where the documents for an application can be obtained.
        # Refused after the first issue-10 refits (0.40 < 0.42, §9.3; 0.46 < 0.49, §9.5: 「書類」 is a word the plan
        # does not use); answered again since the asked-detail refit (0.70 > 0.54, §9.7). It sits near the threshold
        # and flips with refits: refused by the §9.15 refit before merging the answer-composition work (0.38 < 0.45),
        # answered by the refit on the merged code (0.47 > 0.40).
        ("パスポートの申請に必要な書類は？", "パスポート"),
        # 000: 公金（税・国保料…）を納付できるコンビニ納付サービス — found through 国民健康保険料 ⇔ 国保料.
        # It sits near the threshold: answered (0.51 > 0.49, §9.5), refused in the asked-detail branch (0.52 <
        # 0.54, §9.7), answered again by the refit on the merged search (threshold 0.44, §9.8). Refused since the
        # answer reader (§9.23): it reads the コンビニ納付 sentence as no answer (−5.68), p 0.29 < 0.39. A known
        # false refusal the reader brought; strict, so that a reader which answers it again is noticed here.
        # (Reading the question with its synonyms, 「…（国保、国保料、健保）」, answers it, p 0.77, but costs out-of-scope
        # refusals elsewhere: an option, off, §9.24.)
        pytest.param("国民健康保険料の納付方法は？", "コンビニ", marks=pytest.mark.xfail(
            strict=True, reason="the answer reader reads 国保料's コンビニ納付 sentence as no answer (BENCHMARKS §9.23)")),
    ],
)
def test_questions_the_plans_touch_on_are_answered_not_refused(bundled_assistant, question, must_mention):
    ans = bundled_assistant.ask(question)
    assert not ans.refused and must_mention in ans.text


@pytest.mark.parametrize("question", ["", "   ", "\n\t", None])
def test_empty_input_gets_a_friendly_prompt_and_no_search(bundled_assistant, question):
    ans = bundled_assistant.ask(question)
    assert ans.text == EMPTY_PROMPT and not ans.refused and not ans.citations


def test_a_huge_question_is_answered_on_a_truncated_query_with_a_note(bundled_assistant):
    ans = bundled_assistant.ask("NPO法人の支援について教えてください。" * 200)
    assert ans.notes and "文字" in ans.notes[0]
    assert len(ans.query_used) <= 500


def test_markup_in_the_question_is_plain_text(bundled_assistant):
    ans = bundled_assistant.ask("<img src=x onerror=alert(1)>NPOへの支援は？")
    assert "<img" not in ans.query_used
    assert "onerror" not in ans.text


def test_follow_up_question_is_rewritten_from_the_conversation(bundled_assistant):
    first = bundled_assistant.ask("山口市協働推進プランの計画期間は？")
    history = [{"role": "user", "content": "山口市協働推進プランの計画期間は？"}, {"role": "assistant", "content": first.text}]
    ans = bundled_assistant.ask("それはいつまで？", history)
    assert "計画期間" in ans.query_used and not ans.refused
    assert any(c.doc_id.startswith("001_") for c in ans.citations)


def test_other_city_follow_up_answers_from_that_city(bundled_assistant):
    history = [{"role": "user", "content": "山口市の市民活動支援センターはどこ？"}, {"role": "assistant", "content": "…"}]
    ans = bundled_assistant.ask("長門市は？", history)
    assert ans.query_used.startswith("長門市")
    assert not ans.refused and ans.citations[0].municipality == "長門市"


def test_asking_for_more_cites_other_passages_than_before(bundled_assistant):
    first = bundled_assistant.ask("市民活動団体への支援は？")
    history = [{"role": "user", "content": "市民活動団体への支援は？"}, {"role": "assistant", "content": first.text}]
    more = bundled_assistant.ask("他には？", history)
    assert not more.refused
    assert {c.id for c in more.citations}.isdisjoint({c.id for c in first.citations})


def test_municipality_filter_keeps_answers_to_that_city(bundled_assistant):
    ans = bundled_assistant.ask("市民活動を支援する拠点は？", municipality="長門市")
    assert ans.citations and all(c.municipality == "長門市" for c in ans.citations)


def test_search_returns_hits_with_the_contract_fields(bundled_assistant):
    hits = bundled_assistant.search("NPO法人の認証数", k=5)
    assert 0 < len(hits) <= 5
    h = hits[0]
    for field in ("text", "score", "doc_id", "title", "municipality", "section", "lines"):
        assert getattr(h, field) is not None
    assert h.lines[0] <= h.lines[1]
    assert [x.score for x in hits] == sorted((x.score for x in hits), reverse=True)


def test_ask_json_on_the_command_line_is_utf8_and_not_escaped(bundled_assistant, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "NPO法人の認証数の目標値は？", "--json", "--corpus", str(REPO / "corpus"),
         "--index", str(bundled_assistant.index_dir)],
        capture_output=True, cwd=tmp_path, timeout=300,
    )
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    text = out.stdout.decode("utf-8")
    assert "\\u" not in text
    data = json.loads(text)
    assert set(data) >= {"text", "citations", "refused", "query_used", "confidence"}
    assert data["citations"] and data["citations"][0]["title"]


def test_a_figure_for_the_whole_city_is_not_answered_with_one_districts_table_row(bundled_assistant):
    ans = bundled_assistant.ask("長門市の高齢化率はどれくらいですか？")
    first = ans.text.split("\n")[1] if "\n" in ans.text else ans.text
    assert "39.7%" in first and "団体名:" not in first


def test_a_table_row_answers_for_the_district_the_question_names(bundled_assistant):
    ans = bundled_assistant.ask("白潟地区の高齢化率は？")
    assert "白潟地区まちづくり協議会" in ans.text and "37.65%" in ans.text
    assert "板持" not in ans.text


def test_a_target_row_is_quoted_whole_with_its_column_headers(bundled_assistant):
    ans = bundled_assistant.ask("NPO法人の認証数の目標値は？")
    assert "指標: NPO法人の認証数" in ans.text and "目標値 (H29年度): 20団体" in ans.text
    assert ans.citations[0].municipality == "山陽小野田市"


def test_the_list_a_sentence_announces_is_part_of_the_answer(bundled_assistant):
    ans = bundled_assistant.ask("長門市の市民協働のまちづくり条例の基本理念は？")
    assert "次の事項を基本理念として" in ans.text
    assert "自助、共助及び公助" in ans.text  # item (2) of the list that follows


def test_a_short_list_item_can_be_the_answer(bundled_assistant):
    ans = bundled_assistant.ask("地区市民センターで、まちづくりの講習会はありますか？")
    assert "まちづくり講習会の実施" in ans.text


def test_weak_evidence_is_answered_with_a_hedge_not_as_a_plain_answer(bundled_assistant):
    # 「ごみ」 appears in the plans only in passing (地域課題(防犯防災、ごみ、道路等)); how to put it out does not
    from assistant import answering

    # the hedge band is the fitted answer model's when one is in use, else the hand-set constant
    model = answering.answer_model(bundled_assistant.state.retriever)
    hedge_below = answering.HEDGE_THRESHOLD if model is None else model.hedge
    ans = bundled_assistant.ask("ごみの出し方は？")
    if not ans.refused:
        assert ans.confidence < hedge_below
        assert answering.is_hedge_text(ans.text)


def test_strong_evidence_is_answered_without_a_hedge(bundled_assistant):
    from assistant.answering import is_hedge_text

    ans = bundled_assistant.ask("NPO法人の認証数の目標値は？")
    assert not is_hedge_text(ans.text)

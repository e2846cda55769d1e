"""Superlative questions — 「満足度が最も高かった施策は？」 — are answered by the sentence that states
the asked extreme of the asked quantity about the asked kind of thing, not by one that merely shares
the question's words (assistant/superlatives.py, asked.asked_superlative).

Toy passages first; then the real survey report in ../shared (skipped where absent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant import asked, japanese, superlatives

# --- what a superlative question asks -----------------------------------------------------


@pytest.mark.parametrize("question, high, quantity, subject", [
    ("満足度が最も高かった施策は何ですか？", True, "満足度", "施策"),
    ("不満度が最も高かった施策は何ですか？", True, "不満度", "施策"),
    ("最も満足度が高い施策は？", True, "満足度", "施策"),
    ("どの施策の満足度が一番高い？", True, "満足度", "施策"),
    ("高松市で人口が一番多い地区はどこ？", True, "人口", "地区"),
    ("回収率が一番低かったのはどの票？", False, "回収率", "票"),
    ("重要度の上位の施策は？", True, "重要度", "施策"),
    ("参加者が最も少ない講座は？", False, "参加者", "講座"),
])
def test_a_superlative_question_names_the_end_the_quantity_and_the_kind_of_thing(question, high, quantity, subject):
    sup = asked.asked_superlative(question)
    assert sup is not None and (sup.high, sup.quantity, sup.subject) == (high, quantity, subject)
    assert sup.change is None


def test_a_question_for_the_largest_change_says_which_change():
    up = asked.asked_superlative("満足度が最も大きく増加した施策は？")
    down = asked.asked_superlative("満足度が最も減少した施策は？")
    largest_down = asked.asked_superlative("満足度が最も大きく減少した施策は？")
    assert (up.change, up.high, up.subject) == ("増加", True, "施策")
    assert (down.change, down.high) == ("減少", False)
    assert (largest_down.change, largest_down.high) == ("減少", False)


@pytest.mark.parametrize("question", ["満足度は？", "最も重要なことは何ですか？", "協働とは？", "市民満足度調査の回収率は何％ですか？"])
def test_questions_without_an_extreme_of_a_quantity_are_not_superlative(question):
    assert asked.asked_superlative(question) is None


# --- what states the extreme ---------------------------------------------------------------

HIGH = asked.Superlative(high=True, quantity="満足度", subject="施策")
LOW = asked.Superlative(high=False, quantity="満足度", subject="施策")


@pytest.mark.parametrize("sentence, sup, states", [
    ("｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。", HIGH, True),
    ("｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。", LOW, False),
    ("満足度が最も低いのは｢商工業の振興｣でした。", LOW, True),
    ("満足度の第1位は｢水の安定供給｣です。", HIGH, True),
    ("満足度が最も大きく増加している施策は、｢地球温暖化対策の推進｣です。", HIGH, False),
    ("満足度が最も大きく増加している施策は、｢地球温暖化対策の推進｣です。",
     asked.Superlative(high=True, quantity="満足度", subject="施策", change="増加"), True),
    ("満足度が最も大きく減少している施策は｢拠点性を高める道路ネットワークの整備｣です。",
     asked.Superlative(high=False, quantity="満足度", subject="施策", change="減少"), True),
    ("満足度が最も大きく増加している施策は、｢地球温暖化対策の推進｣です。",
     asked.Superlative(high=False, quantity="満足度", subject="施策", change="減少"), False),
    ("満足度は前年度より高くなっています。", HIGH, False),
])
def test_a_sentence_states_the_extreme_at_the_asked_end_only(sentence, sup, states):
    assert superlatives.states(sup, sentence) is states


def test_rank_one_of_a_ranking_in_the_asked_direction_states_the_extreme():
    caption = "令和4年度 施策に対する満足度の高い順"
    assert superlatives.first_in_ranking(HIGH, "消防・救急の充実強化 1【1】 (55.0％)", caption)
    assert not superlatives.first_in_ranking(HIGH, "防災・減災対策の充実 10【21】 (33.2％)", caption)
    assert not superlatives.first_in_ranking(LOW, "消防・救急の充実強化 1【1】 (55.0％)", caption)


def test_another_quantity_of_the_same_kind_is_not_the_asked_one():
    assert superlatives.names_another("不満度", "｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。")
    assert not superlatives.names_another("満足度", "｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。")
    assert not superlatives.names_another("満足度", "｢消防・救急の充実強化｣が最も高くなっています。")


# --- choosing among candidates ---------------------------------------------------------------


@dataclass
class _Hit:
    text: str
    section: list[str]
    title: str = "調査報告書"
    doc_id: str = "report.pdf"
    rank: int = 1


@dataclass
class _Cand:
    hit: _Hit
    position: int
    text: str
    score: float
    coverage: float = 1.0
    features: dict = field(default_factory=dict)


def _cands(passages: list[tuple[list[str], str]], scores: dict[str, float]) -> list[_Cand]:
    out = []
    for rank, (section, text) in enumerate(passages, start=1):
        hit = _Hit(text, section, rank=rank)
        for i, s in enumerate(japanese.split_sentences(text)):
            out.append(_Cand(hit, i, s, scores.get(s, 0.1)))
    return out


ATTRIBUTES = (["3 施策に対する満足度・重要度", "（２）属性ごとの満足度"],
              "年齢別\n｢満足度｣は、70歳代が最も高く、次いで40歳代の順に高くなっています。\n"
              "居住地域別\n｢満足度｣は、西部南が最も高くなっています。")
POLICIES = (["3 施策に対する満足度・重要度", "（３）各施策の満足度・不満度"],
            "㋐各施策の満足度\n令和4年度の調査結果では、｢消防・救急の充実強化｣の満足度が55.0％と最も高くなっています。\n"
            "㋑各施策の不満度\n令和4年度の調査結果では、｢公共交通の利便性の向上｣の不満度が47.0％と最も高くなっています。")


def _best(cands):
    return max(cands, key=lambda c: c.score).text


def test_the_extreme_about_the_asked_kind_of_thing_outranks_extremes_about_others():
    # the attribute sentences score higher on shared words, as they did in the real report
    cands = _cands([ATTRIBUTES, POLICIES], {"｢満足度｣は、70歳代が最も高く、次いで40歳代の順に高くなっています。": 0.97,
                                            "｢満足度｣は、西部南が最も高くなっています。": 0.97})
    superlatives.prefer(cands, "満足度が最も高かった施策は何ですか？")
    assert "消防・救急の充実強化" in _best(cands)
    superlatives.prefer(cands := _cands([ATTRIBUTES, POLICIES], {}), "不満度が最も高かった施策は何ですか？")
    assert "公共交通の利便性の向上" in _best(cands)


def test_the_asked_kind_of_thing_decides_so_a_question_for_an_area_gets_the_area_sentence():
    cands = _cands([POLICIES, ATTRIBUTES], {})
    superlatives.prefer(cands, "満足度が最も高い地域はどこですか？")  # 「居住地域別」 labels the sentence
    assert _best(cands) == "｢満足度｣は、西部南が最も高くなっています。"
    cands = _cands([POLICIES, ATTRIBUTES], {})
    superlatives.prefer(cands, "満足度が最も高い職種は？")  # named by no sentence, heading or label
    assert all(c.score == 0.1 for c in cands)


def test_nothing_changes_for_other_questions_or_when_no_sentence_states_the_extreme():
    cands = _cands([ATTRIBUTES, POLICIES], {})
    superlatives.prefer(cands, "満足度調査の回収率は？")
    assert all(c.score == 0.1 for c in cands)
    cands = _cands([ATTRIBUTES], {})
    superlatives.prefer(cands, "満足度が最も高かった施策は何ですか？")
    assert all(c.score == 0.1 for c in cands)


def test_rank_one_of_a_ranking_shown_for_reference_is_not_the_answer():
    text = ("＜参考＞令和3年度 施策に対する満足度の高い順\n施策 順位 満足度\n子どもの安全確保 1 (88.5％)\n水の安定供給 2 (82.5％)")
    cands = _cands([(["（３）各施策の満足度"], text)], {})
    superlatives.prefer(cands, "満足度が最も高かった施策は何ですか？")
    assert all(c.score == 0.1 for c in cands)
    cands = _cands([(["（３）各施策の満足度"], text.replace("＜参考＞令和3年度", "令和4年度"))], {})
    superlatives.prefer(cands, "満足度が最も高かった施策は何ですか？")
    assert _best(cands).startswith("子どもの安全確保 1")


TABLE = ("施策別の満足度\n"
         "施策: 水の安定供給 / 満足度: 48.0% / 重要度: 82.3%\n"
         "施策: 消防・救急の充実強化 / 満足度: 55.0% / 重要度: 80.3%\n"
         "施策: 商工業の振興 / 満足度: 12.5% / 重要度: 70.1%\n"
         "（資料：市民満足度調査）")


def test_a_parsed_tables_row_with_the_columns_maximum_or_minimum_answers():
    cands = _cands([(["施策の評価"], TABLE)], {})
    superlatives.prefer(cands, "満足度が最も高い施策は？")
    assert "消防・救急の充実強化" in _best(cands)
    cands = _cands([(["施策の評価"], TABLE)], {})
    superlatives.prefer(cands, "満足度が最も低い施策は？")
    assert "商工業の振興" in _best(cands)
    cands = _cands([(["施策の評価"], TABLE)], {})
    superlatives.prefer(cands, "重要度が一番高い施策は？")
    assert "水の安定供給" in _best(cands)


def test_a_table_cut_by_the_passage_boundary_is_not_judged():
    cut = "\n".join(TABLE.split("\n")[:-1])  # the rows run on into the next passage
    cands = _cands([(["施策の評価"], cut)], {})
    superlatives.prefer(cands, "満足度が最も高い施策は？")
    assert all(c.score == 0.1 for c in cands)


def test_a_sentence_stating_the_extreme_outranks_a_table_rows_maximum():
    cands = _cands([(["施策の評価"], TABLE), POLICIES], {})
    superlatives.prefer(cands, "満足度が最も高い施策は？")
    order = sorted(cands, key=lambda c: -c.score)
    assert "最も高く" in order[0].text and order[1].text.startswith("施策: 消防・救急の充実強化")


# --- on the real report ----------------------------------------------------------------------

SATISFACTION = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-pdfs" / "takamatsu-r4-citizen-satisfaction.pdf"


@pytest.mark.skipif(not SATISFACTION.exists(), reason="real PDFs not present")
@pytest.mark.parametrize("question, fact, page", [
    ("満足度が最も高かった施策は何ですか？", "｢消防・救急の充実強化｣の満足度が55.0％と最も高く", 18),
    ("不満度が最も高かった施策は何ですか？", "｢公共交通の利便性の向上｣の不満度が47.0％と最も高く", 19),
    ("重要度が最も高い施策は何ですか？", "｢医療体制の充実｣の重要度が83.8％と最も高く", 20),
])
def test_in_the_real_report_the_policy_sentence_outranks_the_attribute_sentences(question, fact, page):
    pytest.importorskip("pdfplumber")
    from assistant import chunking
    from assistant.corpus import read_document

    chunks = [c for c in chunking.chunk_document(read_document(SATISFACTION)) if c.page in (16, 17, 18, 19, 20, 21)]
    cands = []
    for rank, c in enumerate(chunks, start=1):
        hit = _Hit(c.text, c.section, rank=rank)
        # every sentence equal but p.16's attribute sentences, which scored highest on shared words
        cands += [_Cand(hit, i, s, 0.97 if c.page == 16 else 0.5) for i, s in enumerate(japanese.split_sentences(c.text))]
    superlatives.prefer(cands, question)
    best = max(cands, key=lambda c: c.score)
    assert fact in best.text
    assert next(c.page for c in chunks if c.text == best.hit.text) == page


def test_a_question_for_the_top_few_names_how_many():
    sup = asked.asked_superlative("満足度の上位3施策は？")
    assert (sup.top, sup.quantity, sup.subject, sup.high) == (3, "満足度", "施策", True)
    assert asked.asked_superlative("満足度が最も高かった施策は何ですか？").top is None


def test_for_the_top_few_the_sentences_stating_ranks_up_to_that_number_answer():
    top3 = asked.asked_superlative("満足度の上位3施策は？")
    assert superlatives.states(top3, "2 位は｢水の安定供給｣の48.0％、3 位が｢医療体制の充実｣の44.6％となっています。")
    assert not superlatives.states(top3, "5位は｢文化芸術の振興｣です。")
    assert not superlatives.states(HIGH, "2 位は｢水の安定供給｣の48.0％となっています。")
    caption = "令和4年度 施策に対する満足度の高い順"
    assert superlatives.first_in_ranking(top3, "医 療体制の充実 3【5】 (44.6％)", caption)
    assert not superlatives.first_in_ranking(top3, "健康づくりの推進 4【4】 (44.0％)", caption)


def test_a_ranking_captioned_by_a_line_of_the_passage_names_the_quantity_and_the_kind_of_thing():
    text = ("令和4年度 施策に対する満足度の高い順\n( )は満足・やや満足の合計\n"
            "消防・救急の充実強化 1【1】 (55.0％)\n水の安定供給 2【2】 (48.0％)")
    cands = _cands([(["3 調査結果"], text)], {})
    superlatives.prefer(cands, "満足度が最も高かった施策は何ですか？")
    assert _best(cands).startswith("消防・救急の充実強化 1")
    cands = _cands([(["3 調査結果"], text)], {})
    superlatives.prefer(cands, "重要度が最も高かった施策は何ですか？")  # the caption ranks 満足度
    assert all(c.score == 0.1 for c in cands)


# --- a table cut into passages is judged whole ---------------------------------------------------

COUNCILS_A = ("《参考：既設の協議会》\n団体名 / 人口 / 65歳以上 人口 / 高齢化率\n"
              "団体名: 板持地区まちづくり協議会 / 人口: 1,295 / 65歳以上 人口: 482 / 高齢化率: 37.22%\n"
              "団体名: 通まちづくり協議会 / 人口: 1,267 / 65歳以上 人口: 656 / 高齢化率: 51.78%")
COUNCILS_B = ("団体名: みすみ市民協働推進協議会 / 人口: 5,374 / 65歳以上 人口: 2,140 / 高齢化率: 39.82%\n"
              "団体名: むかつく地域協議会 / 人口: 1,362 / 65歳以上 人口: 773 / 高齢化率: 56.75%")
AFTER = "イ. 市民活動団体の取組\n本市の市民活動団体は増えています。"


def test_a_table_is_stitched_across_the_passages_it_runs_into_and_closed_by_the_next_line():
    lines, shift = superlatives.stitched(japanese.split_sentences(COUNCILS_B), before=[COUNCILS_A, "前の本文です。"], after=[AFTER])
    assert shift == 4 and lines[:4] == japanese.split_sentences(COUNCILS_A)
    assert lines[-1] == "イ. 市民活動団体の取組"  # the line past the table shows that it ends
    lines, shift = superlatives.stitched(japanese.split_sentences(AFTER), before=[COUNCILS_B], after=[])
    assert shift == 0 and lines == japanese.split_sentences(AFTER)  # text after a table: nothing joined


def _council_cands():
    section = ["集落機能再生事業の取組"]
    first, second = _Hit(COUNCILS_A, section, rank=1), _Hit(COUNCILS_B, section, rank=2)
    cands = [_Cand(h, i, s, 1.0 - 0.1 * h.rank) for h in (first, second) for i, s in enumerate(japanese.split_sentences(h.text))]
    around = {id(first): ([], [COUNCILS_B, AFTER]), id(second): ([COUNCILS_A], [AFTER])}
    return cands, lambda hit: around[id(hit)]


@pytest.mark.parametrize("question, council", [
    ("高齢化率がいちばん高い協議会は？", "むかつく地域協議会"),       # the second passage's row
    ("高齢化率が最も低い協議会は？", "板持地区まちづくり協議会"),
    ("人口が一番多い協議会は？", "みすみ市民協働推進協議会"),       # 「人口」, not 「65歳以上 人口」
])
def test_the_extreme_row_of_a_table_cut_into_passages_is_the_whole_tables(question, council):
    cands, around = _council_cands()
    superlatives.prefer(cands, question, around)
    assert council in _best(cands)


def test_without_the_passages_around_a_cut_table_is_not_judged():
    cands, _around = _council_cands()
    superlatives.prefer(cands, "高齢化率がいちばん高い協議会は？")
    assert _best(cands).startswith("《参考")  # unchanged: the first candidate of the first passage


def test_on_the_bundled_plans_the_lowest_rate_is_read_from_the_whole_table_of_councils(bundled_local):
    # 長門市's table of councils runs over two passages; its lowest 高齢化率 (34.99%) is in the first and
    # its highest (56.75%) in the second, so a question for either needs both
    r = bundled_local.state.retriever
    first = next(c for c in r.index.chunks if "高齢化率: 37.22%" in c.text)
    second = next(c for c in r.index.chunks if "高齢化率: 56.75%" in c.text)
    from assistant.types import Hit
    assert [c.id for c in r.preceding_chunks(Hit(chunk=second, score=1.0), 1)] == [first.id]
    low = bundled_local.ask("長門市で高齢化率が最も低いまちづくり協議会はどこ？")
    assert "湊地区まちづくり協議会" in low.text and "34.99" in low.text

"""「いつ現在の情報ですか？」 is answered by quoting the validity note — 「（平成３０年６月２８日現在）」 —
with its citation, not by other dated sentences with the date left to the answer's lead
(assistant/as_of.py, asked.asks_as_of)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from assistant import as_of, asked, japanese


@pytest.mark.parametrize("question, asks", [
    ("高松市の小・中学校区一覧表はいつ現在の情報ですか？", True),
    ("この人口はいつ時点のデータですか？", True),
    ("いつの数字ですか？", True),
    ("市民満足度調査の調査期間はいつですか？", False),
    ("現在の人口は？", False),
])
def test_an_as_of_question_asks_the_date_the_content_holds_at(question, asks):
    assert asked.asks_as_of(question) is asks


@pytest.mark.parametrize("sentence, states", [
    ("（平成３０年６月２８日現在）", True),
    ("令和5年4月1日現在の人口は52,000人です。", True),
    ("2023年3月末時点", True),
    ("平成２０年４月１日紫雲中学校校区修正に伴う経過措置について", False),
    ("現在、計画を見直しています。", False),
])
def test_a_validity_note_is_a_date_followed_by_genzai_or_jiten(sentence, states):
    assert as_of.states_as_of(sentence) is states


def test_the_note_a_passage_title_carries_is_read_back():
    assert as_of.title_note("高松市小・中学校区一覧表（平成３０年６月２８日現在）") == "（平成３０年６月２８日現在）"
    assert as_of.title_note("第2次協働推進プラン（概要版）") is None


@dataclass
class _Hit:
    text: str
    title: str
    rank: int
    doc_id: str = "schools.pdf"
    section: list = field(default_factory=list)


@dataclass
class _Cand:
    hit: _Hit
    position: int
    text: str
    score: float
    coverage: float = 1.0
    features: dict | None = None


TITLE = "高松市小・中学校区一覧表（平成３０年６月２８日現在）"
NOTES = _Hit("注１ 平成２０年４月１日紫雲中学校校区修正に伴う経過措置について\n注２ 平成２０年４月１日光洋中学校校区修正について", TITLE, 1)
PAGE_1 = _Hit("（平成３０年６月２８日現在）\n小学校: 新番丁 / 校区内町名番地: 瀬戸内町 / 中学校: 紫雲", TITLE, 6)


def _cands(*hits):
    return [_Cand(h, i, s, 0.6 - 0.1 * i) for h in hits for i, s in enumerate(japanese.split_sentences(h.text))]


QUESTION = "高松市の小・中学校区一覧表はいつ現在の情報ですか？"


def test_a_candidate_stating_the_validity_date_answers():
    cands = as_of.prefer(_cands(NOTES, PAGE_1), QUESTION)
    best = max(cands, key=lambda c: c.score)
    assert best.text == "（平成３０年６月２８日現在）" and best.hit is PAGE_1


def test_when_no_candidate_states_it_the_line_printing_the_titles_note_is_found_and_cited():
    asked_for = []

    def find(note, doc_id):
        asked_for.append((note, doc_id))
        return [PAGE_1]

    cands = as_of.prefer(_cands(NOTES), QUESTION, find)
    best = max(cands, key=lambda c: c.score)
    assert asked_for == [("（平成３０年６月２８日現在）", "schools.pdf")]
    assert best.text == "（平成３０年６月２８日現在）" and best.hit.text == PAGE_1.text and best.position == 0
    assert len(cands) == len(_cands(NOTES)) + 1


def test_nothing_is_invented_when_the_note_is_printed_nowhere():
    cands = _cands(NOTES)
    assert as_of.prefer(cands, QUESTION, lambda _n, _d: []) == cands
    assert [c.score for c in cands] == [c.score for c in _cands(NOTES)]


def test_other_questions_are_left_alone():
    cands = _cands(NOTES, PAGE_1)
    assert as_of.prefer(cands, "栗林小学校の校区の中学校はどこですか？") == cands
    assert [c.score for c in cands] == [c.score for c in _cands(NOTES, PAGE_1)]

"""A plan's item sheets (山口市's 46 推進項目): which sheet a line is on, the row a question asks of it, and its
schedule read year by year — found by a row's place, since OCR garbles labels and numbers (issue 10)."""

import pytest

from assistant import answering, item_sheets
from assistant.types import Chunk, Hit

SHEETS = [
    "整理番号: I - (1) - ① / 種別 / 新規 担当課 / 協働推進課",  # 0
    "推進項目: ① 地域交流センターの整備",  # 1
    "目的: 地域づくり拠点の整備を進めます。",  # 2
    "完了の目安: 全ての地域交流センターが整備されたときに完了とします。",  # 3
    "年次計画: H25 / H26 / H27 / H28 / H29",  # 4
    "平人司回: 実施 / → / → / → / →",  # 5
    "整理番号: I - (1) - ② / 種別 / 継続 担当課 / 管財課",  # 6
    "目的: 市民活動の拠点を検討します。",  # 7 (the second sheet's name is not there)
]


@pytest.mark.parametrize("at, name", [(2, 1), (3, 1), (4, 1), (1, None), (0, None), (7, None)])
def test_a_body_row_belongs_to_the_name_above_it_never_to_another_sheets(at, name):
    assert item_sheets.name_of(SHEETS, at) == name


@pytest.mark.parametrize("at, label, rows", [
    (2, "完了の目安", [3]),
    (1, "目的", [2]),
    (3, "担当課", [0]),
    (2, "年次計画", [4, 5]),  # the years and the row of what is done in them
    (7, "目的", []),  # on no sheet the window names
])
def test_the_row_a_question_asks_is_found_by_its_place_on_the_sheet(at, label, rows):
    assert item_sheets.field_of(SHEETS, at, label) == rows


@pytest.mark.parametrize("header, values, text", [
    ("年次計画: H25 / H26 / H27", "平大計画: 検討・実施 / → / →", "年次計画: H25 検討・実施 / H26 → / H27 →"),
    # OCR lost the label's 「:」: the label is a cell of its own
    ("年次計画: H25 / H26 / H27", "4次計画 / 実施 / → / →", "年次計画: H25 実施 / H26 → / H27 →"),
    # a year left blank lost its cell: which year is which cannot be told, so the rows stay as they are
    ("年次計画: H25 / H26 / H27 / H28 / H29", "平水計画: 検討 / 実施 / 検討 / 実施", None),
    ("目的: H25 / H26", "x: a / b", None),
])
def test_a_schedule_is_read_year_by_year_only_when_its_cells_pair_up(header, values, text):
    assert item_sheets.schedule_text(header, values) == text


def test_a_schedule_row_with_a_blank_year_is_still_brought_with_its_years():
    lines = ["推進項目: ② 実態調査の実施", "年次計画: H25 / H26 / H27 / H28 / H29", "平水計画: 検討 / 実施 / 検討 / 実施"]
    assert item_sheets.field_of(lines, 0, "年次計画") == [1, 2]


def test_an_answer_shows_a_schedule_as_one_line_and_its_citation_quotes_both_rows():
    text = "\n".join(SHEETS[1:6])
    chunk = Chunk(id="c1", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=["推進施策"],
                  text=text, search_text=text, lines=(1, 1))
    hit = Hit(chunk=chunk, score=1.0, rank=1)
    lines = [answering._Candidate(hit, p, SHEETS[1 + p], 1.0, 1.0) for p in (0, 3, 4)]
    shown, citations = answering.compose(lines)
    assert "年次計画: H25 実施 / H26 → / H27 → / H28 → / H29 → [1]" in shown
    assert "平人司回" not in shown
    assert citations[0].quote[-2:] == [SHEETS[4], SHEETS[5]]


def test_for_an_office_question_a_sheets_first_row_scores_as_its_items_own_lines():
    text = ("整理番号: I - (1) - ② / 種別 / 継続 担当課 / 管財課\n推進項目: ② 市民活動の拠点の検討\n"
            "整理番号: Ⅱ - (5) - ③ / 種別 / 新規 担当課 / 地域活性化センター\n推進項目: ③ 地域間交流の促進")
    chunk = Chunk(id="c1", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=["推進施策"],
                  text=text, search_text=text, lines=(1, 1))
    hit = Hit(chunk=chunk, score=1.0, rank=1)
    # the first rows match 「担当課」; the item asked is told by its name
    cands = [answering._Candidate(hit, p, line, score, 1.0) for p, (line, score) in
             enumerate(zip(text.splitlines(), [1.26, 0.40, 1.09, 1.05]))]
    answering._first_rows_by_their_items(cands, lambda _hit: [])
    assert [c.score for c in cands] == [0.40, 0.40, 1.05, 1.05]

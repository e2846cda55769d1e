"""Extraction quality on real PDFs as 高松市 publishes them (../shared/data/real-pdfs, CC BY 4.0).

Skipped where the files are absent. Each test pins one defect of issue 11 on the real thing;
tests/test_pdf_rules.py pins the same rules on small generated PDFs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("pdfplumber")

from assistant import chunking  # noqa: E402
from assistant.corpus import read_document  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-pdfs"
SATISFACTION = REAL / "takamatsu-r4-citizen-satisfaction.pdf"
SCHOOLS = REAL / "takamatsu-school-districts-by-school.pdf"

pytestmark = pytest.mark.skipif(not (SATISFACTION.exists() and SCHOOLS.exists()), reason="real PDFs not present")


@pytest.fixture(scope="module")
def satisfaction():
    return read_document(SATISFACTION)


@pytest.fixture(scope="module")
def schools():
    return read_document(SCHOOLS)


def _lines_with(doc, needle):
    return [(l, p) for l, p in zip(doc.lines, doc.pages) if needle in l]


def test_the_response_rate_table_is_labelled_rows_with_the_total(satisfaction):
    (row, page), *_ = _lines_with(satisfaction, "計（A票・B票） / 配布枚数")
    assert "配布枚数（枚）: 2,500" in row and "回収数（枚）: 921" in row and "回収率（％）: 36.8" in row
    assert page == 6
    # the sub-division printed inside the cells (紙 / ウェブ) names its values, one row per 票
    assert "回収数（枚）・紙: 603" in row and "回収数（枚）・ウェブ: 318" in row and "回収率（％）・ウェブ: 12.7" in row
    assert len(_lines_with(satisfaction, "計（A票・B票） / 配布枚数")) == 1 and len(_lines_with(satisfaction, "A票 / ")) == 1


def test_the_validity_date_printed_on_every_page_is_kept_once(schools):
    assert [p for _, p in _lines_with(schools, "平成３０年６月２８日現在")] == [1]
    assert schools.title == "高松市小・中学校区一覧表"


def test_the_validity_date_printed_on_every_page_goes_with_every_passage(schools):
    chunks = chunking.chunk_document(schools)
    assert {c.title for c in chunks} == {"高松市小・中学校区一覧表（平成３０年６月２８日現在）"}
    assert {c.page for c in chunks} == {1, 2, 3, 4, 5, 6}


def test_a_circled_katakana_drawn_as_two_glyphs_is_one_character_and_heads_its_section(satisfaction):
    chunks = chunking.chunk_document(satisfaction)
    on_18 = next(c for c in chunks if c.page == 18 and "55.0％と最も高く" in c.text)
    text = "\n".join(satisfaction.lines)
    assert "㋐各施策の満足度" in on_18.text and "○ア各施策" not in text and "○イ 各施策" not in text
    assert "○アンケート" in text, "a 「○」 bullet before a word stays a bullet"
    ranking = next(c for c in chunks if c.page == 18 and "消防・救急の充実強化 1【1】" in c.text)
    assert ranking.section[-2:] == ["㋐各施策の満足度", "令和4年度 施策に対する満足度の高い順"]


def test_a_ranking_charts_caption_heads_its_rows_on_its_page_only(satisfaction):
    chunks = chunking.chunk_document(satisfaction)
    reference = next(c for c in chunks if c.page == 19 and "公共交通の利便性の向上 1 <35.9％>" in c.text)
    assert reference.section[-1].startswith("＜参考＞令和３年度 施策に対する不満度の高い順")
    # the appendix's ranking header (p.45) does not run on into the next pages' comments
    assert not any(c.page >= 46 and any("順位" in s for s in c.section) for c in chunks)


def test_superscript_note_marks_do_not_cut_the_sentence_they_sit_in(satisfaction):
    assert any("昨年度の結果と比較し、" in l for l in satisfaction.lines)
    assert "※1 ※2" not in satisfaction.lines


def test_school_district_rows_read_cell_by_cell_with_names_closed_up(schools):
    (row, page), = [(l, p) for l, p in zip(schools.lines, schools.pages) if l.startswith("小学校: 栗林 /")]
    assert "栗林町一丁目" in row and row.endswith("中学校: 桜町") and page == 1
    text = "\n".join(schools.lines)
    assert "栗 林" not in text and "高 松 第 一" not in text
    assert "小学校: 小学校" not in text, "the header repeated on each page is not a row"


def test_sentences_are_whole_across_printed_line_ends(satisfaction):
    text = "\n".join(satisfaction.lines)
    assert "回答した割合が増える傾向にあります。" in text  # wrapped after 「割」
    assert "を合わせた割合は、86.7％(-1.7)。" in text  # wrapped after 「、」 before a number
    assert "86.9％(-3.9)。" in text  # wrapped before 「(」


def test_chart_number_soup_is_left_out(satisfaction):
    text = "\n".join(satisfaction.lines)
    assert "0% 20% 40% 60% 80% 100%" not in text
    assert not any(re.fullmatch(r"[\d.%\s]+", l) for l in satisfaction.lines)
    assert "属性別にみた愛着度" in text, "the chart's title stays"


def test_chart_rows_and_comment_lines_are_not_section_headings(satisfaction):
    sections = {" > ".join(c.section) for c in chunking.chunk_document(satisfaction)}
    assert not any(re.search(r"\d%.*\d%", s) for s in sections)
    assert not any(re.match(r"(?:.* > )?(?:[2-9]\d|1[0-9]) ", s) for s in sections), sections
    assert any(s.endswith("（１）高松市への愛着度") for s in sections)


def test_printed_page_numbers_and_the_table_of_contents_are_gone(satisfaction):
    assert not any(re.fullmatch(r"-\s*\d+\s*-", l) for l in satisfaction.lines)


def test_residents_comments_are_whole_and_filed_under_their_policy(satisfaction):
    """The 政策 | 自由意見 pages (p.48–64): the policy column is not read into the comments."""
    rows = _lines_with(satisfaction, "自由意見: ○出産時の費用無償化")
    assert len(rows) == 1
    row, page = rows[0]
    assert row.startswith("政策: 1 子どもが健やかに生まれ育つ環境の充実 / 自由意見: ○出産時の費用無償化。")
    assert row.endswith("いつまでも少子化は収まりません。よろしくお願いします。住みやすい町に。") and page == 48
    text = "\n".join(satisfaction.lines)
    assert "生まれ育 ○" not in text and "\nつ環境の充実" not in text
    # a comment on a page whose policy column is empty keeps the policy of the page before
    (row, page), = _lines_with(satisfaction, "○離婚した場合の市の養育費")
    assert row.startswith("政策: 1 子どもが健やかに生まれ育つ環境の充実 / 自由意見:") and page == 49

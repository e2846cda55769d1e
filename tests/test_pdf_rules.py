"""PDF layout rules (issue 11), each pinned on a small generated PDF.

Every test reads as the rule it pins: the PDF is drawn the way cities' Word/Excel/Acrobat
exports draw it (reportlab), then extracted and cleaned like an added document.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pdfplumber")
pytest.importorskip("reportlab")

from assistant.cleaning.letter_spacing import close_letter_spacing, tidy_cell  # noqa: E402
from assistant.corpus import read_document  # noqa: E402
from assistant.formats import extract_pdf  # noqa: E402

MIN, GO = "HeiseiMin-W3", "HeiseiKakuGo-W5"


def _canvas(doc_builders, name):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    doc_builders._fonts()
    path = doc_builders.root / name
    return path, canvas.Canvas(str(path), pagesize=A4), A4


def _ruled_table(c, x, y_top, col_widths, rows, row_h=20, spans=None, size=10):
    """Draw a ruled table. ``spans``: {(r, j): rowspan} — cells covered by a span are left
    blank and the horizontal rule between them is not drawn (a merged cell)."""
    spans = spans or {}
    covered = {(r + k, j) for (r, j), n in spans.items() for k in range(1, n)}
    xs = [x]
    for w in col_widths:
        xs.append(xs[-1] + w)
    n = len(rows)
    c.setLineWidth(0.5)
    for j in range(len(col_widths) + 1):
        c.line(xs[j], y_top, xs[j], y_top - n * row_h)
    for r in range(n + 1):
        for j in range(len(col_widths)):
            if 0 < r < n and (r, j) in covered:
                continue  # no rule inside a merged cell
            c.line(xs[j], y_top - r * row_h, xs[j + 1], y_top - r * row_h)
    for r, row in enumerate(rows):
        for j, text in enumerate(row):
            if text and (r, j) not in covered:
                c.setFont(MIN, size)
                c.drawString(xs[j] + 3, y_top - (r + 1) * row_h + 6, text)


# ---- tables (defects 5, 7) ----------------------------------------------------------------


def test_a_ruled_pdf_table_becomes_one_labelled_line_per_row_with_merged_cells_spread(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "rate.pdf")
    c.setFont(MIN, 10.5)
    c.drawString(72, h - 80, "6 回収状況")
    _ruled_table(
        c, 72, h - 100, [60, 90, 60, 60, 80],
        [["", "配布枚数（枚）", "回収数（枚）", "", "回収率（％）"],
         ["A票", "1,250", "475", "紙： 312", "38.0"],
         ["", "", "", "ウェブ： 163", ""],
         ["計", "2,500", "921", "紙： 603", "36.8"]],
        spans={(1, 0): 2, (1, 1): 2, (1, 2): 2, (1, 4): 2},
    )
    c.showPage()
    c.save()
    doc = read_document(path)
    rows = [doc.lines[i] for i in doc.meta["table_lines"]]
    total = next(r for r in rows if r.startswith("計"))
    assert "配布枚数（枚）: 2,500" in total and "回収率（％）: 36.8" in total
    web = next(r for r in rows if "163" in r)
    assert web.startswith("A票") and "配布枚数（枚）: 1,250" in web, "a merged row label spreads to the rows it spans"


def test_two_column_table_cells_are_read_cell_by_cell_not_across_columns(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "districts.pdf")
    _ruled_table(
        c, 72, h - 100, [90, 330],
        [["地域名", "町名"],
         ["都心地域", "茜町、朝日新町、多賀町一丁目、多賀町三丁目、"],
         ["", "田町、玉藻町、中央町"],
         ["中部地域", "一宮町、今里町、三名町"]],
        spans={(1, 0): 2},
    )
    c.showPage()
    c.save()
    text = "\n".join(read_document(path).lines)
    assert "都心地域多賀町" not in text and "多賀町三丁目都心地域" not in text
    assert "地域名: 中部地域 / 町名: 一宮町、今里町、三名町" in text


def test_a_bar_chart_drawn_with_filled_rectangles_is_not_a_table(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "chart.pdf")
    c.setFont(MIN, 10.5)
    c.drawString(72, h - 80, "図表1 愛着度")
    for k, (label, v) in enumerate([("全体", 57.3), ("男性", 60.8), ("女性", 55.8)]):
        y = h - 120 - 30 * k
        c.setFillGray(0.5)
        c.rect(130, y, 3 * v, 16, fill=1, stroke=0)
        c.setFillGray(0)
        c.drawString(72, y + 4, label)
        c.drawString(140, y + 4, f"{v}%")
    c.showPage()
    c.save()
    doc = read_document(path)
    assert doc.meta["table_lines"] == []


# ---- letter spacing (defect 6) ------------------------------------------------------------


@pytest.mark.parametrize(
    "spaced, closed",
    [("栗 林", "栗林"), ("高 松 第 一", "高松第一"), ("小 学 校 校 区", "小学校校区"),
     ("瀬戸内町、 扇町一丁目", "瀬戸内町、 扇町一丁目"), ("第1章 計画の概要", "第1章 計画の概要"),
     ("A票 B票", "A票 B票")],
)
def test_letter_spaced_names_are_closed_up_and_real_word_spaces_are_kept(spaced, closed):
    assert close_letter_spacing(spaced) == closed


def test_a_cell_is_one_line_wrapped_words_joined_and_separate_items_kept_apart():
    assert tidy_cell("朝日町二丁目、朝日町三丁\n目、朝日町四丁目") == "朝日町二丁目、朝日町三丁目、朝日町四丁目"
    assert tidy_cell("塩上町一丁目8番\n多賀町一丁目") == "塩上町一丁目8番 多賀町一丁目"
    assert tidy_cell("紫 雲\n注１") == "紫雲 注１"


def test_a_letter_spaced_school_name_in_a_table_matches_its_plain_spelling(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "schools.pdf")
    _ruled_table(c, 72, h - 100, [80, 260, 70],
                 [["小 学 校", "校 区 内 町 名 番 地", "中学校"],
                  ["栗 林", "藤塚町二丁目、栗林町一丁目", "桜 町"]])
    c.showPage()
    c.save()
    text = "\n".join(read_document(path).lines)
    assert "小学校: 栗林 / 校区内町名番地: 藤塚町二丁目、栗林町一丁目 / 中学校: 桜町" in text


def test_the_header_row_repeated_on_the_next_page_is_not_a_data_row(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "two_pages.pdf")
    for school in ("栗林", "花園"):
        _ruled_table(c, 72, h - 100, [80, 260], [["小学校", "校区内町名番地"], [school, "藤塚町二丁目"]])
        c.showPage()
    c.save()
    text = "\n".join(read_document(path).lines)
    assert "小学校: 小学校" not in text
    assert "小学校: 花園 / 校区内町名番地: 藤塚町二丁目" in text


# ---- page furniture (defect 1, 8) ---------------------------------------------------------


def _furnished_pdf(doc_builders, name, n_pages=4, body=None, title=None):
    path, c, (w, h) = _canvas(doc_builders, name)
    if title:
        c.setTitle(title)
    for pno in range(1, n_pages + 1):
        c.setFont(GO, 12)
        c.drawString(72, h - 40, "高松市小・中学校区一覧表")
        c.setFont(MIN, 10)
        c.drawString(72, h - 58, "（平成３０年６月２８日現在）")
        c.setFont(MIN, 10.5)
        for k, line in enumerate((body or {}).get(pno, [f"本文{pno}の一行目です。"])):
            c.drawString(72, h - 110 - 18 * k, line)
        c.setFont(MIN, 9)
        c.drawCentredString(w / 2, 30, f"- {pno + 4} -")
        c.showPage()
    c.save()
    return path


def test_a_line_printed_on_every_page_is_kept_once_so_as_of_when_can_be_answered(doc_builders):
    ex = extract_pdf(_furnished_pdf(doc_builders, "asof.pdf"))
    assert ex.lines.count("（平成３０年６月２８日現在）") == 1
    assert ex.pages[ex.lines.index("（平成３０年６月２８日現在）")] == 1


def test_the_title_band_on_every_page_becomes_the_title_and_is_not_repeated_in_the_text(doc_builders):
    ex = extract_pdf(_furnished_pdf(doc_builders, "band.pdf"))
    assert ex.title == "高松市小・中学校区一覧表"
    assert "高松市小・中学校区一覧表" not in ex.lines
    assert not any(line.startswith("-") for line in ex.lines), "printed page numbers are furniture"


def test_a_section_heading_that_recurs_at_the_top_of_some_pages_is_content(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "sections.pdf")
    for pno in range(1, 9):
        c.setFont(GO, 11)
        if pno in (2, 4, 6):  # a recurring section, not every page
            c.drawString(72, h - 40, "◆前年度調査との比較")
            c.setFont(MIN, 10.5)
            c.drawString(72, h - 70, f"設問{pno}の満足度は前年度より上がりました。")
        else:
            c.drawString(72, h - 40, f"（{pno}）設問{pno}の結果")
            c.setFont(MIN, 10.5)
            c.drawString(72, h - 70, f"設問{pno}の回答は次のとおりです。")
        c.showPage()
    c.save()
    ex = extract_pdf(path)
    assert ex.lines.count("◆前年度調査との比較") == 3


def test_a_blank_page_is_not_reported_as_scanned(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "blank.pdf")
    c.setFont(MIN, 10.5)
    c.drawString(72, h - 100, "はじめのページの本文です。")
    c.showPage()
    c.showPage()  # intentionally blank page
    c.drawString(72, h - 100, "三ページ目の本文です。")
    c.showPage()
    c.save()
    ex = extract_pdf(path)
    assert not any("scanned" in w for w in ex.warnings)


# ---- wrapped lines (defect 2) -------------------------------------------------------------


def _paragraph_pdf(doc_builders, name, printed_lines, x=72, indent_first=True):
    path, c, (w, h) = _canvas(doc_builders, name)
    c.setFont(MIN, 10.5)
    for k, line in enumerate(printed_lines):
        c.drawString(x + (10.5 if indent_first and k == 0 else 0), h - 100 - 17 * k, line)
    c.showPage()
    c.save()
    return path


def test_a_sentence_wrapped_at_the_column_width_after_a_kanji_or_number_is_whole_again(doc_builders):
    lines = [
        "愛着を「感じる」と「やや感じる」を合わせた割合は、令和4年度は前年度から減って30",  # wraps after a number
        "％となり、属性別傾向では年齢や居住年数に比例して、愛着を「感じる」と回答した割",  # after a kanji
        "合が増える傾向にあります。",
        "短い行で段落が終わります。",
    ]
    doc = read_document(_paragraph_pdf(doc_builders, "wrap.pdf", lines))
    assert "30％となり" in doc.lines[0] and "回答した割合が増える傾向にあります。" in doc.lines[0]
    assert doc.lines[1] == "短い行で段落が終わります。", "a line that ends short ends its paragraph"


def test_a_line_ending_a_sentence_or_followed_by_a_numbered_item_is_not_joined(doc_builders):
    lines = [
        "本調査は、市民の御意見を今後の市政に反映させるため、施策の満足度を調べました。",
        "（２）高松市について回答していただきました。回答は郵送及びウェブによります。",
    ]
    doc = read_document(_paragraph_pdf(doc_builders, "nojoin.pdf", lines, indent_first=False))
    assert len(doc.lines) == 2


# ---- charts (defect 4) --------------------------------------------------------------------


def test_chart_labels_and_values_are_left_out_but_its_title_stays(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "bars.pdf")
    c.setFont(MIN, 10.5)
    c.drawString(72, h - 80, "愛着を感じる人の割合は84.5%です。")
    c.drawString(72, h - 110, "図表5 属性別にみた愛着度")
    for k, (label, vals) in enumerate([("令和4年度", (57.3, 27.2, 10.4)), ("令和3年度", (60.8, 25.3, 9.6))]):
        y = h - 150 - 28 * k
        c.setFillColorRGB(0, 0, 0)
        c.drawString(72, y + 4, label)
        x = 140
        for v, gray in zip(vals, (0.3, 0.5, 0.7)):
            c.setFillGray(gray)
            c.rect(x, y, 3.5 * v, 16, fill=1, stroke=0)
            c.setFillGray(0)
            c.setFont(MIN, 8)
            c.drawString(x + 4, y + 4, f"{v}%")
            c.setFont(MIN, 10.5)
            x += 3.5 * v
    c.setFont(MIN, 8)
    c.drawString(140, h - 200, "0% 20% 40% 60% 80% 100%")
    c.showPage()
    c.save()
    text = "\n".join(read_document(path).lines)
    assert "図表5 属性別にみた愛着度" in text and "84.5%" in text
    assert "57.3%" not in text and "0% 20%" not in text


def test_a_run_of_lines_made_only_of_numbers_is_chart_text_even_without_bars():
    from assistant.cleaning.charts import drop_number_runs

    lines = [{"text": t} for t in ["重要度指数平均", "4.400", "46", "4 31", "本文の行です。", "2,500"]]
    assert [ln["text"] for ln in drop_number_runs(lines)] == ["重要度指数平均", "本文の行です。", "2,500"]


# ---- headings (defect 3) ------------------------------------------------------------------


def _sections(lines, fmt="pdf"):
    from assistant.chunking import chunk_document
    from assistant.types import Document

    doc = Document(doc_id="x.pdf", title="t", lines=lines, line_numbers=list(range(1, len(lines) + 1)),
                   pages=[1] * len(lines), meta={"format": fmt})
    return {" > ".join(c.section) for c in chunk_document(doc)}


def test_in_a_pdf_a_numbered_line_is_a_heading_only_where_the_numbering_continues():
    body = "この節の本文です。" * 8
    lines = ["1 調査の目的", body, "2 調査の対象者", body, "41 令和4年度", body, "（１）性別", body,
             "《居住地域別》", body, "（２）年齢", body, "3 調査の方法", body]
    sections = _sections(lines)
    assert not any("41 令和4年度" in s for s in sections), "a chart label is not section 41"
    assert "2 調査の対象者 > （２）年齢" in sections, "「《居住地域別》」 does not restart (1), (2) …"
    assert "3 調査の方法" in sections


def test_a_chart_row_and_two_numbered_columns_are_never_headings():
    body = "この節の本文です。" * 8
    sections = _sections(["1 概要", body, "20 年以上 63.5% 24.2% 8.7%", body,
                          "2 心豊かで未来を築く人を育むまち 3 産業の活力", body])
    assert sections == {"1 概要"}


def test_a_numbered_label_with_its_value_on_the_same_line_is_content_and_keeps_the_numbering():
    body = "この節の本文です。" * 8
    sections = _sections(["3 調査の方法", body, "4 調査期間 令和５年1月15日～1月31日", "5 配布・回収方法 配布は郵送",
                          "6 回収状況", body])
    assert "6 回収状況" in sections
    assert not any("調査期間" in s for s in sections)


def test_a_passage_shows_the_printed_page_number_when_it_differs_from_the_page_index(doc_builders):
    from assistant.chunking import chunk_document
    from assistant.web.render import page_text

    doc = read_document(_furnished_pdf(doc_builders, "labels.pdf", n_pages=3))  # page 1 prints 「- 5 -」
    assert doc.meta["page_labels"] == {"1": "5", "2": "6", "3": "7"}
    chunk = chunk_document(doc)[0]
    assert (chunk.page, chunk.page_label) == (1, "5")
    assert page_text(chunk.page, chunk.page_label) == "p.1（印刷ページ 5）"
    assert page_text(4, "4") == "p.4"


def test_a_row_of_percent_labels_is_chart_text_but_a_sentence_with_percentages_is_not():
    from assistant.cleaning.charts import is_chart_text

    def line(text):
        return {"text": text, "x0": 0, "x1": 100, "top": 0, "bottom": 10}

    assert is_chart_text(line("0% 2.9% 1.8% 2.4% 3.0% 3.0%"), [])
    assert not is_chart_text(line("男性が52.9％、女性が45.7％、不明が1.4％となっています。"), [])
    assert not is_chart_text(line("令和4年度 回収率 36.8%"), [])


def test_a_passage_of_a_pdf_stays_on_one_page_so_its_citation_names_the_right_page():
    from assistant.chunking import chunk_document
    from assistant.types import Document

    lines = ["（１）調査の方法", "調査票を郵送で配布しました。", "4 調査期間 令和５年1月15日～1月31日", "回収は郵送及びウェブによります。"]
    doc = Document(doc_id="x.pdf", title="t", lines=lines, line_numbers=[1, 2, 3, 4], pages=[5, 5, 6, 6], meta={"format": "pdf"})
    by_page = {c.page: c.text for c in chunk_document(doc)}
    assert "調査期間" in by_page[6] and "調査期間" not in by_page[5]


def test_a_ranking_row_of_a_chart_keeps_its_label_rank_and_printed_total():
    from assistant.cleaning.charts import chart_row_label

    assert chart_row_label("消防・救急の充実強化 1【1】 (55.0％) 11.4% 43.6% 38.0% 5.4% 1.7%") == "消防・救急の充実強化 1【1】 (55.0％)"
    assert chart_row_label("男性 55.8% 26.4% 12.0% 1.7%") is None


# ---- label | text columns without ruling (defect 5) ---------------------------------------


def _comment_pages(doc_builders, name):
    """Two pages of residents' comments filed by policy: a narrow label column (policy names,
    wrapped) beside a wide text column of 「○」 comments wrapped at the column edge — no rules."""
    path, c, (w, h) = _canvas(doc_builders, name)
    size, lead, lx, tx, right = 9, 13, 40, 170, 525
    per_line = int((right - tx) // size)  # characters that fill the text column

    def comment(y, text):
        first = True
        while text:
            n = per_line if first else per_line - 1
            c.drawString(tx if first else tx + size, y, text[:n])
            text, y, first = text[n:], y - lead, False
        return y

    c.setFont(MIN, size)
    c.drawString(72, h - 60, "７ 高松市の施策・市政などについての御意見")
    c.drawString(80, h - 90, "政策")
    c.drawString(300, h - 90, "自由意見")
    y = h - 110
    c.drawString(lx, y, "1 子どもが健やかに生まれ育")
    c.drawString(lx, y - lead, "つ環境の充実")
    y = comment(y, "○東京都でも実施された様に可能であれば第二子の保育料無償化を行っていただきたいと思います。")
    y = comment(y, "○出産時の費用無償化。育児手当の増加。高齢者ばかりに目を向けていると、いつまでも少子化は収まりません。")
    y -= 6
    c.drawString(lx, y, "2 支え合い、自分らしく暮ら")
    c.drawString(lx, y - lead, "せる福祉社会の形成")
    y = comment(y, "○社会福祉法人への補助金等の適切な指導、監督を希みます。地域の見守り活動も続けてほしいと思います。")
    y = comment(y, "○年金受給額の補助をお願いします。高齢者や障害のある方など弱者が生活しやすい環境整備が重要だと思う。")
    c.showPage()
    c.setFont(MIN, size)
    y = h - 60  # the next page continues policy 2's comments; its label column is empty
    y = comment(y, "○歩道の段差やアップダウンを減らして歩道の道幅を広げ、車椅子でも通りやすくしてほしいと思います。")
    y = comment(y, "○買い物に行くバスの便を増やしてほしい。病院へ通うにも不便で、家族に頼るしかないのが現状です。")
    c.drawString(72, y - 30, "参考資料として、調査票を次のページ以降に掲載しています。調査票は二種類です。")
    c.showPage()
    c.save()
    return path


def test_unruled_label_and_comment_columns_are_read_column_by_column(doc_builders):
    doc = read_document(_comment_pages(doc_builders, "comments.pdf"))
    text = "\n".join(doc.lines)
    # a comment is whole and is filed under its policy, whose wrapped name is whole too
    assert ("政策: 1 子どもが健やかに生まれ育つ環境の充実 / 自由意見: ○出産時の費用無償化。育児手当の増加。"
            "高齢者ばかりに目を向けていると、いつまでも少子化は収まりません。") in doc.lines
    assert "政策: 2 支え合い、自分らしく暮らせる福祉社会の形成 / 自由意見: ○社会福祉法人への補助金等の適切な指導、" \
           "監督を希みます。地域の見守り活動も続けてほしいと思います。" in doc.lines
    # the policy name is never glued into a comment (the columns are not read across)
    assert "生まれ育○" not in text and "つ環境の充実○" not in text.replace(" ", "")
    assert not any(l.startswith("つ環境の充実") for l in doc.lines)
    # comments continued on the next page keep the policy of the previous page
    bus = next(l for l in doc.lines if "バスの便" in l)
    assert bus.startswith("政策: 2 支え合い、自分らしく暮らせる福祉社会の形成 / 自由意見: ○買い物に行くバスの便")
    assert doc.pages[doc.lines.index(bus)] == 2
    # text across the page after the block is body text again, under no policy
    assert any(l.startswith("参考資料として") for l in doc.lines)


def test_a_label_value_list_and_a_numbered_heading_are_not_label_columns(doc_builders):
    """Short 「label value」 lines (「4 調査期間 令和５年1月15日～1月31日」) have a gap too, but their
    right side is not running text: they stay as printed."""
    path, c, (w, h) = _canvas(doc_builders, "summary.pdf")
    c.setFont(MIN, 10)
    rows = [("1 調査の目的", "市民の意見を把握するため"), ("2 調査対象", "市内在住の18歳以上の市民"),
            ("3 調査方法", "郵送配布・郵送及びWeb回収"), ("4 調査期間", "令和５年1月15日～1月31日")]
    for k, (a, b) in enumerate(rows):
        c.drawString(72, h - 80 - 18 * k, a)
        c.drawString(200, h - 80 - 18 * k, b)
    c.showPage()
    c.save()
    doc = read_document(path)
    assert not doc.meta["table_lines"]
    assert any("調査期間" in l and "令和５年1月15日" in l for l in doc.lines)


# ---- two-row table headers (issue 11) -------------------------------------------------------


def test_a_header_cell_spanning_sub_headers_names_each_sub_column(doc_builders):
    """「回収数（枚）」 printed over 「紙」「WEB」: the values come out as 「回収数（枚）・紙: 603」."""
    path, c, (w, h) = _canvas(doc_builders, "two_row_header.pdf")
    xs, top, rh = [72, 132, 222, 282, 342], h - 100, 20
    ys = [top - k * rh for k in range(5)]  # 2 header rows, 2 data rows
    c.setLineWidth(0.5)
    for x in (xs[0], xs[1], xs[2], xs[4]):
        c.line(x, ys[0], x, ys[4])
    c.line(xs[3], ys[1], xs[3], ys[4])  # 紙 | WEB only below the spanning header
    c.line(xs[0], ys[0], xs[4], ys[0])
    c.line(xs[2], ys[1], xs[4], ys[1])  # under the spanning header only: 区分 and 配布 span two rows
    for y in ys[2:]:
        c.line(xs[0], y, xs[4], y)
    c.setFont(MIN, 10)
    for x, y, t in [(75, ys[1] - 5, "区分"), (225 - 88, ys[1] - 5, "配布枚数（枚）"), (225, ys[0] - 14, "回収数（枚）"),
                    (225, ys[1] - 14, "紙"), (285, ys[1] - 14, "WEB"),
                    (75, ys[2] - 14, "A票"), (140, ys[2] - 14, "1,250"), (225, ys[2] - 14, "312"), (285, ys[2] - 14, "163"),
                    (75, ys[3] - 14, "計"), (140, ys[3] - 14, "2,500"), (225, ys[3] - 14, "603"), (285, ys[3] - 14, "318")]:
        c.drawString(x, y, t)
    c.showPage()
    c.save()
    doc = read_document(path)
    rows = [doc.lines[i] for i in doc.meta["table_lines"]]
    total = next(r for r in rows if "計" in r)
    assert total == "区分: 計 / 配布枚数（枚）: 2,500 / 回収数（枚）・紙: 603 / 回収数（枚）・WEB: 318"


def test_sub_labels_printed_inside_the_cells_of_a_spanning_row_label_become_labelled_columns(doc_builders):
    """The survey's response table: 「A票」 spans two rows whose cells read 「紙： 312」 / 「ウェブ： 163」
    beside the total 475 — one row per 票, each value named by its header and sub-label."""
    path, c, (w, h) = _canvas(doc_builders, "rate_sub.pdf")
    _ruled_table(
        c, 72, h - 100, [40, 90, 75, 80, 75, 80],
        [["", "配布枚数（枚）", "回収数（枚）", "", "回収率（％）", ""],
         ["A票", "1,250", "475", "紙： 312", "38.0", "紙： 25.0"],
         ["", "", "", "ウェブ： 163", "", "ウェブ： 13.0"],
         ["計", "2,500", "921", "紙： 603", "36.8", "紙： 24.1"],
         ["", "", "", "ウェブ： 318", "", "ウェブ： 12.7"]],
        spans={(1, 0): 2, (1, 1): 2, (1, 2): 2, (1, 4): 2, (3, 0): 2, (3, 1): 2, (3, 2): 2, (3, 4): 2},
    )
    c.showPage()
    c.save()
    doc = read_document(path)
    rows = [doc.lines[i] for i in doc.meta["table_lines"]]
    total = next(r for r in rows if r.startswith("計"))
    assert total == ("計 / 配布枚数（枚）: 2,500 / 回収数（枚）: 921 / 回収数（枚）・紙: 603 / 回収数（枚）・ウェブ: 318 / "
                     "回収率（％）: 36.8 / 回収率（％）・紙: 24.1 / 回収率（％）・ウェブ: 12.7")
    assert sum(1 for r in rows if r.startswith("A票")) == 1, "the two rows of one 票 are one record"


def test_a_table_cell_holding_a_list_of_comments_is_split_into_its_items():
    """A ruled 政策 | 自由意見 row whose comment cell holds several 「○」 comments becomes one row per
    comment (``_spread_lists``); each comment's wrapped lines are joined without a space."""
    from assistant.cleaning.pdf_tables import _spread_lists, list_items

    cell = "○ 一人一人が意識改革を。\n○ 思いやる気持ちを持って\nほしい。"
    assert list_items(cell) == ["○ 一人一人が意識改革を。", "○ 思いやる気持ちを持ってほしい。"]
    assert _spread_lists(["7 基本的人権の尊重", cell], ["7 基本的人権の尊重", "…"]) == [
        ["7 基本的人権の尊重", "○ 一人一人が意識改革を。"], ["7 基本的人権の尊重", "○ 思いやる気持ちを持ってほしい。"]]
    assert list_items("藤塚町一丁目\n多賀町一丁目") is None, "lines of a cell that are not a bulleted list stay one cell"


# ---- answer-side causes found on the real PDFs (issue 11 follow-up) ------------------------


def _glyph(text, x0, top, size):
    return {"text": text, "x0": x0, "x1": x0 + size, "top": top, "bottom": top + size, "size": size}


def test_a_katakana_printed_inside_a_circle_is_the_circled_character():
    from assistant.formats.pdf import compose_enclosed

    # 「○」 12 pt with a smaller 「ア」 drawn inside it, then the heading text
    chars = [_glyph("○", 80, 146, 12), _glyph("ア", 81.5, 147.3, 8), _glyph("各", 92, 146, 12)]
    assert "".join(c["text"] for c in compose_enclosed(chars)) == "㋐各"
    # two digits inside a circle: ⑫; a number without a character of its own stays as printed
    chars = [_glyph("○", 80, 100, 12), _glyph("1", 81, 102, 6), _glyph("2", 84, 102, 6)]
    assert "".join(c["text"] for c in compose_enclosed(chars)) == "⑫"
    chars = [_glyph("○", 80, 100, 12), _glyph("5", 81, 102, 6), _glyph("5", 84, 102, 6)]
    assert "".join(c["text"] for c in compose_enclosed(chars)) == "○55"
    # a 「○」 bullet followed by a word beside it is a bullet
    chars = [_glyph("○", 80, 100, 12), _glyph("ア", 93, 100, 12), _glyph("ン", 105, 100, 12)]
    assert "".join(c["text"] for c in compose_enclosed(chars)) == "○アン"


def test_a_circled_katakana_line_is_a_heading_under_its_numbered_section():
    sections = _sections(["（３）各施策の満足度", "㋐各施策の満足度", "消防・救急の充実強化の満足度が最も高くなっています。"])
    assert "（３）各施策の満足度 > ㋐各施策の満足度" in sections


def test_a_total_row_names_the_rows_it_adds_up_and_only_when_they_do():
    from assistant.cleaning.pdf_tables import label_totals

    rows = [["", "配布枚数（枚）", "回収率（％）"], ["A票", "1,250", "38.0"], ["B票", "1,250", "35.7"], ["計", "2,500", "36.8"]]
    assert label_totals(rows)[3][0] == "計（A票・B票）"
    wrong = [r[:] for r in rows]
    wrong[3][1] = "2,600"  # not their sum: a 計 of something else, left as printed
    assert label_totals(wrong)[3][0] == "計"
    many = [rows[0]] + [[f"{k}区", "1", "1"] for k in range(8)] + [["計", "8", "1"]]
    assert label_totals(many)[-1][0] == "計", "eight parts are not listed"


def test_a_wrapped_cell_line_that_starts_with_hiragana_continues_the_word():
    assert tidy_cell("1．子どもが健やかに生まれ育\nつ環境の充実") == "1．子どもが健やかに生まれ育つ環境の充実"
    assert tidy_cell("支え合い、自分らしく暮ら\nせる福祉社会の形成") == "支え合い、自分らしく暮らせる福祉社会の形成"
    assert tidy_cell("塩上町一丁目8番\n多賀町一丁目") == "塩上町一丁目8番 多賀町一丁目", "separate items keep their space"


def test_superscript_note_marks_between_two_printed_lines_do_not_cut_the_sentence():
    from assistant.cleaning.pdf_lines import drop_superscript_marks

    def line(text, x0, x1, top, size):
        return {"text": text, "x0": x0, "x1": x1, "top": top, "bottom": top + size}

    lines = [line("ここでは、各施策の満足度について、昨年度の結", 93, 522, 84.2, 12),
             line("※1 ※2", 201, 371, 99.9, 8),  # raised marks, overlapping the next line
             line("果と比較し、上位10施策を抽出しています。", 79, 524, 103.2, 12)]
    assert [l["text"] for l in drop_superscript_marks(lines)] == [lines[0]["text"], lines[2]["text"]]
    alone = [lines[0], line("※1 ※2", 201, 371, 140, 12), line("次の段落です。", 79, 300, 170, 12)]
    assert len(drop_superscript_marks(alone)) == 3, "a line of marks at full size is printed text"


def test_a_ranking_charts_caption_is_found_above_its_rows_past_the_legend_notes():
    from assistant.cleaning.charts import ranking_captions

    texts = ["図表17", "【 】は令和3年度順位", "令和4年度 施策に対する満足度の高い順", "( )は満足・やや満足の合計",
             "消防・救急の充実強化 1【1】 (55.0％)", "水の安定供給 2【2】 (48.0％)", "医療体制の充実 3【5】 (44.6％)",
             "満足 やや満足 どちらともいえない"]
    assert ranking_captions([{"text": t} for t in texts]) == [2]
    # two rows are no ranking; a sentence above the rows is no caption
    assert ranking_captions([{"text": t} for t in texts[:6]]) == []
    assert ranking_captions([{"text": "満足度の高い順に並べました。"}] + [{"text": t} for t in texts[4:7]]) == []


def test_a_chart_caption_heads_the_rest_of_its_page_only():
    from assistant.chunking import chunk_document
    from assistant.types import Document

    lines = ["第1章 結果", "###### 施策に対する満足度の高い順", "消防・救急の充実強化 1【1】 (55.0％)",
             "水の安定供給 2【2】 (48.0％)", "次のページの本文です。"]
    doc = Document(doc_id="x.pdf", title="t", lines=lines, line_numbers=[1, 2, 3, 4, 5], pages=[1, 1, 1, 1, 2],
                   meta={"format": "pdf"})
    by_page = {c.page: c.section for c in chunk_document(doc)}
    assert by_page[1] == ["第1章 結果", "施策に対する満足度の高い順"]
    assert by_page[2] == ["第1章 結果"]


def test_a_validity_date_on_every_page_goes_with_every_passage_in_its_title(doc_builders):
    from assistant.chunking import chunk_document

    path = _furnished_pdf(doc_builders, "asof_title.pdf")
    assert extract_pdf(path).as_of == "（平成３０年６月２８日現在）"
    doc = read_document(path)
    assert doc.title == "高松市小・中学校区一覧表", "the document's own title is unchanged"
    assert {c.title for c in chunk_document(doc)} == {"高松市小・中学校区一覧表（平成３０年６月２８日現在）"}


def test_section_and_glued_chapter_headings_and_a_sentence_naming_a_chapter():
    sections = _sections(["第4章施策の展開", "第1節 子育て支援", "1 保育の充実", "保育所を整備します。", "第3章では、現状を整理しました"])
    assert "第4章施策の展開 > 第1節 子育て支援 > 1 保育の充実" in sections
    assert not any("第3章では" in s for s in sections)

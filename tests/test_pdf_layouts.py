"""Other common municipal PDF layouts (issue 11, "we will check the same on other real PDFs").

Only two real PDFs are at hand, so the layout rules are also checked on small PDFs drawn
(reportlab) the way other cities' exports look, and what comes out is pinned: sentences whole,
headings right, chart text left out, a scanned page reported page by page.

* a Word-made plan: the plan's title as a running header, 「- N -」 footers, 第1章 / 第1節
  headings, paragraphs wrapped at the column width, a section running on over a page break;
* a two-column page (two text columns side by side) over a ruled 施策体系 table with merged
  cells;
* a bar chart with its caption between two paragraphs;
* a scanned (image-only) page among text pages.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pdfplumber")
pytest.importorskip("reportlab")

from assistant.chunking import chunk_document  # noqa: E402
from assistant.corpus import read_document  # noqa: E402
from assistant.formats import extract_pdf  # noqa: E402

from test_pdf_rules import GO, MIN, _canvas  # noqa: E402  (the generated-PDF helpers, one copy)


def _wrap(text: str, per_line: int) -> list[str]:
    """A paragraph cut into printed lines of ``per_line`` characters, as a word processor fills a column."""
    return [text[i : i + per_line] for i in range(0, len(text), per_line)]


def _paragraph(c, x, y, text, per_line, size=10.5, leading=17):
    c.setFont(MIN, size)
    for k, line in enumerate(_wrap(text, per_line)):
        c.drawString(x, y - leading * k, line)
    return y - leading * len(_wrap(text, per_line))


# ---- a Word-made plan ----------------------------------------------------------------------

PLAN = "第3次たかまつ市子ども・子育て支援計画"
PURPOSE = ("本市では、平成27年に子ども・子育て支援新制度が始まって以来、保育の受け皿の確保や地域の子育て支援"
           "の充実に取り組んできましたが、共働き世帯の増加により保育需要は今後も高い水準で推移すると見込まれる"
           "ことから、第3次計画を策定するものです。")
PERIOD = "本計画の期間は、令和7年度から令和11年度までの5年間とします。"
POPULATION = ("本市の年少人口は令和元年の5万2千人から令和6年には4万8千人へと減少しており、出生数も同じ期間に"
              "約1割減少しています。")
NURSERY = ("保育所の定員は令和6年4月1日現在で8,420人であり、待機児童数は3人となっていますが、1歳児の入所希望が"
           "集中する地域では依然として入所が難しい状況が続いています。")


def _word_plan(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "word_plan.pdf")
    pages = [
        [("第1章 計画の概要", 14), ("第1節 計画策定の趣旨", 12), PURPOSE, ("第2節 計画の期間", 12), PERIOD],
        [("第2章 子育て支援の現状", 14), ("第1節 人口の推移", 12), POPULATION, ("第2節 保育サービス", 12), NURSERY[:60]],
        [NURSERY[60:]],
    ]
    for pno, items in enumerate(pages, start=1):
        c.setFont(MIN, 9)
        c.drawString(56, h - 36, PLAN)  # the running header Word prints on every page
        y = h - 100
        for it in items:
            if isinstance(it, tuple):
                c.setFont(GO, it[1])
                c.drawString(72, y, it[0])
                y -= 28
            else:
                y = _paragraph(c, 72, y, it, per_line=40) - 12
        c.setFont(MIN, 9)
        c.drawCentredString(w / 2, 30, f"- {pno} -")
        c.showPage()
    c.save()
    return path


def test_a_word_made_plan_loses_its_running_header_and_page_numbers_but_keeps_the_title(doc_builders):
    doc = read_document(_word_plan(doc_builders))
    assert doc.title == PLAN
    assert PLAN not in doc.lines
    assert not any(line.startswith("- ") for line in doc.lines)


def test_a_word_made_plan_keeps_every_sentence_whole_across_printed_line_ends(doc_builders):
    doc = read_document(_word_plan(doc_builders))
    text = "\n".join(doc.lines)
    for sentence in (PURPOSE, PERIOD, POPULATION):
        assert sentence in doc.lines, sentence[:20]
    # a paragraph broken by the page break is two lines, each whole up to where the page ends
    assert NURSERY[:60] in text and NURSERY[60:] in text


def test_a_word_made_plan_files_each_paragraph_under_its_chapter_and_section(doc_builders):
    chunks = chunk_document(read_document(_word_plan(doc_builders)))
    section_of = {}
    for c in chunks:
        for s in (PURPOSE, PERIOD, POPULATION, NURSERY[60:]):
            if s in c.text:
                section_of[s] = " > ".join(c.section)
    assert section_of[PURPOSE] == "第1章 計画の概要 > 第1節 計画策定の趣旨"
    assert section_of[PERIOD] == "第1章 計画の概要 > 第2節 計画の期間"
    assert section_of[POPULATION] == "第2章 子育て支援の現状 > 第1節 人口の推移"
    # the section runs on over the page break: page 3 is still 第2節
    assert section_of[NURSERY[60:]] == "第2章 子育て支援の現状 > 第2節 保育サービス"


# ---- a two-column page over a ruled 施策体系 table ----------------------------------------------

LEFT = ("基本目標1では、妊娠期から子育て期まで切れ目のない支援を行うため、子育て世代包括支援センターを"
        "中心に相談体制を充実します。")
RIGHT = ("基本目標2では、地域全体で子どもを見守る体制をつくるため、放課後児童クラブの定員を"
         "拡大し、地域の担い手を育成します。")
SYSTEM = [
    ["基本目標", "施策", "主な取組"],
    ["1 安心して産み育てられるまち", "(1) 妊娠・出産への支援", "妊婦健康診査の助成"],
    ["", "(2) 子育て相談の充実", "子育て世代包括支援センターの運営"],
    ["2 地域で子どもを育むまち", "(3) 放課後の居場所づくり", "放課後児童クラブの定員拡大"],
    ["", "(4) 地域の担い手の育成", "子育てサポーター養成講座の開催"],
]


def _ruled_table(c, x, y_top, col_widths, rows, row_h=22, spans=None, size=9):
    spans = spans or {}
    covered = {(r + k, j) for (r, j), n in spans.items() for k in range(1, n)}
    xs = [x]
    for cw in col_widths:
        xs.append(xs[-1] + cw)
    c.setLineWidth(0.5)
    for j in range(len(col_widths) + 1):
        c.line(xs[j], y_top, xs[j], y_top - len(rows) * row_h)
    for r in range(len(rows) + 1):
        for j in range(len(col_widths)):
            if 0 < r < len(rows) and (r, j) in covered:
                continue
            c.line(xs[j], y_top - r * row_h, xs[j + 1], y_top - r * row_h)
    c.setFont(MIN, size)
    for r, row in enumerate(rows):
        for j, text in enumerate(row):
            if text and (r, j) not in covered:
                c.drawString(xs[j] + 3, y_top - (r + 1) * row_h + 7, text)


def _two_column_page(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "two_columns.pdf")
    c.setFont(GO, 14)
    c.drawString(56, h - 70, "第4章 施策の展開")
    # two text columns of 20 characters (210 pt) with a 30 pt gutter
    _paragraph(c, 56, h - 110, LEFT, per_line=20)
    _paragraph(c, 296, h - 110, RIGHT, per_line=20)
    c.setFont(GO, 12)
    c.drawString(56, h - 330, "施策体系")
    _ruled_table(c, 56, h - 345, [160, 150, 170], SYSTEM, spans={(1, 0): 2, (3, 0): 2})
    c.showPage()
    c.save()
    return path


def test_two_text_columns_are_read_one_after_the_other_not_across(doc_builders):
    doc = read_document(_two_column_page(doc_builders))
    assert LEFT in doc.lines and RIGHT in doc.lines


def test_a_ruled_policy_system_table_gives_one_labelled_row_per_policy_with_merged_goals_spread(doc_builders):
    doc = read_document(_two_column_page(doc_builders))
    rows = [doc.lines[i] for i in doc.meta["table_lines"]]
    assert "基本目標: 1 安心して産み育てられるまち / 施策: (2) 子育て相談の充実 / 主な取組: 子育て世代包括支援センターの運営" in rows
    assert "基本目標: 2 地域で子どもを育むまち / 施策: (4) 地域の担い手の育成 / 主な取組: 子育てサポーター養成講座の開催" in rows


def test_table_cells_never_become_headings_and_the_chapter_stays_the_section(doc_builders):
    chunks = chunk_document(read_document(_two_column_page(doc_builders)))
    sections = {" > ".join(c.section) for c in chunks}
    assert sections <= {"第4章 施策の展開", "第4章 施策の展開 > 施策体系"}, sections
    assert not any("(2) 子育て相談の充実" in s or "基本目標" == s for s in sections)


# ---- a bar chart with its caption ----------------------------------------------------------

BEFORE_CHART = "待機児童数の推移は次のとおりです。"
AFTER_CHART = "待機児童数は令和5年度に3人まで減少し、保育所の整備が進んだことが分かります。"
CAPTION = "図表3 待機児童数の推移"


def _chart_page(doc_builders):
    path, c, (w, h) = _canvas(doc_builders, "chart.pdf")
    c.setFont(MIN, 10.5)
    c.drawString(72, h - 80, BEFORE_CHART)
    c.setFont(GO, 10.5)
    c.drawString(72, h - 110, CAPTION)
    base = h - 300
    for k, (year, v) in enumerate([("令和2年度", 41), ("令和3年度", 27), ("令和4年度", 12), ("令和5年度", 3)]):
        x = 110 + 90 * k
        c.setFillColorRGB(0.2, 0.4, 0.8)
        c.rect(x, base, 40, 3.5 * v, fill=1, stroke=0)
        c.setFillColorRGB(0, 0, 0)
        c.setFont(MIN, 8)
        c.drawString(x + 12, base + 3.5 * v + 4, str(v))  # data label over the bar
        c.drawString(x, base - 12, year)  # category label under it
    for k, tick in enumerate((0, 10, 20, 30, 40)):  # the value axis
        c.drawString(88, base + 35 * k, str(tick))
    c.setFont(MIN, 10.5)
    c.drawString(72, base - 50, AFTER_CHART)
    c.showPage()
    c.save()
    return path


def test_a_bar_chart_leaves_its_numbers_out_and_keeps_its_caption_and_the_sentences_around_it(doc_builders):
    doc = read_document(_chart_page(doc_builders))
    assert BEFORE_CHART in doc.lines and AFTER_CHART in doc.lines
    assert CAPTION in doc.lines
    text = "\n".join(doc.lines)
    assert not any(line.strip().isdigit() for line in doc.lines), doc.lines
    assert "41" not in text and "27" not in text


def test_a_chart_caption_is_not_the_section_of_the_text_after_the_chart(doc_builders):
    chunks = chunk_document(read_document(_chart_page(doc_builders)))
    after = next(c for c in chunks if AFTER_CHART in c.text)
    assert not any(CAPTION in s or s.isdigit() for s in after.section)


# ---- a scanned page ------------------------------------------------------------------------

SCAN_PAGE1 = ["第1章 計画の概要", "本計画は、市の子育て支援の方向を定めるものです。"]
SCAN_PAGE3 = ["第2章 施策", "保育所の定員を拡大します。"]


def _with_scanned_page(doc_builders):
    return doc_builders.pdf("scanned_p2.pdf", [SCAN_PAGE1, [], SCAN_PAGE3], image_only_pages={2})


def test_a_scanned_page_is_reported_by_its_page_number_when_the_pdf_is_added(doc_builders, tmp_path):
    from assistant.ingest import add_documents

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (res,) = add_documents([_with_scanned_page(doc_builders)], corpus)
    assert res.ok
    report = str(res)
    assert "pages without a text layer (scanned?)" in report and report.rstrip().endswith(": 2")
    assert res.pages == 3 and res.lines > 0, "the text pages are added"


def test_a_scanned_page_is_named_in_the_admin_tabs_message(doc_builders, tmp_path):
    from assistant.web.admin import upload_message

    from assistant.ingest import add_documents

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    results = add_documents([_with_scanned_page(doc_builders)], corpus)
    msg = upload_message(results)
    assert "scanned_p2.pdf" in msg
    assert "文字情報のないページ" in msg and "2ページ" in msg, msg


def test_a_pdf_whose_pages_are_all_scanned_is_refused_with_the_reason(doc_builders, tmp_path):
    from assistant.ingest import add_documents

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (res,) = add_documents([doc_builders.image_pdf("all_scanned.pdf", n_pages=3)], corpus)
    assert not res.ok and "scanned" in res.reason
    assert not any(corpus.glob("*.pdf")), "nothing is added"
    # the pages of a text PDF are all still there when one page is scanned
    ex = extract_pdf(_with_scanned_page(doc_builders))
    assert sorted(set(ex.pages)) == [1, 3]

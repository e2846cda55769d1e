"""Passages along the documents' own structure (issue 2, items 6–7 and the "Must show" list).

The bundled-corpus checks are the acceptance criteria of the issue: no extraction artifact
reaches a passage, every body sentence of the sources is still findable, and section paths
are right where we looked.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import japanese
from assistant.chunking import (
    CHUNKER_VERSION,
    ChunkSettings,
    chunk_corpus,
    chunk_document,
    chunk_records,
    heading_level,
)
from assistant.corpus import collapse_repeats, load_corpus, make_document

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="module")
def docs():
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def chunks(docs):
    return chunk_corpus(docs)


def by_doc(chunks, prefix):
    return [c for c in chunks if c.doc_id.startswith(prefix)]


# --------------------------------------------------------------------------------------
# Must show: nothing of the extraction artifacts reaches a passage
# --------------------------------------------------------------------------------------

REPEAT_RE = re.compile(r"(.{4,})\1\1")  # any ≥3× repeated run of ≥4 characters
HTML_RE = re.compile(r"</?(?:p|ul|ol|li|table|tr|td|th|b|i|u|del|sup|sub|span|div|br|strong|em|h[1-6])\b[^>]*>", re.I)
TOC_RE = re.compile(r"(?:[・･]{3,}|[…‥]{2,}|-{3,}|\.{4,})\s*\d*\s*$|^\S.{0,40}\t\s*\d{1,3}\s*$")
SIDE_TAB_LABELS = {"序論", "基本構想", "プロジェクト略", "プロジェクト戦略", "基本計画", "第一章", "第二章"}


def test_no_chunk_contains_artifact_repetition(chunks):
    for c in chunks:
        assert "第４章第４章" not in c.text
        assert not REPEAT_RE.search(c.text.replace(" ", "")), (c.doc_id, c.lines)


def test_no_chunk_contains_a_side_tab_label_line(chunks):
    for c in chunks:
        for line in c.text.split("\n"):
            assert len(line.strip()) > 2, (c.doc_id, c.lines, line)
            assert line.strip() not in SIDE_TAB_LABELS, (c.doc_id, c.lines)


def test_no_chunk_contains_an_html_tag(chunks):
    for c in chunks:
        assert not HTML_RE.search(c.text), (c.doc_id, c.lines)


def test_no_chunk_contains_a_table_of_contents_line(chunks):
    for c in chunks:
        for line in c.text.split("\n"):
            assert not TOC_RE.search(line), (c.doc_id, c.lines, line)


def test_photo_captions_are_not_passage_text(chunks):
    text = "\n".join(c.text for c in by_doc(chunks, "000"))
    assert "\n山陽小野田市民まつり\n" not in text and "\n病院ボランティア\n" not in text


# --------------------------------------------------------------------------------------
# Must show: coverage of the source body text
# --------------------------------------------------------------------------------------

_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_NOT_BODY = re.compile(r"(?:[・･]{3,}|[…‥]{2,}|-{3,}|\.{4,})\s*\d*\s*$|^[(（]?(?:次|前)ページ(?:へ|から)続く[)）]?$")


def source_sentences(path: Path) -> list[str]:
    """The body sentences of a source file, computed independently of the cleaner.

    Markup is stripped (HTML tags, markdown heading/list markers, LaTeX arrows, ▶ connectors),
    the PDF's k-fold repetition is undone, table rows are split into cells, and lines that are
    by definition not body text (TOC entries with dot leaders, 「次ページへ続く」) are left out.
    Captions and the side tabs' letters stay in: if the cleaner drops them they count as misses.
    """
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = html.unescape(_TAG.sub(" ", line))
        if _NOT_BODY.search(line.strip()):
            continue
        line = collapse_repeats(line)
        line = re.sub(r"^\s*#+\s*", "", line).replace("**", "")
        line = re.sub(r"^\s*[-*]\s+", "", line)
        line = re.sub(r"\$\\\w+\$", "", line).replace("▶", "")
        for cell in line.split("\t"):
            for s in japanese.split_sentences(cell):
                c = japanese.compact(s)
                if len(c) >= 10:
                    out.append(c)
    return out


def test_at_least_99_percent_of_source_sentences_are_findable_in_a_chunk(docs, chunks):
    found = total = 0
    missed = []
    for d in docs:
        cs = [c for c in chunks if c.doc_id == d.doc_id]
        haystacks = [re.sub(r"[⇒→]", "", japanese.compact(c.text)) for c in cs]
        haystacks += [japanese.compact("".join(c.section)) for c in cs]  # a heading lives in the path
        for s in source_sentences(Path(d.path)):
            total += 1
            s = re.sub(r"[⇒→]", "", s)
            if any(s in h for h in haystacks):
                found += 1
            else:
                missed.append((d.doc_id[:3], s[:40]))
    ratio = found / total
    print(f"\ncoverage: {found}/{total} = {ratio:.2%} of source sentences (≥10 chars) found in chunks; missed: {missed}")
    assert total > 1500
    assert ratio >= 0.99, missed


# --------------------------------------------------------------------------------------
# Must show: section paths on spot checks
# --------------------------------------------------------------------------------------


def test_saporante_passage_sits_under_its_citizen_group_section(chunks):
    c = next(c for c in by_doc(chunks, "001") if "市民活動支援センターは、平成13年12月に" in c.text)
    assert c.section[:2] == ["第1編", "第3章 協働によるまちづくりとは"]
    assert "(3) 市民活動団体(NPO・ボランティア・生涯学習・社会教育団体など)" in c.section
    assert c.section[-1] == "◆市民活動支援センター「さぽらんて」"


def test_npo_indicator_row_sits_under_citizen_activity_section(chunks):
    c = next(c for c in by_doc(chunks, "000") if "指標: NPO法人の認証数" in c.text)
    assert c.section == ["第2章 市民が主役のまちづくり", "5 市民が主役の地域づくり", "(2) 市民活動の活性化"]
    # the table row is whole, with its column headers
    assert "指標: NPO法人の認証数 / 説明: 特定非営利活動促進法により県が認証を行った法人数 / 基準値 基準年: H19.3 / 基準値 数値: 11団体 / 現状値 (H23年度): 13団体 / 目標値 (H29年度): 20団体" in c.text.split("\n")


@pytest.mark.parametrize(
    "prefix, needle, path_tail",
    [
        # the 目標指標 table above it is a passage of its own (whole, with its caption), so the notes on
        # its indicators open the 現状と課題 passage
        ("000", "公債費に準ずる債務負担行為額", ["(3) 財政運営の健全化", "現状と課題"]),
        ("000", "経常収支比率※ / 説明", ["(3) 財政運営の健全化", "●目標指標"]),
        ("000", "財政の硬直化が続いています", ["(3) 財政運営の健全化", "現状と課題", "●現状"]),
        ("000", "コミュニティ活動保険制度の充実", ["(1) 地域コミュニティの振興", "施策展開"]),
        ("002", "平成20年（2008年）に1億2808万人に達して以降減少傾向", ["第2章 プラン策定の背景", "(2) 時代潮流"]),
        ("002", "コーディネーター（注1）としての役割", ["(2) 時代潮流", "イ. 地方分権の進展と住民自治"]),
        ("004", "中学校の通学区域", ["第４章 協働型社会の実現に向けて", "３ 新しい地域コミュニティ組織の促進"]),
        ("003", "図書搬送業務の拡充", ["(1) 市民に身近な総合行政サービスの展開に向けた取組"]),
        ("001", "自治会等の財政基盤は脆弱", ["推進方針 I 参加しやすく、活動しやすい環境づくりを進めます", "推進施策 (2) 活動の活性化、自主・自立のための活動支援"]),
    ],
)
def test_section_path_spot_checks(chunks, prefix, needle, path_tail):
    c = next(c for c in by_doc(chunks, prefix) if needle in c.text)
    assert c.section[-len(path_tail):] == path_tail


# --------------------------------------------------------------------------------------
# Chunk shape
# --------------------------------------------------------------------------------------


def test_every_chunk_carries_document_metadata_and_a_line_range(docs, chunks):
    titles = {d.doc_id: (d.title, d.municipality) for d in docs}
    for c in chunks:
        assert (c.title, c.municipality) == titles[c.doc_id]
        assert 1 <= c.lines[0] <= c.lines[1]
        assert c.search_text == japanese.normalize(c.text)
        assert c.text.strip() == c.text and c.text


def test_line_range_points_at_the_passage_in_the_source_file(chunks):
    for c in chunks[::7]:
        src = (CORPUS / c.doc_id).read_text(encoding="utf-8").split("\n")
        span = japanese.compact(collapse_repeats("".join(src[c.lines[0] - 1 : c.lines[1]])))
        last_line = c.text.split("\n")[-1]
        if " / " in last_line or ": " in last_line:
            continue  # table rows are rewritten with their headers
        assert japanese.compact(last_line)[:6] in span, (c.doc_id, c.lines, last_line)


def test_chunk_sizes(chunks):
    sizes = sorted(len(c.text) for c in chunks)
    n = len(sizes)
    median = sizes[n // 2]
    print(f"\n{n} chunks; chars min {sizes[0]} / p10 {sizes[n // 10]} / median {median} / p90 {sizes[9 * n // 10]} / max {sizes[-1]}")
    assert 150 <= median <= 500
    assert sum(150 <= s <= 500 for s in sizes) / n >= 0.8
    assert sizes[-1] <= 500 * 1.2


def test_ids_are_stable_and_unique(docs, chunks):
    again = chunk_corpus(load_corpus(CORPUS))
    assert [c.id for c in again] == [c.id for c in chunks]
    assert len({c.id for c in chunks}) == len(chunks)


def test_changed_text_changes_only_the_ids_of_affected_chunks(docs):
    d = next(d for d in docs if d.doc_id.startswith("000"))
    before = chunk_document(d)
    lines = list(d.lines)
    i = lines.index("広域圏の地域課題の一体的で総合的な解決と地域全体の活性化を目指し、広域連携事業を推進します。")
    lines[i] = lines[i].replace("推進します", "強力に推進します")
    after = chunk_document(replace(d, lines=lines))
    changed = [a.id != b.id for a, b in zip(before, after)]
    assert len(before) == len(after) and sum(changed) == 1


def test_chunk_records_are_the_cli_json_lines(chunks):
    rec = next(chunk_records(chunks))
    assert set(rec) == {"doc_id", "section", "text", "lines"}
    assert json.loads(json.dumps(rec, ensure_ascii=False)) == rec
    assert isinstance(rec["lines"], list) and len(rec["lines"]) == 2


def test_chunker_version_and_settings_are_recordable():
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION
    assert ChunkSettings().as_dict() == {"min_chars": 150, "max_chars": 500, "overlap_sentences": 1, "hard_level": 3}


# --------------------------------------------------------------------------------------
# Packing rules on small synthetic documents
# --------------------------------------------------------------------------------------

S = "地域の課題を市民と行政が協働して解決するための取り組みを進めます。"  # 33 chars


def doc_of(lines: list[str]):
    return make_document("test.txt", lines, catalog_entry={"title": "テスト計画", "municipality": "あおば市"})


def test_long_section_is_split_with_one_sentence_of_overlap():
    sentences = [f"{i}番目の文として、{S}" for i in range(30)]
    chunks = chunk_document(doc_of(["1 はじめに", "", *sentences]))
    assert len(chunks) >= 3
    for a, b in zip(chunks, chunks[1:]):
        last_of_a = japanese.split_sentences(a.text)[-1]
        assert japanese.split_sentences(b.text)[0] == last_of_a
        assert len(a.text) <= 500
    assert all(c.section == ["1 はじめに"] for c in chunks)


def test_chunks_never_cross_a_top_level_section():
    lines = ["第1章 総論", "", S, "", "第2章 各論", "", S, "", "(1) 地域福祉", "", S]
    chunks = chunk_document(doc_of(lines))
    assert [c.section for c in chunks] == [["第1章 総論"], ["第2章 各論"], ["第2章 各論", "(1) 地域福祉"]]
    assert chunks[0].text == f"第1章 総論\n{S}"


def test_small_subsections_are_packed_together_under_their_common_path():
    lines = ["(1) 見守り", "基本方針", S, "現状と課題", S, "施策展開", S, "① 訪問活動", S, "② サロン", S]
    (c,) = chunk_document(doc_of(lines))
    assert c.section == ["(1) 見守り"]
    assert c.text.split("\n")[:3] == ["(1) 見守り", "基本方針", S]


def test_a_table_row_is_never_split_even_if_long():
    long_name = "、".join(f"第{i}地区の見守り訪問件数" for i in range(40))
    d = doc_of(["(1) 指標", "", S, "", "指標\t説明\t目標値", "A指標\tB\t1団体", f"{long_name}\t説明\t20団体"])
    row = next(l for l in d.lines if long_name in l)
    assert row == f"指標: {long_name} / 説明: 説明 / 目標値: 20団体"
    holding = [c for c in chunk_document(d) if long_name in c.text]
    assert len(holding) == 1 and row in holding[0].text.split("\n")
    assert holding[0].section == ["(1) 指標"]


def test_a_table_that_does_not_fit_moves_to_the_next_passage_with_its_caption():
    caption = "活動分野別の団体数(令和5年1月末現在)"
    rows = ["分野\t団体数\t前年度"] + [f"第{i}分野の市民活動と地域づくり\t{i}\t{i + 1}" for i in range(8)]
    body = [f"{i}番目の文として、{S}" for i in range(9)]  # ~380 characters: the table's third row does not fit
    chunks = chunk_document(doc_of(["(1) 市民活動団体", "", *body, caption, "", *rows, "", "注: 重複あり。"]))
    holding = [c for c in chunks if caption in c.text]
    assert len(holding) == 1
    lines = holding[0].text.split("\n")
    assert lines[0] == caption  # the caption opens the passage its rows are in, no sentence carried before it
    assert all(any(f"第{i}分野" in ln for ln in lines) for i in range(8))
    assert not any("分野" in c.text for c in chunks if c is not holding[0])
    assert "8番目の文" in chunks[0].text  # the text before the table keeps its own passage


def test_a_table_announced_by_the_sentence_above_it_stays_with_that_sentence():
    announce = "協働の形態は、次のものを考えています。"
    rows = ["形態\t内容"] + [f"第{i}形態の協働\t協働主体と市が共に事業を行う形態の{i}番目の説明です" for i in range(8)]
    body = [f"{i}番目の文として、{S}" for i in range(8)]
    chunks = chunk_document(doc_of(["(1) 協働の形態", "", *body, announce, "", *rows]))
    holding = next(c for c in chunks if announce in c.text)
    assert "形態: 第0形態の協働" in holding.text  # the table starts where it is announced


def test_a_table_too_long_for_one_passage_is_still_cut_between_rows():
    rows = ["地区\t訪問件数"] + [f"第{i}地区の見守り訪問\t{i}" for i in range(40)]
    chunks = chunk_document(doc_of(["(1) 見守り", "", S, "", "地区別の訪問件数", "", *rows]))
    assert len(chunks) >= 3 and all(len(c.text) <= 600 for c in chunks)
    assert sum(c.text.count("訪問件数: ") for c in chunks) == 40  # every row once, none split
    assert chunks[0].text.startswith(f"(1) 見守り\n{S}\n地区別の訪問件数")  # one sentence is too little to stand alone


def test_docx_and_html_headings_from_the_format_extractors_become_section_paths(doc_builders):
    pytest.importorskip("docx")
    pytest.importorskip("bs4")
    doc_builders.docx("plan.docx")
    doc_builders.html("page.html")
    chunks = chunk_corpus(load_corpus(doc_builders.root))
    sections = {(c.doc_id, tuple(c.section)) for c in chunks}
    assert ("plan.docx", ("第1章 計画の概要", "2 計画の位置づけ", "（1）見守り活動")) in sections
    assert ("plan.docx", ("第2章 数値目標",)) in sections
    # unnumbered HTML headings nest by their <h1>–<h3> depth
    assert ("page.html", ("あおば市空き家対策計画", "空き家の現状", "空き家バンク")) in sections


@pytest.mark.parametrize(
    "line, level",
    [
        ("第1編 本編", 0),
        ("## 第2章 このプランでどのような姿を目指すのですか", 1),
        ("第４章 協働型社会の実現に向けて", 1),
        ("5 市民が主役の地域づくり", 2),
        ("1. はじめに", 2),
        ("Ⅱ 情報の共有化により、活動の活性化を図ります", 2),
        ("基本方針Ⅰ 市民協働によるまちづくりの担い手を育てます", 2),
        ("(1) 地域コミュニティの振興", 3),
        ("基本施策1 市民みんなでまちづくりを担います", 3),
        ("個別施策 (2) 市民協働の情報発信", 5),
        ("個別施策（1）集落機能再生のための事業実施", 5),
        ("（２）職員意識の変革", 3),
        ("推進施策 (2) 活動の活性化、自主・自立のための活動支援", 3),
        ("基本方針", 4),
        ("●目標指標", 4),
        ("現状と課題", 4),
        ("施策展開", 4),
        ("① コミュニティ組織の活性化", 5),
        ("●現状", 6),
        ("ア. 少子高齢化の進行と人口減少社会の到来", 6),
        ("(ア) 集落機能再生事業の取組", 7),
        ("(工) 女性団体", 7),  # OCR's kanji 工 for the katakana エ of the item marker
        ("力. 事業者との協働", 6),
        ("(二) 地域福祉", 3),  # a kanji number, not a lookalike
        ("力を合わせて取り組みます", None),
        ("◆市民活動支援センター「さぽらんて」", 8),
        ("【ねらい】", 8),
        ("< 計画の目指すもの >", 8),
        ("〈改訂版〉", 8),
        ("## はじめに", 4),
        ("# キョードーレッド", 8),
        # body text, not headings
        ("コミュニティ組織に対する支援により、各地域における活動の活性化を図ります。", None),
        ("・市民活動ガイドブックの作成", None),
        ("指標: NPO法人の認証数 / 説明: 特定非営利活動促進法", None),
        ("2,652点", None),
        ("10.8", None),
    ],
)
def test_heading_levels(line, level):
    assert heading_level(line) == level


@pytest.mark.parametrize("line, level", [("# 計画の概要", 1), ("## 空き家の現状", 2), ("### 空き家バンク", 3), ("## 3 推進体制", 2), ("#### (1) 見守り", 3)])
def test_markdown_depth_counts_only_where_the_marks_are_real_structure(line, level):
    assert heading_level(line, md_depth=True) == level

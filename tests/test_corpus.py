"""Reading and cleaning plan documents (issue 2, items 2–4).

Each cleaning rule is checked on the *real* text of the bundled documents, plus small
synthetic inputs for the cases the bundled files do not contain (encodings, broken files,
genuine repetition that must survive).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from assistant import corpus
from assistant.corpus import (
    SkipFile,
    collapse_repeats,
    decode_bytes,
    load_corpus,
    read_catalog,
    read_document,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
IDS = {
    "000": "000_8ce8a70ed26a76ac.txt",
    "001": "001_7b309af684c72523.txt",
    "002": "002_0b4ac2dc90b9ad97.txt",
    "003": "003_dfaa35240c5397ba.txt",
    "004": "004_0697b41b2b272361.txt",
}


@pytest.fixture(scope="module")
def docs():
    return {d.doc_id: d for d in load_corpus(CORPUS)}


def doc(docs, short):
    return docs[IDS[short]]


def raw_lines(short: str) -> list[str]:
    return (CORPUS / IDS[short]).read_text(encoding="utf-8").split("\n")


# --------------------------------------------------------------------------------------
# Loading the bundled corpus and its catalog
# --------------------------------------------------------------------------------------


def test_bundled_corpus_loads_all_five_documents_sorted_by_id(docs):
    assert list(docs) == sorted(IDS.values())


@pytest.mark.parametrize(
    "short, title, municipality, date",
    [
        ("001", "山口市協働推進プラン〈改訂版〉", "山口市", "平成25年3月"),
        ("002", "第2次ながと協働アクションプラン〈詳細版〉", "長門市", "平成29年3月"),
        ("000", "山陽小野田市総合計画 基本計画 第2章 市民が主役のまちづくり", "山陽小野田市", ""),
        ("003", "地区行政の推進に関する計画(抜粋)", "不明", ""),
    ],
)
def test_catalog_gives_title_municipality_and_date(docs, short, title, municipality, date):
    d = doc(docs, short)
    assert (d.title, d.municipality, d.meta["date"]) == (title, municipality, date)
    assert d.meta["kind"] and d.meta["publisher"]


def test_every_catalog_entry_names_an_existing_document_and_has_the_required_fields():
    catalog = read_catalog(CORPUS)
    assert set(catalog) == set(IDS.values())
    for entry in catalog.values():
        assert {"title", "municipality", "publisher", "kind"} <= set(entry)


def test_without_catalog_the_title_is_the_first_heading_and_the_city_unknown(tmp_path):
    shutil.copy(CORPUS / IDS["001"], tmp_path / IDS["001"])
    (d,) = load_corpus(tmp_path)
    assert d.title == "山口市協働推進プラン"
    assert d.municipality == "不明"


def test_meta_sha256_is_the_hash_of_the_raw_bytes(docs):
    for doc_id, d in docs.items():
        assert d.meta["sha256"] == hashlib.sha256((CORPUS / doc_id).read_bytes()).hexdigest()


def test_cleaned_lines_point_back_to_their_source_lines(docs):
    d = doc(docs, "000")
    assert len(d.line_numbers) == len(d.lines)
    src = raw_lines("000")
    row = next(i for i, l in enumerate(d.lines) if "NPO法人の認証数" in l)
    assert "NPO法人の認証数" in src[d.line_numbers[row] - 1]
    # every non-table line's text occurs (whitespace aside) in the source line it points to
    tables = set(d.meta["table_lines"])
    for i, line in enumerate(d.lines):
        if i not in tables and d.meta["line_ends"][i] == d.line_numbers[i]:
            assert re.sub(r"\s", "", line)[:8] in re.sub(r"\s", "", src[d.line_numbers[i] - 1]), line


# --------------------------------------------------------------------------------------
# Encodings and broken files
# --------------------------------------------------------------------------------------

SHORT_TEXTS = [
    "協働のまちづくり",
    "市民活動支援センター",
    "さぽらんて",
    "第２章　市民が主役のまちづくり\n（１）地域コミュニティの振興",
    "ｶﾀｶﾅ半角も含む計画書",  # half-width katakana that really is in the text
    "山口市",
]


@pytest.mark.parametrize("text", SHORT_TEXTS)
@pytest.mark.parametrize("encoding", ["cp932", "euc_jp"])
def test_short_japanese_legacy_encodings_are_detected(text, encoding):
    data = text.encode(encoding)
    decoded, enc = decode_bytes(data)
    assert decoded == text
    if data != text.encode("utf-8"):
        assert enc == encoding


@pytest.mark.parametrize("prefix, expected", [(b"", "utf-8"), (b"\xef\xbb\xbf", "utf-8-sig")])
def test_utf8_with_and_without_bom(prefix, expected):
    decoded, enc = decode_bytes(prefix + "協働推進プラン".encode("utf-8"))
    assert (decoded, enc) == ("協働推進プラン", expected)


def test_a_real_document_reads_the_same_from_cp932_and_euc_jp_bytes(tmp_path):
    text = (CORPUS / IDS["002"]).read_text(encoding="utf-8")
    for enc in ("cp932", "euc_jp"):
        data = text.encode(enc, errors="replace")  # (a few symbols such as 「～」 do not exist in EUC-JP)
        p = tmp_path / f"plan_{enc}.txt"
        p.write_bytes(data)
        ref = tmp_path / f"ref_{enc}.txt"
        ref.write_text(data.decode(enc), encoding="utf-8")
        d = read_document(p)
        assert d.meta["encoding"] == enc
        assert d.lines == read_document(ref).lines


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"  \n\n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_empty_and_binary_bytes_are_refused_with_a_reason(data, reason):
    with pytest.raises(SkipFile, match=reason):
        decode_bytes(data)


def test_broken_files_in_a_corpus_dir_are_skipped_with_a_warning_and_the_rest_loads(tmp_path, caplog):
    shutil.copy(CORPUS / IDS["004"], tmp_path / IDS["004"])
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "notes.md").write_text("# 議事メモ\n\n地域づくり協議会の会議録です。", encoding="utf-8")
    (tmp_path / "ignored.csv").write_text("a,b\n1,2", encoding="utf-8")
    skipped: list = []
    with caplog.at_level(logging.WARNING, logger="assistant.corpus"):
        loaded = load_corpus(tmp_path, skipped=skipped)
    assert [d.doc_id for d in loaded] == [IDS["004"], "notes.md"]
    assert {Path(s.path).name: s.reason.split()[0] for s in skipped} == {"empty.txt": "empty", "image.txt": "binary"}
    assert "empty.txt" in caplog.text and "image.txt" in caplog.text


def test_an_extractor_error_skips_only_that_file(tmp_path, monkeypatch):
    def broken(path):
        raise ValueError("encrypted PDF")

    monkeypatch.setitem(corpus.EXTRACTORS, ".pdf", broken)
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "b.txt").write_text("# 計画\n本文です。", encoding="utf-8")
    skipped: list = []
    assert [d.doc_id for d in load_corpus(tmp_path, skipped=skipped)] == ["b.txt"]
    assert "encrypted PDF" in skipped[0].reason


def test_extractors_may_return_a_tuple_or_an_object_with_lines_and_pages(tmp_path, monkeypatch):
    class Extracted:
        lines = ["# 年次報告", "第1章 概要", "本市の協働事業は年々増えています。"]
        pages = [1, 1, 2]
        title = "年次報告書"

    monkeypatch.setitem(corpus.EXTRACTORS, ".x1", lambda p: (["# 題", "本文です。"], None))
    monkeypatch.setitem(corpus.EXTRACTORS, ".x2", lambda p: Extracted())
    (tmp_path / "a.x1").write_bytes(b"x")
    (tmp_path / "b.x2").write_bytes(b"x")
    a, b = load_corpus(tmp_path)
    assert (a.title, a.lines, a.pages) == ("題", ["# 題", "本文です。"], None)
    assert (b.title, b.pages) == ("年次報告書", [1, 1, 2])


# --------------------------------------------------------------------------------------
# JSONL bulk import
# --------------------------------------------------------------------------------------


def test_jsonl_lines_become_documents_and_bad_lines_are_skipped(tmp_path, caplog):
    lines = [
        json.dumps({"id": "kyoto-001", "title": "協働指針", "text": "# 協働指針\n\n市民と行政が協働します。", "municipality": "京都市"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "x", "title": "本文なし"}),
        "",
        json.dumps({"id": "kobe-002", "text": "第1章 総則\n\nこの計画は神戸の協働を定める。"}, ensure_ascii=False),
    ]
    (tmp_path / "bulk.jsonl").write_text("\n".join(lines), encoding="utf-8")
    skipped: list = []
    with caplog.at_level(logging.WARNING, logger="assistant.corpus"):
        loaded = load_corpus(tmp_path, skipped=skipped)
    assert [(d.doc_id, d.title, d.municipality) for d in loaded] == [
        ("kobe-002", "第1章 総則", "不明"),
        ("kyoto-001", "協働指針", "京都市"),
    ]
    assert [s.path for s in skipped] == ["bulk.jsonl:2", "bulk.jsonl:3"]
    assert "bulk.jsonl:2" in caplog.text


# --------------------------------------------------------------------------------------
# Cleaning: repetition artifacts (004)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_line, cleaned",
    [
        (8, "第４章 協働型社会の実現に向けて"),
        (12, "１ 協働を担う人材育成"),
        (24, "（１）市民意識の変革"),
        (106, "支援のあり方を検討します。"),
        (180, "地域連携組織の設立・運営の支援に努めていきます。（参考資料１８Ｐ～２０Ｐ）"),
    ],
)
def test_extractor_repetition_in_004_is_collapsed(source_line, cleaned):
    assert " ".join(collapse_repeats(raw_lines("004")[source_line - 1]).split()) == cleaned


@pytest.mark.parametrize(
    "genuine",
    ["すもももももももものうち", "もっともっと", "一人ひとり", "ひとりひとりが主役", "まだまだ", "ますます増える", "1111", "ドンドン"],
)
def test_genuine_repetition_is_not_touched(genuine):
    assert collapse_repeats(genuine) == genuine


def test_004_reads_as_plain_sentences(docs):
    d = doc(docs, "004")
    text = "\n".join(d.lines)
    assert "第４章第４章" not in text
    assert not re.search(r"(.{4,})\1\1", text)
    assert d.lines[0] == "第４章 協働型社会の実現に向けて"
    # a sentence that the PDF broke over two lines is whole again
    assert "協働のまちづくりを推進していく主体は、市民と行政であり、それぞれが役割を果たしていく必要があります。" in text
    assert "市民一人ひとりが、自分たちの住む地域" in text  # genuine 一人ひとり kept


# --------------------------------------------------------------------------------------
# Cleaning: side tabs and captions (000)
# --------------------------------------------------------------------------------------


def test_side_tab_labels_of_000_are_gone(docs):
    lines = doc(docs, "000").lines
    assert not [l for l in lines if len(l.strip()) <= 2]
    for label in ("序論", "基本構想", "プロジェクト戦略", "基本計画", "第二章", "第一章"):
        assert label not in lines
    # the tab's chapter caption only survives once, merged into the real chapter heading
    assert lines.count("市民が主役のまちづくり") <= 1


def test_photo_captions_of_000_are_gone_but_headings_after_them_stay(docs):
    lines = doc(docs, "000").lines
    for caption in ("山陽小野田市民まつり", "病院ボランティア", "人権啓発ポスター", "パスポートセンター", "山口県立おのだサッカー交流公園"):
        assert caption not in lines
    assert lines.count("5 市民が主役の地域づくり") == 3  # the repeated page heading is a heading, not a tab


def test_side_tab_rules_are_general(tmp_path):
    text = "\n".join(
        [
            "1 はじめに", "", "本計画は市民協働の指針です。", "", "",
            "", "総", "論", "", "各", "論", "", "資", "料", "",
            "2 計画の期間", "", "令和7年度から5年間とします。", "", "総", "論", "", "各", "論", "",
            "3 推進体制", "", "協働推進課が担当します。",
        ]
    )
    (tmp_path / "plan.txt").write_text(text, encoding="utf-8")
    (d,) = load_corpus(tmp_path)
    assert d.lines == ["1 はじめに", "本計画は市民協働の指針です。", "2 計画の期間", "令和7年度から5年間とします。", "3 推進体制", "協働推進課が担当します。"]


# --------------------------------------------------------------------------------------
# Cleaning: HTML fragments (001, 003)
# --------------------------------------------------------------------------------------

TAG_RE = re.compile(r"</?(?:p|ul|ol|li|table|tr|td|th|b|i|u|del|sup|sub|span|div|br|strong|em)\b[^>]*>", re.I)


@pytest.mark.parametrize("short", ["001", "003"])
def test_html_fragments_become_plain_text(docs, short):
    text = "\n".join(doc(docs, short).lines)
    assert not TAG_RE.search(text)


def test_html_content_is_kept(docs):
    t3 = "\n".join(doc(docs, "003").lines)
    assert "地区行政課の役割 地域政策の企画調整、地域で実施する施策事業、地域予算、地域広聴に関すること" in t3
    assert "< 地域まちづくり組織との連携 >" in t3  # an angle-bracket label is text, not a tag
    t1 = "\n".join(doc(docs, "001").lines)
    assert "Ⅲ 人づくりを通じて、協働 の意識醸成を図ります" in t1
    assert "<改訂版>" in t1


def test_html_to_text_keeps_list_items_and_cells_apart():
    assert corpus.html_to_text("<ul><li>見守り</li><li>声かけ</li></ul><p>本文&amp;注記</p>") == ["見守り", "声かけ", "本文&注記"]


# --------------------------------------------------------------------------------------
# Cleaning: tables (000, 001)
# --------------------------------------------------------------------------------------


def test_000_indicator_rows_carry_their_two_row_headers(docs):
    lines = doc(docs, "000").lines
    row = next(l for l in lines if l.startswith("指標: NPO法人の認証数"))
    assert row == (
        "指標: NPO法人の認証数 / 説明: 特定非営利活動促進法により県が認証を行った法人数 / 基準値 基準年: H19.3"
        " / 基準値 数値: 11団体 / 現状値 (H23年度): 13団体 / 目標値 (H29年度): 20団体"
    )


def test_001_target_table_with_parenthesised_second_header_row(docs):
    lines = doc(docs, "001").lines
    assert "基準値 (H18年度): 37.5 / H23年度 実績: 37.2 / 目標値 (H24年度): 45.0 / 目標値 (H29年度): 50.0" in lines


def test_001_wrapped_table_cells_are_rejoined_into_one_record(docs):
    lines = doc(docs, "001").lines
    row = next(l for l in lines if l.startswith("類型: ①"))
    assert row.startswith("類型: ①地域ごとにきめ細やかな対応が必要な分野 / 協働による効果: 市民の柔軟性や機動性を活かし、一人ひとりの市民")


def test_a_footnote_is_a_line_of_its_own_and_never_takes_the_next_note_or_heading(docs):
    # 002's 「注2) …情報提供を行う制度」 ends in a noun with the next note after a blank line: the wrap rule glued
    # 「…制度注3) 中間支援組織…組織基本施策2 まちづくりを担う…」 into one line
    lines = doc(docs, "002").lines
    note2 = next(l for l in lines if l.startswith("注2) 総合サポート制度"))
    assert note2.endswith("情報提供を行う制度")
    assert any(l.startswith("注3) 中間支援組織") and l.endswith("コーディネートする組織") for l in lines)
    assert "基本施策2 まちづくりを担う地域コミュニティを創造・支援します" in lines
    # a long line ending mid-sentence before a blank line is still re-joined when it is no note
    joined = corpus.clean_lines(["市民活動団体の変化やニーズを把握し、人材、資金、情報などの資源を提供する組織", "", "として活動します。"])
    assert [l.text for l in joined if l.text] == ["市民活動団体の変化やニーズを把握し、人材、資金、情報などの資源を提供する組織として活動します。"]


def test_table_rows_without_header_keep_their_cells():
    lines = corpus.clean_lines(["目的\t地域活動や市民活\t動の活発化のため、\t拠点の整備を進めます。", "年次計画\tH25\tH26\tH27"])
    assert [l.text for l in lines] == ["目的: 地域活動や市民活動の活発化のため、拠点の整備を進めます。", "年次計画: H25 / H26 / H27"]


def test_a_table_of_label_number_pairs_side_by_side_labels_each_number_with_its_own_label(docs):
    # 002's 「活動分野別市内NPO法人数」 prints two 分野/法人数 column pairs per row
    lines = doc(docs, "002").lines
    assert "災害救援: 2 / 消費者保護: 1" in lines
    assert "地域安全: 2 / 活動団体の援助等: 14" in lines
    assert "人権擁護・平和推進: 4" in lines


@pytest.mark.parametrize("rows, expected", [
    # one row of pairs is not enough to tell pairs from a label with several values
    (["人口\t100\t世帯\t40"], ["人口: 100 / 世帯 / 40"]),
    # a header row of labels keeps the header reading
    (["分野\t件数\t分野\t件数", "保健\t15\t国際\t2", "教育\t10\t環境\t0"],
     ["分野 / 件数 / 分野 / 件数", "分野: 保健 / 件数: 15 / 分野: 国際 / 件数: 2", "分野: 教育 / 件数: 10 / 分野: 環境 / 件数: 0"]),
    # numbers with a counter, and a last row with one pair
    (["A地区\t10人\tB地区\t12人", "C地区\t3人\tD地区\t4人", "E地区\t5人\t\t"],
     ["A地区: 10人 / B地区: 12人", "C地区: 3人 / D地区: 4人", "E地区: 5人"]),
])
def test_side_by_side_pairs_only_when_every_row_is_label_number_pairs(rows, expected):
    assert [l.text for l in corpus.clean_lines(rows)] == expected


def test_a_table_with_text_values_is_not_read_as_pairs():
    texts = [l.text for l in corpus.clean_lines(["目的\t拠点を整備する\t期間\t5年間", "手段\t補助金\t対象\t自治会"])]
    assert not any("期間: 5年間" in t or "対象: 自治会" in t for t in texts)


# --------------------------------------------------------------------------------------
# Cleaning: tables of contents
# --------------------------------------------------------------------------------------

TOC_RE = re.compile(r"(?:[・･]{3,}|[…‥]{2,}|-{3,}|\.{4,})\s*\d*\s*$|\t\s*\d{1,3}\s*$")


def test_no_table_of_contents_line_survives(docs):
    for d in docs.values():
        assert not [l for l in d.lines if TOC_RE.search(l)], d.doc_id
    assert not any(l.startswith("(1)地域コミュニティの振興") for l in doc(docs, "000").lines)
    assert "1. はじめに" not in doc(docs, "002").lines
    assert "【目 次】" not in doc(docs, "002").lines


def test_toc_removal_keeps_the_chapter_it_precedes(docs):
    lines = doc(docs, "000").lines
    assert lines[:3] == ["第2章", "市民が主役のまちづくり", "5 市民が主役の地域づくり"]

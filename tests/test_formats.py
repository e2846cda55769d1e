"""PDF / Word / HTML extraction on real files built during the test run (see conftest.DocBuilders)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pdfplumber")
pytest.importorskip("docx")
pytest.importorskip("reportlab")
pytest.importorskip("bs4")

from assistant.formats import (  # noqa: E402
    EXTRACTORS,
    Extracted,
    FormatError,
    ScannedPdfError,
    extract,
    extract_docx,
    extract_html,
    extract_pdf,
)

PAGE1 = [
    "市民と行政が対等な立場で協働する仕組みをつくります。",
    "地域づくり協議会の設立を全地区で支援します。",
    "この計画は定期的に点検します。",
]
PAGE2 = [
    "市民活動支援センターの開館時間は午後九時までとします。",
    "協働事業提案制度の採択件数は年五件を目標とします。",
    "この計画は定期的に点検します。",
]
BOLD = {1: "第3章 協働の推進体制", 2: "第4章 市民活動の支援"}


@pytest.fixture
def two_page_pdf(doc_builders):
    return doc_builders.pdf("plan.pdf", [PAGE1, PAGE2], bold=BOLD, title="第2次あおば市協働推進プラン")


def _page_of(ex: Extracted, needle: str) -> list[int | None]:
    return [p for line, p in zip(ex.lines, ex.pages) if needle in line]


# ---- PDF --------------------------------------------------------------------------------


def test_pdf_keeps_page_numbers_and_a_fact_only_on_page_2_is_on_page_2(two_page_pdf):
    ex = extract_pdf(two_page_pdf)
    assert ex.pages is not None and len(ex.pages) == len(ex.lines)
    assert _page_of(ex, "午後九時") == [2]
    assert _page_of(ex, "地域づくり協議会") == [1]
    assert ex.headings is None  # PDF does not know its headings; the chunker decides


def test_pdf_overprinted_bold_text_appears_once(two_page_pdf):
    ex = extract_pdf(two_page_pdf)
    assert "第3章 協働の推進体制" in ex.lines
    assert "第4章 市民活動の支援" in ex.lines
    text = "\n".join(ex.lines)
    assert "第3章第3章" not in text and "第第" not in text and "協協" not in text
    assert text.count("協働の推進体制") == 1


def test_pdf_running_header_and_page_numbers_are_dropped(two_page_pdf):
    ex = extract_pdf(two_page_pdf)
    assert not any("第2次あおば市協働推進プラン" in line for line in ex.lines)
    assert not any(re.fullmatch(r"-\s*\d+\s*-", line) for line in ex.lines)


def test_pdf_repeated_body_line_is_not_mistaken_for_a_running_header(two_page_pdf):
    # the same sentence on every page, but in the body, not in the page margin
    ex = extract_pdf(two_page_pdf)
    assert _page_of(ex, "この計画は定期的に点検します。") == [1, 2]


def test_pdf_vertical_side_tab_is_dropped_even_on_a_body_baseline(two_page_pdf):
    ex = extract_pdf(two_page_pdf)
    # the tab's first glyph 「基」 shares its baseline with the second body line
    assert "地域づくり協議会の設立を全地区で支援します。" in ex.lines
    assert "協働事業提案制度の採択件数は年五件を目標とします。" in ex.lines
    assert not any(len(line.strip()) == 1 for line in ex.lines)
    assert not any(line.endswith(("基", "本", "計", "画")) for line in ex.lines)


def test_pdf_title_from_metadata(two_page_pdf):
    assert extract_pdf(two_page_pdf).title == "第2次あおば市協働推進プラン"


def test_pdf_running_header_is_kept_when_the_document_has_one_page(doc_builders):
    # one page: nothing "repeats", so nothing may be thrown away as a running header
    p = doc_builders.pdf("one.pdf", [PAGE1], header="あおば市の協働に関する基本的な考え方")
    assert "あおば市の協働に関する基本的な考え方" in extract_pdf(p).lines


def test_pdf_without_text_layer_is_reported_as_scanned(doc_builders):
    p = doc_builders.image_pdf("scan.pdf")
    with pytest.raises(ScannedPdfError) as e:
        extract_pdf(p)
    msg = str(e.value)
    assert "scan.pdf" in msg and "scanned" in msg and "no text layer" in msg and "OCR" in msg
    assert isinstance(e.value, FormatError)


def test_pdf_with_some_image_only_pages_warns_about_them(doc_builders):
    p = doc_builders.pdf("mixed.pdf", [PAGE1, [], PAGE2], image_only_pages={2})
    ex = extract_pdf(p)
    assert _page_of(ex, "午後九時") == [3]
    assert ex.warnings and "2" in ex.warnings[0] and "text layer" in ex.warnings[0]


def test_corrupt_pdf_is_a_format_error_naming_the_file(tmp_path):
    p = tmp_path / "broken.pdf"
    p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\nthis is not a pdf body")
    with pytest.raises(FormatError) as e:
        extract_pdf(p)
    assert not isinstance(e.value, ScannedPdfError)
    assert str(e.value).startswith("broken.pdf: ") and "PDF" in str(e.value)


def test_truncated_pdf_is_a_format_error(two_page_pdf, tmp_path):
    data = two_page_pdf.read_bytes()
    p = tmp_path / "cut.pdf"
    p.write_bytes(data[: len(data) // 3])
    try:
        ex = extract_pdf(p)
    except FormatError as e:
        assert "cut.pdf" in str(e)
    else:  # pdfminer may recover what is there; then it must be real text, never empty
        assert ex.lines and all(line.strip() for line in ex.lines)


def test_encrypted_pdf_is_rejected_with_the_reason(doc_builders):
    p = doc_builders.pdf("locked.pdf", [PAGE1], encrypt="secret")
    with pytest.raises(FormatError) as e:
        extract_pdf(p)
    assert "password" in str(e.value).lower() or "encrypt" in str(e.value).lower()


# ---- DOCX -------------------------------------------------------------------------------


def test_docx_heading_styles_become_headings_with_levels(doc_builders):
    ex = extract_docx(doc_builders.docx("fukushi.docx"))
    levels = {text: level for _, level, text in ex.headings}
    assert levels["第1章 計画の概要"] == 1
    assert levels["1 計画の期間"] == 2
    assert levels["2 計画の位置づけ"] == 2  # style named 「見出し 2」
    assert levels["（1）見守り活動"] == 3  # custom style based on Heading 3
    for idx, _level, text in ex.headings:
        assert ex.lines[idx] == text
    assert "本計画は社会福祉法第107条に基づく市町村地域福祉計画です。" not in levels
    assert ex.pages is None
    assert ex.title == "あおば市地域福祉計画"


def test_docx_table_rows_are_labelled_with_the_header(doc_builders):
    ex = extract_docx(doc_builders.docx("fukushi.docx"))
    assert "指標: 見守り協力員の人数 / 現状値: 120人 / 目標値: 200人" in ex.lines
    assert "指標: ふれあいサロンの数 / 現状値: 35か所 / 目標値: 50か所" in ex.lines
    assert not any(line.startswith("指標 ") or line == "指標" for line in ex.lines)


def test_docx_page_header_is_not_body_text(doc_builders):
    ex = extract_docx(doc_builders.docx("fukushi.docx"))
    assert not any("ページヘッダー" in line for line in ex.lines)


def test_docx_tuple_contract_marks_headings_as_markdown(doc_builders):
    lines, pages = extract_docx(doc_builders.docx("fukushi.docx"))
    assert pages is None
    assert "# 第1章 計画の概要" in lines and "## 1 計画の期間" in lines and "### （1）見守り活動" in lines
    assert "計画期間は令和7年度から令和11年度までの5年間とします。" in lines


def test_corrupt_docx_is_a_format_error(tmp_path):
    p = tmp_path / "broken.docx"
    p.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(FormatError) as e:
        extract_docx(p)
    assert "broken.docx" in str(e.value) and ".docx" in str(e.value)


# ---- HTML -------------------------------------------------------------------------------


def _check_city_page(ex: Extracted, kanji: str = "髙") -> None:
    text = "\n".join(ex.lines)
    for boiler in ("くらし・手続き", "ごみ・リサイクル", "トップページ", "関連情報", "固定資産税",
                   "Copyright", "電話 0123", "メニューを開く", "font-family", "公式ホームページ"):
        assert boiler not in text, boiler
    assert "本計画は、市内の空き家の適切な管理と利活用を促進するために策定したものです。" in ex.lines
    assert f"令和5年の調査では、市内の空き家は1,234戸で、{kanji}橋地区と①中央地区に多く見られます。" in ex.lines
    assert "施策: 空き家改修補助金 / 担当課: 住宅政策課" in ex.lines
    assert [(lvl, t) for _, lvl, t in ex.headings] == [
        (1, "あおば市空き家対策計画"), (2, "空き家の現状"), (3, "空き家バンク")]
    assert ex.title == "あおば市空き家対策計画"
    assert ex.pages is None


def test_html_main_content_only_with_headings(doc_builders):
    _check_city_page(extract_html(doc_builders.html("akiya.html")))


def test_html_without_a_main_container_drops_furniture_by_its_class_and_id(doc_builders):
    # old CMS pages: everything is a <div> directly in <body>
    p = doc_builders.html("akiya_divs.html", replace={'<div id="main">': "<div>", '<nav class="localnav">': '<div class="localnav">', "</ul></nav>": "</ul></div>", '<aside class="side">': '<div class="side">', "</aside>": "</div>"})
    _check_city_page(extract_html(p))


def test_html_shift_jis_page_declared_in_meta(doc_builders):
    # Shift_JIS as browsers read it (cp932): ① and 髙 are not in strict Shift_JIS
    _check_city_page(extract_html(doc_builders.html("akiya_sjis.htm", encoding="cp932", charset_label="Shift_JIS")))


def test_html_shift_jis_declared_with_http_equiv(doc_builders):
    p = doc_builders.html("akiya_equiv.html", encoding="cp932", charset_label="Shift_JIS",
                          replace={'<meta charset="Shift_JIS">': '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'})
    _check_city_page(extract_html(p))


def test_html_shift_jis_page_without_declaration_is_detected(doc_builders):
    _check_city_page(extract_html(doc_builders.html("akiya_nodecl.html", encoding="cp932", declare=False)))


def test_html_euc_jp_page(doc_builders):
    # 髙 (an IBM extension) has no EUC code; ① exists only in the JIS X 0213 variant, so the
    # page decodes only via the wider fallback of its declared EUC-JP
    p = doc_builders.html("akiya_euc.html", encoding="euc_jis_2004", charset_label="EUC-JP", replace={"髙": "高"})
    _check_city_page(extract_html(p), kanji="高")


def test_html5_semantic_page(tmp_path):
    p = tmp_path / "plan.html"
    p.write_text(
        "<html><head><meta charset='utf-8'><title>t</title></head><body>"
        "<header><h1>サイト名</h1></header><nav>ナビゲーション</nav>"
        "<main><article><header><h1>公共交通計画</h1></header>"
        "<p>デマンド交通を全地区に導入します。</p>"
        "<div style='display:none'>非表示の文</div></article></main>"
        "<footer>フッター</footer></body></html>",
        encoding="utf-8",
    )
    ex = extract_html(p)
    assert ex.lines == ["公共交通計画", "デマンド交通を全地区に導入します。"]
    assert ex.headings == [(0, 1, "公共交通計画")]


def test_binary_file_named_html_is_a_format_error(tmp_path):
    p = tmp_path / "x.html"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FormatError) as e:
        extract_html(p)
    assert "x.html" in str(e.value)


# ---- dispatch ---------------------------------------------------------------------------


def test_extractors_table_and_dispatch(two_page_pdf, tmp_path):
    assert set(EXTRACTORS) == {".pdf", ".docx", ".html", ".htm"}
    upper = tmp_path / "PLAN.PDF"
    upper.write_bytes(two_page_pdf.read_bytes())
    assert _page_of(extract(upper), "午後九時") == [2]
    with pytest.raises(FormatError, match="unsupported"):
        extract(tmp_path / "a.xlsx")


def test_html_heading_inside_a_main_header_block_is_kept(tmp_path):
    p = tmp_path / "cms.html"
    p.write_text(
        "<html><head><meta charset='utf-8'></head><body><div id='header'><p>あおば市</p></div>"
        "<div id='contents'><div class='contents-header'><h1>地域防災計画</h1></div>"
        "<div class='breadcrumb'>ホーム &gt; 防災</div><p>避難所は市内に42か所あります。</p></div></body></html>",
        encoding="utf-8",
    )
    ex = extract_html(p)
    assert ex.lines == ["地域防災計画", "避難所は市内に42か所あります。"]
    assert ex.title == "地域防災計画"


def test_extraction_cache_hits_by_content_and_returns_independent_copies(two_page_pdf, tmp_path):
    import assistant.formats as F

    F.clear_cache()
    calls = []
    real = F.extract_pdf.uncached
    wrapped = F._cached(lambda p: (calls.append(p), real(p))[1])
    first = wrapped(two_page_pdf)
    copy = tmp_path / "copy-in-corpus.pdf"
    copy.write_bytes(two_page_pdf.read_bytes())
    first.lines.clear()
    second = wrapped(copy)
    assert len(calls) == 1, "same bytes under another name must not be extracted again"
    assert _page_of(second, "午後九時") == [2]
    copy.write_bytes(two_page_pdf.read_bytes() + b"\n%changed\n")
    wrapped(copy)
    assert len(calls) == 2, "changed bytes are extracted again"


def test_pdf_repeated_label_in_the_body_flow_is_not_a_running_header(doc_builders):
    """「現状と課題」 at the top of every policy page, but where the text above puts it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    doc_builders._fonts()
    path = doc_builders.root / "policies.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    w, h = A4
    for pno in range(1, 5):
        c.setFont("HeiseiMin-W3", 9)
        c.drawString(56, h - 30, "第2次あおば市総合計画 基本計画")
        c.setFont("HeiseiKakuGo-W5", 12)
        y = h - 60 - 8 * pno  # where the (unshown) material above it ends
        c.drawString(72, y, "現状と課題")
        c.setFont("HeiseiMin-W3", 10.5)
        c.drawString(72, y - 30, f"施策{pno}の現状として、参加者は年々増えています。")
        c.drawString(72, y - 48, f"施策{pno}の課題は担い手の確保です。")
        c.drawCentredString(w / 2, 30, str(pno))
        c.showPage()
    c.save()
    ex = extract_pdf(path)
    assert ex.lines.count("現状と課題") == 4
    assert not any("総合計画 基本計画" in line for line in ex.lines)
    assert not any(line.strip().isdigit() for line in ex.lines)

"""Shared test fixtures. Each section belongs to one area; add, don't rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest


# --------------------------------------------------------------------------------------
# Real PDF / DOCX / HTML files built during the test run (formats + ingest tests).
# They are made with the same libraries cities' files come from in spirit: reportlab with
# the built-in Japanese CID fonts (no font files needed), python-docx, hand-written HTML.


class DocBuilders:
    """Factories for fixture documents in a temporary directory."""

    def __init__(self, root: Path):
        self.root = root

    # ---- PDF --------------------------------------------------------------------------

    @staticmethod
    def _fonts() -> None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        for name in ("HeiseiKakuGo-W5", "HeiseiMin-W3"):
            try:
                pdfmetrics.getFont(name)
            except KeyError:
                pdfmetrics.registerFont(UnicodeCIDFont(name))

    def pdf(
        self,
        name: str,
        pages: list[list[str]],
        *,
        header: str | None = "第2次あおば市協働推進プラン",
        page_numbers: bool = True,
        bold: dict[int, str] | None = None,
        side_tab: str | None = "基本計画",
        side_tab_baseline_line: int | None = 1,
        overprint: int = 4,
        title: str | None = None,
        image_only_pages: set[int] = frozenset(),
        encrypt: str | None = None,
    ) -> Path:
        """A Japanese plan-like PDF.

        ``pages[i]`` are the body lines of page i+1. ``bold[p]`` is a heading drawn
        ``overprint`` times with sub-point offsets on page p (fake bold, as in the 4×
        repeated text of corpus 004). The running ``header`` sits in the top margin of every
        page, 「- n -」 in the bottom margin; ``side_tab`` is set vertically at the right
        edge, its first glyph on the same baseline as body line ``side_tab_baseline_line``.
        """
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen import canvas

        self._fonts()
        path = self.root / name
        kw = {}
        if encrypt:
            from reportlab.lib.pdfencrypt import StandardEncryption

            kw["encrypt"] = StandardEncryption(encrypt, canPrint=1)
        c = canvas.Canvas(str(path), pagesize=A4, **kw)
        if title:
            c.setTitle(title)
        w, h = A4
        for pno, lines in enumerate(pages, start=1):
            if pno in image_only_pages:
                img = self.root / "_blank.png"
                if not img.exists():
                    from PIL import Image

                    Image.new("RGB", (120, 80), (200, 200, 200)).save(img)
                c.drawImage(str(img), 72, h / 2, 300, 200)
                c.showPage()
                continue
            if header:
                c.setFont("HeiseiMin-W3", 9)
                c.drawString(56, h - 36, header)
            y = h - 110
            if bold and pno in bold:
                c.setFont("HeiseiKakuGo-W5", 14)
                offsets = [(0, 0), (0.25, 0), (0, 0.25), (0.25, 0.25)][: max(1, overprint)]
                for dx, dy in offsets:
                    c.drawString(72 + dx, y + dy, bold[pno])
                y -= 30
            c.setFont("HeiseiMin-W3", 10.5)
            baselines = []
            for line in lines:
                c.drawString(72, y, line)
                baselines.append(y)
                y -= 18
            if side_tab:
                c.setFont("HeiseiKakuGo-W5", 11)
                ty = baselines[side_tab_baseline_line] if side_tab_baseline_line is not None and side_tab_baseline_line < len(baselines) else h / 2
                for ch in side_tab:
                    c.drawString(w - 36, ty, ch)
                    ty -= 14
            if page_numbers:
                c.setFont("HeiseiMin-W3", 9)
                c.drawCentredString(w / 2, 30, f"- {pno} -")
            c.showPage()
        c.save()
        return path

    def image_pdf(self, name: str, n_pages: int = 2) -> Path:
        """A 'scanned' PDF: every page is only an image, no text layer."""
        return self.pdf(name, [[]] * n_pages, header=None, page_numbers=False, side_tab=None,
                        image_only_pages=set(range(1, n_pages + 1)))

    # ---- DOCX -------------------------------------------------------------------------

    def docx(self, name: str, *, with_table: bool = True, title: str | None = "あおば市地域福祉計画") -> Path:
        """A Word plan with built-in Heading styles, a style named 「見出し 2」, a custom style
        based on Heading 3, a page header, and a table with a header row."""
        import docx
        from docx.enum.style import WD_STYLE_TYPE

        d = docx.Document()
        if title:
            d.core_properties.title = title
        d.sections[0].header.paragraphs[0].text = "ページヘッダー（本文ではない）"
        d.add_heading("第1章 計画の概要", level=1)
        d.add_paragraph("本計画は、誰もが住み慣れた地域で安心して暮らせるまちを目指すものです。")
        d.add_heading("1 計画の期間", level=2)
        d.add_paragraph("計画期間は令和7年度から令和11年度までの5年間とします。")
        ja = d.styles.add_style("見出し 2", WD_STYLE_TYPE.PARAGRAPH)
        d.add_paragraph("2 計画の位置づけ", style=ja)
        d.add_paragraph("本計画は社会福祉法第107条に基づく市町村地域福祉計画です。")
        custom = d.styles.add_style("章内小見出し", WD_STYLE_TYPE.PARAGRAPH)
        custom.base_style = d.styles["Heading 3"]
        d.add_paragraph("（1）見守り活動", style=custom)
        d.add_paragraph("民生委員と自治会が連携して高齢者の見守り訪問を行います。")
        if with_table:
            d.add_heading("第2章 数値目標", level=1)
            rows = [
                ("指標", "現状値", "目標値"),
                ("見守り協力員の人数", "120人", "200人"),
                ("ふれあいサロンの数", "35か所", "50か所"),
            ]
            t = d.add_table(rows=len(rows), cols=3)
            for i, row in enumerate(rows):
                for j, v in enumerate(row):
                    t.cell(i, j).text = v
        path = self.root / name
        d.save(str(path))
        return path

    # ---- HTML -------------------------------------------------------------------------

    HTML_PAGE = """<!DOCTYPE html>
<html lang="ja"><head>
<meta charset="{charset}">
<title>あおば市空き家対策計画｜あおば市公式ホームページ</title>
<style>body {{ font-family: sans-serif; }}</style>
<script>var menu = "メニューを開く";</script>
</head><body>
<div id="header"><p class="logo">あおば市公式ホームページ</p>
<ul class="gnavi"><li><a href="/kurashi">くらし・手続き</a></li><li><a href="/kanko">観光・イベント</a></li></ul></div>
<nav class="localnav"><ul><li>ごみ・リサイクル</li><li>住まい</li></ul></nav>
<div id="pankuzu"><a href="/">トップページ</a> &gt; 住まい &gt; 空き家対策計画</div>
<div id="main">
<h1>あおば市空き家対策計画</h1>
<p>本計画は、市内の空き家の適切な管理と
利活用を促進するために策定したものです。</p>
<h2>空き家の現状</h2>
<p>令和5年の調査では、市内の空き家は<strong>1,234戸</strong>で、髙橋地区と①中央地区に多く見られます。</p>
<h3>空き家バンク</h3>
<p>空き家バンクへの登録件数は年間40件を目標とします。</p>
<table><tr><th>施策</th><th>担当課</th></tr>
<tr><td>空き家改修補助金</td><td>住宅政策課</td></tr></table>
</div>
<aside class="side"><h2>関連情報</h2><ul><li>固定資産税について</li></ul></aside>
<div id="footer"><p>あおば市役所 〒123-4567 あおば市中央1-1 電話 0123-45-6789</p>
<p>Copyright (C) Aoba City. All Rights Reserved.</p></div>
</body></html>
"""

    def html(self, name: str, *, encoding: str = "utf-8", charset_label: str | None = None, declare: bool = True,
             replace: dict[str, str] | None = None) -> Path:
        """A city web page with header, global/local navigation, breadcrumbs, main content,
        sidebar and footer. ``encoding`` is how the bytes are written; ``charset_label`` what
        the ``<meta charset>`` says (``declare=False`` drops the declaration)."""
        text = self.HTML_PAGE.format(charset=charset_label or encoding)
        for a, b in (replace or {}).items():
            text = text.replace(a, b)
        if not declare:
            text = text.replace('<meta charset="{}">'.format(charset_label or encoding), "")
        path = self.root / name
        path.write_bytes(text.encode(encoding))
        return path


@pytest.fixture
def doc_builders(tmp_path: Path) -> DocBuilders:
    src = tmp_path / "src"
    src.mkdir()
    return DocBuilders(src)


# --------------------------------------------------------------------------------------
# Web app (tests/test_web_api.py, tests/test_browser_e2e.py): the real Assistant over the
# bundled corpus, its index built once per test session in a temporary directory.


@pytest.fixture(scope="session")
def web_assistant(bundled_local):
    return bundled_local


# --------------------------------------------------------------------------------------
# The real Assistant over the bundled corpus with the bundled offline embedder, built once per
# test session into a temporary index directory (never the repo's index/).

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def bundled_local(tmp_path_factory):
    from assistant import Assistant

    return Assistant.load(corpus_dir=REPO / "corpus", index_dir=tmp_path_factory.mktemp("bundled-index"), backend="local")


def milvus_lite_or_skip() -> None:
    """Skip (with the reason) where milvus-lite cannot run; CI installs it with the test extra."""
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as e:
        pytest.skip(f"milvus-lite is not installed here ({e}); pip install '.[test]'")


@pytest.fixture(scope="session")
def bundled_milvus(bundled_local, tmp_path_factory):
    """The same corpus and build published to a milvus-lite file (backends.milvus)."""
    from assistant import Assistant

    milvus_lite_or_skip()
    db = tmp_path_factory.mktemp("bundled-milvus") / "bundled.db"
    return Assistant.load(corpus_dir=REPO / "corpus", index_dir=bundled_local.index_dir, backend=f"milvus:{db}")


@pytest.fixture(scope="session", params=["local", "milvus"])
def bundled_assistant(request):
    """The bundled-corpus Assistant on each search backend: retrieval and answer tests run on both."""
    return request.getfixturevalue(f"bundled_{request.param}")


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Two small real plan documents in a private corpus directory."""
    import shutil

    d = tmp_path / "corpus"
    d.mkdir()
    for name in ("003_dfaa35240c5397ba.txt", "004_0697b41b2b272361.txt"):
        shutil.copy(REPO / "corpus" / name, d / name)
    shutil.copy(REPO / "corpus" / "catalog.toml", d / "catalog.toml")
    return d

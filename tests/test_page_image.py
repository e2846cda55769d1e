"""The cited page of a PDF as an image (issue 12): it shows the page as printed with the cited
sentence highlighted, and the route that serves it names documents, never paths — whatever a
client sends, only a page of a corpus PDF of the loaded index can come back."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("reportlab")
pytest.importorskip("pypdfium2")

from PIL import Image  # noqa: E402

from assistant import page_image  # noqa: E402

from conftest import REPO, DocBuilders  # noqa: E402

CITED = "地域協働体は地区ごとに設立し、市は運営費を補助します。"
OTHER = "補助の上限は年額50万円です。"
PAGES = [
    ["第1章 計画の概要", "本計画は市民と行政の協働を進めるための計画です。", "計画期間は令和6年度から令和10年度までの5年間とします。"],
    ["第2章 地域協働体への支援", CITED, OTHER],
]


def _plan_pdf(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return DocBuilders(root).pdf("aoba_plan.pdf", PAGES)


def _word_bbox_px(pdf: Path, page: int, text: str, width_px: int):
    """Where ``text`` is printed, from pdfplumber (not the renderer under test), in image pixels."""
    import pdfplumber

    with pdfplumber.open(pdf) as doc:
        p = doc.pages[page - 1]
        chars = p.chars
        s = "".join(c["text"] for c in chars)
        at = s.find(text)
        assert at >= 0, "the fixture PDF carries the text"
        run = chars[at: at + len(text)]
        k = width_px / float(p.width)
        return (min(c["x0"] for c in run) * k, min(c["top"] for c in run) * k,
                max(c["x1"] for c in run) * k, max(c["bottom"] for c in run) * k)


def _yellowish(px) -> bool:
    r, g, b = px[:3]
    return r > 200 and g > 170 and b < 190


# ---- rendering ------------------------------------------------------------------------

def test_the_rendered_page_highlights_the_cited_sentence_and_only_it(tmp_path):
    pdf = _plan_pdf(tmp_path)
    img = page_image.render_page(pdf, 2, [CITED])
    im = Image.open(io.BytesIO(img.png))
    assert im.format == "PNG" and im.size == (img.width, img.height)
    im = im.convert("RGB")
    assert img.width <= page_image.MAX_WIDTH_PX

    x0, y0, x1, y1 = _word_bbox_px(pdf, 2, CITED, img.width)
    assert len(img.boxes) == 1, "one line of text → one box"
    bx0, by0, bx1, by1 = img.boxes[0]
    assert bx0 <= x0 + 1 and by0 <= y0 + 1 and bx1 >= x1 - 1 and by1 >= y1 - 1, "the box covers the cited text"
    # between the glyphs of the cited line the paper is tinted; the next line's paper is not
    gap_y = int((y0 + y1) / 2)
    tinted = sum(_yellowish(im.getpixel((x, gap_y))) for x in range(int(x0) + 2, int(x1) - 2, 3))
    assert tinted > 0.3 * len(range(int(x0) + 2, int(x1) - 2, 3))
    ox0, oy0, ox1, oy1 = _word_bbox_px(pdf, 2, OTHER, img.width)
    assert not any(_yellowish(im.getpixel((x, int((oy0 + oy1) / 2)))) for x in range(int(ox0), int(ox1), 3))


def test_an_excerpt_is_the_band_of_the_page_around_the_marks(tmp_path):
    pdf = _plan_pdf(tmp_path)
    full = page_image.render_page(pdf, 2, [CITED])
    part = page_image.render_page(pdf, 2, [CITED], excerpt=True)
    assert full.width * page_image.EXCERPT_MIN_WIDTH - 1 <= part.width < full.width and part.height < full.height / 2
    assert part.height >= page_image.EXCERPT_MIN_ASPECT * part.width - 1
    (bx0, by0, bx1, by1), = part.boxes
    assert 0 <= bx0 < bx1 <= part.width and 0 <= by0 < by1 <= part.height
    assert (bx1 - bx0, by1 - by0) == (full.boxes[0][2] - full.boxes[0][0], full.boxes[0][3] - full.boxes[0][1])
    im = Image.open(io.BytesIO(part.png)).convert("RGB")
    assert _yellowish(im.getpixel(((bx0 + bx1) // 2, by0 + 3))), "the mark is inside the excerpt"
    # nothing marked: the excerpt is the whole page
    assert page_image.render_page(pdf, 2, ["ここには無い文章です"], excerpt=True).height == full.height


def test_no_text_to_mark_gives_the_plain_page(tmp_path):
    img = page_image.render_page(_plan_pdf(tmp_path), 1, [])
    assert img.boxes == []


def test_a_page_out_of_range_or_a_non_pdf_is_an_error(tmp_path):
    pdf = _plan_pdf(tmp_path)
    for bad in (0, 3, -1):
        with pytest.raises(page_image.PageOutOfRange):
            page_image.render_page(pdf, bad, [])
    txt = tmp_path / "x.pdf"
    txt.write_text("これはPDFではありません", encoding="utf-8")
    with pytest.raises(page_image.PageImageError):
        page_image.render_page(txt, 1, [])


def test_cleaned_text_still_finds_its_characters():
    page = page_image._fold("計画期間は 令和６年度から\n令和10年度までの５年間とします。")
    whole = page_image.find_char_spans(page, ["計画期間は令和6年度から令和10年度までの5年間とします。"])
    assert whole == [(0, len(page))]
    # a sentence the cleaning changed in the middle is marked by the clauses that are printed
    parts = page_image.find_char_spans(page, ["計画期間は令和6年度から、令和10年度までの5年間とする。"])
    assert parts and all(e - s >= page_image.MIN_PIECE_CHARS for s, e in parts)
    assert page_image.find_char_spans(page, ["まったく別の文章です"]) == []


# ---- the cache ------------------------------------------------------------------------

def test_cache_writes_whole_files_and_keeps_under_its_cap(tmp_path):
    pdf = _plan_pdf(tmp_path / "src")
    cache = page_image.PageImageCache(tmp_path / "pages", max_bytes=2500)
    keys = [cache.key(pdf, 1, [str(i)]) for i in range(4)]
    assert len(set(keys)) == 4, "the key depends on the marked texts"
    for i, k in enumerate(keys):
        cache.put(k, bytes([i]) * 1000)
        os.utime(tmp_path / "pages" / f"{k}.png", (1000 + i, 1000 + i))
    cache.put(keys[3], b"\x03" * 1000)
    left = sorted(p.name for p in (tmp_path / "pages").iterdir())
    assert all(n.endswith(".png") for n in left), "no temporary file stays behind"
    assert sum((tmp_path / "pages" / n).stat().st_size for n in left) <= 2500
    assert cache.get(keys[3]) == b"\x03" * 1000 and cache.get(keys[0]) is None, "the oldest went first"
    assert cache.key(pdf, 2, ["0"]) != keys[0], "the page is part of the key"


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path):
    blocker = tmp_path / "pages"
    blocker.write_text("a file where the folder should be")
    cache = page_image.PageImageCache(blocker)
    cache.put("k", b"png")  # logged, not raised
    assert cache.get("k") is None


# ---- through the Assistant and the web route -------------------------------------------

@pytest.fixture(scope="module")
def pdf_app(tmp_path_factory):
    """An app over a corpus of one generated PDF, one text plan, and a PDF outside the corpus
    reachable through a symlink inside it (which must never be served)."""
    from fastapi.testclient import TestClient

    from assistant import Assistant
    from assistant.web import create_app

    base = tmp_path_factory.mktemp("pdf-corpus")
    corpus = base / "corpus"
    _plan_pdf(corpus)
    shutil.copy(REPO / "corpus" / "003_dfaa35240c5397ba.txt", corpus / "003_dfaa35240c5397ba.txt")
    outside = DocBuilders(base).pdf("outside.pdf", [["外部の秘密文書です。ここは読まれてはならない。"]])
    try:
        (corpus / "linked.pdf").symlink_to(outside)
    except OSError:
        pytest.skip("no symlinks here")
    a = Assistant.load(corpus_dir=corpus, index_dir=base / "index")
    app = create_app(a, data_dir=base / "data")
    return a, TestClient(app), base


def _cited_chunk(a, text=CITED):
    return next(c for c in a.state.search_index.chunks if c.doc_id == "aoba_plan.pdf" and text in c.text)


def test_the_route_serves_the_cited_page_with_security_headers(pdf_app):
    a, client, base = pdf_app
    chunk = _cited_chunk(a)
    n = next(i for i, s in enumerate(a.cited_sentences(chunk.id)) if CITED in s)
    r = client.get("/api/page-image", params={"doc": "aoba_plan.pdf", "page": "2", "chunk": chunk.id, "s": str(n)})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    im = Image.open(io.BytesIO(r.content)).convert("RGB")
    x0, y0, x1, y1 = _word_bbox_px(base / "corpus" / "aoba_plan.pdf", 2, CITED, im.size[0])
    assert _yellowish(im.getpixel((int(x0) + 1, int(y0) + 1))) or _yellowish(im.getpixel((int((x0 + x1) / 2), int(y1) + 1)))
    assert list((base / "index" / "cache" / "pages").glob("*.png")), "the render is cached"
    again = client.get("/api/page-image", params={"doc": "aoba_plan.pdf", "page": "2", "chunk": chunk.id, "s": str(n)})
    assert again.content == r.content
    part = client.get("/api/page-image", params={"doc": "aoba_plan.pdf", "page": "2", "chunk": chunk.id, "s": str(n),
                                                 "view": "excerpt"})
    assert part.status_code == 200 and Image.open(io.BytesIO(part.content)).size[1] < im.size[1] / 2


@pytest.mark.parametrize("params, status", [
    ({"doc": "../aoba_plan.pdf", "page": "1"}, 404),
    ({"doc": "../../etc/passwd", "page": "1"}, 404),
    ({"doc": "/etc/passwd", "page": "1"}, 404),
    ({"doc": "%2e%2e%2faoba_plan.pdf", "page": "1"}, 404),
    ({"doc": "corpus/aoba_plan.pdf", "page": "1"}, 404),
    ({"doc": "linked.pdf", "page": "1"}, 404),
    ({"doc": "outside.pdf", "page": "1"}, 404),
    ({"doc": "nothing.pdf", "page": "1"}, 404),
    ({"doc": "003_dfaa35240c5397ba.txt", "page": "1"}, 404),
    ({"doc": "aoba_plan.pdf", "page": "3"}, 404),
    ({"doc": "aoba_plan.pdf", "page": "99999"}, 404),
    ({"doc": "aoba_plan.pdf", "page": "0"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "-1"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "1e3"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "２"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "1", "s": "../1"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "1", "s": "999"}, 404),
    ({"doc": "", "page": "1"}, 400),
    ({"doc": "aoba_plan.pdf", "page": "1", "view": "../x"}, 400),
    ({"page": "1"}, 400),
])
def test_anything_but_a_known_pdf_page_is_refused_without_reading(pdf_app, monkeypatch, params, status):
    a, client, _base = pdf_app
    chunk = _cited_chunk(a)
    txt_chunk = next(c for c in a.state.search_index.chunks if c.doc_id == "003_dfaa35240c5397ba.txt")
    params = dict(params)
    params.setdefault("chunk", txt_chunk.id if params.get("doc", "").endswith(".txt") else chunk.id)
    rendered = []
    real = page_image.render_page
    monkeypatch.setattr(page_image, "render_page", lambda *a_, **k: rendered.append(a_) or real(*a_, **k))
    r = client.get("/api/page-image", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()["error"]) == {"code", "message"}
    for p, *_rest in rendered:  # an out-of-range page opens the corpus PDF only, to count its pages
        assert Path(p) == (_base / "corpus" / "aoba_plan.pdf").resolve()
    if status == 400 or params["doc"] != "aoba_plan.pdf":
        assert rendered == [], "nothing is opened for a name that is not a corpus PDF"


def test_a_passage_of_another_document_is_refused(pdf_app):
    a, client, _ = pdf_app
    txt_chunk = next(c for c in a.state.search_index.chunks if c.doc_id == "003_dfaa35240c5397ba.txt")
    r = client.get("/api/page-image", params={"doc": "aoba_plan.pdf", "page": "1", "chunk": txt_chunk.id})
    assert r.status_code == 404


def test_the_url_encoded_path_itself_cannot_reach_a_file(pdf_app):
    _a, client, _ = pdf_app
    for path in ("/api/page-image/..%2f..%2fetc%2fpasswd", "/api/page-image%2f..%2fcorpus%2faoba_plan.pdf",
                 "/api/..%2fcorpus%2faoba_plan.pdf"):
        r = client.get(path)
        assert r.status_code in (400, 404) and r.headers["content-type"].startswith("application/json")
        assert b"%PDF" not in r.content


def test_documents_say_which_are_pdfs(pdf_app):
    _a, client, _ = pdf_app
    docs = {d["doc_id"]: d for d in client.get("/api/documents").json()["documents"]}
    assert docs["aoba_plan.pdf"]["pdf"] is True
    assert docs["003_dfaa35240c5397ba.txt"]["pdf"] is False
    assert "linked.pdf" not in docs or docs["linked.pdf"]["pdf"] is False


def test_too_many_pages_from_one_client_are_refused():
    from assistant.web.api import RateLimit

    limit = RateLimit(per_minute=3)
    assert [limit.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limit.allow("b", now=3), "another client has its own budget"
    assert limit.allow("a", now=61), "a minute later it may ask again"


# ---- what the citation card shows ------------------------------------------------------

def _answer_citing(doc_id: str, page: int | None):
    from assistant.types import Answer, Chunk, Citation, Hit

    text = f"第2章 地域協働体への支援\n{CITED}\n{OTHER}"
    chunk = Chunk(id="c-1", doc_id=doc_id, title="あおば市協働推進プラン", municipality="あおば市",
                  section=["第2章 地域協働体への支援"], text=text, search_text=text, lines=(3, 5), page=page)
    return Answer(text=f"{CITED}[1]", citations=[Citation(number=1, hit=Hit(chunk=chunk, score=1.0), quote=[CITED])])


def test_a_pdf_citation_card_shows_its_page_lazily_with_japanese_alt_text():
    import html as _html
    from urllib.parse import parse_qs, urlsplit

    from assistant.web.render import render_answer_markdown, render_sources_html

    ans = _answer_citing("aoba_plan.pdf", 2)
    for out in (render_answer_markdown(ans, 4, pdf_docs={"aoba_plan.pdf"}),
                render_sources_html(ans, "地域協働体の支援は？", pdf_docs={"aoba_plan.pdf"})):
        assert 'loading="lazy"' in out and 'alt="あおば市協働推進プラン の 2ページ目のうち、引用した文の周り' in out
        src = urlsplit(_html.unescape(out.split('src="', 1)[1].split('"', 1)[0]))
        href = urlsplit(_html.unescape(out.split('class="mq-page-link" href="', 1)[1].split('"', 1)[0]))
        assert src.path == href.path == "/api/page-image"
        assert parse_qs(href.query) == {"doc": ["aoba_plan.pdf"], "page": ["2"], "chunk": ["c-1"], "s": ["1"]}, \
            "sentence 1 of the passage (after its heading) is the one quoted; the link opens the whole page"
        assert parse_qs(src.query) == parse_qs(href.query) | {"view": ["excerpt"]}, "the card shows the lines around it"
    # a text document, or a PDF passage without a page, gets no image
    assert "mq-page-img" not in render_answer_markdown(_answer_citing("plan.txt", None), 4, pdf_docs={"aoba_plan.pdf"})
    assert "mq-page-img" not in render_answer_markdown(_answer_citing("aoba_plan.pdf", None), 4, pdf_docs={"aoba_plan.pdf"})


@pytest.mark.parametrize("public_url, prefix", [
    ("https://qa.city.example.jp/", "https://qa.city.example.jp/api/page-image?"),
    ("https://city.example.jp/qa", "https://city.example.jp/qa/api/page-image?"),
    ("javascript:alert(1)", "/api/page-image?"),          # not an http(s) origin: ignored
    ("https://qa.example.jp/?x=1", "/api/page-image?"),    # a query string is no base: ignored
    ("", "/api/page-image?"),
])
def test_page_images_point_at_the_public_url_when_one_is_set(monkeypatch, public_url, prefix):
    """Inside the <gradio-app> web component the answer's HTML lives in the city's page, so a
    root-relative image URL would point at the city's own site: ASSISTANT_PUBLIC_URL makes it absolute."""
    import html as _html

    from assistant.web.render import render_answer_markdown

    monkeypatch.setenv("ASSISTANT_PUBLIC_URL", public_url)
    out = render_answer_markdown(_answer_citing("aoba_plan.pdf", 2), 4, pdf_docs={"aoba_plan.pdf"})
    src = _html.unescape(out.split('src="', 1)[1].split('"', 1)[0])
    href = _html.unescape(out.split('class="mq-page-link" href="', 1)[1].split('"', 1)[0])
    assert src.startswith(prefix) and href.startswith(prefix)


def test_the_original_is_linked_only_when_the_catalog_has_a_url():
    from assistant.web.render import render_answer_markdown, render_sources_html

    ans = _answer_citing("aoba_plan.pdf", 2)
    urls = {"aoba_plan.pdf": "https://www.city.aoba.example.jp/plan.pdf"}
    for out in (render_answer_markdown(ans, 1, urls), render_sources_html(ans, "q", urls=urls)):
        assert 'href="https://www.city.aoba.example.jp/plan.pdf#page=2"' in out and "原文を開く" in out
    for out in (render_answer_markdown(ans, 1, {}), render_sources_html(ans, "q"),
                render_answer_markdown(ans, 1, {"aoba_plan.pdf": "javascript:alert(1)"})):
        assert "原文を開く" not in out


def test_the_bundled_catalog_states_what_the_seeds_say_and_no_guessed_url():
    from assistant.corpus import read_catalog

    cat = read_catalog(REPO / "corpus")
    assert len(cat) == 5
    for doc_id, entry in cat.items():
        # what the text does not state is 「不明」 or absent, with a note saying how it was decided
        assert entry["title"] and entry["municipality"] and entry["publisher"] and entry["note"]
        assert isinstance(entry.get("year", 0), int)
        assert not entry.get("url"), f"{doc_id}: no url is guessed"

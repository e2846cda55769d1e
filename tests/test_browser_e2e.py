"""End to end in a real headless browser: Debian's Chromium driven by Playwright (sync API).

The real app (create_app over a real Assistant) runs in a uvicorn thread on a free loopback
port, over the bundled corpus plus one extra plan document whose text carries XSS payloads,
so the sources panel is tested with hostile *document* text, not only hostile questions.

Screenshots go to test-artifacts/ (git-ignored) for a person to look at.
Skipped with a reason when /usr/bin/chromium or playwright is missing, unless
REQUIRE_BROWSER=1 (CI sets it after installing chromium), in which case it fails.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, live_server, require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

XSS_DOC = """あおば市防災まちづくり計画

第1章 防災倉庫の管理

防災倉庫の点検は、毎年6月に自主防災組織と市が合同で実施します<script>alert(1)</script>。
点検の記録<img src=x onerror=alert(1)>は防災危機管理課が保管します。
点検結果は[市のホームページ](javascript:alert(1))で公開します ${alert(1)} 。
備蓄品の入れ替えは5年ごとに行います。
"""
# a plan that exists only as a PDF, so that its citations carry the page image (issue 12)
PDF_DOC = "910_kadan_plan.pdf"
PDF_PAGES = [
    ["第1章 公園の花壇", "あおば中央公園には季節の花を植えた花壇が12か所あります。"],
    ["第2章 花壇ボランティア", "花壇ボランティアの活動日は毎月第2土曜日の午前9時からです。",
     "花壇の苗と肥料は公園緑地課が用意します。"],
]
XSS_QUESTION = "<img src=x onerror=alert(1)><script>alert(1)</script>[リンク](javascript:alert(1)) 防災倉庫の点検はいつですか？"


_LIVE: dict = {}  # the live app's Assistant, for tests that make it fail on purpose


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _static_server(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A second loopback origin (another port) standing in for the city's web site."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture(scope="module")
def city_sites(tmp_path_factory):
    """Two stand-in city sites: one whose origin the app allows, one it does not."""
    require_browser()
    allowed_dir = tmp_path_factory.mktemp("city-allowed")
    other_dir = tmp_path_factory.mktemp("city-other")
    allowed, allowed_url = _static_server(allowed_dir)
    other, other_url = _static_server(other_dir)
    yield {"allowed": (allowed_dir, allowed_url), "other": (other_dir, other_url)}
    allowed.shutdown()
    other.shutdown()


@pytest.fixture(scope="module")
def live_app(tmp_path_factory, city_sites):
    """(base_url, feedback_path) of the real app served on a free loopback port."""
    require_browser()
    from assistant import Assistant
    from assistant.web import create_app

    tmp = tmp_path_factory.mktemp("e2e")
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    (corpus / "900_xss_test.txt").write_text(XSS_DOC, encoding="utf-8")
    from conftest import DocBuilders

    DocBuilders(corpus).pdf(PDF_DOC, PDF_PAGES, header="あおば市公園花壇計画", side_tab=None)
    assistant = Assistant.load(corpus_dir=corpus, index_dir=tmp / "index")
    _LIVE["assistant"] = assistant
    data_dir = tmp / "data"
    app = create_app(assistant, data_dir=data_dir, allowed_origins=[city_sites["allowed"][1]])
    with live_server(app) as base:
        yield base, data_dir / "feedback.jsonl"


@pytest.fixture(scope="module")
def browser(live_app):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url, *, width=1280, height=900):
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="ja-JP")
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []

    def on_dialog(d):
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url, wait_until="load")
    page.wait_for_selector(".mq-question textarea")
    return ctx, page, dialogs


def _bots(page):
    return page.locator(".mq-chatbot [data-testid='bot']")


def _ask(page, question: str, *, press_enter: bool = False):
    n = _bots(page).count()
    box = page.locator(".mq-question textarea").first
    box.fill(question)
    if press_enter:
        box.press("Enter")
    else:
        page.locator(".mq-send").first.click()
    page.wait_for_function(
        "n => document.querySelectorAll(\".mq-chatbot [data-testid='bot']\").length > n", arg=n,
        timeout=TIMEOUT_MS)
    return _bots(page).nth(n)


def _scroll_settled(page, *, tries: int = 50) -> None:
    """Wait (≤ 5 s) until neither the page nor the chat scrolls any more: the citation links scroll smoothly."""
    js = "() => [window.scrollY, ...Array.from(document.querySelectorAll('.mq-chatbot, .mq-chatbot *')).map(e => e.scrollTop)].join()"
    last = page.evaluate(js)
    for _ in range(tries):
        page.wait_for_timeout(100)
        now = page.evaluate(js)
        if now == last:
            return
        last = now


def _no_injected_markup(page):
    return page.evaluate("""() => document.querySelectorAll(
        'img[src="x"], a[href^="javascript"], .mq-chatbot script, .mq-sources script,'
        + ' .mq-chatbot iframe, .mq-sources [onerror], .mq-chatbot [onerror]').length""")


def test_ask_read_sources_follow_up_and_like(browser, live_app):
    base, feedback = live_app
    ctx, page, dialogs = _open(browser, base + "/")
    try:
        bot = _ask(page, "地域協働体とは何ですか？")
        text = bot.inner_text()
        assert "[1]" in text, text
        assert "出典" in text
        # sources panel: one card per citation, with title, section path and highlights
        cards = page.locator(".mq-sources .mq-source")
        cards.first.wait_for()
        assert cards.count() >= 1
        first = cards.first
        assert first.locator(".mq-num").inner_text() == "[1]"
        assert first.locator(".mq-title").inner_text().strip()
        assert first.locator(".mq-path").inner_text().strip()
        assert first.locator(".mq-passage mark").count() >= 1
        # open the whole section around the passage
        full = first.locator(".mq-fulltext")
        assert not full.is_visible()
        first.locator("summary").click()
        full.wait_for(state="visible")
        passage = first.locator(".mq-passage").inner_text().strip()
        assert passage[:20] in full.inner_text()
        first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "e2e-desktop.png"), full_page=True)

        # follow-up: the conversation history is used
        bot2 = _ask(page, "その設置の目標は？", press_enter=True)
        assert bot2.inner_text().strip()
        assert "エラー" not in bot2.inner_text()
        assert page.locator(".mq-chatbot [data-testid='user']").count() == 2

        # 👍 on the latest answer → one JSONL line in the feedback log
        like = page.locator(".mq-chatbot button[aria-label='役に立った'], .mq-chatbot button[aria-label='いいね'],"
                            " .mq-chatbot button[aria-label='Like']").last
        like.click()
        deadline = time.monotonic() + 15
        while not (feedback.exists() and feedback.read_text(encoding="utf-8").strip()):
            assert time.monotonic() < deadline, "no feedback line was written"
            time.sleep(0.2)
        recs = [json.loads(x) for x in feedback.read_text(encoding="utf-8").splitlines() if x.strip()]
        assert len(recs) == 1
        rec = recs[0]
        assert rec["rating"] == "up"
        assert rec["question"] == "その設置の目標は？"
        assert rec["answer"] and isinstance(rec["cited_ids"], list)
        assert not {"ip", "client", "user", "session"} & set(rec)
        page.screenshot(path=str(ARTIFACTS / "e2e-desktop-followup.png"), full_page=True)

        # clear conversation
        page.locator(".mq-clear").first.click()
        page.wait_for_function("() => document.querySelectorAll(\".mq-chatbot [data-testid='bot']\").length === 0")
        assert page.locator(".mq-sources .mq-source").count() == 0
        assert dialogs == []
    finally:
        ctx.close()


def _options(page, block: str) -> list[str]:
    """Open a gr.Dropdown and return its option labels (the list its input controls)."""
    box = page.locator(f"{block} input").first
    box.click()
    listbox = page.locator(f"#{box.get_attribute('aria-controls')} li")
    listbox.first.wait_for()
    return [t.replace("✓", "").strip() for t in listbox.all_inner_texts()]


def _choose(page, block: str, label: str) -> None:
    box = page.locator(f"{block} input").first
    box.click()
    page.locator(f"#{box.get_attribute('aria-controls')} li", has_text=label).first.click()


def test_municipality_filter_limits_the_sources(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/")
    try:
        assert page.evaluate("document.documentElement.lang") == "ja"
        page.locator(".mq-filters").first.get_by_text("絞り込み").first.click()  # folded by default
        _choose(page, ".mq-muni-filter", "山口市")
        page.wait_for_function("() => document.querySelector('.mq-muni-filter input').value === '山口市'")
        # the document list now offers only 山口市's documents
        options = _options(page, ".mq-doc-filter")
        page.keyboard.press("Escape")
        assert len(options) >= 2 and all("山口市" in o or o == "すべての文書" for o in options), options
        _ask(page, "協働のまちづくりの基本的な考え方は？")
        page.locator(".mq-sources .mq-source").first.wait_for()
        munis = {t.strip() for t in page.locator(".mq-sources .mq-source .mq-muni").all_inner_texts()}
        assert munis == {"山口市"}, munis
        page.screenshot(path=str(ARTIFACTS / "e2e-filter.png"), full_page=False)
        assert dialogs == []
    finally:
        ctx.close()


def test_xss_in_questions_and_documents_never_executes(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/")
    try:
        bot = _ask(page, XSS_QUESTION)
        user_text = page.locator(".mq-chatbot [data-testid='user']").last.inner_text()
        # the payload is shown literally, as text
        assert "<script>alert(1)</script>" in user_text and "<img src=x onerror=alert(1)>" in user_text
        # the cited document carries payloads too; they reach the page as text
        page.locator(".mq-sources .mq-source").first.wait_for()
        sources_text = page.locator(".mq-sources").inner_text()
        assert "防災倉庫" in sources_text
        assert "<script>alert(1)</script>" in sources_text or "<script>alert(1)</script>" in bot.inner_text()
        for summary in page.locator(".mq-sources summary").all():
            summary.click()  # render the full sections as well
        page.wait_for_timeout(1500)  # an injected <img onerror> would have fired by now
        assert _no_injected_markup(page) == 0
        assert dialogs == [], dialogs
        page.screenshot(path=str(ARTIFACTS / "e2e-xss.png"), full_page=True)
    finally:
        ctx.close()


def test_failure_shows_a_friendly_japanese_message(browser, live_app, monkeypatch):
    base, _ = live_app

    def boom(*a, **k):
        raise RuntimeError("internal detail that must not reach the page")

    ctx, page, dialogs = _open(browser, base + "/")
    try:
        monkeypatch.setattr(_LIVE["assistant"], "ask", boom)
        bot = _ask(page, "この質問は失敗します（テスト用）")
        assert "エラーが発生しました" in bot.inner_text()
        assert "internal detail" not in page.content()
        monkeypatch.undo()
        bot = _ask(page, "地域協働体とは何ですか？")  # and the app keeps working
        assert "[1]" in bot.inner_text()
        assert dialogs == []
    finally:
        ctx.close()


def _box(page, sel):
    loc = page.locator(sel).first
    loc.wait_for(state="visible")
    return loc.bounding_box()


def _fully_on_first_screen(box, width, height):
    return box and box["y"] >= 0 and box["y"] + box["height"] <= height and box["x"] >= 0 \
        and box["x"] + box["width"] <= width


def test_phone_first_screen_has_the_question_box_and_examples(browser, live_app):
    base, _ = live_app
    w, h = 390, 844
    ctx, page, dialogs = _open(browser, base + "/", width=w, height=h)
    try:
        page.wait_for_timeout(300)
        boxes = {s: _box(page, s) for s in (".mq-question textarea", ".mq-send", ".mq-hint")}
        examples = [b.bounding_box() for b in page.locator(".mq-example-btn").all() if b.is_visible()]
        page.screenshot(path=str(ARTIFACTS / "e2e-phone-first-screen.png"))
        for sel, box in boxes.items():
            assert _fully_on_first_screen(box, w, h), (sel, box)
        on_screen = [b for b in examples if _fully_on_first_screen(b, w, h)]
        assert len(on_screen) >= 3, examples
        # nothing is cut off: the hint is one whole visible block, no sideways scrolling
        assert "Enterで送信" in page.locator(".mq-hint").first.inner_text()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, overflow
        assert not page.locator(".mq-side").first.is_visible()  # sources fold under answers instead

        # an example is asked at once; the answer shows right above the box
        page.locator(".mq-example-btn").nth(3).click()
        page.locator(".mq-chatbot [data-testid='bot']").first.wait_for()
        page.wait_for_timeout(300)
        bot = page.locator(".mq-chatbot [data-testid='bot']").first
        assert "[1]" in bot.inner_text()
        chat, box = _box(page, ".mq-chatbot"), _box(page, ".mq-question textarea")
        assert chat["y"] >= 0 and chat["y"] + chat["height"] <= box["y"] + 1, (chat, box)
        assert _fully_on_first_screen(box, w, h), box
        assert chat["height"] >= 300, chat  # the chat grew to show the answer
        # sources are folded under the answer, closed until tapped
        folds = bot.locator("details.mq-fold")
        assert folds.count() >= 1 and not any(folds.evaluate_all("ds => ds.map(d => d.open)"))
        page.screenshot(path=str(ARTIFACTS / "e2e-phone-answer.png"))
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 2 * h, height  # no 4,000 px page
        assert dialogs == []
    finally:
        ctx.close()


def test_desktop_keeps_sources_beside_the_chat(browser, live_app):
    base, _ = live_app
    w, h = 1280, 900
    ctx, page, dialogs = _open(browser, base + "/", width=w, height=h)
    try:
        for sel in (".mq-question textarea", ".mq-send", ".mq-example-btn"):
            assert _fully_on_first_screen(_box(page, sel), w, h), sel
        _ask(page, "地域協働体とは何ですか？")
        page.locator(".mq-sources .mq-source").first.wait_for()
        chat, side = _box(page, ".mq-chatbot"), _box(page, ".mq-sources-panel")
        assert side["x"] >= chat["x"] + chat["width"] - 1, (chat, side)  # side by side
        assert side["y"] < chat["y"] + chat["height"]
        page.screenshot(path=str(ARTIFACTS / "e2e-desktop-layout.png"))
        assert dialogs == []
    finally:
        ctx.close()


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 900)])
def test_every_citation_opens_its_passage(browser, live_app, width, height):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=width, height=height)
    try:
        bot = _ask(page, "NPO法人の認証数の目標はいくつですか？")
        page.locator(".mq-sources .mq-source").first.wait_for(state="attached")
        links = bot.locator("a.mq-cite")
        assert links.count() >= 1
        for i in range(links.count()):
            link = links.nth(i)
            n = int(link.inner_text().strip("[]"))
            _scroll_settled(page)  # a click while the last one's smooth scroll still moves the link can miss it
            link.click()
            page.wait_for_timeout(400)
            if width < 768:  # the fold under the answer opens, on screen
                fold = bot.locator(f"details.mq-fold[data-n='{n}']") if bot.locator("details.mq-fold[data-n]").count() \
                    else bot.locator("details.mq-fold").nth(n - 1)
                assert fold.evaluate("d => d.open"), n
                _scroll_settled(page)  # the scroll is smooth: a fold far below the link takes longer than 400 ms
                fb = fold.bounding_box()
                assert fb["y"] < height and fb["y"] + 20 > 0, fb
                assert fold.locator(".mq-passage").inner_text().strip()
            else:  # the card beside the chat opens its section with the cited sentences marked
                card = page.locator(f".mq-sources #mq-src-{n}")
                assert card.locator("details").evaluate("d => d.open"), n
                assert card.locator(".mq-fulltext").is_visible()
                assert card.locator(".mq-fulltext mark").count() >= 1
        assert page.url.rstrip("/") == base  # no navigation away
        page.screenshot(path=str(ARTIFACTS / f"e2e-citation-{width}.png"))
        assert dialogs == []
    finally:
        ctx.close()


def test_no_english_reaches_a_resident_with_an_english_browser(browser, live_app):
    base, _ = live_app
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(base + "/", wait_until="load")
        page.wait_for_selector(".mq-question textarea")
        assert page.evaluate("document.documentElement.lang") == "ja"
        # Gradio's own client messages are put into Japanese as they appear (the queue-full
        # message is hard-coded English in Gradio's client)
        page.evaluate("""() => { const d = document.createElement('div'); d.className = 'mq-test-toast';
            d.textContent = 'This application is currently busy. Please try again. ';
            document.body.appendChild(d); }""")
        page.wait_for_timeout(200)
        assert page.locator(".mq-test-toast").inner_text().startswith("ただいま混み合っています")
        _ask(page, "地域協働体とは何ですか？")
        page.wait_for_timeout(300)
        text = page.locator("body").inner_text()
        labels = page.evaluate("""() => Array.from(document.querySelectorAll('[aria-label],[title],[placeholder]'))
            .map(e => e.getAttribute('aria-label') || e.getAttribute('title') || e.getAttribute('placeholder'))""")
        english_labels = [x for x in labels if re.search(r"[A-Za-z]{3,}", x or "")]
        assert english_labels == [], english_labels
        for english in ("Drop File Here", "Click to Upload", "currently busy", "Submit", "Clear", "Examples",
                        "Chatbot", "Error", "Loading"):
            assert english not in text, english
    finally:
        ctx.close()


def test_a_failed_request_keeps_the_question_in_the_box(browser, live_app, monkeypatch):
    base, _ = live_app

    def boom(*a, **k):
        raise RuntimeError("internal detail")

    ctx, page, dialogs = _open(browser, base + "/", width=390, height=844)
    try:
        monkeypatch.setattr(_LIVE["assistant"], "ask", boom)
        _ask(page, "子育て支援の窓口はどこですか（失敗テスト）")
        assert page.locator(".mq-question textarea").first.input_value() == "子育て支援の窓口はどこですか（失敗テスト）"
    finally:
        monkeypatch.undo()
        ctx.close()


AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"


def _axe(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")


@pytest.mark.parametrize("path,width,height", [("/", 390, 844), ("/", 1280, 900), ("/embed", 390, 844)])
def test_axe_finds_no_serious_or_critical_issue(browser, live_app, path, width, height):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + path, width=width, height=height)
    try:
        found = _axe(page)
        assert found == [], found
        bot = _ask(page, "地域協働体とは何ですか？")
        page.wait_for_timeout(500)
        found = _axe(page)
        assert found == [], found
        bot.locator("a.mq-cite").first.click()  # an open fold / an open card with its section
        page.wait_for_timeout(500)
        found = _axe(page)
        assert found == [], found
    finally:
        ctx.close()


def test_keyboard_only_enter_sends_and_focus_returns_to_the_box(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=1280, height=900)
    try:
        seen = []
        for _ in range(12):  # the question box is reached by Tab from the top of the page
            page.keyboard.press("Tab")
            seen.append(page.evaluate("document.activeElement && document.activeElement.closest('.mq-question') !== null"))
            if seen[-1]:
                break
        assert seen[-1], "Tab never reached the question box"
        n = _bots(page).count()
        page.keyboard.type("地域協働体とは何ですか？")
        page.keyboard.press("Enter")
        page.wait_for_function("n => document.querySelectorAll(\".mq-chatbot [data-testid='bot']\").length > n", arg=n)
        page.wait_for_timeout(300)
        assert page.evaluate("document.activeElement.closest('.mq-question') !== null")
    finally:
        ctx.close()


def test_embed_view_is_compact_and_works(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/embed", width=400, height=700)
    try:
        assert page.locator("#mq-title").count() == 0  # no page header in the embed view
        assert not page.locator(".nav-holder").first.is_visible() if page.locator(".nav-holder").count() else True
        bot = _ask(page, "公共施設の里親制度とはどんな仕組みですか？")
        assert bot.inner_text().strip()
        assert "[1]" in bot.inner_text() or "見つかりませんでした" in bot.inner_text()
        page.screenshot(path=str(ARTIFACTS / "e2e-embed.png"), full_page=True)
        assert dialogs == []
    finally:
        ctx.close()


def _host_page(app_base: str) -> str:
    """A city page embedding the app twice: the <gradio-app> web component and the /embed iframe.

    The web component's script is the app's own frontend bundle (the one its page loads), so
    the test needs no CDN; docs/embedding.md gives the CDN form too.
    """
    index = httpx.get(app_base + "/", timeout=10).text
    bundle = re.search(r'src="\./(assets/index-[^"]+\.js)"', index).group(1)
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>あおば市</title>
<script type="module" src="{app_base}/{bundle}"></script></head>
<body><h1>あおば市ホームページ（テスト）</h1>
<gradio-app src="{app_base}/" container="false" info="false"></gradio-app>
<iframe src="{app_base}/embed" title="まちづくり計画 Q&amp;A" style="width:100%;max-width:480px;height:640px;border:1px solid #ccc"></iframe>
</body></html>"""


def test_embedding_in_a_city_page_web_component_and_iframe(browser, live_app, city_sites):
    base, _ = live_app
    site_dir, site_url = city_sites["allowed"]
    (site_dir / "index.html").write_text(_host_page(base), encoding="utf-8")
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(site_url + "/", wait_until="load")
        # the web component, cross-origin: needs the app's CORS to allow this site
        page.locator("gradio-app .mq-question textarea").fill("地域協働体とは何ですか？")
        page.locator("gradio-app .mq-send").click()
        page.locator("gradio-app .mq-source").first.wait_for()
        assert "[1]" in page.locator("gradio-app [data-testid='bot']").first.inner_text()
        # the /embed iframe
        frame = page.frame_locator("iframe")
        frame.locator(".mq-question textarea").fill("NPO法人の認証数の目標は？")
        frame.locator(".mq-send").click()
        frame.locator(".mq-chatbot details.mq-fold").first.wait_for()  # a narrow frame: sources fold under the answer
        page.screenshot(path=str(ARTIFACTS / "e2e-city-page.png"), full_page=True)
        assert dialogs == []
    finally:
        ctx.close()


def test_web_component_is_refused_on_a_site_not_in_allowed_origins(browser, live_app, city_sites):
    base, _ = live_app
    site_dir, site_url = city_sites["other"]
    (site_dir / "index.html").write_text(_host_page(base), encoding="utf-8")
    ctx = browser.new_context(locale="ja-JP")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(site_url + "/", wait_until="load")
        page.wait_for_timeout(4000)
        assert page.locator("gradio-app .mq-question textarea").count() == 0
        assert any("CORS" in e for e in errors), errors
    finally:
        ctx.close()


def test_furigana_toggle_shows_readings_and_citations_still_open(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=390, height=844)
    try:
        bot = _ask(page, "協働を担う人材育成のための取り組みは？")
        assert bot.locator("ruby").count() >= 3
        assert not bot.locator("rt").first.is_visible()  # off by default
        plain = bot.inner_text().split("出典（タップで開く）")[0]
        page.locator(".mq-furigana input").check()
        bot.locator("rt").first.wait_for(state="visible")
        readings = dict(bot.locator("ruby").evaluate_all(
            "rs => rs.map(r => [r.firstChild.textContent, r.querySelector('rt').textContent])"))
        assert readings.get("協働") == "きょうどう", readings
        page.screenshot(path=str(ARTIFACTS / "e2e-furigana.png"))
        link = bot.locator("a.mq-cite").first
        link.click()
        page.wait_for_timeout(400)
        assert bot.locator("details.mq-fold").first.evaluate("d => d.open")
        page.locator(".mq-furigana input").uncheck()
        page.wait_for_timeout(200)
        assert bot.inner_text().split("出典（タップで開く）")[0] == plain  # readings gone again
        assert dialogs == []
    finally:
        ctx.close()


def test_a_full_queue_says_so_in_japanese_and_keeps_the_question(browser, live_app, monkeypatch):
    """One question at a time, one waiting: the third resident is refused by Gradio's queue.
    Gradio's client says so in English; the page says it in Japanese and the typed question
    stays visible in the box."""
    from assistant.web import create_app

    assistant = _LIVE["assistant"]
    ask = assistant.ask

    def slow(*a, **k):
        time.sleep(5)
        return ask(*a, **k)

    monkeypatch.setattr(assistant, "ask", slow)
    app = create_app(assistant, data_dir=ARTIFACTS / "busy-data", concurrency=1, queue_max_size=1,
                     answer_cache_size=0)
    with live_server(app) as base:
        ctxs, pages = [], []
        try:
            for _ in range(3):
                ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
                page = ctx.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(base + "/", wait_until="load")
                page.wait_for_selector(".mq-question textarea")
                ctxs.append(ctx)
                pages.append(page)
            for i, page in enumerate(pages):
                page.locator(".mq-question textarea").fill(f"地域協働体とは何ですか？（{i}）")
                page.locator(".mq-send").click()
                page.wait_for_timeout(300)
            refused = pages[2]
            refused.get_by_text("ただいま混み合っています").first.wait_for()
            refused.wait_for_timeout(300)
            assert "currently busy" not in refused.locator("body").inner_text()
            box = refused.locator(".mq-question textarea").first
            assert box.input_value() == "地域協働体とは何ですか？（2）"
            assert box.is_visible() and not refused.locator(".mq-question .error").first.is_visible()
            refused.screenshot(path=str(ARTIFACTS / "e2e-busy.png"))
        finally:
            for ctx in ctxs:
                ctx.close()


def test_an_english_question_is_told_in_english_that_the_plans_are_japanese(browser, live_app):
    """Refused, or pointed to the closest Japanese passages (crosslingual.py): either way the reply
    says so in English, in an element marked lang="en" on the Japanese page, and claims no answer."""
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=390, height=844)
    try:
        bot = _ask(page, "What is the target number of certified NPOs?")
        note = bot.locator("p[lang='en']").first.inner_text()
        assert "Please ask in Japanese" in note or "cannot be confirmed" in note
        assert dialogs == []
    finally:
        ctx.close()


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 900)])
def test_a_pdf_citation_shows_its_page_with_the_sentence_marked(browser, live_app, width, height):
    """The cited page of a PDF, as printed, opens with the passage: a lazy image with Japanese alt
    text that loads from the page-image route, linked to the full-size page; axe stays clean."""
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=width, height=height)
    try:
        bot = _ask(page, "花壇ボランティアの活動日はいつですか？")
        assert "第2土曜日" in bot.inner_text()
        bot.locator("a.mq-cite").first.click()
        page.wait_for_timeout(400)
        scope = bot.locator("details.mq-fold").first if width < 768 else page.locator(".mq-sources #mq-src-1")
        img = scope.locator("img.mq-page-img").first
        img.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=TIMEOUT_MS)
        assert img.get_attribute("loading") == "lazy"
        assert "2ページ目" in img.get_attribute("alt")
        src = img.get_attribute("src")
        assert src.startswith("/api/page-image?") and "doc=910_kadan_plan.pdf" in src and "page=2" in src
        assert "view=excerpt" in src  # the lines around the quote, readable on a phone
        href = scope.locator("a.mq-page-link").first.get_attribute("href")
        assert href == src.replace("&view=excerpt", ""), "the link opens the whole page"
        for url in (src, href):
            r = httpx.get(base + url)
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        page.screenshot(path=str(ARTIFACTS / f"e2e-pdf-page-{width}.png"))
        found = _axe(page)
        assert found == [], found
        assert dialogs == []
    finally:
        ctx.close()

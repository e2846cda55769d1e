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
        like = page.locator(".mq-chatbot button[aria-label='いいね'], .mq-chatbot button[aria-label='Like']").last
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


def test_phone_width_is_readable(browser, live_app):
    base, _ = live_app
    ctx, page, dialogs = _open(browser, base + "/", width=375, height=812)
    try:
        bot = _ask(page, "NPO法人の認証数の目標はいくつですか？")
        assert "[1]" in bot.inner_text()
        page.locator(".mq-sources .mq-source").first.wait_for()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"page is {overflow}px wider than a 375px phone"
        # chat and sources stack vertically instead of squeezing side by side
        chat_box = page.locator(".mq-chatbot").first.bounding_box()
        src_box = page.locator(".mq-sources-panel").first.bounding_box()
        assert src_box["y"] > chat_box["y"] + chat_box["height"] - 1
        assert chat_box["width"] >= 340, chat_box  # page margins shrink on a phone
        page.screenshot(path=str(ARTIFACTS / "e2e-mobile.png"), full_page=False)
        page.screenshot(path=str(ARTIFACTS / "e2e-mobile-full.png"), full_page=True)
        assert dialogs == []
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
        frame.locator(".mq-source").first.wait_for()
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

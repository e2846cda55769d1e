"""The 管理 tab in a real headless browser (Debian's Chromium driven by Playwright).

The real app runs in a uvicorn thread over a private copy of a small corpus with
ASSISTANT_ADMIN_PASSWORD set: a wrong password shows the Japanese error and no panel; the
right one shows the panel; a file chosen in the file input is uploaded and reported as
accepted; the same page's chat then answers from it (no restart). /embed has no admin tab.
Skipped like tests/test_browser_e2e.py when Chromium or Playwright is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, live_server, require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def _ask(page, question: str):
    n = page.locator(".mq-chatbot [data-testid='bot']").count()
    page.locator(".mq-question textarea").first.fill(question)
    page.locator(".mq-send").first.click()
    page.wait_for_function(
        "n => document.querySelectorAll(\".mq-chatbot [data-testid='bot']\").length > n", arg=n,
        timeout=TIMEOUT_MS)
    return page.locator(".mq-chatbot [data-testid='bot']").nth(n)
PASSWORD = "admin-pass-1234"
DOC = """# あおば市ほたる池再生計画

## 第1章 ほたる池の清掃

ほたる池の清掃は、毎年5月の第2日曜日に地域の自治会と市の環境課が合同で行います。
"""


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory):
    require_browser()
    from assistant import Assistant
    from assistant.web import ADMIN_ENV, create_app

    tmp = tmp_path_factory.mktemp("admin-e2e")
    corpus = tmp / "corpus"
    corpus.mkdir()
    for name in ("003_dfaa35240c5397ba.txt", "004_0697b41b2b272361.txt", "catalog.toml"):
        shutil.copy(ROOT / "corpus" / name, corpus / name)
    assistant = Assistant.load(corpus_dir=corpus, index_dir=tmp / "index")
    mp = pytest.MonkeyPatch()
    mp.setenv(ADMIN_ENV, PASSWORD)
    try:
        app = create_app(assistant, data_dir=tmp / "data")
    finally:
        mp.undo()
    with live_server(app) as base:
        yield base, corpus, tmp


def test_admin_login_upload_and_answer(admin_app):
    from playwright.sync_api import sync_playwright

    base, corpus, tmp = admin_app
    upload = tmp / "upload"
    upload.mkdir()
    doc = upload / "hotaru-ike.md"
    doc.write_text(DOC, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = b.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(base + "/", wait_until="load")
            page.wait_for_selector(".mq-question textarea")
            page.get_by_role("tab", name="管理").click()
            pw = page.locator(".mq-admin-password input")
            pw.wait_for()
            # wrong password: a Japanese message, no panel
            pw.fill("wrong")
            page.locator(".mq-admin-login").click()
            page.wait_for_function(
                "() => (document.querySelector('.mq-admin-status')?.innerText || '').includes('パスワードが正しくありません')")
            assert not page.locator(".mq-admin-panel").is_visible()
            # right password: the panel with the document list
            pw.fill(PASSWORD)
            page.locator(".mq-admin-login").click()
            page.locator(".mq-admin-panel").wait_for(state="visible")
            page.wait_for_function(
                "() => (document.querySelector('.mq-admin-docs')?.innerText || '').includes('004_0697b41b2b272361.txt')")
            # choose a file in the file input and upload it
            page.locator(".mq-admin-files input[type=file]").set_input_files(str(doc))
            page.wait_for_function(
                "() => (document.querySelector('.mq-admin-files')?.innerText || '').includes('hotaru-ike.md')")
            page.get_by_label("自治体（任意）").fill("あおば市")
            page.locator(".mq-admin-upload").click()
            page.wait_for_function(
                "() => (document.querySelector('.mq-admin-result textarea')?.value || '').includes('索引を更新しました')")
            result = page.locator(".mq-admin-result textarea").input_value()
            assert "✓ hotaru-ike.md" in result and "文書ID hotaru-ike.md" in result, result
            page.wait_for_function(
                "() => (document.querySelector('.mq-admin-docs')?.innerText || '').includes('hotaru-ike.md')")
            page.screenshot(path=str(ARTIFACTS / "admin-upload.png"), full_page=True)
            assert (corpus / "hotaru-ike.md").read_text(encoding="utf-8") == DOC

            # the same page, no restart: the chat answers from the new document
            page.get_by_role("tab", name="質問する").click()
            bot = _ask(page, "ほたる池の清掃はいつ行いますか？")
            assert "5月" in bot.inner_text()
            card = page.locator(".mq-sources .mq-source").first
            card.wait_for()
            assert "ほたる池再生計画" in card.inner_text()

            # a page opened now offers the new municipality in the filter
            page3 = ctx.new_page()
            page3.goto(base + "/", wait_until="load")
            page3.wait_for_selector(".mq-question textarea")
            page3.locator(".mq-filters").first.get_by_text("絞り込み").first.click()  # folded by default
            page3.locator(".mq-muni-filter input").click()
            page3.get_by_role("option", name="あおば市").wait_for()

            # the compact page for iframes has no admin tab
            page2 = ctx.new_page()
            page2.goto(base + "/embed", wait_until="load")
            page2.wait_for_selector(".mq-question textarea")
            assert page2.get_by_role("tab", name="管理").count() == 0
            assert page2.locator(".mq-admin-password").count() == 0
            ctx.close()
        finally:
            b.close()

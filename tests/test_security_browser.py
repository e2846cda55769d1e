"""Issue 9, item 6, in a real headless browser: who may show the app in an <iframe>.

Two stand-in city sites on their own loopback origins, one listed in ASSISTANT_FRAME_ORIGINS
(here through ``allowed_origins``, its default) and one not. Each holds a page with two iframes:
``/embed`` and ``/`` (the page with the 管理 tab). Chromium enforces the CSP ``frame-ancestors``
the app sends: the allowed site shows ``/embed`` and not ``/``; the other site shows neither.
Skipped like the other browser tests when Chromium or Playwright is missing.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, free_port, live_server, require_browser

pytestmark = pytest.mark.browser


def _site(root):
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # "localhost" vs "127.0.0.1" would be one site; different ports are different origins
    return srv, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def sites(tmp_path_factory, web_assistant):
    require_browser()
    from assistant.web import create_app

    allowed_dir, other_dir = tmp_path_factory.mktemp("frame-allowed"), tmp_path_factory.mktemp("frame-other")
    allowed, allowed_url = _site(allowed_dir)
    other, other_url = _site(other_dir)
    app = create_app(web_assistant, data_dir=tmp_path_factory.mktemp("frame-data"), allowed_origins=[allowed_url],
                     admin_password="frame-test-password")
    try:
        with live_server(app) as base:
            # the app on "localhost", the sites on "127.0.0.1": cross-origin as on the real web
            app_base = base.replace("127.0.0.1", "localhost")
            for d in (allowed_dir, other_dir):
                (d / "index.html").write_text(
                    f'<!doctype html><meta charset="utf-8"><title>city</title>'
                    f'<iframe id="embed" src="{app_base}/embed" style="width:480px;height:640px"></iframe>'
                    f'<iframe id="root" src="{app_base}/" style="width:480px;height:640px"></iframe>',
                    encoding="utf-8")
            yield {"allowed": allowed_url, "other": other_url}
    finally:
        allowed.shutdown()
        other.shutdown()


def _shown(page, frame_id: str, timeout_ms: int) -> bool:
    """Whether the app rendered its question box inside the iframe ``frame_id``."""
    try:
        page.frame_locator(f"#{frame_id}").locator(".mq-question textarea").first.wait_for(timeout=timeout_ms)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("site,embed_shown", [("allowed", True), ("other", False)])
def test_only_allowed_sites_frame_embed_and_nobody_frames_the_admin_page(sites, site, embed_shown):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = b.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
            page.goto(sites[site] + "/", wait_until="load")
            # the browser says why a frame stays empty: the app's frame-ancestors policy
            expected = 1 if embed_shown else 2
            page.wait_for_function("() => true")  # let queued console events arrive
            deadline = TIMEOUT_MS
            while len(refused) < expected and deadline > 0:
                page.wait_for_timeout(250)
                deadline -= 250
            assert len(refused) == expected, refused
            assert any("'none'" in r for r in refused)  # "/" is framed by nobody
            if embed_shown:
                assert _shown(page, "embed", TIMEOUT_MS)
            else:
                assert not _shown(page, "embed", 3000)
            assert not _shown(page, "root", 3000)
        finally:
            b.close()

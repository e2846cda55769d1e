"""Issue 9: the attacks found against `python app.py`, replayed the way a browser or a script
sends them, against the real app (create_app over the real Assistant on the bundled corpus)
served by uvicorn on a loopback port. Each test names the attack; docs/SECURITY.md maps them
to the defences.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from browser_support import live_server
from gradio_wire import file_payload, fn_ids, queue_event, run_event

from assistant.web import create_app

ADMIN_COOKIE = "mq_admin"  # (the name assistant.web.security gives it; spelled out so this file
                           # also runs against code without that module — the attacks must fail there)

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cret-admin-pass"
ALLOWED = "https://www.city.example.jp"
FILE_URL_RE = re.compile(r"/gradio_api/file=[^\"'\s]+")


def _upload_folder() -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def _files_under(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` → sha256 of its bytes."""
    out = {}
    if folder.exists():
        for p in folder.rglob("*"):
            try:
                if p.is_file():
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                pass
    return out


@pytest.fixture(scope="module", autouse=True)
def private_upload_folder(tmp_path_factory):
    """Gradio's upload folder for this module's apps only (other test runs share /tmp/gradio),
    so "nothing new appeared in it" is a statement about these tests' requests."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("gradio-uploads")
    mp.setenv("GRADIO_TEMP_DIR", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def server(web_assistant, tmp_path_factory):
    """(base URL, app) — the real app with the admin tab on, as `ASSISTANT_ADMIN_PASSWORD=… python app.py`."""
    app = create_app(web_assistant, allowed_origins=[ALLOWED], data_dir=tmp_path_factory.mktemp("sec-data"),
                     admin_password=PASSWORD)
    with live_server(app) as base:
        yield base, app


@pytest.fixture
def secret_file(tmp_path) -> tuple[Path, str]:
    """A server file outside the upload folder whose content must never come back."""
    token = "SECRET-" + uuid.uuid4().hex
    p = tmp_path / "server-only" / "settings.env"
    p.parent.mkdir()
    p.write_text(f"ASSISTANT_ADMIN_PASSWORD={token}\n", encoding="utf-8")
    return p, token


# ---------------------------------------------------------------------------------------
# 1. arbitrary file read through a chat event


def _chat_with_file(path: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "file", "file": file_payload(path)}]}]


def _assert_nothing_read(base: str, response_text: str, before: dict[str, str], secrets: list[str]) -> None:
    for s in secrets:
        assert s not in response_text
    after = _files_under(_upload_folder())
    new = {p: h for p, h in after.items() if before.get(p) != h}
    assert not new, f"files were copied into the upload cache: {sorted(new)}"
    for url in FILE_URL_RE.findall(response_text):
        r = httpx.get(base + url, timeout=10)
        assert r.status_code in (403, 404), (url, r.status_code)
        for s in secrets:
            assert s not in r.text


@pytest.mark.parametrize("page", ["", "embed"], ids=["page-/", "page-/embed"])
@pytest.mark.parametrize("target", ["secret", "/etc/os-release", "/proc/self/environ", "project"])
def test_chat_event_with_a_file_payload_reads_nothing(server, secret_file, page, target):
    base, app = server
    secret_path, token = secret_file
    path = {"secret": str(secret_path), "project": str(ROOT / "corpus" / "catalog.toml")}.get(target, target)
    secrets = [token]
    if target == "/etc/os-release":
        secrets.append(Path(target).read_text().splitlines()[0])
    before = _files_under(_upload_folder())
    (fn_index,) = fn_ids(app, "respond", page)[:1]
    # the message list as the browser would send it, a file part in place of text; and the
    # same payload as the question itself
    for data in (["地域協働体とは何ですか？", _chat_with_file(path), None, "", ""],
                 [file_payload(path), _chat_with_file(path), None, "", ""]):
        r = queue_event(base, fn_index, data)
        _assert_nothing_read(base, json.dumps(r), before, secrets)
    # an unqueued event (the filter dropdown) with the payload as its value
    (change,) = [i for i in fn_ids(app, "<lambda>", page)][:1]
    r = run_event(base, change, [file_payload(path)])
    _assert_nothing_read(base, r.text, before, secrets)
    # and the file route itself, with the path as it is and URL-quoted
    for url in (f"/gradio_api/file={path}", "/gradio_api/file=" + httpx.URL(path).raw_path.decode()):
        r = httpx.get(base + url, timeout=10)
        assert r.status_code in (403, 404)
        assert all(s not in r.text for s in secrets)


def test_chat_answers_still_work_without_taking_the_chat_from_the_browser(server):
    base, app = server
    (fn_index,) = fn_ids(app, "respond", "")[:1]
    r = queue_event(base, fn_index, ["地域協働体とは何ですか？", None, None, "", ""])
    assert r["final"]["success"], r
    question, chat, *_ = r["final"]["output"]["data"]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "地域協働体" in json.dumps(chat, ensure_ascii=False)


def test_every_event_input_is_plain_data_not_the_chat(server):
    """No event takes the Chatbot (a component whose value may carry files) as an input;
    only the admin's file input takes files at all."""
    import gradio as gr

    _, app = server
    for fn in app.state.blocks.fns.values():
        for comp in fn.inputs:
            assert not isinstance(comp, gr.Chatbot), fn.name
            if isinstance(comp, gr.File):
                assert fn.fn.__name__ == "do_upload"


def test_admin_upload_event_cannot_name_a_server_path(server, secret_file):
    """The admin's own upload event with a made-up path outside the upload folder: refused
    by Gradio before the handler runs, so nothing is copied or added."""
    base, app = server
    secret_path, token = secret_file
    corpus = Path(app.state.assistant.corpus_dir)
    corpus_before = {p.name for p in corpus.iterdir()}
    before = _files_under(_upload_folder())
    (fn_index,) = fn_ids(app, "do_upload")
    r = run_event(base, fn_index, [PASSWORD, [file_payload(str(secret_path))], "", "", "", "", "", ""])
    assert r.status_code != 200 or "✓" not in r.text
    _assert_nothing_read(base, r.text, before, [token])
    assert {p.name for p in corpus.iterdir()} == corpus_before


@pytest.mark.parametrize("url", ["/gradio_api/file=http://127.0.0.1:9/x", "/gradio_api/file=https://example.com/",
                                 "/gradio_api/proxy=https://example.com/", "/gradio_api/file=//example.com/x",
                                 "/gradio_api/file/etc/os-release", "/gradio_api/file=../../../../etc/os-release",
                                 "/embed/gradio_api/file=/etc/os-release"])
def test_file_route_is_no_proxy(server, url):
    base, _ = server
    r = httpx.get(base + url, timeout=10)
    assert r.status_code in (403, 404)


# ---------------------------------------------------------------------------------------
# 4. uploads: admin session only, temporary files removed


def _multipart(name: str, data: bytes) -> dict:
    return {"files": (name, data, "application/octet-stream")}


def test_anonymous_upload_is_refused_before_the_body_is_stored(server):
    base, _ = server
    before = _files_under(_upload_folder())
    r = httpx.post(base + "/gradio_api/upload", files=_multipart("big.txt", b"x" * (2 * 1024 * 1024)), timeout=30)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/json")
    r = httpx.post(base + "/gradio_api/upload", files=_multipart("a.txt", b"abc"), timeout=10,
                   cookies={ADMIN_COOKIE: "made-up"})
    assert r.status_code == 403
    for path in ("/gradio_api//upload", "/embed/gradio_api/upload", "/gradio_api/upload/"):
        r = httpx.post(base + path, files=_multipart("a.txt", b"abc"), timeout=10)
        assert r.status_code in (403, 404, 405), (path, r.status_code)
    assert _files_under(_upload_folder()) == before


def test_upload_is_refused_when_there_is_no_admin_at_all(web_assistant, tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(web_assistant, data_dir=tmp_path)
    with TestClient(app) as c:
        r = c.post("/gradio_api/upload", files=_multipart("a.txt", b"abc"))
        assert r.status_code == 403


def _browser_event(base: str, app, fn_index: int, data: list, client: httpx.Client) -> list:
    """Run an event the way the page does: through the queue if it is queued, else directly."""
    if app.state.blocks.fns[fn_index].queue:
        r = queue_event(base, fn_index, data, client=client)
        assert r["final"] and r["final"]["success"], r
        return r["final"]["output"]["data"]
    r = run_event(base, fn_index, data, client=client)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _admin_login(base: str, app, client: httpx.Client, password: str = PASSWORD) -> dict:
    (fn_index,) = fn_ids(app, "do_login")[:1]
    panel, status, *rest = _browser_event(base, app, fn_index, [password], client)
    return {"panel": panel, "status": status, "ticket": rest[3] if len(rest) > 3 else None}


def test_admin_session_allows_upload_and_its_temp_files_are_removed(small_corpus, tmp_path):
    from assistant import Assistant

    assistant = Assistant.load(corpus_dir=small_corpus, index_dir=tmp_path / "index")
    app = create_app(assistant, data_dir=tmp_path / "data", admin_password=PASSWORD)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as c:
        login = _admin_login(base, app, c)
        assert login["ticket"]
        # the page trades the ticket for the HttpOnly cookie (the .then(js=…) of the login)
        r = c.post("/admin/session", json={"ticket": login["ticket"]})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.post("/admin/session", json={"ticket": login["ticket"]}).status_code == 403  # used up
        assert c.post("/admin/session", json={"ticket": "x" * 100_000}).status_code == 413
        before = _files_under(_upload_folder())
        doc = "# あおば市とんぼ池計画\n\n## 第1章\n\nとんぼ池の清掃は毎年6月に行います。\n".encode()
        r = c.post("/gradio_api/upload", files=_multipart("tonbo.md", doc))
        assert r.status_code == 200, r.text
        (uploaded,) = r.json()
        assert Path(uploaded).read_bytes() == doc
        (fn_index,) = fn_ids(app, "do_upload")
        payload = {**file_payload(uploaded), "orig_name": "tonbo.md"}
        r = run_event(base, fn_index, [PASSWORD, [payload], "", "あおば市", "", "", "", ""], client=c)
        assert r.status_code == 200, r.text
        assert "✓ tonbo.md" in r.json()["data"][0]
        assert (small_corpus / "tonbo.md").read_bytes() == doc
        # nothing of the upload is left behind in the upload folder (no file, no empty file)
        leftover = set(_files_under(_upload_folder())) - set(before)
        assert not leftover, leftover
        assert not Path(uploaded).exists()


# ---------------------------------------------------------------------------------------
# 2./3. login flood and password guessing


def test_admin_events_never_join_the_residents_queue(server):
    base, app = server
    for name in ("do_login", "do_upload", "do_save", "do_remove", "do_rebuild", "do_select"):
        for i in fn_ids(app, name):
            assert app.state.blocks.fns[i].queue is False, name
            r = queue_event(base, i, [PASSWORD])
            assert r["join_status"] == 403, (name, r)


def test_residents_are_answered_while_wrong_admin_logins_flood(web_assistant, tmp_path):
    """~20 wrong logins a second for 6 s (bounded, loopback only) while residents
    ask through the queue: every question is answered (no 503), the guesser is locked out,
    and the real admin — from an address that logged in before — still gets in."""
    app = create_app(web_assistant, data_dir=tmp_path, admin_password=PASSWORD, queue_max_size=64)
    stats = {"sent": 0, "queued": 0, "locked": 0, "other": 0}
    stop = threading.Event()
    with live_server(app) as base:
        (login_fn,) = fn_ids(app, "do_login")[:1]
        admin_ip = {"X-Forwarded-For": "198.51.100.7"}
        with httpx.Client(base_url=base, timeout=30, headers=admin_ip) as admin_client:
            assert _admin_login(base, app, admin_client)["panel"]["visible"] is True

        def flood(ip: str):
            # what the login button sends, as fast as a script can: first the queue (how the
            # page sent it before the fix), then the direct route (how the page sends it now)
            with httpx.Client(timeout=30, headers={"X-Forwarded-For": ip}) as c:
                while not stop.is_set():
                    t0 = time.monotonic()
                    guess = "guess-" + uuid.uuid4().hex[:6]
                    stats["sent"] += 1
                    j = c.post(base + "/gradio_api/queue/join", json={
                        "data": [guess], "fn_index": login_fn, "session_hash": uuid.uuid4().hex[:10]})
                    if j.status_code == 200:
                        stats["queued"] += 1
                    else:
                        r = run_event(base, login_fn, [guess], client=c)
                        if r.status_code == 200 and "一時的に止めています" in r.text:
                            stats["locked"] += 1
                        elif r.status_code != 200 or "パスワードが正しくありません" not in r.text:
                            stats["other"] += 1
                    stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))  # 10/s per thread

        floods = [threading.Thread(target=flood, args=(f"203.0.113.{i}",), daemon=True) for i in (1, 2)]
        flood_start = time.monotonic()
        for t in floods:
            t.start()
        time.sleep(4.0)  # before the fix the 64-place queue was full by now
        questions = ["地域協働体とは何ですか？", "市民活動団体への補助金はありますか？", "NPO法人の認証数の目標はいくつですか？",
                     "公共施設の里親制度とはどんな仕組みですか？", "協働を担う人材育成のための取り組みは？"]
        results: list[dict] = []
        (ask_fn,) = fn_ids(app, "respond", "")[:1]
        askers = [threading.Thread(target=lambda q=q: results.append(queue_event(base, ask_fn, [q, None, None, "", ""])))
                  for q in questions]
        t0 = time.monotonic()
        for t in askers:
            t.start()
        for t in askers:
            t.join(timeout=120)
        answered_in = time.monotonic() - t0
        time.sleep(max(0.0, 6.0 - (time.monotonic() - flood_start)))  # the flood lasts 6 s in all
        with httpx.Client(base_url=base, timeout=30, headers=admin_ip) as admin_client:
            real_admin = _admin_login(base, app, admin_client)
        stop.set()
        for t in floods:
            t.join(timeout=30)
    print(f"flood: {stats}, 5 questions answered in {answered_in:.1f}s")
    assert stats["sent"] >= 40 and stats["queued"] == 0 and stats["other"] == 0, stats  # ~120 on a quiet machine
    assert stats["locked"] > stats["sent"] // 2, stats  # the guessers spend most of the flood locked out
    assert len(results) == 5
    for r in results:
        assert r["join_status"] == 200, r
        assert r["final"] and r["final"]["success"], r
    assert real_admin["panel"]["visible"] is True, real_admin


def test_lockout_grows_per_client_and_globally():
    from assistant.web.security import LoginThrottle

    now = [0.0]
    t = LoginThrottle(free=2, global_free=5, base=1, max_lock=60, clock=lambda: now[0])
    assert t.failure("a") == 0 and t.failure("a") == 0
    assert t.failure("a") == 1          # the third failure costs 1 s …
    now[0] += 1
    assert t.failure("a") == 2          # … the next 2 s, then 4 s …
    now[0] += 2
    assert t.failure("a") == 4
    assert t.retry_after("b") == 0      # another address is not affected (yet)
    # many addresses sharing out the guessing hit the global limit
    for ip in ("c", "d", "e"):
        t.failure(ip)
    assert t.retry_after("f") > 0
    # an address that logged in before is not held back by the others' failures
    now[0] += 120
    t.success("admin")
    for ip in ("g", "h", "i", "j", "k", "l"):
        t.failure(ip)
    assert t.retry_after("m") > 0 and t.retry_after("admin") == 0
    # capped
    for _ in range(50):
        t.failure("a")
    assert t.retry_after("a") <= 60


def test_throttle_remembers_a_bounded_number_of_clients():
    from assistant.web.security import LoginThrottle

    t = LoginThrottle(max_clients=100)
    for i in range(5000):
        t.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(t._state) <= 102


def test_login_log_never_contains_the_guess(server, caplog):
    base, app = server
    guess = "my-guess-" + uuid.uuid4().hex
    (fn_index,) = fn_ids(app, "do_login")[:1]
    with caplog.at_level(logging.DEBUG):
        r = run_event(base, fn_index, [guess], client=None)
    assert r.status_code == 200
    assert "admin:" in caplog.text
    assert guess not in caplog.text


# ---------------------------------------------------------------------------------------
# 5./6. the JSON API: always a JSON 4xx, strict content type, invisible characters


@pytest.fixture(scope="module")
def client(server):
    base, _ = server
    with httpx.Client(base_url=base, timeout=60) as c:
        yield c


def _json_4xx(r: httpx.Response, status: int | None = None) -> dict:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    if status:
        assert r.status_code == status, r.text[:200]
    assert r.headers["content-type"].startswith("application/json")
    assert "Traceback" not in r.text
    return r.json()["error"]


@pytest.mark.parametrize("body,status", [
    ('{"question": "\\ud800abc"}', 422),
    ('{"question": "ごみ", "history": [{"role": "user", "content": "\\udfff"}]}', 422),
    ("[" * 20000 + "]" * 20000, 400),
    ("[" * 20000, 400),
    ('{"question": ' + "9" * 60000 + "}", 400),
    ('{"question": NaN}', 400),
    ('{"question": "a"}\x00', 400),
    (b'{"question": "\xff\xfe"}', 400),
], ids=["lone-surrogate", "surrogate-in-history", "deep-nesting", "deep-unclosed", "huge-number", "nan", "nul", "bad-utf8"])
def test_malformed_bodies_get_a_json_4xx(client, body, status):
    data = body if isinstance(body, bytes) else body.encode()
    r = client.post("/api/ask", content=data, headers={"Content-Type": "application/json"})
    err = _json_4xx(r, status)
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", err["message"])


@pytest.mark.parametrize("ctype", ["text/plain;x=json", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=json", "text/json-ish", ""])
def test_only_a_json_media_type_is_accepted(client, ctype):
    r = client.post("/api/ask", content='{"question": "ごみ"}', headers={"Content-Type": ctype})
    assert _json_4xx(r, 415)["code"] == "unsupported_media_type"


def test_json_media_type_with_parameters_is_accepted(client):
    r = client.post("/api/ask", content='{"question": "地域協働体とは何ですか？"}'.encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


@pytest.mark.parametrize("invisible", ["\u202e", "\u200b", "\u2066", "\u200f", "\ufeff", "\u2069", "\U000e0041"])
def test_direction_and_zero_width_characters_do_not_survive(client, invisible):
    q = f"地域{invisible}協働体とは{invisible}何ですか？"
    r = client.post("/api/ask", json={"question": q})
    assert r.status_code == 200, r.text
    a = r.json()
    assert invisible not in a["query_used"] and invisible not in a["text"]
    assert "地域協働体" in a["query_used"]


# ---------------------------------------------------------------------------------------
# 6. security headers


def test_pages_and_api_carry_security_headers(client):
    for path in ("/", "/embed", "/api/health", "/gradio_api/file=/etc/os-release"):
        r = client.get(path)
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert "frame-ancestors" in r.headers.get("content-security-policy", ""), path


def test_embed_is_framable_only_by_allowed_origins_and_the_admin_page_by_nobody(client):
    embed = client.get("/embed").headers["content-security-policy"]
    assert f"frame-ancestors 'self' {ALLOWED};" in embed
    assert "x-frame-options" not in client.get("/embed").headers
    root = client.get("/")
    assert "frame-ancestors 'none'" in root.headers["content-security-policy"]
    assert root.headers["x-frame-options"] == "DENY"


def test_frame_origins_setting_is_sanitised():
    from assistant.web.security import frame_ancestors

    assert frame_ancestors(["https://a.example.jp", "https://b.example.jp/"]) == \
        "'self' https://a.example.jp https://b.example.jp"
    # a value that would inject another directive is dropped
    assert frame_ancestors(["https://x.jp; script-src *", "javascript:alert(1)", "https://ok.jp"]) == "'self' https://ok.jp"
    assert frame_ancestors(["*"]) == "*"


def test_gradio_event_bodies_are_capped(server):
    base, app = server
    (fn_index,) = fn_ids(app, "respond", "")[:1]
    r = httpx.post(base + "/gradio_api/queue/join", timeout=30,
                   json={"data": ["あ" * 200_000, None, None, "", ""], "fn_index": fn_index, "session_hash": "abcdef"})
    assert r.status_code == 413

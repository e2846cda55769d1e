"""The JSON API and the rendering helpers of assistant/web/, against the real Assistant.

The app under test is the one `python app.py` serves (create_app over Assistant.load on the
bundled corpus); requests go through Starlette's TestClient, i.e. the full ASGI stack with
the CORS and body-size middleware and the mounted Gradio app.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.feedback import FeedbackLog, feedback_summary
from assistant.types import Answer, Chunk, Citation, Hit
from assistant.web import AnswerCache, Gate, create_app, escape_markdown, highlight_html, render_answer_markdown, render_sources_html

ROOT = Path(__file__).resolve().parents[1]
DOC_SUFFIXES = {".txt", ".md", ".pdf", ".docx", ".html", ".htm"}


def corpus_files() -> list[str]:
    return sorted(p.name for p in (ROOT / "corpus").iterdir() if p.suffix.lower() in DOC_SUFFIXES)
ALLOWED = "https://www.city.example.jp"
XSS = ['<img src=x onerror=alert(1)>', "<script>alert(1)</script>", "[クリック](javascript:alert(1))", "${alert(1)}"]


@pytest.fixture(scope="module")
def client(web_assistant, tmp_path_factory):
    app = create_app(web_assistant, allowed_origins=[ALLOWED], data_dir=tmp_path_factory.mktemp("web-data"),
                     max_question_chars=500, max_body_bytes=16 * 1024)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def ask(client, body, **kw):
    return client.post("/api/ask", json=body, **kw)


def _is_japanese_error(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", err["message"]), err
    assert "Traceback" not in r.text
    return err


# ---------------------------------------------------------------------------------------
# /api/ask, /api/health, /api/documents


def test_ask_returns_answer_with_numbered_citations(client):
    r = ask(client, {"question": "NPO法人の認証数の目標はいくつですか？"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["refused"] is False
    assert a["citations"], a
    numbers = [c["number"] for c in a["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))
    # every citation number appears as a [n] marker in the text, and every marker has a source
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", a["text"])}
    assert markers == set(numbers)
    docs = {d["doc_id"] for d in client.get("/api/documents").json()["documents"]}
    for c in a["citations"]:
        assert c["doc_id"] in docs and c["text"] and c["title"] and isinstance(c["section"], list)
    assert any("認証" in c["text"] for c in a["citations"])
    # Japanese is sent as UTF-8, not \\u escapes (curl users read it directly)
    assert "認証" in r.content.decode("utf-8")


def test_follow_up_question_uses_the_history(client):
    history = [
        {"role": "user", "content": "NPO法人の認証数について教えて"},
        {"role": "assistant", "content": "NPO法人の認証数は…[1]"},
    ]
    alone = ask(client, {"question": "その目標値は？"}).json()
    follow = ask(client, {"question": "その目標値は？", "history": history}).json()
    assert "NPO" not in alone["query_used"]
    assert "NPO" in follow["query_used"], follow["query_used"]


def test_question_off_topic_is_refused_with_related_sections(client):
    a = ask(client, {"question": "駅前のおいしいラーメン屋を教えて"}).json()
    assert a["refused"] is True and a["citations"] == []


def test_filters_are_passed_and_validated(client):
    docs = client.get("/api/documents").json()["documents"]
    target = next(d for d in docs if d["municipality"] == "山口市")
    a = ask(client, {"question": "協働のまちづくりの基本的な考え方は？", "doc_id": target["doc_id"]}).json()
    assert a["citations"] and {c["doc_id"] for c in a["citations"]} == {target["doc_id"]}
    a = ask(client, {"question": "協働のまちづくりの基本的な考え方は？", "municipality": "長門市"}).json()
    assert a["citations"] and {c["municipality"] for c in a["citations"]} == {"長門市"}
    _is_japanese_error(ask(client, {"question": "協働", "doc_id": "nope.txt"}), 422)
    _is_japanese_error(ask(client, {"question": "協働", "municipality": "存在しない市"}), 422)


def test_health_reports_index(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok"
    assert h["documents"] == len(corpus_files())
    assert h["passages"] > 0 and h["model"] and h["built_at"]


def test_documents_lists_the_corpus(client):
    docs = client.get("/api/documents").json()["documents"]
    assert sorted(d["doc_id"] for d in docs) == corpus_files()
    assert all(d["title"] and d["passages"] > 0 for d in docs)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 422, "invalid_question"),
        ({"question": 42}, 422, "invalid_question"),
        ({"question": "   \n "}, 422, "empty_question"),
        ({"question": "協" * 501}, 422, "question_too_long"),
        ({"question": "協働", "history": "前の会話"}, 422, "invalid_history"),
        ({"question": "協働", "history": [{"role": "system", "content": "x"}]}, 422, "invalid_history"),
        ({"question": "協働", "history": [{"role": "user"}]}, 422, "invalid_history"),
        ({"question": "協働", "history": [{"role": "user", "content": "a"}] * 101}, 422, "history_too_long"),
        ({"question": "協働", "doc_id": 3}, 422, "invalid_doc_id"),
        (["協働"], 400, "invalid_body"),
    ],
)
def test_bad_input_is_a_4xx_json_error_in_japanese(client, body, status, code):
    assert _is_japanese_error(ask(client, body), status)["code"] == code


def test_question_at_the_limit_is_accepted(client):
    assert ask(client, {"question": "協働" * 250}).status_code == 200


def test_malformed_requests(client):
    r = client.post("/api/ask", content=b'{"question": "abc"', headers={"content-type": "application/json"})
    assert _is_japanese_error(r, 400)["code"] == "invalid_json"
    r = client.post("/api/ask", content="question=abc", headers={"content-type": "application/x-www-form-urlencoded"})
    assert _is_japanese_error(r, 415)["code"] == "unsupported_media_type"
    r = client.post("/api/ask", content=b"\xff\xfe{}", headers={"content-type": "application/json"})
    assert _is_japanese_error(r, 400)["code"] == "invalid_json"
    assert _is_japanese_error(client.get("/api/ask"), 405)["code"] == "method_not_allowed"
    assert _is_japanese_error(client.get("/api/nothing-here"), 404)["code"] == "not_found"


def test_oversize_body_is_413(client):
    big = json.dumps({"question": "協働", "pad": "x" * 20000}).encode()
    r = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert _is_japanese_error(r, 413)["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit must hold for streamed bodies too
        yield '{"question": "協働", "pad": "'.encode()
        for _ in range(40):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert _is_japanese_error(r, 413)["code"] == "body_too_large"


def test_cors_only_for_allowed_origin(client):
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = client.options("/api/ask", headers={"Origin": ALLOWED, **pre})
    assert ok.status_code == 200
    assert ok.headers.get("access-control-allow-origin") == ALLOWED
    bad = client.options("/api/ask", headers={"Origin": "https://evil.example.com", **pre})
    assert "access-control-allow-origin" not in bad.headers
    r = client.get("/api/health", headers={"Origin": ALLOWED})
    assert r.headers.get("access-control-allow-origin") == ALLOWED
    r = client.get("/api/health", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in r.headers
    # the Gradio app mounted at / follows the same policy (no permissive Gradio default)
    r = client.get("/config", headers={"Origin": "https://evil.example.com"})
    assert r.headers.get("access-control-allow-origin") is None


def test_xss_payload_comes_back_as_json_data(client):
    r = ask(client, {"question": " ".join(XSS) + " 補助金はありますか"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "text/html" not in r.headers["content-type"]
    a = r.json()  # it is data: the client decides how to show it
    assert isinstance(a["text"], str)


def test_repeated_question_is_served_from_the_answer_cache(client):
    cache = client.app.state.answer_cache
    body = {"question": "公共施設の里親制度とはどんな仕組みですか？"}
    first = ask(client, body).json()
    hits = cache.hits
    assert ask(client, body).json() == first
    assert cache.hits == hits + 1
    # the same words after a different conversation are a different question
    ask(client, {**body, "history": [{"role": "user", "content": "NPO法人について"}]})
    assert cache.hits == hits + 1


def test_answer_cache_is_lru_and_keyed_by_index_version():
    c = AnswerCache(2)
    k = lambda q, v="v1": c.key(q, [], None, None, v)  # noqa: E731
    c.put(k("a"), 1)
    c.put(k("b"), 2)
    assert c.get(k("a")) == 1  # a is now the most recent
    c.put(k("c"), 3)  # evicts b
    assert c.get(k("b")) is None and c.get(k("c")) == 3
    assert c.get(k("a", v="v2")) is None  # a rebuilt index never serves old answers
    off = AnswerCache(0)
    off.put(k("a"), 1)
    assert off.get(k("a")) is None


def test_failure_inside_the_assistant_is_a_japanese_500_without_traceback(client, web_assistant, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("index exploded at /secret/path")

    monkeypatch.setattr(web_assistant, "ask", boom)
    r = ask(client, {"question": "この質問は失敗します（テスト用）"})
    err = _is_japanese_error(r, 500)
    assert err["code"] == "internal_error"
    assert "secret" not in r.text and "RuntimeError" not in r.text


def test_overload_is_refused_with_503_not_queued_forever(web_assistant, tmp_path, monkeypatch):
    app = create_app(web_assistant, data_dir=tmp_path, concurrency=1, queue_max_size=0, answer_cache_size=0)
    entered, release = threading.Event(), threading.Event()
    real_ask = web_assistant.ask

    def slow_ask(*a, **k):
        entered.set()
        release.wait(10)
        return real_ask(*a, **k)

    monkeypatch.setattr(web_assistant, "ask", slow_ask)
    with TestClient(app) as c:
        results = {}
        t = threading.Thread(target=lambda: results.setdefault("first", ask(c, {"question": "地域協働体とは？"})))
        t.start()
        assert entered.wait(10)
        second = ask(c, {"question": "補助金はありますか？"})
        release.set()
        t.join(10)
    assert _is_japanese_error(second, 503)["code"] == "busy"
    assert results["first"].status_code == 200


def test_ui_pages_are_served(client):
    for path in ("/", "/embed"):
        r = client.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]


# ---------------------------------------------------------------------------------------
# Rendering: user and document text is inert


def _hit(text, title="あおば市計画", section=("第1章", "概要"), municipality="あおば市", cid="c1"):
    chunk = Chunk(id=cid, doc_id="999_x.txt", title=title, municipality=municipality, section=list(section),
                  text=text, search_text=text, lines=(3, 5))
    return Hit(chunk=chunk, score=1.0)


@pytest.mark.parametrize("payload", XSS)
def test_markdown_escaping_leaves_no_markup(payload):
    out = escape_markdown(payload)
    assert "<" not in out and ">" not in out
    assert "](" not in out  # no Markdown link can form
    assert "${" not in out


def test_answer_and_sources_render_document_text_inertly():
    evil = " ".join(XSS)
    hit = _hit(f"防災倉庫を点検します{evil}", title=f"計画{XSS[0]}", section=[XSS[1], XSS[2]])
    ans = Answer(text=f"防災倉庫を点検します{evil} [1]", citations=[Citation(number=1, hit=hit)])
    md = render_answer_markdown(ans)
    assert "<img" not in md and "<script" not in md and "](" not in md and "${" not in md
    assert '<a class="mq-cite" href="#mq-c-0-1">[1]</a>' in md  # [1] is our link to its fold
    assert md.count("<a ") == 1 and "\n\n" not in md.split('<div class="mq-folds">')[1]
    ctx = {"c1": {"section": [XSS[1]], "lines": [1, 9], "text": f"全文 {evil} 防災倉庫"}}
    html = render_sources_html(ans, f"防災倉庫 {XSS[0]}", ctx)
    assert "<img" not in html and "<script" not in html and "javascript:alert(1))" in html.replace("&#40;", "(")
    assert "${" not in html and "<a " not in html
    assert "<mark>防災倉庫</mark>" in html
    assert "この節の全文を読む" in html and "全文" in html


def test_highlight_escapes_before_marking_and_never_splits_entities():
    out = highlight_html("A&B <b>amp</b> 協働の推進", ["amp", "協働"])
    assert out == "A&amp;B &lt;b&gt;<mark>amp</mark>&lt;/b&gt; <mark>協働</mark>の推進"
    # half-width query term highlights full-width document text
    assert "<mark>ＮＰＯ</mark>" in highlight_html("ＮＰＯ法人", ["NPO"])


def test_refusal_shows_related_sections_in_sources():
    ans = Answer(text="見つかりませんでした。", refused=True, related=[_hit("近い節の本文")])
    html = render_sources_html(ans, "ラーメン")
    assert "近い箇所" in html and "近い節の本文" in html


# ---------------------------------------------------------------------------------------
# Admission gate and feedback log


def test_gate_rejects_beyond_concurrency_plus_waiting():
    g = Gate(concurrency=2, max_waiting=1)
    assert [g.try_admit() for _ in range(4)] == [True, True, True, False]
    g.release_admission()
    assert g.try_admit() is True


def test_feedback_log_concurrent_appends_are_whole_lines(tmp_path):
    fb = FeedbackLog(tmp_path / "fb")
    long_answer = "回答" * 3000  # well over PIPE_BUF: interleaving would show up as broken JSON

    def worker(i):
        for j in range(20):
            fb.record(question=f"質問{i}-{j}", answer=long_answer, cited_ids=["a", "b"],
                      rating=bool((i + j) % 2))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records, bad = fb.read()
    assert bad == 0 and len(records) == 160
    assert {r["rating"] for r in records} == {"up", "down"}
    rec = records[0]
    assert set(rec) == {"time", "rating", "question", "answer", "cited_ids", "refused", "source"}
    assert rec["time"].endswith("Z")
    summary = feedback_summary(tmp_path / "fb")
    assert "件数: 160" in summary and "👍 80" in summary and "👎 80" in summary


def test_feedback_summary_handles_missing_and_damaged_logs(tmp_path, monkeypatch):
    assert "まだフィードバックはありません" in feedback_summary(tmp_path / "none")
    d = tmp_path / "d"
    d.mkdir()
    (d / "feedback.jsonl").write_text('{"rating": "down", "question": "Q", "time": "2026-01-01T00:00:00Z"}\n{broken\n',
                                      encoding="utf-8")
    s = feedback_summary(d)
    assert "👎 1" in s and "読み取れない行: 1" in s and "Q" in s
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(d))
    assert FeedbackLog().path == d / "feedback.jsonl"

"""The admin tab (issue 6, items 3–4) against the real app over a private copy of a small corpus.

Each test builds the real Assistant over ``small_corpus`` (two bundled plan documents and the
catalog, copied into tmp_path) with its own index directory, and the real app from
``create_app``. Admin actions are driven through ``app.state.admin`` (the object whose methods
the 管理 tab's buttons call) and through the Gradio event functions themselves; answers are
checked through the JSON API (``POST /api/ask``) of the *same running app*, i.e. no restart.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.types import Chunk, Hit
from assistant.web import ADMIN_ENV, MSG_ADMIN_BAD_PASSWORD, create_app, render_sources_html
from assistant.web.security import LoginThrottle

PASSWORD = "correct horse battery staple"
KAPPA_Q = "かっぱ橋の修繕はいつ実施しますか？"
KAPPA_MD = """# あおば市かっぱ橋保全計画

## 第1章 かっぱ橋の修繕

かっぱ橋の修繕は、令和8年度に市の土木課が実施します。
修繕費用は約3億2千万円を見込んでいます。
"""
# answered by corpus/004 (日南市 協働のまちづくり基本方針) before it is removed
DOC004 = "004_0697b41b2b272361.txt"
Q004 = "協働の推進体制はどうなっていますか？"


def _snapshot(corpus: Path) -> dict[str, str]:
    """Every file in the corpus directory (hidden lock files aside) → sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(corpus.iterdir()) if p.is_file() and not p.name.startswith(".")}


@pytest.fixture
def live(small_corpus, tmp_path, monkeypatch):
    """(client, app, assistant, corpus_dir) with the admin tab enabled through the environment."""
    from assistant import Assistant

    monkeypatch.setenv(ADMIN_ENV, PASSWORD)
    assistant = Assistant.load(corpus_dir=small_corpus, index_dir=tmp_path / "index")
    app = create_app(assistant, data_dir=tmp_path / "data")
    # functional tests type wrong passwords on purpose; the lockout has its own tests below
    # and in tests/test_security.py
    app.state.admin.throttle = LoginThrottle(free=1000, global_free=1000)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, app, assistant, small_corpus


def _ask(client, question: str, **filters) -> dict:
    r = client.post("/api/ask", json={"question": question, **filters})
    assert r.status_code == 200, r.text
    return r.json()


def _cited(answer: dict) -> set[str]:
    return {c["doc_id"] for c in answer["citations"]}


def _ui_fn(app, name: str):
    """The Python function behind a 管理 tab event (what Gradio calls on a click)."""
    fns = [b.fn for b in app.state.blocks.fns.values() if getattr(b.fn, "__name__", "") == name]
    assert fns, f"no UI event handler named {name}"
    return fns[0]


def _labels(app) -> set[str]:
    return {str(c.get("props", {}).get("label")) for c in app.state.blocks.config["components"]}


# ---------------------------------------------------------------------------------------
# present only when configured


def test_no_admin_tab_without_the_environment_variable(small_corpus, tmp_path, monkeypatch):
    from assistant import Assistant

    monkeypatch.delenv(ADMIN_ENV, raising=False)
    assistant = Assistant.load(corpus_dir=small_corpus, index_dir=tmp_path / "index")
    app = create_app(assistant, data_dir=tmp_path / "data")
    assert app.state.admin is None
    labels = _labels(app)
    assert "管理" not in labels and "管理者パスワード" not in labels
    assert not any(getattr(b.fn, "__name__", "") in {"do_upload", "do_remove", "do_login"}
                   for b in app.state.blocks.fns.values())
    with TestClient(app) as c:
        page = c.get("/").text
        assert "管理者パスワード" not in page and "mq-admin" not in page
        # the empty variable counts as unset
        monkeypatch.setenv(ADMIN_ENV, "")
        assert create_app(assistant, data_dir=tmp_path / "data2").state.admin is None

    # the same app with the variable set does have it (so the check above can fail)
    monkeypatch.setenv(ADMIN_ENV, PASSWORD)
    app2 = create_app(assistant, data_dir=tmp_path / "data3")
    assert app2.state.admin is not None
    assert {"管理", "管理者パスワード"} <= _labels(app2)
    with TestClient(app2) as c:
        assert "管理者パスワード" in c.get("/").text
        # (that /embed does not show it is checked in the browser: tests/test_admin_browser.py)


# ---------------------------------------------------------------------------------------
# wrong password


def test_wrong_password_changes_nothing(live, tmp_path):
    client, app, assistant, corpus = live
    admin = app.state.admin
    before = _snapshot(corpus)
    built_at = assistant.health()["built_at"]
    docs_before = client.get("/api/documents").json()
    new = tmp_path / "kappa.md"
    new.write_text(KAPPA_MD, encoding="utf-8")

    for pw in ("wrong", "", None, PASSWORD + " ", PASSWORD.upper()):
        out = admin.upload(pw, [str(new)], municipality="あおば市")
        assert not out.ok and out.message == MSG_ADMIN_BAD_PASSWORD
    assert not admin.remove("wrong", DOC004).ok
    assert not admin.edit("wrong", DOC004, title="書き換え").ok
    assert not admin.rebuild("wrong").ok

    # the UI's own handlers refuse as well: login keeps the panel hidden, upload says why
    panel, status, *_ = _ui_fn(app, "do_login")("wrong")
    assert panel["visible"] is False and status == MSG_ADMIN_BAD_PASSWORD
    result, *_ = _ui_fn(app, "do_upload")("wrong", [str(new)], "", "", "", "", "", "")
    assert result == MSG_ADMIN_BAD_PASSWORD

    assert _snapshot(corpus) == before
    assert assistant.health()["built_at"] == built_at
    assert client.get("/api/documents").json() == docs_before
    assert "kappa.md" not in _cited(_ask(client, KAPPA_Q))


def test_wrong_passwords_lock_the_guesser_out_without_holding_a_thread(live):
    _, app, _, _ = live
    admin = app.state.admin
    now = [0.0]
    admin.throttle = LoginThrottle(free=3, base=10, clock=lambda: now[0])
    t0 = time.perf_counter()
    for _ in range(4):
        assert not admin.check("nope", "203.0.113.9")
    assert time.perf_counter() - t0 < 0.5  # no sleeping: the guesser waits, not a worker
    # locked: even the right password is refused, and another address is not affected
    assert not admin.check(PASSWORD, "203.0.113.9")
    assert admin.check(PASSWORD, "198.51.100.7")
    now[0] += 10.5
    assert admin.check(PASSWORD, "203.0.113.9")


def test_login_shows_the_document_list(live):
    _, app, _, _ = live
    panel, status, table, stats, target, ticket = _ui_fn(app, "do_login")(PASSWORD)
    assert panel["visible"] is True and "ログイン" in status
    assert ticket  # traded for the upload session cookie by the page (tests/test_security.py)
    assert set(table["文書ID"]) == {"003_dfaa35240c5397ba.txt", DOC004}
    assert (table["段落数"] > 0).all()
    assert "文書数: 2" in stats and "段落" in stats
    assert {v for _, v in target["choices"]} == {"003_dfaa35240c5397ba.txt", DOC004}


# ---------------------------------------------------------------------------------------
# upload → answered at once, without restarting


def test_uploaded_document_is_answered_without_restart(live, tmp_path):
    client, app, assistant, corpus = live
    before = _ask(client, KAPPA_Q)  # also puts this answer in the answer cache
    assert "kappa.md" not in _cited(before)
    assert before["refused"] is True

    upload_dir = tmp_path / "gradio-upload" / "abc123"
    upload_dir.mkdir(parents=True)
    src = upload_dir / "kappa.md"
    src.write_text(KAPPA_MD, encoding="utf-8")
    # the UI handler, as a click on 「追加して索引を更新」 calls it
    result, table, stats, target, muni_dd, doc_dd, files = _ui_fn(app, "do_upload")(
        PASSWORD, [str(src)], "", "あおば市", "2026", "保全計画", "", "")
    assert "✓ kappa.md" in result and "文書ID kappa.md" in result and "索引を更新しました" in result, result
    assert "kappa.md" in set(table["文書ID"])
    assert "文書数: 3" in stats and "読み込み 1" in stats and "再利用 2" in stats, stats
    assert ("あおば市", "あおば市") in [tuple(x) for x in muni_dd["choices"]]
    assert files is None  # the file input is cleared after a successful upload

    after = _ask(client, KAPPA_Q)
    assert after["refused"] is False
    assert "kappa.md" in _cited(after), after
    assert any("令和8年度" in c["text"] for c in after["citations"] if c["doc_id"] == "kappa.md")
    # the new document is a valid filter value at once, and listed
    assert any(d["doc_id"] == "kappa.md" and d["municipality"] == "あおば市" and d["year"] == "2026"
               for d in client.get("/api/documents").json()["documents"])
    filtered = _ask(client, KAPPA_Q, municipality="あおば市")
    assert _cited(filtered) == {"kappa.md"}
    assert (corpus / "kappa.md").read_text(encoding="utf-8") == KAPPA_MD
    assert '["kappa.md"]' in (corpus / "catalog.toml").read_text(encoding="utf-8")


def test_bad_file_is_rejected_with_a_reason_and_changes_nothing(live, tmp_path):
    client, app, assistant, corpus = live
    admin = app.state.admin
    before = _snapshot(corpus)
    built_at = assistant.health()["built_at"]
    bad_pdf = tmp_path / "keikaku.pdf"
    bad_pdf.write_bytes(b"this is not a PDF at all\x00\x01\x02" * 50)
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00" * 100)
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")

    out = admin.upload(PASSWORD, [str(bad_pdf), str(exe), str(empty)])
    assert not out.ok and not out.changed
    lines = out.message.splitlines()
    assert any(l.startswith("✗ keikaku.pdf") and "PDF" in l for l in lines), out.message
    assert any(l.startswith("✗ setup.exe") and "対応していない形式" in l for l in lines), out.message
    assert any(l.startswith("✗ empty.md") and "空のファイル" in l for l in lines), out.message
    assert "Traceback" not in out.message
    assert _snapshot(corpus) == before
    assert assistant.health()["built_at"] == built_at

    # a good file next to a bad one: the good one goes in, the bad one is reported
    good = tmp_path / "kappa.md"
    good.write_text(KAPPA_MD, encoding="utf-8")
    out = admin.upload(PASSWORD, [str(bad_pdf), str(good)])
    assert out.changed
    assert "✗ keikaku.pdf" in out.message and "✓ kappa.md" in out.message
    assert set(_snapshot(corpus)) == set(before) | {"kappa.md"}
    assert "kappa.md" in _cited(_ask(client, KAPPA_Q))


def test_edit_entry_updates_the_list_and_filters(live):
    client, app, _, corpus = live
    admin = app.state.admin
    out = admin.edit(PASSWORD, DOC004, title="日南市協働のまちづくり基本方針（改）", municipality="日南市",
                     year="2012", kind="基本方針", url="")
    assert out.ok and out.changed, out.message
    doc = next(d for d in client.get("/api/documents").json()["documents"] if d["doc_id"] == DOC004)
    assert doc["title"] == "日南市協働のまちづくり基本方針（改）" and doc["year"] == "2012" and doc["kind"] == "基本方針"
    a = _ask(client, Q004, doc_id=DOC004)
    assert a["citations"] and all(c["title"] == "日南市協働のまちづくり基本方針（改）" for c in a["citations"])
    # the edit form is filled from the catalog
    assert _ui_fn(app, "do_select")(PASSWORD, DOC004)[:4] == ("日南市協働のまちづくり基本方針（改）", "日南市", "2012", "基本方針")
    assert not admin.edit(PASSWORD, "../catalog.toml", title="x").ok
    assert not admin.edit(PASSWORD, "nope.txt", title="x").ok


def test_removed_document_disappears_from_answers(live):
    client, app, _, corpus = live
    before = _ask(client, Q004)
    assert DOC004 in _cited(before), before  # precondition: this question is answered from 004

    # the UI asks for an explicit confirmation first
    result, *_ = _ui_fn(app, "do_remove")(PASSWORD, DOC004, False, "")
    assert "削除を確認" in result and (corpus / DOC004).exists()

    result, table, *_ = _ui_fn(app, "do_remove")(PASSWORD, DOC004, True, "")
    assert "削除しました" in result, result
    assert DOC004 not in set(table["文書ID"])
    assert not (corpus / DOC004).exists()
    assert DOC004 not in (corpus / "catalog.toml").read_text(encoding="utf-8")

    after = _ask(client, Q004)
    assert DOC004 not in _cited(after)
    assert all(h["doc_id"] != DOC004 for h in after.get("related", []))
    assert DOC004 not in {d["doc_id"] for d in client.get("/api/documents").json()["documents"]}
    r = client.post("/api/ask", json={"question": Q004, "doc_id": DOC004})
    assert r.status_code == 422  # no longer a known document
    assert not app.state.admin.remove(PASSWORD, DOC004).ok  # removing twice is a clear error


def test_questions_are_answered_from_the_old_index_during_a_rebuild(live, tmp_path, monkeypatch):
    client, app, assistant, corpus = live
    admin = app.state.admin
    started, release = threading.Event(), threading.Event()
    real_build = assistant._build

    def slow_build(*a, **kw):  # the rebuild pauses half-way until the test lets it go on
        started.set()
        assert release.wait(60)
        return real_build(*a, **kw)

    monkeypatch.setattr(assistant, "_build", slow_build)
    src = tmp_path / "kappa.md"
    src.write_text(KAPPA_MD, encoding="utf-8")
    outcome = {}
    t = threading.Thread(target=lambda: outcome.setdefault("u", admin.upload(PASSWORD, [str(src)])))
    t.start()
    try:
        assert started.wait(60), "rebuild did not start"
        # during the rebuild: answered (no error), from the old index
        results = {}

        def ask_in_thread():
            results["a"] = client.post("/api/ask", json={"question": Q004})

        qt = threading.Thread(target=ask_in_thread)
        qt.start()
        qt.join(30)
        assert not qt.is_alive(), "a question blocked behind the rebuild"
        assert results["a"].status_code == 200 and DOC004 in _cited(results["a"].json())
        during = _ask(client, KAPPA_Q)
        assert "kappa.md" not in _cited(during)
        assert client.get("/api/health").json()["documents"] == 2
        # a second admin action waits for the first (one rebuild at a time)
        second = threading.Thread(target=lambda: outcome.setdefault("r", admin.rebuild(PASSWORD)))
        second.start()
        time.sleep(0.3)
        assert admin.lock.locked() and "r" not in outcome
    finally:
        release.set()
        t.join(120)
    second.join(120)
    assert outcome["u"].changed and outcome["r"].ok
    assert "kappa.md" in _cited(_ask(client, KAPPA_Q))
    assert client.get("/api/health").json()["documents"] == 3


def test_rebuild_button_reports_stats(live):
    _, app, _, _ = live
    result, table, stats, *_ = _ui_fn(app, "do_rebuild")(PASSWORD, "")
    assert "索引を更新しました" in result
    assert re.search(r"文書数: 2", stats) and "段落" in stats


# ---------------------------------------------------------------------------------------
# page numbers in the sources panel


def _hit(page):
    c = Chunk(id="x#1", doc_id="plan.pdf", title="あおば市総合計画", municipality="あおば市",
              section=["第1章"], text="本文です。", search_text="本文です。", lines=(3, 5), page=page)
    return Hit(chunk=c, score=1.0)


def test_sources_panel_shows_page_numbers():
    class A:
        citations = []
        refused = True
        text = ""

    a = A()
    a.related = [_hit(12)]
    html = render_sources_html(a, "本文")
    assert "p.12" in html and "3〜5行目" in html
    a.related = [_hit(None)]
    html = render_sources_html(a, "本文")
    assert "p." not in html and "3〜5行目" in html


def test_chat_bubble_names_the_page():
    from assistant.types import Answer, Citation
    from assistant.web import render_answer_markdown

    md = render_answer_markdown(Answer(text="本文です。[1]", citations=[Citation(number=1, hit=_hit(12))]))
    assert "p&#46;12" in md  # in the citation's fold (Markdown punctuation as an entity there)
    md = render_answer_markdown(Answer(text="本文です。[1]", citations=[Citation(number=1, hit=_hit(None))]))
    assert "p&#46;" not in md and "p\\." not in md


def test_uploaded_pdf_is_cited_with_its_page(live, doc_builders):
    client, app, assistant, _ = live
    pdf = doc_builders.pdf("hashi-keikaku.pdf", [
        ["第1章 計画の目的", "本計画は市内の橋りょうを長く安全に使うための計画です。"],
        ["第2章 点検", "市内の橋りょうの定期点検は5年に1回、近接目視により行います。"],
    ], title="あおば市橋りょう長寿命化計画")
    out = app.state.admin.upload(PASSWORD, [str(pdf)], municipality="あおば市")
    assert out.changed and "✓ hashi-keikaku.pdf" in out.message and "2ページ" in out.message, out.message
    q = "橋りょうの定期点検は何年に1回行いますか？"
    a = _ask(client, q)
    cites = [c for c in a["citations"] if c["doc_id"] == "hashi-keikaku.pdf"]
    assert cites and cites[0]["page"] == 2, a
    html = render_sources_html(assistant.ask(q), q)
    assert "p.2" in html

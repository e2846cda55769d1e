"""Search backends (assistant/backends): the seam, the Milvus backend on milvus-lite, and faults.

The retrieval and answer tests themselves run on both backends through the parametrized
``bundled_assistant`` fixture (tests/conftest.py); this file holds what is specific to the seam.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from assistant import Assistant, backends, cli
from assistant.backends import BackendError, BackendUnavailable, parse_spec
from conftest import milvus_lite_or_skip

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there

QUESTIONS = [
    "NPO法人の認証数の目標はいくつですか？",
    "市民活動を支援する拠点は？",
    "長門市の高齢化率はどれくらいですか？",
    "地域協働体とは何ですか？",
    "協働を担う人材育成のための取り組みは？",
    "ごみの出し方は？",
    "電子自治体の推進で目標指標は何ですか？",
    "子育て支援",
]


# --- choosing a backend ---------------------------------------------------------------------


def test_a_backend_is_named_local_or_milvus_with_a_uri(monkeypatch):
    monkeypatch.delenv(backends.ENV, raising=False)
    assert parse_spec(None) == ("local", None)
    assert parse_spec("local") == ("local", None)
    assert parse_spec("milvus:/data/qa.db") == ("milvus", "/data/qa.db")
    assert parse_spec("milvus:http://milvus:19530") == ("milvus", "http://milvus:19530")
    monkeypatch.setenv(backends.ENV, "milvus:x.db")
    assert parse_spec(None) == ("milvus", "x.db")


@pytest.mark.parametrize("spec", ["elastic", "milvus:", "faiss:index"])
def test_an_unknown_or_incomplete_backend_is_one_clear_error(spec):
    with pytest.raises(BackendError, match="milvus:PATH.db"):
        parse_spec(spec)


def test_an_unreachable_milvus_at_start_is_one_error_naming_the_uri():
    pytest.importorskip("pymilvus")
    from assistant.backends.milvus import MilvusStore

    with pytest.raises(BackendUnavailable) as e:
        MilvusStore(UNREACHABLE, timeout=3)
    assert UNREACHABLE in str(e.value) and "接続できません" in str(e.value)


def test_the_cli_says_which_backend_it_cannot_reach_without_a_traceback(monkeypatch, capsys, small_corpus, tmp_path):
    pytest.importorskip("pymilvus")
    monkeypatch.setenv(backends.ENV, "local")  # cli.main sets it from --backend; restored after the test
    code = cli.main(["search", "NPO", "--corpus", str(small_corpus), "--index", str(tmp_path / "idx"),
                     "--backend", f"milvus:{UNREACHABLE}"])
    err = capsys.readouterr().err
    assert code == 2
    assert UNREACHABLE in err and "Traceback" not in err
    assert not (tmp_path / "idx").exists()  # nothing was built for a backend it cannot reach


# --- the same answers on both ---------------------------------------------------------------


def test_both_backends_rank_the_same_top_five(bundled_local, bundled_milvus):
    for q in QUESTIONS:
        a = bundled_local.search(q, k=5)
        b = bundled_milvus.search(q, k=5)
        assert [h.id for h in a] == [h.id for h in b], q
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-4), q
        assert np.allclose([h.bm25 for h in a], [h.bm25 for h in b], rtol=1e-4), q


@pytest.mark.parametrize("filters", [{"municipality": "長門市"}, {"municipality": "山口市"}])
def test_filters_select_the_same_passages_on_both(bundled_local, bundled_milvus, filters):
    for q in QUESTIONS[:4]:
        a = bundled_local.search(q, k=5, **filters)
        b = bundled_milvus.search(q, k=5, **filters)
        assert a and all(h.municipality == filters["municipality"] for h in b)
        assert [h.id for h in a] == [h.id for h in b], (q, filters)


def test_a_document_filter_and_excluded_passages_agree(bundled_local, bundled_milvus):
    q = "市民活動の支援"
    first = bundled_local.search(q, k=3)
    doc = first[0].doc_id
    ra, rb = bundled_local.state.retriever, bundled_milvus.state.retriever
    assert [h.id for h in ra.search(q, k=5, doc_id=doc)] == [h.id for h in rb.search(q, k=5, doc_id=doc)]
    assert all(h.doc_id == doc for h in rb.search(q, k=5, doc_id=doc))
    skip = {h.id for h in first}
    b = rb.search(q, k=5, exclude_ids=skip)
    assert [h.id for h in ra.search(q, k=5, exclude_ids=skip)] == [h.id for h in b]
    assert not skip & {h.id for h in b}


def test_vocabulary_statistics_agree(bundled_local, bundled_milvus):
    la, mb = bundled_local.state.retriever.index, bundled_milvus.state.retriever.index
    # indexed lemmas, a word found only through its character bigrams, an unknown word
    for w in ["協働", "市民", "NPO", "まちづくり", "地域協働体", "スターリン", "量子コンピュータ"]:
        assert la.doc_freq(w) == mb.doc_freq(w), w
        assert la.idf(w) == pytest.approx(mb.idf(w)), w
    assert len(la.chunks) == len(mb.chunks) and [c.id for c in la.chunks] == [c.id for c in mb.chunks]


def test_health_names_the_backend(bundled_local, bundled_milvus):
    assert bundled_local.health()["backend"]["kind"] == "local"
    h = bundled_milvus.health()["backend"]
    assert h["kind"] == "milvus" and h["reachable"] is True and h["collection"] == h["alias_target"]


# --- publishing: alias swap, half-written builds, replicas ------------------------------------


@pytest.fixture
def lite(tmp_path, small_corpus, monkeypatch):
    milvus_lite_or_skip()
    # these tests are about publishing, not the answer encoder: skip embedding every sentence with e5
    # (the bundled-corpus tests above carry sentence vectors through Milvus)
    monkeypatch.setenv("ASSISTANT_ANSWER_MODEL", "same")
    return {"corpus": small_corpus, "index": tmp_path / "index", "backend": f"milvus:{tmp_path / 'qa.db'}"}


def _open(lite, index=None) -> Assistant:
    return Assistant.load(lite["corpus"], index or lite["index"], backend=lite["backend"])


def _add_doc(corpus: Path, name: str, text: str) -> None:
    (corpus / name).write_text(text, encoding="utf-8")


def test_a_rebuild_publishes_a_new_collection_and_swaps_the_alias(lite):
    a = _open(lite)
    first = a.state.search_index.collection
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    assert a.refresh() is True
    second = a.state.search_index.collection
    assert second != first and a.store.target() == second
    assert a.search("公園の遊具", k=1)[0].doc_id == "extra1.txt"
    names = set(a.store.client.list_collections())
    assert first in names  # the previous build is kept for replicas still reading it
    _add_doc(lite["corpus"], "extra2.txt", "みどり市図書館計画\n\n第1章 図書館\n\n開館時間を延長します。\n")
    a.refresh()
    names = set(a.store.client.list_collections())
    assert first not in names and first + "_meta" not in names and second in names


class _FailingInserts:
    """A client that dies after ``ok`` inserts (a publisher killed half way)."""

    def __init__(self, client, ok: int):
        self._client, self._ok = client, ok

    def __getattr__(self, name):
        return getattr(self._client, name)

    def insert(self, *args, **kw):
        if self._ok <= 0:
            raise ConnectionError("killed")
        self._ok -= 1
        return self._client.insert(*args, **kw)


def test_a_half_written_build_never_becomes_the_alias_target(lite):
    a = _open(lite)
    good = a.state.search_index.collection
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    real = a.store.client
    a.store.client = _FailingInserts(real, ok=1)
    with pytest.raises(BackendUnavailable):
        a.refresh()
    a.store.client = real
    assert a.store.target() == good
    half = [c for c in real.list_collections() if c.startswith(a.store.alias + "_") and not c.startswith(good)]
    assert half  # it is there, but nothing points at it
    assert a.store.open_current().collection == good
    a.refresh()  # the next publish of the same build replaces it and succeeds
    assert a.store.target() != good
    assert a.search("公園の遊具", k=1)[0].doc_id == "extra1.txt"


def test_a_replica_serves_the_published_build_without_a_local_index(lite, tmp_path):
    a = _open(lite)
    replica = _open(lite, index=tmp_path / "replica-index")
    assert not (tmp_path / "replica-index" / "current").exists()
    assert replica.state.search_index.collection == a.state.search_index.collection
    q = "市民活動の支援"
    assert [h.id for h in replica.search(q, k=5)] == [h.id for h in a.search(q, k=5)]


def test_a_restarted_server_serves_the_published_build(lite, tmp_path):
    a = _open(lite)
    for c in a.store.client.list_collections():  # what a Milvus restart leaves: nothing loaded
        a.store.client.release_collection(c)
    before = [h.id for h in a.search("市民活動の支援", k=5)]  # the running app reloads what it searches
    replica = _open(lite, index=tmp_path / "replica-index")
    assert [h.id for h in replica.search("市民活動の支援", k=5)] == before


def test_a_replica_follows_a_rebuild_made_by_another_process(lite, tmp_path):
    a = _open(lite)
    replica = _open(lite, index=tmp_path / "replica-index")
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    a.refresh()
    assert replica.follow_store(every=0, wait=True) is True
    assert replica.state.search_index.collection == a.state.search_index.collection
    assert replica.follow_store(every=0, wait=True) is False


class _SlowOpen:
    """A store whose ``open_current`` waits until the test releases it (a large build loading)."""

    def __init__(self, store, fail: bool = False):
        self._store, self.fail = store, fail
        self.opening, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def open_current(self):
        self.opening.set()
        assert self.release.wait(60), "the test never released the load"
        if self.fail:
            raise BackendUnavailable("Milvus at http://milvus:19530 failed (query): unavailable")
        return self._store.open_current()


def test_a_replica_loads_a_new_build_in_the_background_while_the_old_one_answers(lite, tmp_path):
    a = _open(lite)
    replica = _open(lite, index=tmp_path / "replica-index")
    old = replica.state.search_index.collection
    replica.store = slow = _SlowOpen(replica.store)
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    a.refresh()
    assert replica.follow_store(every=0) is False  # started, not waited for
    assert slow.opening.wait(30)
    # the new build is still loading (the test holds it): questions are answered, by the old build
    hits = replica.search("公園の遊具", k=3)
    assert not slow.release.is_set()
    assert replica.state.search_index.collection == old
    assert "extra1.txt" not in {h.doc_id for h in hits}
    assert replica.follow_store(every=0) is False  # one loader at a time: no second thread
    slow.release.set()
    replica._follower.join(60)
    assert replica.state.search_index.collection == a.state.search_index.collection != old
    assert replica.search("公園の遊具", k=1)[0].doc_id == "extra1.txt"


def test_a_build_that_fails_to_load_leaves_the_old_one_serving(lite, tmp_path, caplog):
    a = _open(lite)
    replica = _open(lite, index=tmp_path / "replica-index")
    old = replica.state.search_index.collection
    replica.store = slow = _SlowOpen(replica.store, fail=True)
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    a.refresh()
    slow.release.set()
    assert replica.follow_store(every=0, wait=True) is False
    assert replica.state.search_index.collection == old
    assert replica.search("市民活動の支援", k=1)
    assert "following the store failed" in caplog.text


# --- evaluation never moves what is served ------------------------------------------------------


def _qa_file(tmp_path: Path) -> Path:
    p = tmp_path / "qa.jsonl"
    p.write_text(json.dumps({"id": "t1", "question": "市民活動を支援する拠点は？", "docs": ["003_dfaa35240c5397ba.txt"]},
                            ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def test_eval_uses_the_published_build_when_it_matches_and_publishes_nothing(lite, tmp_path, monkeypatch, capsys):
    a = _open(lite)
    served = a.store.target()
    monkeypatch.setenv(backends.ENV, "local")  # cli.main sets it from --backend; restored after the test
    code = cli.main(["eval", str(_qa_file(tmp_path)), "--corpus", str(lite["corpus"]),
                     "--index", str(tmp_path / "eval-index"), "--backend", lite["backend"]])
    assert code == 0, capsys.readouterr().err
    assert a.store.target() == served
    assert not (tmp_path / "eval-index" / "current").exists()  # served from Milvus, nothing built


def test_eval_refuses_to_publish_over_a_served_build_of_other_settings(lite, tmp_path, monkeypatch, capsys):
    a = _open(lite)
    served = a.store.target()
    _add_doc(lite["corpus"], "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")  # the corpus moved on
    monkeypatch.setenv(backends.ENV, "local")
    code = cli.main(["eval", str(_qa_file(tmp_path)), "--corpus", str(lite["corpus"]),
                     "--index", str(lite["index"]), "--backend", lite["backend"]])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "ASSISTANT_MILVUS_ALIAS" in err and a.store.alias in err
    assert a.store.target() == served  # the replicas' build did not move
    assert a.state.search_index.collection == served


def test_eval_refuses_to_replace_a_stale_local_index(small_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_ANSWER_MODEL", "same")
    Assistant.load(small_corpus, tmp_path / "index", backend="local")
    current = (tmp_path / "index" / "current").resolve()
    _add_doc(small_corpus, "extra1.txt", "みどり市公園計画\n\n第1章 公園\n\n公園の遊具を更新します。\n")
    monkeypatch.setenv(backends.ENV, "local")
    code = cli.main(["eval", str(_qa_file(tmp_path)), "--corpus", str(small_corpus), "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 2 and "--index" in err and "Traceback" not in err
    assert (tmp_path / "index" / "current").resolve() == current


def test_a_paragraph_benchmark_on_milvus_uses_its_own_alias_and_drops_it(lite, monkeypatch):
    from assistant import evaluation

    a = _open(lite)
    served = a.store.target()
    monkeypatch.setenv(backends.ENV, lite["backend"])
    paras = [{"id": f"p{i}", "title": f"記事{i}", "text": f"第{i}の段落は図書館と公園の整備について述べています。"} for i in range(5)]
    with evaluation.paragraph_assistant(paras, "toy") as (e, _build_s):
        scratch = e.store.alias
        assert scratch.startswith(evaluation.EVAL_ALIAS_PREFIX) and scratch != a.store.alias
        assert e.search("図書館と公園", k=1)
        assert a.store.target() == served
    assert a.store.target() == served
    assert scratch not in a.store.client.list_aliases().get("aliases", [])
    assert not [c for c in a.store.client.list_collections() if c.startswith(scratch)]


# --- serving through an outage -------------------------------------------------------------


class _Flaky:
    """A backend that is down until ``up`` is set (a Milvus restart while the app serves)."""

    def __init__(self, inner):
        self._inner, self.up, self.calls = inner, False, 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _check(self):
        self.calls += 1
        if not self.up:
            raise BackendUnavailable("Milvus at http://milvus:19530 failed (search): unavailable")

    def sparse_search(self, *a, **kw):
        self._check()
        return self._inner.sparse_search(*a, **kw)

    def dense_search(self, *a, **kw):
        self._check()
        return self._inner.dense_search(*a, **kw)

    def describe(self):
        return {"kind": "milvus", "uri": "http://milvus:19530", "reachable": self.up}


def test_ask_is_a_503_in_japanese_while_the_backend_is_down_and_recovers_without_restart(bundled_local, tmp_path, monkeypatch):
    from assistant.web import create_app

    flaky = _Flaky(bundled_local.state.retriever.index)
    monkeypatch.setattr(bundled_local.state.retriever, "index", flaky)
    app = create_app(bundled_local, data_dir=tmp_path, answer_cache_size=0)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/ask", json={"question": "NPO法人の認証数の目標はいくつですか？"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable"
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", r.json()["error"]["message"]) and "Traceback" not in r.text
        h = c.get("/api/health")
        assert h.status_code == 503 and h.json()["status"] == "backend_unavailable"
        flaky.up = True
        r = c.post("/api/ask", json={"question": "NPO法人の認証数の目標はいくつですか？"})
        assert r.status_code == 200 and r.json()["citations"]
        assert c.get("/api/health").json()["status"] == "ok"


# --- several writers --------------------------------------------------------------------------


def _write_feedback(args):
    data_dir, worker = args
    from assistant.feedback import FeedbackLog

    log = FeedbackLog(data_dir)
    for i in range(40):
        log.record(question=f"質問{worker}-{i}" + "あ" * 3000, answer="回答" * 2000, cited_ids=[f"c{i}"], rating=bool(i % 2))


def test_the_feedback_log_takes_several_writer_processes_without_losing_or_mixing_lines(tmp_path):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_write_feedback, [(str(tmp_path), w) for w in range(4)])
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line is one whole record
    assert len(records) == 160
    assert {r["question"].split("あ")[0] for r in records} == {f"質問{w}-{i}" for w in range(4) for i in range(40)}

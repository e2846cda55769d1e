"""The persistent index: built atomically, reused when current, rebuilt when stale or corrupt."""

import json
import logging
import os

import pytest
from filelock import FileLock

from assistant import Assistant, index
from assistant.embedding import load_embedder


@pytest.fixture
def built(small_corpus, tmp_path):
    idx = tmp_path / "index"
    a = Assistant.load(small_corpus, idx)
    return a, small_corpus, idx


def test_build_writes_a_manifest_that_says_what_the_index_was_built_from(built):
    a, _corpus, idx = built
    m = json.loads((idx / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert m["schema_version"] == index.SCHEMA_VERSION
    assert m["model"]["id"] == a.embedder.model_id and m["model"]["fingerprint"] == a.embedder.fingerprint
    assert m["counts"]["documents"] == 2 and m["counts"]["passages"] == len(a.state.search_index.chunks) > 10
    assert m["chunker_version"] and m["corpus_fingerprint"] and m["tokenizer_version"]
    assert m["dense_index"] == "FlatIP"
    assert {"chunks.jsonl", "dense.faiss"} <= set(m["files"])


def test_current_index_is_reused_without_rebuilding(built):
    a, corpus, idx = built
    assert a.refresh() is False
    again = Assistant.load(corpus, idx)
    assert again.last_build is None


def test_changed_corpus_triggers_rebuild_with_a_log_line_and_reembeds_only_what_changed(built, caplog):
    a, corpus, idx = built
    total = len(a.state.search_index.chunks)
    doc = corpus / "003_dfaa35240c5397ba.txt"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n\n新たに追加した一文として、協働ポイント制度を創設します。\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="assistant.core"):
        assert a.refresh() is True
    assert any("stale" in r.getMessage() and "corpus" in r.getMessage() for r in caplog.records)
    stats = a.last_build
    assert 0 < stats["embedded"] < total / 2, stats
    assert stats["reused"] > 0
    assert stats["files_read"] == 1 and stats["files_reused"] == 1, "only the changed file is read and chunked again"
    assert any("協働ポイント制度" in h.text for h in a.search("協働ポイント制度", k=3))


def test_another_model_makes_the_index_stale(built, tmp_path):
    a, corpus, idx = built
    other = tmp_path / "other-model"
    a.embedder.model.save(str(other))
    # same weights, different directory and a changed file → a different fingerprint
    (other / "README.md").write_text("a copy of the bundled model\n", encoding="utf-8")
    emb = load_embedder(str(other))
    info = index.BuildInfo(
        corpus_fingerprint=a.build_info().corpus_fingerprint, model_id=emb.model_id, model_fingerprint=emb.fingerprint,
        chunker_version=a.build_info().chunker_version, settings=a.build_info().settings,
    )
    with pytest.raises(index.StaleIndexError, match="model"):
        index.load(idx, info)


@pytest.mark.parametrize("victim", ["dense.faiss", "chunks.jsonl", "manifest.json"])
def test_a_truncated_file_is_detected_and_the_assistant_rebuilds(built, victim, caplog):
    a, corpus, idx = built
    path = idx / "current" / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(index.CorruptIndexError):
        index.load(idx, a.build_info())
    with caplog.at_level(logging.WARNING, logger="assistant.core"):
        b = Assistant.load(corpus, idx)
    assert b.last_build is not None
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert b.search("地区市民センター", k=1)


def test_a_second_build_waits_for_the_lock_and_fails_clearly_when_it_cannot_get_it(built):
    a, _corpus, idx = built
    with FileLock(str(idx / ".build.lock")):
        with pytest.raises(index.IndexError_, match="another build"):
            index.build(idx, a.state.search_index.chunks, a.embedder, a.build_info(), lock_timeout=0.2)


def test_current_is_swapped_atomically_and_old_builds_are_pruned(built):
    a, _corpus, idx = built
    first = os.readlink(idx / "current")
    for _ in range(3):
        index.build(idx, a.state.search_index.chunks, a.embedder, a.build_info())
    assert os.readlink(idx / "current") != first
    builds = [p for p in (idx / "builds").iterdir() if not p.name.startswith(".")]
    assert len(builds) == index.KEEP_BUILDS
    assert not list((idx / "builds").glob(".staging-*"))


def test_large_corpora_switch_to_an_on_disk_index_that_still_finds_the_exact_passage(built, monkeypatch, tmp_path):
    a, _corpus, _idx = built
    monkeypatch.setattr(index, "LARGE_THRESHOLD", 10)
    idx2 = tmp_path / "large"
    index.build(idx2, a.state.search_index.chunks, a.embedder, a.build_info())
    loaded = index.load(idx2, a.build_info())
    assert loaded.manifest["dense_index"] == "IVFFlat" and loaded.manifest["storage"] == "disk"
    chunk = loaded.chunks[5]
    vec = a.embedder.encode_passages([index.passage_text(chunk)])[0]
    ids, _scores = loaded.dense_scores(vec, 3)
    assert ids[0] == 5


def test_missing_corpus_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus directory not found"):
        Assistant.load(tmp_path / "nope", tmp_path / "index")


def test_a_removed_document_leaves_the_index(built):
    a, corpus, _idx = built
    (corpus / "004_0697b41b2b272361.txt").unlink()
    assert a.refresh() is True
    assert {c.doc_id for c in a.state.search_index.chunks} == {"003_dfaa35240c5397ba.txt"}
    assert a.last_build["files_read"] == 0


def test_refresh_swaps_the_index_while_questions_are_being_answered(built):
    """Questions asked during a rebuild are answered from the old index, then from the new one."""
    import threading

    a, corpus, _idx = built
    errors, answers = [], []

    def ask_many():
        for _ in range(30):
            try:
                answers.append(a.ask("地区市民センターの機能強化は？"))
            except Exception as e:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(e)

    doc = corpus / "003_dfaa35240c5397ba.txt"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n\n地区市民センターでは新たに夜間窓口を開設します。\n", encoding="utf-8")
    t = threading.Thread(target=ask_many)
    t.start()
    assert a.refresh() is True
    t.join()
    assert not errors and len(answers) == 30 and all(x.citations for x in answers)
    assert any("夜間窓口" in h.text for h in a.search("夜間窓口", k=3))

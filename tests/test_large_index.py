"""The large-index path (issue 13): passages in SQLite, BM25 and IVF memory-mapped, resumable
shards, no sentence vectors — exercised at small scale by lowering ``index.LARGE_THRESHOLD``.

A large build must search like the small one (same BM25 scores, same hits), keep the index's
reliability guarantees (checksums, atomic publish, leftovers cleaned) and continue, not restart,
after a kill.
"""

import json
import threading

import numpy as np
import pytest

from assistant import Assistant, chunk_store, index, large_build
from assistant.retrieval import Retriever


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The two-document corpus, built the ordinary (in-memory) way."""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    d = tmp_path_factory.mktemp("corpus")
    for name in ("003_dfaa35240c5397ba.txt", "004_0697b41b2b272361.txt", "catalog.toml"):
        shutil.copy(repo / "corpus" / name, d / name)
    a = Assistant.load(d, tmp_path_factory.mktemp("index"))
    return a


def _build_large(a, where, monkeypatch, **kw):
    monkeypatch.setattr(index, "LARGE_THRESHOLD", 10)
    stats = index.build(where, list(a.state.search_index.chunks), a.embedder, a.build_info(), **kw)
    return stats, index.load(where, a.build_info())


# --- the chunk store ---------------------------------------------------------------------------


def test_chunk_store_reads_like_the_list_it_replaces(small, tmp_path):
    chunks = list(small.state.search_index.chunks)
    path = tmp_path / chunk_store.FILE
    assert chunk_store.write(path, chunks) == len(chunks)
    store = chunk_store.ChunkStore(path)
    assert len(store) == len(chunks) and bool(store)
    assert store[0] == chunks[0] and store[-1] == chunks[-1]
    assert store[3:6] == chunks[3:6]
    assert list(store) == chunks
    assert store.column("id") == [c.id for c in chunks]
    assert store.column("municipality") == [c.municipality for c in chunks]
    assert store.position(chunks[7].id) == 7 and store.position("no-such-id") is None
    assert store.get_many([9, 2, 9, 0]) == [chunks[9], chunks[2], chunks[9], chunks[0]]
    with pytest.raises(IndexError):
        store.get_many([1, len(chunks)])
    with pytest.raises(IndexError):
        store[len(chunks)]
    with pytest.raises(ValueError, match="no column"):
        store.column("data; DROP TABLE chunks")


def test_chunk_store_is_one_immutable_file_read_from_many_threads(small, tmp_path):
    chunks = list(small.state.search_index.chunks)
    path = tmp_path / chunk_store.FILE
    chunk_store.write(path, chunks)
    before = path.read_bytes()
    store = chunk_store.ChunkStore(path)
    errors, seen = [], []

    def read(offset):
        try:
            seen.append(all(store[(offset + i) % len(store)] == chunks[(offset + i) % len(chunks)] for i in range(50)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=read, args=(k * 7,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(seen) and len(seen) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == [chunk_store.FILE], "no -wal/-shm/-journal beside a published store"
    assert path.read_bytes() == before, "readers never change a byte of the checksummed file"


# --- a large build searches like a small one ---------------------------------------------------------


def test_large_build_gives_the_same_bm25_scores_and_hits_as_the_in_memory_build(small, tmp_path, monkeypatch):
    stats, large = _build_large(small, tmp_path / "large", monkeypatch)
    mem = small.state.search_index
    assert large.manifest["storage"] == "disk" and isinstance(large.chunks, chunk_store.ChunkStore)
    assert isinstance(mem.chunks, list) and mem.manifest["storage"] == "memory"
    assert len(large.chunks) == len(mem.chunks)
    for q in ["協働のまちづくりを推進します", "子育て支援の拠点", "地域コミュニティ 活性化", "存在しない語彙ぬぬぬ"]:
        from assistant import japanese

        toks = japanese.search_tokens(q)
        np.testing.assert_allclose(large.bm25_scores(toks), mem.bm25_scores(toks), rtol=1e-5, atol=1e-6, err_msg=q)
        for idx in (large, mem):  # our column loop is bm25s's own scoring, bit for bit
            expected = idx.bm25.get_scores(toks) if any(t in idx.bm25.vocab_dict for t in toks) else np.zeros(len(idx.chunks))
            np.testing.assert_array_equal(idx.bm25_scores(toks), np.asarray(expected, dtype=np.float32))
            np.testing.assert_array_equal(idx.bm25_scores(toks + toks[:3]), np.asarray(idx.bm25.get_scores(toks + toks[:3]), dtype=np.float32))
        assert all(large.token_df(t) == mem.token_df(t) for t in toks)
    # the in-memory build also has sentence vectors, which rerank its head; compare the fusion itself
    r_large = Retriever(large, small.embedder, answer_encoder=small.answer_encoder)
    r_mem = Retriever(mem, small.embedder, answer_encoder=small.answer_encoder)
    r_large.sentence_weight = r_mem.sentence_weight = 0.0
    for q in ["市民活動を支援する取り組みは？", "協働事業提案制度とは", "防災について"]:
        assert [h.id for h in r_large.search(q, k=5)] == [h.id for h in r_mem.search(q, k=5)], q


def test_large_build_records_its_dense_index_and_the_recall_it_measured(small, tmp_path, monkeypatch):
    _stats, large = _build_large(small, tmp_path / "large", monkeypatch)
    m = large.manifest
    assert m["dense_index"] == "IVFFlat"
    d = m["dense"]
    assert 1 <= d["nprobe"] <= d["nlist"] and d["recall_queries"] == large_build.RECALL_QUERIES
    assert d["recall_at_10"] == max(d["recall_by_nprobe"].values()) or d["recall_at_10"] >= large_build.TARGET_RECALL
    assert {chunk_store.FILE, "dense.faiss", "bm25/data.csc.index.npy"} <= set(m["files"])
    assert "chunks.jsonl" not in m["files"]


def test_a_large_index_has_no_sentence_vectors_and_says_so(small, tmp_path, monkeypatch):
    _stats, large = _build_large(small, tmp_path / "large", monkeypatch)
    assert large.sentence_vectors is None
    assert large.manifest["sentence_vectors"]["built"] is False
    assert "large index" in large.manifest["sentence_vectors"]["skipped"]


def test_a_large_index_loads_with_checksums_and_detects_a_modified_chunk_store(small, tmp_path, monkeypatch):
    where = tmp_path / "large"
    _build_large(small, where, monkeypatch)
    db = where / "current" / chunk_store.FILE
    raw = bytearray(db.read_bytes())
    raw[-100] ^= 0xFF
    db.write_bytes(bytes(raw))
    with pytest.raises(index.CorruptIndexError, match="checksum"):
        index.load(where, small.build_info())


# --- resumable after a kill --------------------------------------------------------------------


class _Dies(Exception):
    pass


def test_a_killed_large_build_resumes_from_its_finished_shards_and_matches_a_fresh_one(small, tmp_path, monkeypatch):
    monkeypatch.setattr(large_build, "SHARD_SIZE", 5)
    monkeypatch.setenv("ASSISTANT_BUILD_WORKERS", "1")  # the kill below counts calls in this process
    chunks = list(small.state.search_index.chunks)
    n_shards = -(-len(chunks) // 5)
    assert n_shards >= 4
    real = small.embedder.encode_passages
    calls = {"n": 0}

    def dies_on_the_third_shard(texts, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Dies("killed")
        return real(texts, *a, **kw)

    where = tmp_path / "large"
    monkeypatch.setattr(small.embedder, "encode_passages", dies_on_the_third_shard)
    with pytest.raises(_Dies):
        _build_large(small, where, monkeypatch)
    partial = list((where / "builds").glob(".partial-*"))
    assert len(partial) == 1 and len(list(partial[0].glob("shard-*.npz"))) == 2
    assert not (where / "current").exists(), "nothing half-built is published"

    monkeypatch.setattr(small.embedder, "encode_passages", real)
    stats, resumed = _build_large(small, where, monkeypatch)
    assert stats["shards"] == n_shards and stats["shards_computed"] == n_shards - 2, "continues, does not restart"
    assert resumed.manifest["build"]["shards_computed"] == n_shards - 2
    assert not list((where / "builds").glob(".partial-*")), "the shards are removed once published"

    monkeypatch.setenv("ASSISTANT_BUILD_WORKERS", "2")  # and forked workers compute the same shards
    _stats, fresh = _build_large(small, tmp_path / "fresh", monkeypatch)
    q = small.embedder.encode_queries(["協働のまちづくり"])[0]
    assert list(resumed.dense_scores(q, 5)[0]) == list(fresh.dense_scores(q, 5)[0])
    from assistant import japanese

    toks = japanese.search_tokens("市民活動の支援")
    np.testing.assert_allclose(resumed.bm25_scores(toks), fresh.bm25_scores(toks), rtol=1e-6)


def test_a_partial_build_of_other_passages_is_not_reused(small, tmp_path, monkeypatch):
    where = tmp_path / "large"
    stale = where / "builds" / ".partial-0000deadbeef"
    stale.mkdir(parents=True)
    (stale / "shard-00000.npz").write_bytes(b"from another corpus")
    stats, _large = _build_large(small, where, monkeypatch)
    assert stats["shards_computed"] == stats["shards"]
    assert not stale.exists()


def test_a_half_written_shard_is_cleaned_and_recomputed(small, tmp_path, monkeypatch):
    monkeypatch.setattr(large_build, "SHARD_SIZE", 5)
    where = tmp_path / "large"
    chunks = list(small.state.search_index.chunks)
    key = large_build.input_key(chunks, small.build_info().as_dict(), int(small.embedder.dim))
    work = where / "builds" / f".partial-{key}"
    work.mkdir(parents=True)
    (work / "shard-00000.npz.tmp").write_bytes(b"half")
    (work / "shard-00001.npz").write_bytes(b"truncated")  # not a valid shard: recomputed
    import os
    import time

    old = time.time() - 60
    os.utime(work / "shard-00000.npz.tmp", (old, old))
    stats, large = _build_large(small, where, monkeypatch)
    assert stats["shards_computed"] == stats["shards"]
    assert len(large.chunks) == len(chunks)
    assert not work.exists(), "the leftover and the bad shard went with the finished partial build"


# --- sentence vectors above the limit -------------------------------------------------------------


def test_sentence_vectors_are_skipped_above_the_limit_and_health_says_so(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_SENTENCE_VECTORS_MAX", "5")
    a = Assistant.load(small_corpus, tmp_path / "index")
    m = a.state.search_index.manifest
    assert a.state.search_index.sentence_vectors is None
    assert m["sentence_vectors"]["built"] is False and "ASSISTANT_SENTENCE_VECTORS_MAX" in m["sentence_vectors"]["skipped"]
    h = a.health()
    assert h["sentence_vectors"] is False and "ASSISTANT_SENTENCE_VECTORS_MAX" in h["sentence_vectors_skipped"]
    ans = a.ask("市民活動を支援する取り組みは？")
    assert ans.text  # answers (or refuses) through the fallback, never raises


def test_bad_size_settings_are_clear_errors(monkeypatch):
    monkeypatch.setenv("ASSISTANT_SENTENCE_VECTORS_MAX", "lots")
    with pytest.raises(ValueError, match="ASSISTANT_SENTENCE_VECTORS_MAX"):
        index.sentence_vectors_max()
    monkeypatch.setenv("ASSISTANT_BUILD_WORKERS", "0")
    with pytest.raises(ValueError, match="ASSISTANT_BUILD_WORKERS"):
        large_build.build_workers()


# --- the assistant over a large index -------------------------------------------------------------


def test_the_assistant_over_a_large_index_shows_the_same_documents_sections_and_health(small, small_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(index, "LARGE_THRESHOLD", 10)
    big = Assistant.load(small_corpus, tmp_path / "index")
    assert big.state.search_index.manifest["storage"] == "disk"
    assert big.documents() == small.documents()
    some = small.state.search_index.chunks[4].id
    assert big.section_context(some) == small.section_context(some)
    h = big.health()
    assert h["storage"] == "disk" and h["sentence_vectors"] is False and "large index" in h["sentence_vectors_skipped"]
    assert small.health()["storage"] == "memory"
    hits = big.search("市民活動の支援", k=3)
    assert hits and all(isinstance(x.id, str) for x in hits)
    assert big.ask("市民活動を支援する取り組みは？").text


def test_a_common_word_is_looked_up_only_in_passages_holding_all_its_bigrams(small, tmp_path, monkeypatch):
    from assistant import japanese

    _stats, large = _build_large(small, tmp_path / "large", monkeypatch)
    everyone = np.arange(len(large.chunks))
    for w in ["市民活動", "まちづくり", "協働", "地域の担い手", "スターリン"]:
        bigrams = ["#" + b for b in japanese.char_bigrams(w)]
        narrowed = set(large.holding_all(everyone, bigrams).tolist())
        verbatim = {i for i, c in enumerate(large.chunks) if japanese.compact(w).lower() in japanese.compact(index.index_text(c)).lower()}
        holding = {i for i, c in enumerate(large.chunks) if set(bigrams) <= set(japanese.search_tokens(index.index_text(c)))}
        assert narrowed == holding, w
        assert verbatim <= narrowed, w
    assert large.holding_all(everyone, ["#ぬぬ"]).size == 0


def test_a_large_build_counts_the_thesaurus_phrases_so_expansion_reads_no_passage(small, tmp_path, monkeypatch):
    from assistant import japanese
    from assistant.query import load_thesaurus

    monkeypatch.setattr(large_build, "SHARD_SIZE", 7)  # several shards, summed
    phrases = ["市民活動センター", "まちづくり", "地域の担い手", "スターリン", "ＮＰＯ法人", "協働"]
    _stats, large = _build_large(small, tmp_path / "large", monkeypatch, phrases=phrases)
    texts = [japanese.compact(index.index_text(c)).lower() for c in large.chunks]
    for w in phrases:
        assert large.phrase_df[large_build.phrase_key(w)] == sum(japanese.compact(w).lower() in t for t in texts), w
    assert large.manifest["phrases_counted"] == len(phrases)

    def no_reads(*_a, **_kw):
        raise AssertionError("a counted phrase was looked up in the passages")

    monkeypatch.setattr(large, "_count_holding", no_reads)
    monkeypatch.setattr(large, "holding_all", no_reads)
    for w in ["市民活動センター", "まちづくり", "スターリン", "NPO法人"]:  # NFKC: the same key as ＮＰＯ法人
        # an indexed lemma's count, else the phrase's build-time count
        assert large.doc_freq(w) == (large.token_df(w) or large.phrase_df[large_build.phrase_key(w)]), w
    # what the product passes: the thesaurus's keys (and a small build ignores them)
    assert len(large_build.phrase_keys(load_thesaurus().map.keys())) > 10_000
    assert small.state.search_index.phrase_df is None


def _tokens(idx, i):
    from assistant import japanese

    return japanese.search_tokens(index.index_text(idx.chunks[i]))


def test_the_pooled_bm25_search_scores_its_candidates_exactly_and_equals_the_plain_one_when_the_pool_holds_all(small, tmp_path, monkeypatch):
    from assistant.backends import Filter
    from assistant.backends import local
    from assistant.backends.local import LocalBackend

    _stats, large = _build_large(small, tmp_path / "large", monkeypatch)
    be = LocalBackend(large)
    r = Retriever(large, small.embedder)
    monkeypatch.setattr(local, "COMMON_SHARE", 0.2)  # at 22 passages: tokens in more than 4 are common
    pooled_runs = 0
    for q in ["協働のまちづくりを推進します", "市民活動を支援する拠点は？", "地域コミュニティの活性化", "子育て支援"]:
        query = list(r.analyze(q).weighted_token_groups())
        for filt in (Filter(), Filter(exclude=frozenset({0, 3}))):
            also = np.array([1, 2, 5])
            monkeypatch.setattr(local, "POOL_FROM_PASSAGES", 1 << 40)
            plain_ids, plain_scores = be.sparse_search(query, 5, filt, also)
            monkeypatch.setattr(local, "POOL_FROM_PASSAGES", 0)
            monkeypatch.setattr(local, "POOL_MIN", 0)
            monkeypatch.setattr(local, "POOL_PER_K", 1)  # a pool of 5: candidates may differ, scores may not
            small_pool = be._pooled_search(query, 5, filt, also)
            if small_pool is not None:
                pooled_runs += 1
                full = dict(zip(*be.sparse_search.__func__(be, query, len(large.chunks), filt, also)))
                assert {int(i): float(s) for i, s in zip(*small_pool)} == {int(i): float(full[i]) for i in small_pool[0]}
            # a pool holding every passage with a selective token: as the plain path, the top 5 among those
            # passages and the allowed ``also`` ones (an ``also`` passage scoring high through common tokens
            # takes a place in the 5), plus the allowed ``also`` ones
            monkeypatch.setattr(local, "POOL_MIN", 10_000)
            got = be.sparse_search(query, 5, filt, also)
            if small_pool is not None:
                full = be.sparse_scores(query)
                selective = {t for _w, toks in query for t in toks if 0 < large.token_df(t) <= local.COMMON_SHARE * len(large.chunks)}
                eligible = [i for i in np.flatnonzero(be.mask(filt)) if large.chunks[i] and selective & set(_tokens(large, i))]
                allowed_also = {int(i) for i in also if be.mask(filt)[i]}
                best = sorted(set(eligible) | allowed_also, key=lambda i: -full[i])[:5]
                want = set(best) | allowed_also
                assert set(got[0].tolist()) == want, q
                np.testing.assert_array_equal(got[1], full[got[0]])
            else:
                assert sorted(zip(got[0].tolist(), got[1].tolist())) == sorted(zip(plain_ids.tolist(), plain_scores.tolist())), q
    assert pooled_runs > 0


def test_recall_counts_duplicate_passages_as_equally_right(tmp_path):
    import faiss

    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    faiss.normalize_L2(base)
    vectors = np.concatenate([base] * 4)  # every passage four times, as boilerplate repeats
    shard = tmp_path / "shard-00000.npz"
    np.savez(shard, vectors=vectors)
    exact = faiss.IndexFlatIP(16)
    exact.add(vectors[::-1].copy())  # same vectors, other ids: ties come back in another order
    queries = base[:10].copy()
    truth = large_build.exact_top(queries, [shard], 10)
    assert truth.shape == (10, 10)
    assert large_build.recall_at(exact, queries, truth) == 1.0
    half = faiss.IndexFlatIP(16)
    half.add(base[10:].copy())  # the queries' own passages missing: the best results are gone
    assert large_build.recall_at(half, queries, truth) < 0.5


def test_forked_shard_workers_do_not_hang_after_the_parent_ran_torch():
    """A server or a test session has already run torch with an OpenMP pool; a worker forked from
    it that uses torch again must finish (libgomp's inherited team once made it wait forever).
    Run in a child process so that a regression fails by timeout instead of hanging the suite."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import multiprocessing, torch
        from assistant import large_build
        torch.set_num_threads(2)
        w = torch.randn(5000, 64)
        idx = torch.randint(0, 5000, (20000,))
        offsets = torch.arange(0, 20000, 10)
        torch.nn.functional.embedding_bag(idx, w, offsets)   # the parent's OpenMP team exists now

        def work(_):
            return float(torch.nn.functional.embedding_bag(idx, w, offsets).sum())

        with multiprocessing.get_context("fork").Pool(2, initializer=large_build._init_worker) as pool:
            print(len(pool.map(work, range(4))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "4"


def test_top_positive_is_the_argpartition_of_the_positive_allowed_scores():
    """The threshold read off a sample only narrows what is partitioned: the result is the top
    ``count`` of the positive, allowed scores, whatever the sample says (ties are avoided here)."""
    from assistant.backends import local
    from assistant.backends.local import top_positive

    rng = np.random.default_rng(3)
    for n, zeros, count in [(200_000, 0.03, 2_000), (200_000, 0.999, 2_000), (50_000, 0.5, 100), (1_000, 0.0, 5_000), (10, 1.0, 3)]:
        scores = rng.permutation(n).astype(np.float32) + 1  # distinct
        scores[rng.random(n) < zeros] = 0
        skewed = scores.copy()
        sampled = slice(None, None, max(1, n // local.TOP_SAMPLE))  # only the sampled positions high: its threshold is too high
        skewed[sampled] = np.where(skewed[sampled] > 0, skewed[sampled] + 10 * n, 0)
        for s in (scores, skewed):
            for mask in (None, rng.random(n) < 0.5):
                allowed = (s > 0) if mask is None else (s > 0) & mask
                want = np.flatnonzero(allowed)
                want = set(want[np.argsort(-s[want])[:count]].tolist())
                assert set(top_positive(s, count, mask).tolist()) == want, (n, zeros, count)


def test_the_weighted_column_sum_is_the_column_by_column_sum():
    """The pooled search's rough score: one sparse product over the named columns equals adding
    weight × column one column at a time (to float32 rounding: only the order of additions differs),
    and a column no passage has, or no column at all, adds nothing."""
    from assistant.backends.local import weighted_column_sum

    rng = np.random.default_rng(5)
    n, V = 5_000, 40
    cols = [np.sort(rng.choice(n, size=int(rng.integers(0, 2_000)), replace=False)).astype(np.int32) for _ in range(V)]
    cols[7] = cols[7][:0]  # an empty column
    indptr = np.zeros(V + 1, dtype=np.int64)
    np.cumsum([len(c) for c in cols], out=indptr[1:])
    indices = np.concatenate(cols)
    data = rng.random(len(indices)).astype(np.float32)
    weights = {3: 1.0, 7: 0.5, 11: 0.3, 20: 1.3}
    want = np.zeros(n, dtype=np.float32)
    for t, w in weights.items():
        want[indices[indptr[t]:indptr[t + 1]]] += np.float32(w) * data[indptr[t]:indptr[t + 1]]
    got = weighted_column_sum(data, indices, indptr, weights, n)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got > 0, want > 0)
    assert not weighted_column_sum(data, indices, indptr, {7: 1.0}, n).any()

"""Building an index too large for RAM (index.LARGE_THRESHOLD passages and up), resumably.

What the small build keeps in memory, this one streams through disk:
- passages → ``chunks.sqlite`` (chunk_store), read lazily when serving;
- passage vectors and BM25 token counts are computed in *shards* of ``SHARD_SIZE`` passages, each
  written atomically to ``builds/.partial-<key>/shard-NNNNN.npz``. A killed build leaves its
  finished shards; running it again with the same passages, model and settings (same ``key``)
  continues from the first missing shard instead of starting over;
- BM25 scores are merged from the shards straight into ``.npy`` files of bm25s's own format
  (``open_memmap``, column by column of the CSC matrix), which the index loads with ``mmap=True``;
- the passages holding each thesaurus phrase are counted in the shards (Aho-Corasick over every
  passage's compact text) and summed into ``phrase_df.json``, so query expansion's ``doc_freq`` of a phrase is a dictionary
  lookup instead of postings intersected and passages read from SQLite per question;
- dense vectors go into a FAISS ``IndexIVFFlat`` (exact vectors, ~sqrt(n) lists) that the loader
  opens with ``IO_FLAG_MMAP``: only the probed lists are paged in. ``nprobe`` is chosen at build time
  as the smallest giving recall@10 ≥ ``TARGET_RECALL`` against exact search on sampled queries.

The finished files are checksummed and published exactly like a small build (index.py does the
manifest and the ``current`` swap); the partial directory is removed only after that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm.auto import tqdm

from . import chunk_store, japanese, settings
from .types import Chunk

log = logging.getLogger(__name__)

SHARD_SIZE = 5_000
TARGET_RECALL = 0.95
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RECALL_QUERIES = 200
# bm25s's defaults (method "lucene"), which the small build uses
K1, B = 1.5, 0.75


def input_key(chunks: list[Chunk], info: dict[str, Any], dim: int, keys: list[str] = ()) -> str:
    """What a partial build is a partial build *of*: every passage, every setting and the phrase
    keys whose passages each shard counts."""
    h = hashlib.sha256(json.dumps(info, sort_keys=True, ensure_ascii=False).encode())
    h.update(json.dumps(list(keys), ensure_ascii=False).encode())
    h.update(f"{dim}:{SHARD_SIZE}:{len(chunks)}".encode())
    for c in chunks:
        h.update(json.dumps(c.to_dict(), ensure_ascii=False).encode())
    return h.hexdigest()[:20]


def partial_dir(builds: Path, key: str) -> Path:
    """The resumable work directory for ``key``; partial directories of other inputs are removed
    (their passages or settings changed, so nothing in them can be reused)."""
    builds.mkdir(parents=True, exist_ok=True)
    mine = builds / f".partial-{key}"
    for p in builds.glob(".partial-*"):
        if p != mine:
            log.info("removing the partial build %s (other passages or settings)", p.name)
            shutil.rmtree(p, ignore_errors=True)
    mine.mkdir(exist_ok=True)
    return mine


def _save_npz_atomic(path: Path, **arrays) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers never share a temporary file
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _shard_ok(path: Path, n_keys: int) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return ({"vectors", "vocab", "indptr", "tok", "tf", "doclen", "phrase_counts"} <= set(z.files)
                    and len(z["doclen"]) == len(z["indptr"]) - 1 and len(z["phrase_counts"]) == n_keys)
    except Exception:
        return False


def build_workers() -> int:
    """Processes that compute shards: ``ASSISTANT_BUILD_WORKERS``, else one per core (at most 8)."""
    return settings.env_whole_number("ASSISTANT_BUILD_WORKERS", max(1, min(os.cpu_count() or 1, 8)),
                                     minimum=1, unit="processes")


# what forked shard workers read (set in the parent just before the fork; never pickled)
_JOB: dict[str, Any] = {}


def _init_worker() -> None:
    """Set up a forked shard worker.

    It must not outlive a killed builder (Linux; elsewhere it finishes its shard). And it must not
    use an OpenMP thread pool inherited from the parent: when the parent has already run torch
    (a server, a test session), libgomp's team in the child waits forever for threads that were not
    forked (seen as a hang in ``embedding_bag``). One intra-op thread per worker runs inline, and the
    workers are the parallelism anyway."""
    import sys

    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _compute_shard(s: int) -> int:
    chunks, embedder, path = _JOB["chunks"], _JOB["embedder"], _JOB["paths"][s]
    part = chunks[s * SHARD_SIZE : (s + 1) * SHARD_SIZE]
    vectors = np.asarray(embedder.encode_passages([_JOB["passage_text"](c) for c in part]), dtype=np.float32)
    vocab: dict[str, int] = {}
    indptr, tok, tf, doclen = [0], [], [], []
    automaton, phrase_counts = _JOB["automaton"], np.zeros(_JOB["n_keys"], dtype=np.int32)
    for c in part:
        text = _JOB["index_text"](c)
        if automaton is not None:
            found = {i for _end, i in automaton.iter(phrase_key(text))}
            phrase_counts[np.fromiter(found, dtype=np.int64, count=len(found))] += 1
        tokens = japanese.search_tokens(text)
        counts = Counter(tokens)
        tok.extend(vocab.setdefault(t, len(vocab)) for t in counts)
        tf.extend(counts.values())
        indptr.append(len(tok))
        doclen.append(len(tokens))
    _save_npz_atomic(path, vectors=vectors, vocab=np.array(list(vocab), dtype=str), indptr=np.asarray(indptr, np.int64),
                     tok=np.asarray(tok, np.int32), tf=np.asarray(tf, np.int32), doclen=np.asarray(doclen, np.int64),
                     phrase_counts=phrase_counts)
    return len(part)


def write_shards(work: Path, chunks: list[Chunk], embedder, passage_text, index_text, progress: bool,
                 keys: list[str] = ()) -> tuple[list[Path], int]:
    """Vectors, per-passage token counts and how many passages hold each of the phrase ``keys``,
    ``SHARD_SIZE`` passages per file, computed by ``build_workers()`` forked processes. Finished
    shards are kept (a rerun skips them). Returns (shard paths in order, how many were computed now)."""
    n_shards = (len(chunks) + SHARD_SIZE - 1) // SHARD_SIZE
    paths = [work / f"shard-{s:05d}.npz" for s in range(n_shards)]
    todo = [s for s, p in enumerate(paths) if not (p.exists() and _shard_ok(p, len(keys)))]
    if len(todo) < n_shards:
        log.info("resuming a partial build: %d of %d shards already done in %s", n_shards - len(todo), n_shards, work)
    bar = tqdm(total=len(chunks), initial=len(chunks) - sum(min(SHARD_SIZE, len(chunks) - s * SHARD_SIZE) for s in todo),
               desc="embed + tokenize", unit="passage", disable=not progress, smoothing=0.1)
    _JOB.update(chunks=chunks, embedder=embedder, paths=paths, passage_text=passage_text, index_text=index_text,
                n_keys=len(keys), automaton=_automaton(keys) if keys else None)
    try:
        workers = min(build_workers(), len(todo))
        if workers > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
                for done in pool.imap_unordered(_compute_shard, todo):
                    bar.update(done)
        else:
            for s in todo:
                bar.update(_compute_shard(s))
    finally:
        _JOB.clear()
        bar.close()
    return paths, len(todo)


def write_bm25(out: Path, shards: list[Path], n_docs: int, version: str, progress: bool) -> None:
    """bm25s's saved format (``bm25s.BM25.load(out, mmap=True)`` reads it), with the same scores
    as ``bm25s.BM25().index(tokens)`` (method "lucene", k1 1.5, b 0.75), built from the shards
    without holding the token lists: the CSC arrays are written column-slot by column-slot into
    memory-mapped ``.npy`` files."""
    out.mkdir(parents=True)
    vocab: dict[str, int] = {}
    maps = []
    for p in tqdm(shards, desc="BM25 vocabulary", disable=not progress):
        with np.load(p, allow_pickle=False) as z:
            maps.append(np.fromiter((vocab.setdefault(str(t), len(vocab)) for t in z["vocab"]), dtype=np.int64, count=len(z["vocab"])))
    if "" not in vocab:  # as bm25s does for a corpus of strings
        vocab[""] = len(vocab)
    V = len(vocab)
    df = np.zeros(V, dtype=np.int64)
    total_len = 0
    for p, m in zip(shards, maps):
        with np.load(p, allow_pickle=False) as z:
            df += np.bincount(m[z["tok"]], minlength=V)
            total_len += int(z["doclen"].sum())
    avgdl = total_len / max(n_docs, 1)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    indptr = np.zeros(V + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    nnz = int(indptr[-1])
    data = np.lib.format.open_memmap(out / "data.csc.index.npy", mode="w+", dtype=np.float32, shape=(nnz,))
    indices = np.lib.format.open_memmap(out / "indices.csc.index.npy", mode="w+", dtype=np.int32, shape=(nnz,))
    cursor = indptr[:-1].copy()
    first_doc = 0
    for p, m in tqdm(list(zip(shards, maps)), desc="BM25 scores", disable=not progress):
        with np.load(p, allow_pickle=False) as z:
            ptr, tok, tf, dl = z["indptr"], z["tok"], z["tf"].astype(np.float32), z["doclen"].astype(np.float32)
        g = m[tok]
        docs = first_doc + np.repeat(np.arange(len(dl), dtype=np.int64), np.diff(ptr))
        norm = K1 * ((1 - B) + B * dl / avgdl)
        scores = idf[g] * (tf / (np.repeat(norm, np.diff(ptr)) + tf))
        order = np.argsort(g, kind="stable")  # docs stay ascending within each column
        gs = g[order]
        uniq, starts, counts = np.unique(gs, return_index=True, return_counts=True)
        pos = cursor[gs] + (np.arange(len(gs)) - np.repeat(starts, counts))
        data[pos] = scores[order]
        indices[pos] = docs[order]
        cursor[uniq] += counts
        first_doc += len(dl)
    data.flush()
    indices.flush()
    del data, indices
    np.save(out / "indptr.csc.index.npy", indptr)
    with open(out / "vocab.index.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    params = {"k1": K1, "b": B, "delta": 0.5, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
              "int_dtype": "int32", "num_docs": int(n_docs), "version": version, "backend": "numpy"}
    with open(out / "params.index.json", "w", encoding="utf-8") as f:
        json.dump(params, f, indent=4)


PHRASE_FILE = "phrase_df.json"


def phrase_key(text: str) -> str:
    """How a phrase and a passage are compared: compact (NFKC, no whitespace), lower case — what
    ``SearchIndex.doc_freq`` matches verbatim when a word is no indexed lemma."""
    return japanese.compact(text).lower()


def phrase_keys(phrases) -> list[str]:
    """The distinct ``phrase_key`` of ``phrases`` (two characters or more), sorted: the order of a
    shard's ``phrase_counts``."""
    return sorted({k for k in (phrase_key(p) for p in phrases) if len(k) >= 2})


def _automaton(keys: list[str]):
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for i, k in enumerate(keys):
        automaton.add_word(k, i)
    automaton.make_automaton()
    return automaton


def write_phrase_df(path: Path, shards: list[Path], keys: list[str]) -> None:
    """For every phrase key (the thesaurus's keys: what query expansion asks ``doc_freq`` of), the
    number of passages whose index text contains it verbatim, summed over the shards and written
    as one JSON object. Phrases found nowhere are written with 0, so a lookup never falls back to
    scanning for them."""
    counts = np.zeros(len(keys), dtype=np.int64)
    for p in shards:
        with np.load(p, allow_pickle=False) as z:
            counts += z["phrase_counts"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(dict(zip(keys, counts.tolist())), f, ensure_ascii=False, separators=(",", ":"))
    os.replace(tmp, path)


def _iter_vectors(shards: list[Path]):
    for p in shards:
        with np.load(p, allow_pickle=False) as z:
            yield z["vectors"]


def exact_top(queries: np.ndarray, shards: list[Path], k: int) -> np.ndarray:
    """Exact inner-product top-``k`` *scores* of ``queries`` over all shard vectors (streamed)."""
    best = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    for v in _iter_vectors(shards):
        best = np.concatenate([best, queries @ v.T], axis=1)
        best = -np.sort(-best, axis=1)[:, :k]
    return best


def recall_at(index: faiss.Index, queries: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k that the index returns, counted by score: a result counts when it
    scores at least the exact k-th (duplicate passages tie, and any of them is a right answer)."""
    scores, _ = index.search(queries, exact.shape[1])
    return float(np.mean(scores >= exact[:, -1:] - 1e-5))


def sample_queries(shards: list[Path], n_docs: int, n: int, seed: int = 13) -> np.ndarray:
    """Queries between topics: the normalized sum of two random passages' vectors (a passage's own
    vector would find itself in any list and overstate recall)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_docs, size=(n, 2))
    want = np.unique(picks)
    got: dict[int, np.ndarray] = {}
    first = 0
    for v in _iter_vectors(shards):
        for i in want[(want >= first) & (want < first + len(v))]:
            got[int(i)] = v[int(i) - first]
        first += len(v)
    q = np.stack([got[int(a)] + got[int(b)] for a, b in picks]).astype(np.float32)
    faiss.normalize_L2(q)
    return q


def write_ivf(path: Path, shards: list[Path], n_docs: int, dim: int, progress: bool) -> dict[str, Any]:
    """An ``IndexIVFFlat`` over the shard vectors; returns what the manifest records (lists, the
    chosen nprobe and its measured recall@10 against exact search)."""
    nlist = max(1, min(int(np.sqrt(n_docs)), n_docs // 39 or 1))
    rng = np.random.default_rng(7)
    n_train = min(n_docs, max(64 * nlist, 10_000))
    want = np.sort(rng.choice(n_docs, size=n_train, replace=False))
    train, first = [], 0
    for v in _iter_vectors(shards):
        sel = want[(want >= first) & (want < first + len(v))] - first
        train.append(v[sel])
        first += len(v)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(np.concatenate(train))
    del train
    for v in tqdm(_iter_vectors(shards), total=len(shards), desc="dense IVF", disable=not progress):
        index.add(v)
    queries = sample_queries(shards, n_docs, RECALL_QUERIES)
    truth = exact_top(queries, shards, min(10, n_docs))
    chosen, recalls = None, {}
    for nprobe in (p for p in NPROBES if p <= nlist):
        index.nprobe = nprobe
        recalls[nprobe] = round(recall_at(index, queries, truth), 4)
        if recalls[nprobe] >= TARGET_RECALL:
            chosen = nprobe
            break
    if chosen is None:  # the target cannot be met below nlist: the best measured
        chosen = max(recalls, key=lambda p: (recalls[p], -p))
        log.warning("dense IVF: recall@10 %.3f < %.2f at every nprobe ≤ %d; using nprobe %d", recalls[chosen], TARGET_RECALL, nlist, chosen)
    index.nprobe = chosen
    faiss.write_index(index, str(path))
    return {"nlist": nlist, "nprobe": chosen, "recall_at_10": recalls[chosen], "recall_by_nprobe": recalls,
            "recall_queries": len(queries)}


def write_files(out: Path, work: Path, chunks: list[Chunk], embedder, passage_text, index_text, bm25_version: str,
                progress: bool, keys: list[str] = ()) -> dict[str, Any]:
    """Every data file of a large build into ``out`` (which must not exist); shards stay in
    ``work`` so that a kill in any stage loses at most the stage's own output. ``keys``:
    ``phrase_keys`` of the thesaurus (``input_key`` must have been given the same)."""
    shards, made = write_shards(work, chunks, embedder, passage_text, index_text, progress, keys)
    out.mkdir(parents=True)
    log.info("large build: writing %d passages to %s", len(chunks), chunk_store.FILE)
    chunk_store.write(out / chunk_store.FILE, chunks)
    log.info("large build: merging BM25 from %d shards", len(shards))
    write_bm25(out / "bm25", shards, len(chunks), bm25_version, progress)
    write_phrase_df(out / PHRASE_FILE, shards, keys)
    log.info("large build: dense IVF index")
    dense = write_ivf(out / "dense.faiss", shards, len(chunks), int(embedder.dim), progress)
    return {"shards": len(shards), "shards_computed": made, "dense": dense, "phrases": len(keys)}

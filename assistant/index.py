"""The persistent search index: chunk store + BM25 + FAISS + ``manifest.json``.

Layout of ``index_dir``::

    index/
      current -> builds/20261122T0203-ab12cd   (symlink, swapped atomically)
      builds/<build id>/{manifest.json, chunks.jsonl, dense.faiss, bm25/…}
                                               (large: chunks.sqlite instead of chunks.jsonl)
      builds/.partial-<key>/shard-*.npz        (a large build in progress; a rerun resumes it)
      cache/<model fingerprint>.npz            (passage embeddings keyed by content hash)
      cache/passages/<key>.jsonl               (passages of one corpus file, checksummed)
      .build.lock

Why this shape:
- *Derived data is disposable*: a build writes a fresh directory and only then points
  ``current`` at it with ``os.replace`` on a symlink, so a crash mid-build leaves the old index
  serving, and a reader that resolved ``current`` keeps a consistent set of files.
- The manifest records what the index was built *from* (corpus fingerprint, model id and
  fingerprint, chunker/tokenizer versions) and a checksum of every file, so a stale or
  corrupt index is detected on load instead of answering with garbage.
- The embedding cache keys vectors by a hash of the exact passage text (after the model's passage
  prefix), as simonw/llm does, so a rebuild after one document changed re-embeds only that
  document's passages.
- *Large indexes stay on disk* (``LARGE_THRESHOLD`` passages and up, large_build.py): passages in
  SQLite read by position, BM25 matrices memory-mapped, an IVF dense index memory-mapped, no
  sentence vectors; the build goes through resumable shards. Below the threshold nothing changes:
  exact FlatIP search and everything in RAM, so the bundled corpus's answers do not move.
- Everything that *writes* here (passage cache, embedding cache, build directory, ``current``)
  happens under ``.build.lock``, so whatever temporary file exists when a builder acquires the
  lock was left by a killed builder and is removed (``clean_leftovers``). The failure model is
  spelled out in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import errno
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import bm25s
import faiss
import numpy as np
from filelock import FileLock, Timeout

from .hashing import sha256_file
from . import chunk_store, evidence_model, japanese, large_build, settings
from .types import Chunk

log = logging.getLogger(__name__)
# bm25s attaches its own DEBUG handler; its per-build chatter is not ours to print
logging.getLogger("bm25s").setLevel(logging.WARNING)

SCHEMA_VERSION = 2
# Tokenizer version: bump when japanese.search_tokens changes output.
TOKENIZER_VERSION = "fugashi-unidic-lite-1.0.8/lemma-content+bigram/v1"
# From this many passages on, the build is a *large* one (large_build.py): passages in SQLite, BM25
# memory-mapped, an IVF dense index memory-mapped, no sentence vectors; see docs/BENCHMARKS.md §4.
LARGE_THRESHOLD = 200_000
# Sentence vectors for the answer model (evidence_model) are embedded only up to this many passages
# (~7 sentences each; e5-small does ~25 sentences/s on two cores: 20k passages are already ~1.5 h).
# Above it the answer model falls back to its lexical entry. ASSISTANT_SENTENCE_VECTORS_MAX overrides.
SENTENCE_VECTORS_MAX = 20_000
KEEP_BUILDS = 2
# doc_freq reads every passage of a word's rarest bigram up to DOC_FREQ_SCAN_MAX; beyond (large corpora)
# it narrows them by the word's other bigrams and reads at most DOC_FREQ_SAMPLE. Its text cache is bounded.
DOC_FREQ_SCAN_MAX = 2_000
DOC_FREQ_SAMPLE = 200
DOC_FREQ_NARROW_MAX = 20_000
COMPACT_CACHE_MAX = 50_000


class IndexError_(Exception):
    """Base class for index problems the caller can fix by rebuilding."""


class StaleIndexError(IndexError_):
    """The index was built from another corpus, model or settings."""


class CorruptIndexError(IndexError_):
    """A file of the index is missing, truncated or does not match its checksum."""


class MissingIndexError(IndexError_):
    """No index has been built in this directory yet."""


class IndexWriteError(IndexError_):
    """The index directory cannot be written (disk full, no permission, read-only file system).

    Nothing half-written is left behind; the last good index (if any) is still usable."""


class CorpusMismatchError(IndexError_):
    """The index directory holds the index of another corpus directory; rebuilding would replace it."""


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM}


def write_error(path: Path | str, e: OSError) -> IndexWriteError:
    """One bilingual line for an OS error while writing ``path``: what happened and what to do."""
    where = getattr(e, "filename", None) or path
    if e.errno in _NO_SPACE:
        msg = (f"索引を書き込めません（ディスクの空き容量不足）: {where} — 空きを作ってから build を再実行してください / "
               f"cannot write the index, no space left on device: {where}; free some space and run build again")
    elif e.errno == errno.EROFS:
        msg = (f"索引を書き込めません（読み取り専用のファイルシステム）: {where} — --index で書き込めるフォルダを指定してください / "
               f"cannot write the index, read-only file system: {where}; pass --index DIR on a writable disk")
    elif e.errno in _NO_PERMISSION or isinstance(e, PermissionError):
        msg = (f"索引を書き込めません（書き込み権限がありません）: {where} — 索引の所有者として実行するか --index で書き込めるフォルダを指定してください / "
               f"cannot write the index, permission denied: {where}; run as the index's owner or pass --index DIR")
    else:
        msg = f"索引を書き込めません: {where}: {e.strerror or e} / cannot write the index at {where}: {e.strerror or e}"
    return IndexWriteError(msg)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def index_text(chunk: Chunk) -> str:
    """What the keyword side indexes: title + section path + passage (headings carry the topic)."""
    return "\n".join([chunk.title, " ".join(chunk.section), chunk.search_text])


def passage_text(chunk: Chunk) -> str:
    """What the dense side embeds: the section path gives a short passage its context. (The title and
    the whole path were tried for issue 10: R@5 on the tune split 0.789 → 0.756 with the bundled model.)"""
    head = " > ".join(chunk.section[-2:])
    return f"{head}\n{chunk.search_text}" if head else chunk.search_text


@dataclass
class BuildInfo:
    """What an index must match to be current."""

    corpus_fingerprint: str
    model_id: str
    model_fingerprint: str
    chunker_version: str
    settings: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "corpus_fingerprint": self.corpus_fingerprint,
            "model": {"id": self.model_id, "fingerprint": self.model_fingerprint},
            "chunker_version": self.chunker_version,
            "tokenizer_version": TOKENIZER_VERSION,
            "settings": self.settings,
        }


def staleness(manifest: dict[str, Any], expected: BuildInfo) -> str | None:
    """Why ``manifest`` does not match ``expected`` (a human-readable reason), or None if current."""
    want = expected.as_dict()
    checks = [
        ("schema_version", "index format"),
        ("corpus_fingerprint", "corpus"),
        ("model", "embedding model"),
        ("chunker_version", "chunker"),
        ("tokenizer_version", "tokenizer"),
        ("settings", "settings"),
    ]
    for key, label in checks:
        if manifest.get(key) != want[key]:
            return f"{label} changed ({key}: {str(manifest.get(key))[:60]} → {str(want[key])[:60]})"
    return None


# --- embedding cache ---------------------------------------------------------------------


class EmbeddingCache:
    """Passage vectors of one model, keyed by the hash of the exact text embedded."""

    def __init__(self, path: Path):
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys, vectors = z["keys"], z["vectors"]
                    if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
                        raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
                    for k, v in zip(keys, vectors):
                        self.vectors[str(k)] = v
            except Exception as e:  # a broken cache only costs time, never correctness
                log.warning("embedding cache %s unreadable (%s); re-embedding", path, e)
                self.vectors = {}

    def save(self, keep: Iterable[str]) -> bool:
        """Write the vectors of ``keep`` atomically. A failed write (disk full, no permission)
        removes its temporary file and is logged: the cache only saves time, so the build goes on."""
        keep = [k for k in dict.fromkeys(keep) if k in self.vectors]
        if not keep:
            return True
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=np.array(keep), vectors=np.stack([self.vectors[k] for k in keep]))
            os.replace(tmp, self.path)
            return True
        except OSError as e:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            log.warning("embedding cache not saved (%s); the next build re-embeds", write_error(self.path, e))
            return False


def embed_passages(chunks: list[Chunk], embedder, cache_dir: Path, progress: bool) -> tuple[np.ndarray, int]:
    """Vectors for ``chunks``, re-using cached ones. Returns (matrix, how many were newly embedded)."""
    cache = EmbeddingCache(cache_dir / f"{embedder.fingerprint[:24]}.npz")
    texts = [passage_text(c) for c in chunks]
    keys = [text_hash(embedder.passage_prefix + t) for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in cache.vectors]
    if todo:
        new = embedder.encode_passages([texts[i] for i in todo], show_progress=progress)
        for i, v in zip(todo, new):
            cache.vectors[keys[i]] = np.asarray(v, dtype=np.float32)
    cache.save(keys)
    if not chunks:
        return np.zeros((0, embedder.dim), dtype=np.float32), 0
    return np.stack([cache.vectors[k] for k in keys]).astype(np.float32), len(todo)


# --- the loaded index ----------------------------------------------------------------------


@dataclass
class SearchIndex:
    """A loaded, read-only index. Thread-safe for concurrent searches."""

    path: Path
    manifest: dict[str, Any]
    # a list, or for a large index a chunk_store.ChunkStore (same Sequence interface, read lazily)
    chunks: list[Chunk] | chunk_store.ChunkStore
    bm25: bm25s.BM25
    dense: faiss.Index
    # one vector per sentence of each passage (evidence_model.SentenceVectors), or None: the answer encoder's
    sentence_vectors: Any = None
    # the same sentences by the search sentence encoder (fine-tuned for ordering passages), or None
    search_sentence_vectors: Any = None
    # a large build's passage counts of the thesaurus phrases (large_build.write_phrase_df), or None
    phrase_df: dict[str, int] | None = None

    def id_positions(self) -> dict[str, int]:
        """Passage id → position, built once per loaded index from the id column (so a large index
        decodes no passage for it; the index is read-only, and two threads building it at once build
        the same dictionary). Retrieval, follow-ups and filters all share this one map."""
        positions = self.__dict__.get("_position_by_id")
        if positions is None:
            positions = {cid: i for i, cid in enumerate(self.chunk_column("id"))}
            self.__dict__["_position_by_id"] = positions
        return positions

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        """The passage with this id, or None — a dictionary lookup, decoding only that passage."""
        i = self.id_positions().get(chunk_id)
        return None if i is None else self.chunks[i]

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every passage for ``tokens`` — bit for bit what ``bm25s.BM25.get_scores`` gives
        (method "lucene": no non-occurrence term), column by column in the same order, but with a
        plain fancy-index add instead of ``np.add.at``: a passage occurs once per column, so the two
        do the same additions, and ``np.add.at`` is several times slower over a million rows."""
        n = len(self.chunks)
        if not tokens or not n:
            return np.zeros(n, dtype=np.float32)
        if self.bm25.nonoccurrence_array is not None:  # a method whose zeros are not zero: bm25s itself
            return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)
        vocab = self.bm25.vocab_dict
        data, indices, indptr = self.bm25.scores["data"], self.bm25.scores["indices"], self.bm25.scores["indptr"]
        scores = np.zeros(n, dtype=np.float32)
        for t in tokens:
            tid = vocab.get(t)
            if tid is not None:
                start, end = indptr[tid], indptr[tid + 1]
                scores[indices[start:end]] += data[start:end]
        return scores

    def token_df(self, token: str) -> int:
        """In how many passages a search token occurs."""
        tid = self.bm25.vocab_dict.get(token)
        indptr = self.bm25.scores["indptr"]
        if tid is None or tid + 1 >= len(indptr):
            return 0
        return int(indptr[tid + 1] - indptr[tid])

    def doc_freq(self, word: str) -> int:
        """Passages containing ``word``: its lemma's count when it is an indexed lemma; otherwise the
        passages among those holding its rarest character bigram that contain it verbatim (so a
        word like 「スターリン」, whose bigrams are all common, is not mistaken for a known one)."""
        df = self.token_df(word)
        if df:
            return df
        if self.phrase_df is not None:  # counted at build time (a large index): no postings, no reads
            counted = self.phrase_df.get(large_build.phrase_key(word))
            if counted is not None:
                return counted
        bigrams = bigram_tokens(word)
        if not bigrams:
            return 0
        tid = self.bm25.vocab_dict.get(min(bigrams, key=self.token_df))
        if tid is None:
            return 0
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        target = japanese.compact(word).lower()
        posting = np.asarray(indices[indptr[tid] : indptr[tid + 1]])
        # an index on disk pays for every passage read, so it narrows sooner
        if len(posting) <= (DOC_FREQ_SAMPLE if isinstance(self.chunks, chunk_store.ChunkStore) else DOC_FREQ_SCAN_MAX):
            return self._count_holding(posting, target)
        # Only a large corpus gets here (the rarest bigram in more than DOC_FREQ_SCAN_MAX passages):
        # keep the passages that hold *every* bigram of the word (postings are sorted by passage,
        # so each step is a binary search); read them all when at most DOC_FREQ_SAMPLE remain,
        # else read an evenly spaced DOC_FREQ_SAMPLE and scale (a word that common only needs its
        # order of magnitude). An occurrence split by a space has no bigram across the space and
        # is not counted on this path.
        scale = 1.0
        if len(posting) > DOC_FREQ_NARROW_MAX:  # even the rarest bigram is everywhere: narrow a sample of it
            scale = len(posting) / DOC_FREQ_NARROW_MAX
            posting = posting[np.linspace(0, len(posting) - 1, DOC_FREQ_NARROW_MAX).astype(np.int64)]
        posting = self.holding_all(posting, bigrams, stop_at=DOC_FREQ_SAMPLE)
        if len(posting) <= DOC_FREQ_SAMPLE:
            return int(round(self._count_holding(posting, target) * scale))
        sample = posting[np.linspace(0, len(posting) - 1, DOC_FREQ_SAMPLE).astype(np.int64)]
        return int(round(self._count_holding(sample, target) * len(posting) / len(sample) * scale))

    def _count_holding(self, positions: np.ndarray, target: str) -> int:
        """How many of the passages at ``positions`` contain ``target`` (compact, lower case)."""
        cache = self.__dict__.setdefault("_compact_cache", {})
        missing = [int(i) for i in positions if int(i) not in cache]
        if missing and isinstance(self.chunks, chunk_store.ChunkStore):
            if len(cache) + len(missing) > COMPACT_CACHE_MAX:
                cache.clear()
            for i, c in zip(missing, self.chunks.get_many(missing)):  # one query, not one per passage
                cache[i] = japanese.compact(index_text(c)).lower()
        return sum(1 for i in positions if target in self._compact(int(i)))

    def holding_all(self, posting: np.ndarray, tokens: list[str], stop_at: int = 0) -> np.ndarray:
        """The passages of ``posting`` (sorted positions) whose index text has every one of
        ``tokens``, rarest token first; stops early once at most ``stop_at`` remain."""
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        for tok in sorted(set(tokens), key=self.token_df):
            if len(posting) <= stop_at:
                break
            t = self.bm25.vocab_dict.get(tok)
            if t is None:
                return posting[:0]
            other = indices[indptr[t] : indptr[t + 1]]
            if len(other) == 0:
                return posting[:0]
            at = np.searchsorted(other, posting)
            posting = posting[(at < len(other)) & (np.asarray(other[np.minimum(at, len(other) - 1)]) == posting)]
        return posting

    def _compact(self, i: int) -> str:
        cache = self.__dict__.setdefault("_compact_cache", {})
        if i not in cache:
            if len(cache) >= COMPACT_CACHE_MAX:  # bounded: a large index must not creep into RAM
                cache.clear()
            cache[i] = japanese.compact(index_text(self.chunks[i])).lower()
        return cache[i]

    def chunk_column(self, name: str) -> list[str]:
        """``id``, ``doc_id`` or ``municipality`` of every passage, in order, without decoding every
        passage of a large index."""
        if isinstance(self.chunks, chunk_store.ChunkStore):
            return self.chunks.column(name)
        if name not in chunk_store.COLUMNS:
            raise ValueError(f"no column {name!r} (one of {', '.join(chunk_store.COLUMNS)})")
        return [getattr(c, name) for c in self.chunks]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a search token (0 for tokens not in the index)."""
        df = self.token_df(token)
        n = max(len(self.chunks), 1)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df else 0.0

    def dense_cosines(self, query_vec: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact cosines of the given passages (for candidates that did not come from the dense search)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.float32)
        vecs = self.dense.reconstruct_batch(ids)
        return (vecs @ np.asarray(query_vec, dtype=np.float32).reshape(-1)).astype(np.float32)

    def dense_scores(self, query_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, cosine scores) for one L2-normalized query vector."""
        k = min(k, len(self.chunks))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, ids = self.dense.search(np.asarray(query_vec, dtype=np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


def bigram_tokens(word: str) -> list[str]:
    """The search tokens of ``word``'s character bigrams (how a word that is no indexed lemma is
    found: ``doc_freq`` starts from its rarest one)."""
    return ["#" + b for b in japanese.char_bigrams(word)]


def sentence_vectors_max() -> int:
    """How many passages an index may have and still get sentence vectors (see SENTENCE_VECTORS_MAX)."""
    return settings.env_whole_number("ASSISTANT_SENTENCE_VECTORS_MAX", SENTENCE_VECTORS_MAX, minimum=0, unit="passages")


def is_large(n_passages: int) -> bool:
    return n_passages >= LARGE_THRESHOLD


def _make_faiss(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product search (small builds; large ones use large_build.write_ivf)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(vectors)
    return index


def _file_checksums(build_dir: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for p in sorted(build_dir.rglob("*")):
        if p.is_file():
            files[str(p.relative_to(build_dir))] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return files


def _write_manifest(build_dir: Path, manifest: dict[str, Any]) -> None:
    tmp = build_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, build_dir / "manifest.json")


def _write_build(build_dir: Path, chunks: list[Chunk], vectors: np.ndarray, info: BuildInfo, extra: dict, sentences=None,
                 search_sentences=None) -> None:
    build_dir.mkdir(parents=True)
    if sentences is not None:
        sentences.save(build_dir / evidence_model.SENTENCES_FILE)
    if search_sentences is not None:
        search_sentences.save(build_dir / evidence_model.SEARCH_SENTENCES_FILE)
    with open(build_dir / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
    corpus_tokens = [japanese.search_tokens(index_text(c)) for c in chunks]
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens or [[""]], show_progress=False)
    retriever.save(str(build_dir / "bm25"), show_progress=False)
    faiss.write_index(_make_faiss(vectors), str(build_dir / "dense.faiss"))
    manifest = info.as_dict() | {
        "counts": {"documents": len({c.doc_id for c in chunks}), "passages": len(chunks), "dim": int(vectors.shape[1])},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dense_index": "FlatIP",
        "storage": "memory",
        "files": _file_checksums(build_dir),
    } | extra
    _write_manifest(build_dir, manifest)


def _write_large_build(build_dir: Path, work: Path, chunks: list[Chunk], embedder, info: BuildInfo, extra: dict, progress: bool,
                       keys: list[str] = ()) -> None:
    """A large build's files (large_build.py) and its manifest into ``build_dir``."""
    made = large_build.write_files(build_dir, work, chunks, embedder, passage_text, index_text, bm25s.__version__, progress, keys)
    stats = extra["build"]  # the caller's stats too
    stats |= {"shards": made["shards"], "shards_computed": made["shards_computed"],
              "embedded": len(chunks) * made["shards_computed"] // max(made["shards"], 1)}
    stats["reused"] = len(chunks) - stats["embedded"]
    manifest = info.as_dict() | {
        "counts": {"documents": len({c.doc_id for c in chunks}), "passages": len(chunks), "dim": int(embedder.dim)},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dense_index": "IVFFlat",
        "dense": made["dense"],
        "phrases_counted": made["phrases"],
        "storage": "disk",
        "files": _file_checksums(build_dir),
    } | extra
    _write_manifest(build_dir, manifest)


@contextmanager
def build_lock(index_dir: Path | str, timeout: float = 600) -> Iterator[float]:
    """Hold ``index_dir/.build.lock``; yields the time it was acquired.

    Every writer of the index directory holds it, so two builders never race and anything
    temporary that is older than the holder was left by a killed builder."""
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(index_dir / ".build.lock"), timeout=timeout)
        lock.acquire()
    except Timeout as e:
        raise IndexError_(f"別の作成処理が索引をロック中です / another build holds {index_dir / '.build.lock'}; try again when it finishes") from e
    except OSError as e:
        raise write_error(index_dir, e) from e
    try:
        yield time.time()
    finally:
        lock.release()


def clean_leftovers(index_dir: Path | str, before: float | None = None) -> list[Path]:
    """Remove what a killed build leaves: staging directories, ``*.tmp`` cache files and temp
    links older than ``before`` (the time the caller acquired the build lock). Returns them."""
    index_dir = Path(index_dir)
    before = time.time() if before is None else before
    candidates = [
        *index_dir.glob("builds/.staging-*"),
        *index_dir.glob(".current.*.tmp"),
        *index_dir.glob(".replaced-current-*"),
        *index_dir.glob("cache/*.tmp"),
        *index_dir.glob("cache/passages/*.tmp"),
        *index_dir.glob("builds/.partial-*/*.tmp"),  # a shard being written; finished shards stay
    ]
    removed = []
    for p in candidates:
        try:
            if p.lstat().st_mtime >= before:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:
            continue
        except OSError as e:
            log.warning("cannot remove leftover %s: %s", p, e)
    if removed:
        log.warning("removed %d leftover(s) of an interrupted build in %s: %s", len(removed), index_dir,
                    ", ".join(p.name for p in removed[:5]) + (" …" if len(removed) > 5 else ""))
    return removed


def build(
    index_dir: Path | str,
    chunks: list[Chunk],
    embedder,
    info: BuildInfo,
    *,
    progress: bool = False,
    lock_timeout: float = 600,
    corpus_dir: Path | str | None = None,
    sentence_encoder=None,
    phrases: Iterable[str] = (),
    search_sentence_encoder=None,
) -> dict[str, Any]:
    """Build an index from ``chunks`` and make it current. Returns build stats.

    ``phrases`` (the thesaurus's keys) are the words whose passage counts a large build
    precomputes for query expansion (``SearchIndex.doc_freq``); a small build ignores them.

    A file lock makes a second concurrent build wait instead of racing; the new build only
    becomes visible once every file is written. ``rebuild`` is the variant that re-checks
    staleness after acquiring the lock (what the assistant uses).
    """
    with build_lock(index_dir, lock_timeout) as acquired:
        clean_leftovers(index_dir, acquired)
        return _build_locked(Path(index_dir), chunks, embedder, info, progress, corpus_dir, sentence_encoder, phrases,
                             search_sentence_encoder)


def rebuild(
    index_dir: Path | str,
    expected: BuildInfo,
    produce_chunks: Callable[[], list[Chunk]],
    embedder,
    *,
    force: bool = False,
    progress: bool = False,
    lock_timeout: float = 600,
    corpus_dir: Path | str | None = None,
    sentence_encoder=None,
    phrases: Iterable[str] = (),
    search_sentence_encoder=None,
) -> dict[str, Any] | None:
    """Build under the lock unless, once the lock is ours, the index turns out to be current
    (another builder we waited for made it so): then return None without redoing the work.

    ``produce_chunks`` runs under the lock too (it writes the passage cache). Refuses, with
    ``CorpusMismatchError``, to replace an index that another existing corpus directory built.
    """
    index_dir = Path(index_dir)
    with build_lock(index_dir, lock_timeout) as acquired:
        clean_leftovers(index_dir, acquired)
        if not force:
            try:
                load(index_dir, expected)
                log.info("index in %s was made current by another build while we waited", index_dir)
                return None
            except IndexError_:
                pass
        if corpus_dir is not None:
            _check_same_corpus(index_dir, Path(corpus_dir))
        return _build_locked(index_dir, produce_chunks(), embedder, expected, progress, corpus_dir, sentence_encoder, phrases,
                             search_sentence_encoder)


def _check_same_corpus(index_dir: Path, corpus_dir: Path) -> None:
    try:
        built_from = read_manifest(index_dir).get("corpus_dir")
    except IndexError_:
        return
    here = str(corpus_dir.resolve())
    if built_from and built_from != here and Path(built_from).is_dir():
        raise CorpusMismatchError(
            f"索引 {index_dir} は別のコーパス {built_from} から作られています。上書きしません。"
            f"このコーパス用の索引は --index で別のフォルダを指定してください / "
            f"the index in {index_dir} belongs to the corpus {built_from}, not {here}; not replacing it: "
            f"pass --index DIR for this corpus (or delete {index_dir} if that corpus is gone)"
        )


def _build_locked(index_dir: Path, chunks: list[Chunk], embedder, info: BuildInfo, progress: bool,
                  corpus_dir: Path | str | None, sentence_encoder=None, phrases: Iterable[str] = (),
                  search_sentence_encoder=None) -> dict[str, Any]:
    t0 = time.perf_counter()
    large = is_large(len(chunks))
    builds = index_dir / "builds"
    limit = sentence_vectors_max()
    sentences, search_sentences, s_new, t_sent, n_new = None, None, 0, 0.0, len(chunks)
    if large:
        skipped = f"{len(chunks):,} passages: a large index (≥ {LARGE_THRESHOLD:,}) has no sentence vectors"
    elif len(chunks) > limit:
        skipped = f"{len(chunks):,} passages > ASSISTANT_SENTENCE_VECTORS_MAX {limit:,}"
    else:
        skipped = None
    if skipped:
        log.warning("sentence vectors skipped (%s): the answer model uses its lexical entry", skipped)
    if large:
        vectors = None
        t_embed = 0.0
    else:
        vectors, n_new = embed_passages(chunks, embedder, index_dir / "cache", progress)
        t_embed = time.perf_counter() - t0
        if not skipped:
            # with a search sentence encoder, its vectors too (SearchIndex.search_sentence_vectors)
            encoders = [sentence_encoder or embedder] + ([search_sentence_encoder] if search_sentence_encoder is not None else [])
            sets = _embed_sentences(chunks, encoders, index_dir / "cache", progress)
            sentences = sets[0]
            search_sentences = sets[1] if len(sets) > 1 else None
            s_new = sum(sv.n_new for sv in sets)
        t_sent = time.perf_counter() - t0 - t_embed
    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + os.urandom(3).hex()
    staging = work = None
    try:
        builds.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=builds))
        final = builds / build_id
        stats = {"embedded": n_new, "reused": len(chunks) - n_new, "embed_seconds": round(t_embed, 3),
                 "sentences_embedded": s_new, "sentence_seconds": round(t_sent, 3)}
        extra = {"build": stats, "sentence_vectors": {"built": sentences is not None, "skipped": skipped,
                                                      "search_built": search_sentences is not None}}
        extra |= {"corpus_dir": str(Path(corpus_dir).resolve())} if corpus_dir is not None else {}
        if large:
            keys = large_build.phrase_keys(phrases)
            work = large_build.partial_dir(builds, large_build.input_key(chunks, info.as_dict(), int(embedder.dim), keys))
            _write_large_build(staging / "b", work, chunks, embedder, info, extra, progress, keys)
        else:
            _write_build(staging / "b", chunks, vectors, info, extra, sentences, search_sentences)
        os.replace(staging / "b", final)
        _point_current(index_dir, final)
    except OSError as e:
        raise write_error(index_dir, e) from e  # e.filename, when set, names the file
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    if work is not None:  # published: the shards are no longer needed
        shutil.rmtree(work, ignore_errors=True)
    _prune(builds, keep={final.name})
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    log.info("index built: %d passages (%d embedded, %d reused) in %.1fs", len(chunks), stats["embedded"], stats["reused"], stats["seconds"])
    return stats


def _embed_sentences(chunks: list[Chunk], encoders: list, cache_dir: Path, progress: bool) -> list:
    """Sentence vectors by each encoder (one ``SentenceVectors`` each), cached by text hash like passage
    vectors, one cache file per encoder."""
    caches = [EmbeddingCache(cache_dir / f"sentences-{e.fingerprint[:24]}.npz") for e in encoders]
    sets = evidence_model.embed_sentence_sets(chunks, list(zip(encoders, caches)), progress)
    for cache, sv in zip(caches, sets):
        cache.save(sv.keys)
    return sets


def _point_current(index_dir: Path, target: Path) -> None:
    """Point ``current`` at ``target`` atomically. A ``current`` that is not a symlink (a real
    directory after ``cp -rL``, a plain file) is moved aside first, then removed."""
    cur = index_dir / "current"
    if cur.exists() and not cur.is_symlink():
        aside = index_dir / f".replaced-current-{os.getpid()}-{os.urandom(3).hex()}"
        log.warning("%s is a %s, not a link to a build: replacing it", cur, "directory" if cur.is_dir() else "file")
        os.replace(cur, aside)
        if aside.is_dir():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)
    tmp_link = index_dir / f".current.{os.getpid()}.tmp"
    try:
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        os.symlink(os.path.relpath(target, index_dir), tmp_link)
        os.replace(tmp_link, cur)
    finally:
        if tmp_link.is_symlink():
            tmp_link.unlink(missing_ok=True)


def _prune(builds: Path, keep: set[str]) -> None:
    """Keep the newest builds (a reader may still hold the previous one open)."""
    others = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in keep), reverse=True)
    for p in others[max(KEEP_BUILDS - len(keep), 0) :]:
        shutil.rmtree(p, ignore_errors=True)


def read_manifest(index_dir: Path | str) -> dict[str, Any]:
    cur = Path(index_dir) / "current"
    if not cur.exists():
        raise MissingIndexError(f"no index in {index_dir}")
    try:
        manifest = json.loads((cur / "manifest.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError) as e:
        raise CorruptIndexError(f"{cur}/manifest.json is missing") from e
    except IsADirectoryError as e:
        raise CorruptIndexError(f"{cur}/manifest.json is a directory") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptIndexError(f"{cur}/manifest.json is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise CorruptIndexError(f"{cur}/manifest.json is not a manifest (holds {type(manifest).__name__})")
    return manifest


def load(index_dir: Path | str, expected: BuildInfo | None = None, *, verify: bool = True) -> SearchIndex:
    """Load the current index; raise Missing/Stale/CorruptIndexError instead of returning bad data."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if expected is not None:
        reason = staleness(manifest, expected)
        if reason:
            raise StaleIndexError(reason)
    root = (index_dir / "current").resolve()
    if verify:
        for rel, meta in manifest.get("files", {}).items():
            p = root / rel
            if not p.is_file():
                raise CorruptIndexError(f"{p} is missing")
            if not isinstance(meta, dict) or p.stat().st_size != meta.get("bytes") or sha256_file(p) != meta.get("sha256"):
                raise CorruptIndexError(f"{p} does not match its checksum (truncated or modified)")
    try:
        if (root / chunk_store.FILE).is_file():
            chunks = chunk_store.ChunkStore(root / chunk_store.FILE)
        else:
            chunks = [Chunk.from_dict(json.loads(line)) for line in (root / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line]
        # a large build's matrices stay on disk and are paged in as queries touch them
        on_disk = manifest.get("storage") == "disk"
        retriever = bm25s.BM25.load(str(root / "bm25"), show_progress=False, verbosity=0, mmap=on_disk)
        dense = faiss.read_index(str(root / "dense.faiss"), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if on_disk else 0)
        if isinstance(manifest.get("dense"), dict) and manifest["dense"].get("nprobe"):
            faiss.extract_index_ivf(dense).nprobe = int(manifest["dense"]["nprobe"])
        sentences = evidence_model.SentenceVectors.load(root / evidence_model.SENTENCES_FILE)
        search_sentences = evidence_model.SentenceVectors.load(root / evidence_model.SEARCH_SENTENCES_FILE)
        phrase_df = None
        if (root / large_build.PHRASE_FILE).is_file():
            phrase_df = json.loads((root / large_build.PHRASE_FILE).read_text(encoding="utf-8"))
            if not isinstance(phrase_df, dict):
                raise ValueError(f"{large_build.PHRASE_FILE} is not an object")
    except Exception as e:
        raise CorruptIndexError(f"cannot read index files in {root}: {e}") from e
    counts = manifest.get("counts")
    if dense.ntotal != len(chunks) or not isinstance(counts, dict) or counts.get("passages") != len(chunks):
        raise CorruptIndexError(f"index in {root} is inconsistent: {len(chunks)} passages, {dense.ntotal} vectors")
    for sv in (sentences, search_sentences):
        if sv is not None and len(sv.offsets) != len(chunks) + 1:
            raise CorruptIndexError(f"index in {root} is inconsistent: sentence vectors for {len(sv.offsets) - 1} passages, {len(chunks)} passages")
    return SearchIndex(path=root, manifest=manifest, chunks=chunks, bm25=retriever, dense=dense, sentence_vectors=sentences,
                       search_sentence_vectors=search_sentences, phrase_df=phrase_df)

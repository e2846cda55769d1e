"""Corpus files → passages, re-reading and re-chunking only the files that changed.

Reading a PDF and cleaning a long plan costs seconds; re-doing it for every document whenever one
is added would make "add a plan and see it answered the same day" slow for no reason. Each corpus
file's passages are cached under a key made of the file's bytes, its catalog entry and the
pipeline version (code hash + chunk settings), so an unchanged file is never read again and any
change to the file, its metadata or the code re-chunks it. Removed files simply drop out, and
the cache keeps only what the current corpus uses.

The cache is *not trusted*: an entry is a header line (format, passage count, SHA-256 of the
body) followed by one passage per line. An entry that is empty, truncated, garbled or of
another shape is logged with its file name, deleted and rebuilt from the source file, so a
damaged cache can cost time but never change what is indexed. Writes are atomic and a write
that fails (disk full, read-only index) only costs the cache, never the build.

The catalog is read here too, and a ``catalog.toml`` with a syntax error does not strip every
document of its metadata: the last catalog that parsed (kept next to the cache) is used and the
error is reported (``PassageStats.catalog_error``) until the file is fixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from . import chunking, corpus
from .index import sha256_file
from .types import Chunk

log = logging.getLogger(__name__)


CACHE_FORMAT = "passages/v2"
LAST_GOOD_CATALOG = "last-good-catalog.toml"


@dataclass
class PassageStats:
    files: int = 0
    reused: int = 0  # files whose passages came from the cache
    read: int = 0  # files read, cleaned and chunked now
    skipped: list = field(default_factory=list)
    repaired: list = field(default_factory=list)  # cache entries found damaged and rebuilt
    collapsed: int = 0  # identical passages of one document dropped
    catalog_error: str | None = None


class CacheEntryError(Exception):
    """A passage cache entry that cannot be trusted; the message says what is wrong with it."""


def encode_entry(chunks: list[Chunk], source: str) -> bytes:
    body = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks).encode("utf-8")
    head = {"format": CACHE_FORMAT, "source": source, "passages": len(chunks), "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps(head, ensure_ascii=False).encode("utf-8") + b"\n" + body


def decode_entry(data: bytes) -> list[Chunk]:
    """The passages of a cache entry; ``CacheEntryError`` unless header, checksum and records all hold."""
    head_line, sep, body = data.partition(b"\n")
    if not sep:
        raise CacheEntryError("empty or truncated (no header line)")
    try:
        head = json.loads(head_line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CacheEntryError("header is not JSON") from None
    if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:
        raise CacheEntryError(f"not a {CACHE_FORMAT} entry")
    if hashlib.sha256(body).hexdigest() != head.get("sha256"):
        raise CacheEntryError("checksum mismatch (truncated or modified)")
    try:
        chunks = [Chunk.from_dict(json.loads(x)) for x in body.decode("utf-8").splitlines() if x]
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CacheEntryError(f"bad record ({type(e).__name__}: {e})") from None
    if len(chunks) != head.get("passages"):
        raise CacheEntryError(f"{len(chunks)} passages, header says {head.get('passages')}")
    return chunks


def read_catalog_keeping_last_good(corpus_dir: Path, keep_dir: Path) -> tuple[dict, str | None]:
    """(catalog, error). A catalog that parses is remembered in ``keep_dir``; one that does not is
    replaced by the remembered one (or {} if there is none), and the error is returned."""
    src = Path(corpus_dir) / corpus.CATALOG_FILE
    keep = Path(keep_dir) / LAST_GOOD_CATALOG
    try:
        catalog = corpus.read_catalog_strict(corpus_dir)
    except corpus.CatalogError as e:
        if keep.is_file():
            try:
                catalog = corpus.parse_catalog(keep.read_bytes())
                log.warning("%s; using the last catalog that parsed (%s) until it is fixed", e, keep)
                return catalog, f"{e}（前回正常に読めた目録を使用中 / using the last good catalog）"
            except (corpus.CatalogError, OSError):
                pass
        log.warning("%s; no earlier catalog to fall back on, documents have no catalog metadata", e)
        return {}, f"{e}（目録情報なしで作成 / built without catalog metadata）"
    if src.is_file():
        try:
            data = src.read_bytes()
            if not keep.is_file() or keep.read_bytes() != data:
                _write_atomic(keep, data)
        except OSError as e:
            log.warning("cannot remember the catalog in %s: %s", keep, e)
    return catalog, None


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Hash of every document file's path and bytes plus the catalog: cheap, no parsing needed."""
    root = Path(corpus_dir)
    h = hashlib.sha256()
    cat = root / corpus.CATALOG_FILE
    files = corpus.iter_corpus_files(root) + ([cat] if cat.is_file() else [])
    for p in files:
        h.update(str(p.relative_to(root)).encode("utf-8") + b"\0" + sha256_file(p).encode("ascii") + b"\n")
    return h.hexdigest()


def collect(corpus_dir: Path, cache_dir: Path, pipeline_key: str, progress: bool = False, *,
            reuse: bool = True) -> tuple[list[Chunk], PassageStats]:
    """All passages of the corpus, in file order; unchanged files come from ``cache_dir``
    (``reuse=False`` reads every file again, as ``build --force`` does)."""
    root = Path(corpus_dir)
    cache_ok = _ensure_dir(cache_dir)
    stats = PassageStats()
    catalog, stats.catalog_error = read_catalog_keeping_last_good(root, cache_dir)
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    used: set[str] = {LAST_GOOD_CATALOG}
    files = corpus.iter_corpus_files(root)
    for path in tqdm(files, desc="文書を読み込み中 (reading documents)", unit="file", disable=not progress or len(files) < 2):
        stats.files += 1
        entry = catalog.get(path.name, {})
        try:
            digest = sha256_file(path)
        except OSError as e:
            corpus._skip(path, f"unreadable: {e}", stats.skipped)
            continue
        key = hashlib.sha256(
            "\0".join([digest, path.name, json.dumps(entry, sort_keys=True, default=str), pipeline_key]).encode("utf-8")
        ).hexdigest()[:32]
        cached = cache_dir / f"{key}.jsonl"
        used.add(cached.name)
        file_chunks = _read_entry(cached, path, stats) if reuse else None
        if file_chunks is not None:
            stats.reused += 1
        else:
            docs = corpus.read_corpus_file(path, catalog, stats.skipped)
            file_chunks, dropped = collapse_duplicates(chunking.chunk_corpus(docs))
            if dropped:
                log.warning("%s: %d identical passages collapsed", path, dropped)
            stats.collapsed += dropped
            stats.read += 1
            if docs and cache_ok:  # an unreadable file is retried next time, not cached as empty
                cache_ok = _write_atomic(cached, encode_entry(file_chunks, path.name))
        ids = {c.doc_id for c in file_chunks}
        for dup in sorted(ids & seen_ids):  # the first file wins, as in corpus.load_corpus
            log.warning("skipping %s in %s: duplicate document id", dup, path)
            stats.skipped.append(corpus.Skipped(str(path), f"duplicate document id {dup!r}"))
        chunks.extend(c for c in file_chunks if c.doc_id not in seen_ids)
        seen_ids |= ids
    if cache_ok:
        for stale in cache_dir.iterdir():
            if stale.name not in used and not stale.name.endswith(".tmp"):
                stale.unlink(missing_ok=True)
    return chunks, stats


def collapse_duplicates(chunks: list[Chunk]) -> tuple[list[Chunk], int]:
    """Drop passages whose text repeats an earlier passage of the same document (a file of one
    line repeated thousands of times is one passage, not thousands that crowd out the rest)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in chunks:
        k = (c.doc_id, c.text)
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out, len(chunks) - len(out)


def _read_entry(cached: Path, source: Path, stats: PassageStats) -> list[Chunk] | None:
    """The cached passages of ``source``, or None when there is no trustworthy entry (a damaged
    one is logged with its name and removed, so the file is read again)."""
    try:
        data = cached.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("passage cache %s unreadable (%s): re-reading %s", cached, e, source.name)
        return None
    try:
        return decode_entry(data)
    except CacheEntryError as e:
        log.warning("passage cache entry %s for %s is damaged (%s): discarded, re-reading the file", cached, source.name, e)
        stats.repaired.append(str(cached))
        try:
            cached.unlink(missing_ok=True)
        except OSError:
            pass
        return None


def _ensure_dir(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        return True
    except OSError as e:
        log.warning("passage cache %s cannot be created (%s): reading every file", d, e)
        return False


def _write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temporary file; on failure remove it, log, return False."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return True
    except OSError as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        log.warning("passage cache not written (%s: %s); continuing without it", path, e)
        return False

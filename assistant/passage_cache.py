"""Corpus files → passages, re-reading and re-chunking only the files that changed.

Reading a PDF and cleaning a long plan costs seconds; re-doing it for every document whenever one
is added would make "add a plan and see it answered the same day" slow for no reason. Each corpus
file's passages are cached under a key made of the file's bytes, its catalog entry and the
pipeline version (code hash + chunk settings), so an unchanged file is never read again and any
change to the file, its metadata or the code re-chunks it. Removed files simply drop out, and
the cache keeps only what the current corpus uses.
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


@dataclass
class PassageStats:
    files: int = 0
    reused: int = 0  # files whose passages came from the cache
    read: int = 0  # files read, cleaned and chunked now
    skipped: list = field(default_factory=list)


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Hash of every document file's path and bytes plus the catalog: cheap, no parsing needed."""
    root = Path(corpus_dir)
    h = hashlib.sha256()
    cat = root / corpus.CATALOG_FILE
    files = corpus.iter_corpus_files(root) + ([cat] if cat.is_file() else [])
    for p in files:
        h.update(str(p.relative_to(root)).encode("utf-8") + b"\0" + sha256_file(p).encode("ascii") + b"\n")
    return h.hexdigest()


def collect(corpus_dir: Path, cache_dir: Path, pipeline_key: str, progress: bool = False) -> tuple[list[Chunk], PassageStats]:
    """All passages of the corpus, in file order; unchanged files come from ``cache_dir``."""
    root = Path(corpus_dir)
    catalog = corpus.read_catalog(root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stats = PassageStats()
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    used: set[str] = set()
    files = corpus.iter_corpus_files(root)
    for path in tqdm(files, desc="文書を読み込み中 (reading documents)", unit="file", disable=not progress or len(files) < 2):
        stats.files += 1
        entry = catalog.get(path.name, {})
        key = hashlib.sha256(
            "\0".join([sha256_file(path), path.name, json.dumps(entry, sort_keys=True, default=str), pipeline_key]).encode("utf-8")
        ).hexdigest()[:32]
        cached = cache_dir / f"{key}.jsonl"
        used.add(cached.name)
        if cached.is_file():
            file_chunks = [Chunk.from_dict(json.loads(x)) for x in cached.read_text(encoding="utf-8").splitlines() if x]
            stats.reused += 1
        else:
            docs = corpus.read_corpus_file(path, catalog, stats.skipped)
            file_chunks = chunking.chunk_corpus(docs)
            stats.read += 1
            if docs:  # an unreadable file is retried next time, not cached as empty
                _write_atomic(cached, "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in file_chunks))
        ids = {c.doc_id for c in file_chunks}
        for dup in sorted(ids & seen_ids):  # the first file wins, as in corpus.load_corpus
            log.warning("skipping %s in %s: duplicate document id", dup, path)
            stats.skipped.append(corpus.Skipped(str(path), f"duplicate document id {dup!r}"))
        chunks.extend(c for c in file_chunks if c.doc_id not in seen_ids)
        seen_ids |= ids
    for stale in cache_dir.glob("*.jsonl"):
        if stale.name not in used:
            stale.unlink(missing_ok=True)
    return chunks, stats


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)

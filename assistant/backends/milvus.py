"""The ``milvus`` backend: one build = three Milvus collections behind an alias.

Why this shape:
- *Our* BM25, not Milvus's analyzers: every passage's sparse vector is its row of the bm25s
  score matrix the local build computed (term id → BM25 weight of that term in that passage,
  IDF and length normalization included), and a query sends our fugashi/bigram tokens' summed
  group weights. Inner product of the two is exactly the local BM25 sum, so fusion sees the
  same numbers on both backends.
- *Atomic publish*: a build writes ``<alias>_<key>`` (passages: dense + sparse vectors and the
  filter fields municipality, doc_id, section, page, chunk id, plus the chunk as JSON),
  ``…_sent`` (the answer encoder's sentence vectors), ``…_ssent`` (the search sentence encoder's,
  when the build has them) and ``…_meta`` (manifest, vocabulary,
  document frequencies, sentence offsets), writes the ``complete`` marker last, checks the row
  counts, and only then points the alias at it. A publish that dies half way leaves a
  collection no alias names; the next publish drops it. The previous build is kept (a replica
  may still be reading it) and older ones are dropped.
- *Stateless replicas*: a replica whose expected build (corpus fingerprint, model, settings)
  matches the alias's manifest opens it without reading any local index file.
- *Faults*: a server that cannot be reached at start is one :class:`BackendUnavailable` naming
  the URI; a failing call while serving raises the same (the web tier answers 503 and the next
  question tries again — pymilvus reconnects, so the app recovers without a restart).

What a replica still holds in memory: the passages (for citations, filters and the answer's
sentence choice), the vocabulary and the sentence vectors — the BM25 matrix and the passage
vectors stay in Milvus. Moving passages out of memory too is the next step (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import zlib
from typing import Any

import numpy as np

from ..types import Chunk
from . import BackendError, BackendUnavailable, Filter, SparseQuery

# (meta kind, collection suffix, SearchIndex attribute) of each set of sentence vectors a build may hold
SENTENCE_SETS = (("sentences", "_sent", "sentence_vectors"), ("search_sentences", "_ssent", "search_sentence_vectors"))
COMPANIONS = tuple(suffix for _, suffix, _ in SENTENCE_SETS) + ("_meta",)

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "machizukuri"
INSERT_BATCH = 1000
PAYLOAD_CHARS = 60_000          # below VARCHAR's 65,535-byte limit (payloads are ASCII)
MAX_CHUNK_BYTES = 65_535
MAX_LIMIT = 16_384              # Milvus's largest top-k
KEEP_BUILDS = 2


def _import_pymilvus():
    try:
        import pymilvus
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise BackendError("pymilvus がインストールされていません / the milvus backend needs pymilvus: pip install 'machizukuri-qa[milvus]'") from e
    return pymilvus


def _encode(obj: Any) -> list[str]:
    raw = base64.b64encode(zlib.compress(json.dumps(obj, ensure_ascii=False).encode("utf-8"), 6)).decode("ascii")
    return [raw[i : i + PAYLOAD_CHARS] for i in range(0, len(raw), PAYLOAD_CHARS)] or [""]


def _decode(parts: list[str]) -> Any:
    return json.loads(zlib.decompress(base64.b64decode("".join(parts))).decode("utf-8"))


def _literal(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _unavailable(e: Exception) -> bool:
    """Whether ``e`` means the server cannot be reached (retry later), not a bad request."""
    import grpc
    from pymilvus import exceptions as mx

    if isinstance(e, (grpc.RpcError, ConnectionError, TimeoutError, OSError, mx.MilvusUnavailableException,
                      mx.ConnectionNotExistException, mx.ConnectError)):
        return True
    text = str(e).lower()
    return any(w in text for w in ("unavailable", "connect", "deadline", "timeout", "closed channel", "not ready"))


def build_key(manifest: dict[str, Any]) -> str:
    """A build's name in Milvus: the hash of its files' checksums (the same build, the same key)."""
    files = json.dumps(manifest.get("files", {}), sort_keys=True) + str(manifest.get("built_at"))
    return hashlib.sha256(files.encode()).hexdigest()[:16]


class MilvusStore:
    """A Milvus server (or milvus-lite file) holding this assistant's builds under ``alias``."""

    def __init__(self, uri: str, *, alias: str | None = None, token: str | None = None, timeout: float = 10.0,
                 client=None):
        self.uri = uri
        self.alias = alias or os.environ.get("ASSISTANT_MILVUS_ALIAS") or DEFAULT_ALIAS
        self.timeout = timeout
        self.lite = not uri.startswith(("http://", "https://", "tcp://", "unix:"))
        if client is not None:
            self.client = client
            return
        pymilvus = _import_pymilvus()
        try:
            if self.lite and os.path.dirname(os.path.abspath(uri)):
                os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
            self.client = pymilvus.MilvusClient(uri=uri, token=token or os.environ.get("ASSISTANT_MILVUS_TOKEN", ""), timeout=timeout)
            self.client.list_collections()
        except Exception as e:
            raise BackendUnavailable(
                f"検索バックエンド Milvus に接続できません: {uri} — サーバーが起動しているか、URI が正しいか確認してください / "
                f"cannot reach Milvus at {uri}: {type(e).__name__}: {str(e)[:200]}") from e

    # --- plumbing -----------------------------------------------------------------------

    def call(self, method: str, *args, **kw):
        """One client call; any failure of the server or the connection is BackendUnavailable."""
        try:
            return getattr(self.client, method)(*args, **kw)
        except BackendError:
            raise
        except Exception as e:
            if not _unavailable(e):
                raise BackendError(f"Milvus at {self.uri} rejected {method}: {type(e).__name__}: {str(e)[:300]}") from e
            raise BackendUnavailable(
                f"検索バックエンド Milvus が応答しません: {self.uri} / Milvus at {self.uri} failed ({method}): "
                f"{type(e).__name__}: {str(e)[:200]}") from e

    def describe(self) -> dict[str, Any]:
        return {"kind": "milvus", "uri": self.uri if self.lite else self.uri.split("@")[-1], "alias": self.alias}

    def target(self) -> str | None:
        """The collection the alias points at, or None before the first publish."""
        if self.alias not in self.call("list_aliases").get("aliases", []):
            return None
        return self.call("describe_alias", self.alias)["collection_name"]

    def _meta(self, name: str) -> dict[str, Any] | None:
        """The build's meta rows by kind, or None when it is missing or was never completed."""
        meta = name + "_meta"
        if not self.call("has_collection", meta):
            return None
        self.call("load_collection", meta)  # after a server restart collections are released
        rows = self.call("query", meta, filter="id >= 0", output_fields=["kind", "part", "payload"], limit=MAX_LIMIT)
        by: dict[str, list] = {}
        for r in rows:
            by.setdefault(r["kind"], []).append((r["part"], r["payload"]))
        if "complete" not in by:
            return None
        return {k: _decode([p for _, p in sorted(v)]) for k, v in by.items()}

    def current_manifest(self) -> dict[str, Any] | None:
        name = self.target()
        meta = self._meta(name) if name else None
        return meta["manifest"] if meta else None

    def open_current(self) -> "MilvusBackend":
        name = self.target()
        if name is None:
            raise BackendError(f"Milvus {self.uri} にはまだ索引がありません / no build published in Milvus at {self.uri} (alias {self.alias})")
        return self._open(name)

    def _open(self, name: str) -> "MilvusBackend":
        meta = self._meta(name)
        if meta is None:
            raise BackendError(f"Milvus collection {name} is incomplete (no complete marker)")
        for c in (name,) + tuple(name + suffix for _, suffix, _ in SENTENCE_SETS):
            if self.call("has_collection", c):
                self.call("load_collection", c)
        chunks: list[Chunk | None] = [None] * meta["manifest"]["counts"]["passages"]
        for row in self._scan(name, "pos", len(chunks), ["pos", "chunk"]):
            chunks[row["pos"]] = Chunk.from_dict(json.loads(row["chunk"]))
        if any(c is None for c in chunks):
            raise BackendError(f"Milvus collection {name} lacks passages ({sum(c is None for c in chunks)} missing)")
        sets = {attr: self._read_sentences(name + suffix, meta.get(kind)) for kind, suffix, attr in SENTENCE_SETS}
        return MilvusBackend(self, name, meta["manifest"], chunks, meta["vocab"], np.asarray(meta["df"], dtype=np.int64), **sets)

    def _read_sentences(self, collection: str, info: dict | None):
        if not info:
            return None
        from ..evidence_model import SentenceVectors

        vecs = np.zeros((info["count"], info["dim"]), dtype=np.float32)
        for row in self._scan(collection, "sid", info["count"], ["sid", "v"]):
            vecs[row["sid"]] = row["v"]
        return SentenceVectors(offsets=np.asarray(info["offsets"], dtype=np.int64), vectors=vecs, model_id=info["model_id"])

    def _scan(self, collection: str, key: str, total: int, fields: list[str], batch: int = 5000):
        """Every row of ``collection`` by ranges of its integer primary key ``key`` (0 … total-1).
        (query_iterator needs a server call milvus-lite lacks.)"""
        for start in range(0, total, batch):
            yield from self.call("query", collection, filter=f"{key} >= {start} and {key} < {start + batch}",
                                 output_fields=fields, limit=batch)

    # --- publish ------------------------------------------------------------------------

    def publish(self, index, *, progress: bool = False, dense_index: str | None = None) -> "MilvusBackend":
        """Copy a loaded local build (:class:`assistant.index.SearchIndex`) into new collections
        and point the alias at them; a no-op when the alias already names this build."""
        key = build_key(index.manifest)
        name = f"{self.alias}_{key}"
        if self.target() == name:
            return self._open(name)
        previous = self.target()
        for c in (name,) + tuple(name + suffix for suffix in COMPANIONS):  # a half-written earlier try of this build
            if self.call("has_collection", c):
                self.call("drop_collection", c)
        self._write(name, index, progress, dense_index or ("FLAT" if self.lite else "HNSW"))
        if previous is None:
            self.call("create_alias", name, self.alias)
        else:
            self.call("alter_alias", name, self.alias)
        log.info("Milvus %s: alias %s → %s (%d passages)", self.uri, self.alias, name, len(index.chunks))
        self._drop_old(keep={name, previous} - {None})
        return self._open(name)

    def _write(self, name: str, index, progress: bool, dense_index: str) -> None:
        from scipy import sparse
        from tqdm import tqdm

        DataType = _import_pymilvus().DataType
        chunks = index.chunks
        n = len(chunks)
        dim = int(index.manifest["counts"]["dim"])
        vectors = index.dense.reconstruct_n(0, n) if n else np.zeros((0, dim), np.float32)
        sc = index.bm25.scores
        vocab = [t for t, _ in sorted(index.bm25.vocab_dict.items(), key=lambda kv: kv[1])]
        by_doc = sparse.csc_matrix((sc["data"], sc["indices"], sc["indptr"]), shape=(max(sc["num_docs"], n), len(sc["indptr"]) - 1)).tocsr()
        df = np.diff(sc["indptr"]).astype(np.int64)

        s = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pos", DataType.INT64, is_primary=True)
        s.add_field("chunk_id", DataType.VARCHAR, max_length=512)
        s.add_field("doc_id", DataType.VARCHAR, max_length=512)
        s.add_field("municipality", DataType.VARCHAR, max_length=256)
        s.add_field("section", DataType.VARCHAR, max_length=4096)
        s.add_field("page", DataType.INT64)
        s.add_field("chunk", DataType.VARCHAR, max_length=MAX_CHUNK_BYTES)
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        ip = self.client.prepare_index_params()
        if dense_index == "HNSW":
            ip.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 200})
        else:
            ip.add_index("dense", index_type=dense_index, metric_type="IP")
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        ip.add_index("municipality", index_type="INVERTED")
        ip.add_index("doc_id", index_type="INVERTED")
        self.call("create_collection", name, schema=s, index_params=ip)

        bar = tqdm(total=n, desc=f"Milvus {name}", unit="passage", disable=not progress)
        for start in range(0, n, INSERT_BATCH):
            rows = []
            for i in range(start, min(n, start + INSERT_BATCH)):
                c = chunks[i]
                payload = json.dumps(c.to_dict(), ensure_ascii=False)
                if len(payload.encode("utf-8")) > MAX_CHUNK_BYTES:
                    raise BackendError(f"passage {c.id} is longer than Milvus's VARCHAR limit ({MAX_CHUNK_BYTES} bytes)")
                row = by_doc.getrow(i)
                keep = row.data > 0
                rows.append({
                    "pos": i, "chunk_id": c.id[:512], "doc_id": c.doc_id[:512], "municipality": c.municipality[:256],
                    "section": json.dumps(c.section, ensure_ascii=False)[:4096], "page": -1 if c.page is None else int(c.page),
                    "chunk": payload, "dense": vectors[i].astype(np.float32).tolist(),
                    "sparse": {int(t): float(v) for t, v in zip(row.indices[keep], row.data[keep])},
                })
            self.call("insert", name, rows)
            bar.update(len(rows))
        bar.close()

        meta_rows: list[tuple[str, Any]] = [("manifest", index.manifest), ("vocab", vocab), ("df", df.tolist())]
        for kind, suffix, attr in SENTENCE_SETS:
            sv = getattr(index, attr, None)
            if sv is None:
                continue
            s2 = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            s2.add_field("sid", DataType.INT64, is_primary=True)
            s2.add_field("v", DataType.FLOAT_VECTOR, dim=int(sv.vectors.shape[1]))
            ip2 = self.client.prepare_index_params()
            ip2.add_index("v", index_type="FLAT", metric_type="IP")
            self.call("create_collection", name + suffix, schema=s2, index_params=ip2)
            for start in range(0, len(sv.vectors), INSERT_BATCH * 4):
                part = sv.vectors[start : start + INSERT_BATCH * 4]
                self.call("insert", name + suffix, [{"sid": start + j, "v": v.tolist()} for j, v in enumerate(part)])
            meta_rows.append((kind, {"offsets": sv.offsets.tolist(), "model_id": sv.model_id,
                                     "count": int(len(sv.vectors)), "dim": int(sv.vectors.shape[1])}))

        s3 = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s3.add_field("id", DataType.INT64, is_primary=True)
        s3.add_field("kind", DataType.VARCHAR, max_length=64)
        s3.add_field("part", DataType.INT64)
        s3.add_field("payload", DataType.VARCHAR, max_length=65_535)
        s3.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        ip3 = self.client.prepare_index_params()
        ip3.add_index("v", index_type="FLAT", metric_type="L2")
        self.call("create_collection", name + "_meta", schema=s3, index_params=ip3)
        rows, next_id = [], 0
        for kind, obj in meta_rows:
            for part, payload in enumerate(_encode(obj)):
                rows.append({"id": next_id, "kind": kind, "part": part, "payload": payload, "v": [0.0, 0.0]})
                next_id += 1
        for start in range(0, len(rows), 50):
            self.call("insert", name + "_meta", rows[start : start + 50])
        for c in (name,) + tuple(name + suffix for _, suffix, _ in SENTENCE_SETS):
            if self.call("has_collection", c):
                self.call("flush", c)
        # every row is there before the marker that makes the build openable is written
        got = self.call("query", name, filter="", output_fields=["count(*)"])[0]["count(*)"]
        if got != n:
            raise BackendError(f"Milvus collection {name} holds {got} passages, expected {n}; not publishing it")
        self.call("insert", name + "_meta", [{"id": next_id, "kind": "complete", "part": 0, "payload": _encode(True)[0], "v": [0.0, 0.0]}])
        self.call("flush", name + "_meta")

    def drop_everything(self) -> None:
        """Remove this alias and every build under it (evaluation's scratch alias, when done)."""
        if self.alias in self.call("list_aliases").get("aliases", []):
            self.call("drop_alias", self.alias)
        self._drop_old(keep=set())

    def _drop_old(self, keep: set[str]) -> None:
        """Drop this alias's builds other than ``keep`` (and their _sent/_ssent/_meta companions)."""
        prefix = self.alias + "_"
        for c in self.call("list_collections"):
            base = next((c.removesuffix(x) for x in COMPANIONS if c.endswith(x)), c)
            if c.startswith(prefix) and base not in keep:
                try:
                    self.call("drop_collection", c)
                except BackendUnavailable as e:
                    log.warning("could not drop old Milvus collection %s: %s", c, e)


class MilvusBackend:
    """A published build, searched in Milvus (:class:`~assistant.backends.SearchBackend`)."""

    def __init__(self, store: MilvusStore, collection: str, manifest: dict[str, Any], chunks: list[Chunk],
                 vocab: list[str], df: np.ndarray, sentence_vectors=None, search_sentence_vectors=None):
        self.store = store
        self.collection = collection
        self.manifest = manifest
        self.chunks = chunks
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.df = df
        self.sentence_vectors = sentence_vectors
        self.search_sentence_vectors = search_sentence_vectors
        self.path = f"{store.uri}#{collection}"
        self._position = {c.id: i for i, c in enumerate(chunks)}

    def id_positions(self) -> dict[str, int]:
        """Passage id → position (the passages are in memory)."""
        return self._position

    def chunk_column(self, name: str) -> list[str]:
        """One metadata column of every passage, in position order (the passages are in memory)."""
        if name not in ("id", "doc_id", "municipality"):
            raise ValueError(f"no column {name!r} (one of id, doc_id, municipality)")
        return [getattr(c, name) for c in self.chunks]

    def chunk_by_id(self, chunk_id: str) -> Chunk | None:
        i = self._position.get(chunk_id)
        return None if i is None else self.chunks[i]

    def dense_cosines(self, query_vec: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cosines of the query with the passages at ``ids``: a dense search restricted to those positions
        (the vectors live in Milvus, not in this process), as ``sparse_search`` scores its ``also``
        candidates. Only the pool reranker (``"gated"`` / ``"fitted"`` modes) asks for them."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        if len(ids) == 0:
            return out
        got, sc = self._search("dense", np.asarray(query_vec, dtype=np.float32).tolist(), len(ids), f"pos in {sorted(set(ids.tolist()))}")
        found = dict(zip(got.tolist(), sc.tolist()))
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise BackendError(f"the dense search did not score {len(missing)} of the {len(ids)} requested passages")
        return np.array([found[int(i)] for i in ids], dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """The store and this build's collection, and whether the server answers right now."""
        try:
            reachable, serving = True, self.store.target()
        except BackendUnavailable:
            reachable, serving = False, None
        return self.store.describe() | {"collection": self.collection, "reachable": reachable,
                                        "alias_target": serving}

    # --- filters and queries ---------------------------------------------------------------

    @staticmethod
    def _expr(filt: Filter, extra: str = "") -> str:
        """A Milvus boolean expression for ``filt`` (string literals JSON-quoted: quotes and
        backslashes escaped; milvus-lite does not take filter templates)."""
        parts = []
        if filt.municipality:
            parts.append(f"municipality == {_literal(filt.municipality)}")
        if filt.doc_id:
            parts.append(f"doc_id == {_literal(filt.doc_id)}")
        if filt.exclude:
            parts.append(f"pos not in {sorted(int(i) for i in filt.exclude)}")
        if extra:
            parts.append(extra)
        return " and ".join(parts)

    def term_weights(self, query: SparseQuery) -> dict[int, float]:
        weights: dict[int, float] = {}
        for w, toks in query:
            for t in toks:
                tid = self.vocab.get(t)
                if tid is not None:
                    weights[tid] = weights.get(tid, 0.0) + float(w)
        return {t: w for t, w in weights.items() if w > 0}

    def _search(self, field: str, data, k: int, expr: str) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        kw = dict(data=[data], anns_field=field, limit=min(k, MAX_LIMIT), filter=expr, output_fields=["pos"],
                  search_params={"metric_type": "IP", "params": {"ef": max(128, k)} if field == "dense" and not self.store.lite else {}})
        try:
            res = self.store.call("search", self.collection, **kw)
        except BackendError as e:
            if isinstance(e, BackendUnavailable) or "load" not in str(e):
                raise
            # a restarted server that did not reload the collection: load it and ask again, once
            self.store.call("load_collection", self.collection)
            res = self.store.call("search", self.collection, **kw)
        hits = res[0] if res else []
        return (np.array([h["entity"]["pos"] for h in hits], dtype=np.int64), np.array([h["distance"] for h in hits], dtype=np.float32))

    def sparse_search(self, query: SparseQuery, k: int, filt: Filter, also: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        also = np.asarray(also, dtype=np.int64)
        weights = self.term_weights(query)
        scores: dict[int, float] = {int(i): 0.0 for i in also}
        if weights:
            ids, sc = self._search("sparse", weights, k, self._expr(filt))
            scores.update(zip(ids.tolist(), sc.tolist()))
            rest = sorted(set(also.tolist()) - set(ids.tolist()))
            if rest:
                ids2, sc2 = self._search("sparse", weights, len(rest), self._expr(filt, f"pos in {rest}"))
                scores.update(zip(ids2.tolist(), sc2.tolist()))
        pos = np.array(sorted(scores), dtype=np.int64)
        return pos, np.array([scores[int(i)] for i in pos], dtype=np.float32)

    def dense_search(self, vector: np.ndarray, k: int, filt: Filter) -> tuple[np.ndarray, np.ndarray]:
        return self._search("dense", np.asarray(vector, dtype=np.float32).tolist(), min(k, len(self.chunks)), self._expr(filt))

    # --- vocabulary statistics (as index.SearchIndex computes them) ------------------------

    def token_df(self, token: str) -> int:
        tid = self.vocab.get(token)
        return 0 if tid is None or tid >= len(self.df) else int(self.df[tid])

    def idf(self, token: str) -> float:
        df = self.token_df(token)
        n = max(len(self.chunks), 1)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df else 0.0

    def doc_freq(self, word: str) -> int:
        """As :meth:`assistant.index.SearchIndex.doc_freq`; the rarest bigram's passages come from a
        one-term sparse search (its posting list)."""
        from .. import japanese
        from ..index import bigram_tokens, index_text

        df = self.token_df(word)
        if df:
            return df
        bigrams = bigram_tokens(word)
        if not bigrams:
            return 0
        tid = self.vocab.get(min(bigrams, key=self.token_df))
        if tid is None or not self.df[tid]:
            return 0
        ids, _ = self._search("sparse", {tid: 1.0}, int(self.df[tid]), "")
        target = japanese.compact(word).lower()
        cache = self.__dict__.setdefault("_compact_cache", {})
        count = 0
        for i in ids.tolist():
            if i not in cache:
                cache[i] = japanese.compact(index_text(self.chunks[i])).lower()
            count += target in cache[i]
        return count

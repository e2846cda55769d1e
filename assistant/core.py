"""``Assistant``: the one object users start from.

    from assistant import Assistant
    a = Assistant.load()                 # builds the index on first use, refreshes it when stale
    a.ask("NPOを立ち上げたい。市はどんな支援をしてくれる？")

It wires the layers together (corpus → chunks → index → retrieval → answer) and owns the
policy of *when* to rebuild: missing, stale (corpus, model or settings changed) or corrupt
index → rebuild with a log line, never a crash and never silently wrong results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import answering, backends, chunking, conversation, corpus, cpu, crosslingual, evidence_model, index, passage_cache, reader
from .embedding import DEFAULT_MODEL, load_embedder

BUNDLED_WORD_VECTORS = "bundled:chive-ja"
# The sentence encoder the answer model compares question and sentences with (evidence_model):
# multilingual-e5-small decides answerability far better than the bag-of-words search model, while
# as the *search* model it measured no better on the plans (docs/BENCHMARKS.md §8).
# ASSISTANT_ANSWER_MODEL overrides; "same" uses the search embedder.
ANSWER_ENCODER = "bundled:e5-small-ja"
# The sentence encoder whose vectors *order passages* (retrieval's sentence signal and pool reranker):
# the same e5 with its top layers fine-tuned on the plan training questions (an overlay directory,
# scripts/finetune_e5_model.py). Fine-tuned, it finds far more paraphrased questions' passages but pulls
# everyday out-of-scope questions toward plan sentences too, so it never decides answerability
# (docs/BENCHMARKS.md §9.16, §9.19). ASSISTANT_SEARCH_SENTENCE_MODEL overrides; "none" switches it off
# (the answer encoder's vectors order passages then).
SEARCH_ENCODER = "bundled:e5-small-ja-search"
from .query import load_thesaurus
from .question_form import plain_question
from .retrieval import Retriever
from .types import Answer, Hit

log = logging.getLogger(__name__)

WARM_UP_MAX_PASSAGES = 3000

def _pipeline_code_hash() -> str:
    """Hash of the code that turns files into passages and tokens.

    Version strings get forgotten; hashing the modules themselves means any change to reading,
    cleaning, chunking or tokenizing rebuilds the index (the embedding cache keeps that cheap).
    """
    from . import cleaning, documents, formats, japanese

    h = hashlib.sha256()
    for mod in (corpus, chunking, japanese, documents):
        h.update(Path(mod.__file__).read_bytes())
    for pkg in (cleaning, formats):  # packages: every module in them
        for f in sorted(Path(pkg.__file__).parent.glob("*.py")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


@dataclass
class _State:
    """Everything a search needs, swapped as one reference so a question never sees half an index."""

    search_index: index.SearchIndex | backends.SearchBackend
    retriever: Retriever
    by_id: dict[str, int]
    pdf_files: dict[str, Path] | None = None  # doc_id → corpus PDF, found on first use (Assistant.pdf_source)


class Assistant:
    def __init__(self, corpus_dir: Path, index_dir: Path, embedder, *, dense_weight: float | None = None, answer_encoder=None,
                 backend: str | None = None, store=None, answer_encoder_problem: str | None = None, search_encoder=None,
                 search_encoder_problem: str | None = None):
        self.corpus_dir = Path(corpus_dir)
        # where searches run (backends.parse_spec: "local", "milvus:PATH.db", "milvus:http://…");
        # a remote store connects now, so an unreachable server is one clear error naming its URI
        self.backend_spec = backends.parse_spec(backend)
        self.store = store if store is not None else backends.open_backend(backend)
        self._followed_at = 0.0
        self._follow_lock = threading.Lock()  # guards starting the one background follower
        self._follower: threading.Thread | None = None
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self.answer_encoder = answer_encoder or embedder
        # why the configured answer encoder could not be used (its file, the rebuild command), or None
        self.answer_encoder_problem = answer_encoder_problem
        # the search sentence encoder (SEARCH_ENCODER) or None, and why the configured one could not be opened
        self.search_encoder = search_encoder
        self.search_encoder_problem = search_encoder_problem
        self.dense_weight = dense_weight
        self._state: _State | None = None
        self._lock = threading.Lock()
        self.last_build: dict[str, Any] | None = None
        self.skipped: list[corpus.Skipped] = []
        self.stale: str | None = None  # why the index being served is not the corpus's current one
        self._collect_stats: dict[str, Any] = {}
        self._catalog_key: tuple | None = None
        self._catalog_problem: str | None = None

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        corpus_dir: str | os.PathLike = "corpus",
        index_dir: str | os.PathLike = "index",
        model: str | None = None,
        *,
        progress: bool = False,
        rebuild: bool = False,
        dense_weight: float | None = None,
        cache_dir: str | None = None,
        backend: str | None = None,
        read_only: bool = False,
        store=None,
    ) -> "Assistant":
        """Open the assistant over ``corpus_dir``, (re)building ``index_dir`` when needed.

        ``model=None`` reads ``ASSISTANT_MODEL`` and falls back to the bundled offline embedder;
        ``backend=None`` reads ``ASSISTANT_BACKEND`` (default ``local``; see :mod:`assistant.backends`);
        ``store`` is an already opened store (evaluation's own Milvus alias). ``read_only``
        (evaluation runs) never replaces what is being served: see :meth:`refresh`.
        """
        # before loading models: an unreachable server fails fast
        store = store if store is not None else backends.open_backend(backend)
        model = model or os.environ.get("ASSISTANT_MODEL") or DEFAULT_MODEL
        embedder = load_embedder(model, cache_dir=cache_dir)
        encoder, problem = _answer_encoder(embedder, cache_dir)
        search, search_problem = _search_encoder(embedder, encoder, cache_dir)
        a = cls(Path(corpus_dir), Path(index_dir), embedder, dense_weight=dense_weight, answer_encoder=encoder,
                backend=backend, store=store, answer_encoder_problem=problem, search_encoder=search,
                search_encoder_problem=search_problem)
        a.refresh(force=rebuild, progress=progress, read_only=read_only)
        return a

    def build_info(self) -> index.BuildInfo:
        return index.BuildInfo(
            corpus_fingerprint=passage_cache.corpus_fingerprint(self.corpus_dir),
            model_id=self.embedder.model_id,
            model_fingerprint=self.embedder.fingerprint,
            chunker_version=chunking.CHUNKER_VERSION,
            settings={
                "chunking": chunking.ChunkSettings().as_dict(),
                "large_threshold": index.LARGE_THRESHOLD,
                "sentence_vectors_max": index.sentence_vectors_max(),
                "pipeline_code": _pipeline_code_hash(),
                "sentence_context": evidence_model.SENTENCE_CONTEXT_VERSION,
                "sentence_encoder": _encoder_info(self.answer_encoder),
                "search_sentence_encoder": _encoder_info(self.search_encoder),
            },
        )

    def refresh(self, *, force: bool = False, progress: bool = False, read_only: bool = False) -> bool:
        """Make the loaded index match the corpus. Returns True if a (re)build happened.

        Safe to call while questions are being answered: the new index is swapped in as one
        reference once it is complete. When the new index cannot be written (disk full, no
        permission), the last good index keeps answering and ``health()`` says it is stale.

        ``read_only`` (an evaluation run) never replaces what production serves: it opens the
        store's published build or the local ``current`` when it matches this corpus, model and
        settings, builds a local index only where none exists, never publishes to a store, and
        otherwise raises ``StaleIndexError`` saying how to evaluate elsewhere.
        """
        if not self.corpus_dir.is_dir():
            raise FileNotFoundError(f"corpus directory not found: {self.corpus_dir}")
        expected = self.build_info()
        if read_only:
            with self._lock:
                self._open_read_only(expected, progress)
            return False
        with self._lock:
            if self.store is not None and not force:
                # a replica over a shared store: the published build is current → serve it, no local files
                m = self.store.current_manifest()
                if m is not None and index.staleness(m, expected) is None:
                    self.stale = None
                    self._swap(self.store.open_current())
                    return False
            loaded = None
            if not force:
                try:
                    loaded = index.load(self.index_dir, expected)
                except index.MissingIndexError:
                    log.info("no index in %s yet: building it", self.index_dir)
                except index.StaleIndexError as e:
                    log.warning("index in %s is stale (%s): rebuilding", self.index_dir, e)
                except index.CorruptIndexError as e:
                    log.warning("index in %s is unreadable (%s): rebuilding", self.index_dir, e)
            built = False
            if loaded is None:
                try:
                    stats = self._build(expected, progress, force=force)
                except index.IndexWriteError as e:
                    if not self._keep_last_good(e):
                        raise
                    return False
                if stats is not None:
                    self.last_build = stats
                    built = True
                loaded = index.load(self.index_dir, expected)
            if self.store is not None:
                # the local build is the staging area: copy it into the store, then swap its alias
                # (under the index's build lock: two admins' publishes never interleave)
                with index.build_lock(self.index_dir):
                    loaded = self.store.publish(loaded, progress=progress)
            self.stale = None
            self._swap(loaded)
        return built

    def _open_read_only(self, expected: index.BuildInfo, progress: bool) -> None:
        if self.store is not None:
            m = self.store.current_manifest()
            reason = "nothing is published" if m is None else index.staleness(m, expected)
            if reason:
                raise index.StaleIndexError(
                    f"評価は公開中の索引を置き換えません: Milvus {self.store.describe().get('uri')} のエイリアス {self.store.alias} "
                    f"はこのコーパス・モデル・設定の索引ではありません ({reason})。先に build で公開するか、評価用に "
                    f"ASSISTANT_MILVUS_ALIAS=別名 を指定してください / an evaluation never publishes over the served build: "
                    f"the alias {self.store.alias} does not hold this corpus, model and settings ({reason}); publish it with "
                    f"build first, or evaluate under a scratch alias (ASSISTANT_MILVUS_ALIAS=NAME)")
            self.stale = None
            self._swap(self.store.open_current())
            return
        try:
            loaded = index.load(self.index_dir, expected)
        except index.MissingIndexError:  # nothing served here yet: building it replaces nothing
            self.last_build = self._build(expected, progress)
            loaded = index.load(self.index_dir, expected)
        except (index.StaleIndexError, index.CorruptIndexError) as e:
            raise index.StaleIndexError(
                f"評価は {self.index_dir} の索引を置き換えません ({e})。先に build を実行するか、--index で別のフォルダを"
                f"指定してください / an evaluation never replaces the index in {self.index_dir} ({e}): run build first, "
                f"or pass --index DIR (a scratch directory) to evaluate there") from e
        self.stale = None
        self._swap(loaded)

    def _swap(self, loaded: index.SearchIndex) -> None:
        retriever = Retriever(loaded, self.embedder, dense_weight=self.dense_weight,
                              neighbours=_word_vectors_for(self.embedder), answer_encoder=self.answer_encoder,
                              search_encoder=self.search_encoder)
        self._state = _State(search_index=loaded, retriever=retriever, by_id=retriever.positions)
        # sentence tokenization of passages is cached; on a small corpus fill the cache off the
        # request path (on a large one it would only compete with the first questions for the GIL)
        if len(loaded.chunks) <= WARM_UP_MAX_PASSAGES:
            threading.Thread(target=answering.warm_up, args=([c.text for c in loaded.chunks],), daemon=True).start()

    def _keep_last_good(self, error: index.IndexWriteError) -> bool:
        """After a failed write: keep answering from the index in memory, or else from the last
        good index on disk (checksums verified, staleness ignored). False when there is neither."""
        if self._state is None:
            try:
                self._swap(index.load(self.index_dir, None))
            except index.IndexError_:
                return False
        self.stale = str(error)
        log.error("%s — answering from the last good index (built %s), which is stale",
                  error, self._state.search_index.manifest.get("built_at"))
        return True

    def _build(self, expected: index.BuildInfo, progress: bool, force: bool = False) -> dict[str, Any] | None:
        """Rebuild under the index lock; None when another builder made the index current while
        we waited for the lock (then there is nothing to redo)."""
        stats = index.rebuild(
            self.index_dir, expected, lambda: self._collect(expected, force, progress), self.embedder,
            force=force, progress=progress, corpus_dir=self.corpus_dir, sentence_encoder=self.answer_encoder,
            search_sentence_encoder=self.search_encoder,
            phrases=load_thesaurus().map.keys(),  # a large build counts them for query expansion
        )
        return None if stats is None else stats | self._collect_stats

    def _collect(self, expected: index.BuildInfo, force: bool, progress: bool) -> list:
        pipeline_key = json.dumps(expected.settings, sort_keys=True) + expected.chunker_version
        chunks, pstats = passage_cache.collect(self.corpus_dir, self.index_dir / "cache" / "passages", pipeline_key,
                                               progress, reuse=not force)
        self.skipped = pstats.skipped
        self._collect_stats = {"files": pstats.files, "files_read": pstats.read, "files_reused": pstats.reused,
                               "cache_repaired": len(pstats.repaired), "passages_collapsed": pstats.collapsed}
        if not chunks:
            log.warning("corpus %s produced no passages", self.corpus_dir)
        return chunks

    def catalog_error(self) -> str | None:
        """Why ``catalog.toml`` cannot be used right now (checked again whenever the file changes)."""
        path = self.corpus_dir / corpus.CATALOG_FILE
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key != self._catalog_key:
            self._catalog_key, self._catalog_problem = key, corpus.catalog_problem(self.corpus_dir)
        return self._catalog_problem

    def _catalog(self) -> dict:
        """The catalog, or while ``catalog.toml`` is broken the last one that parsed."""
        try:
            return corpus.read_catalog_strict(self.corpus_dir)
        except corpus.CatalogError:
            keep = self.index_dir / "cache" / "passages" / passage_cache.LAST_GOOD_CATALOG
            try:
                return corpus.parse_catalog(keep.read_bytes())
            except (OSError, corpus.CatalogError):
                return {}

    # --- questions ------------------------------------------------------------------------

    @property
    def state(self) -> _State:
        if self._state is None:
            raise RuntimeError("Assistant has no index loaded; use Assistant.load()")
        return self._state

    def follow_store(self, *, every: float | None = None, wait: bool = False) -> bool:
        """With a shared store: when another process (an admin's rebuild on another replica) has
        pointed the alias at a newer build, switch to it — never on the caller's thread. At most
        every ``every`` seconds (``ASSISTANT_BACKEND_POLL_S``, default 30) the question path starts
        one background thread that asks the store for the alias's target and, when it moved, opens
        that build (passages, vocabulary, sentence vectors: minutes at scale) while the current
        build keeps answering, then swaps it in as one reference (``_swap``). A question never
        waits for a load, and a failed check or load is logged and leaves the current build serving.
        Returns True when this call switched builds, which only a caller that ``wait``s (tests,
        scripts) can see; otherwise False at once."""
        if self.store is None or self._state is None:
            return False
        every = float(os.environ.get("ASSISTANT_BACKEND_POLL_S", "30")) if every is None else every
        with self._follow_lock:
            thread = self._follower
            if thread is None or not thread.is_alive():
                if time.monotonic() - self._followed_at < every:
                    return False
                self._followed_at = time.monotonic()
                thread = threading.Thread(target=self._follow, name="follow-store", daemon=True)
                thread.switched = False
                self._follower = thread
                thread.start()
        if not wait:
            return False
        thread.join()
        return thread.switched

    def _follow(self) -> None:
        """The background half of ``follow_store``: check the alias, load its build, swap."""
        me = threading.current_thread()
        before = self._state
        current = getattr(before.search_index, "collection", None)
        try:
            target = self.store.target()
            if target is None or target == current:
                return
            log.info("the store's alias now names %s (was %s): loading it in the background", target, current)
            loaded = self.store.open_current()
            with self._lock:  # not while a refresh of this process builds or swaps
                if self._state is not before:
                    log.info("a refresh swapped builds while %s was loading: keeping the refreshed one", target)
                    return
                self._swap(loaded)
            me.switched = True
            log.info("switched to %s", getattr(loaded, "collection", target))
        except Exception as e:  # noqa: BLE001 - a background check must never take serving down
            log.warning("following the store failed (%s): still serving %s; trying again later", e, current)

    def search(self, query: str, k: int = 10, *, municipality: str | None = None, doc_id: str | None = None) -> list[Hit]:
        self.follow_store()
        query = plain_question(conversation.clean_question(query)[0])
        if not query:
            return []
        return self.state.retriever.search(query, k=k, municipality=municipality, doc_id=doc_id)

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        *,
        municipality: str | None = None,
        doc_id: str | None = None,
        k: int = answering.TOP_HITS,
    ) -> Answer:
        """Answer from the documents' own sentences with citations, or refuse. Never raises for user input.

        ``k`` is how many passages are retrieved as evidence (the answer quotes from the best five).
        An English question gets the closest Japanese passages under an English lead (crosslingual.py)."""
        self.follow_store()
        retriever = self.state.retriever
        if crosslingual.applies(retriever, question):
            return crosslingual.answer(retriever, question, municipality=municipality, doc_id=doc_id, k=k)
        return answering.answer(self.state.retriever, question, history, municipality=municipality, doc_id=doc_id, k=k)

    # --- what the faces show --------------------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        info: dict[str, dict[str, Any]] = {}
        catalog = self._catalog()
        st = self.state
        # the document column, then one passage per document (a large index keeps passages on disk)
        first: dict[str, int] = {}
        for i, d in enumerate(st.search_index.chunk_column("doc_id")):
            counts[d] = counts.get(d, 0) + 1
            first.setdefault(d, i)
        for d, i in first.items():
            c = st.search_index.chunks[i]
            entry = catalog.get(c.doc_id, {})
            info[c.doc_id] = {
                "doc_id": c.doc_id,
                "title": c.title,
                "municipality": c.municipality,
                "kind": entry.get("kind", ""),
                "year": str(entry.get("year", entry.get("date", ""))),
                "url": entry.get("url", ""),
                # its cited pages can be shown as images (pdf_page_image)
                "pdf": self.pdf_source(c.doc_id) is not None,
            }
        return [info[d] | {"passages": counts[d]} for d in sorted(info)]

    def section_context(self, chunk_id: str) -> dict[str, Any]:
        """The whole section around a passage (all passages sharing its section path), for "read more"."""
        st = self.state
        i = st.by_id.get(chunk_id)
        if i is None:
            raise KeyError(f"unknown passage id: {chunk_id}")
        chunks = st.search_index.chunks
        c = chunks[i]
        # only this document's passages are read (a large index keeps them on disk)
        same = [x for x in (chunks[int(j)] for j in st.retriever.positions_of_doc(c.doc_id)) if x.section == c.section]
        lines = [min(x.lines[0] for x in same), max(x.lines[1] for x in same)]
        return {
            "doc_id": c.doc_id,
            "title": c.title,
            "municipality": c.municipality,
            "section": list(c.section),
            "lines": lines,
            "text": _merge_overlapping([x.text for x in same]),
        }

    def cited_sentences(self, chunk_id: str) -> list[str]:
        """A passage's sentences, numbered as ``pdf_page_image(sentences=…)`` counts them."""
        st = self.state
        i = st.by_id.get(chunk_id)
        if i is None:
            raise KeyError(f"unknown passage id: {chunk_id}")
        from .japanese import split_sentences

        return split_sentences(st.search_index.chunks[i].text)

    def pdf_source(self, doc_id: str) -> Path | None:
        """The corpus PDF a loaded document came from, or None (unknown id, not a PDF, or a file
        that resolves outside the corpus directory, e.g. through a symlink).

        Only names are compared — the id must be a document of the index being served and a
        ``.pdf`` file of that name must be one of the corpus files — so no caller-supplied
        string ever becomes a path."""
        st = self.state
        found = st.pdf_files
        if found is None:
            root = self.corpus_dir.resolve()
            loaded = {c.doc_id for c in st.search_index.chunks}
            found = {}
            for p in corpus.iter_corpus_files(self.corpus_dir):
                if p.suffix.lower() == ".pdf" and p.name in loaded and p.name not in found:
                    real = p.resolve()
                    if real.is_file() and real.is_relative_to(root):
                        found[p.name] = real
            st.pdf_files = found  # per loaded index: a rebuild (new file) makes a new _State
        return found.get(doc_id)

    def pdf_page_image(self, doc_id: str, page: int, chunk_id: str,
                       sentences: list[int] | None = None, excerpt: bool = False) -> bytes:
        """PNG of page ``page`` of document ``doc_id``'s PDF, with passage ``chunk_id``'s
        ``sentences`` (indexes into :meth:`cited_sentences`; all when None) highlighted — with
        ``excerpt``, only the band of the page around them.

        Raises ``KeyError`` when the passage is unknown, is not of that document, or the document
        is not a corpus PDF; ``ValueError`` for a page or sentence number out of range. Renders
        are cached under ``<index>/cache/pages`` (size cap ``ASSISTANT_PAGE_CACHE_MB``, default 64).
        """
        from . import page_image

        st = self.state
        i = st.by_id.get(chunk_id)
        if i is None or st.search_index.chunks[i].doc_id != doc_id:
            raise KeyError("unknown passage for this document")
        path = self.pdf_source(doc_id)
        if path is None:
            raise KeyError("not a PDF of the corpus")
        sents = self.cited_sentences(chunk_id)
        chosen = sents if sentences is None else []
        for n in sentences or []:
            if not 0 <= int(n) < len(sents):
                raise ValueError(f"sentence {n} out of range")
            chosen.append(sents[int(n)])
        if not 1 <= int(page) <= page_image.MAX_PAGES:
            raise ValueError(f"page {page} out of range")
        try:
            mb = int(os.environ.get("ASSISTANT_PAGE_CACHE_MB", "64"))
        except ValueError:
            mb = 64
        cache = page_image.PageImageCache(self.index_dir / "cache" / "pages", max_bytes=mb * 1024 * 1024)
        key = cache.key(path, page, chosen, excerpt)
        png = cache.get(key)
        if png is None:
            try:
                png = page_image.render_page(path, int(page), chosen, excerpt=excerpt).png
            except page_image.PageOutOfRange as e:
                raise ValueError(str(e)) from None
            except page_image.PageImageError as e:  # the file changed into something unreadable
                raise KeyError(str(e)) from None
            cache.put(key, png)
        return png

    def health(self) -> dict[str, Any]:
        """Counts and build time, plus what an operator must fix: ``status`` is "ok", or "stale"
        when a rebuild could not be written and the last good index is answering; ``warnings``
        lists the stale reason and a broken ``catalog.toml`` until they are fixed."""
        m = self.state.search_index.manifest
        warnings = []
        if self.stale:
            warnings.append(f"索引が古いままです（最後に正常に作成した索引で回答中） / serving a stale index: {self.stale}")
        cat = self.catalog_error()
        if cat:
            warnings.append(f"目録 catalog.toml を修正してください / fix catalog.toml: {cat}")
        if self.answer_encoder_problem:
            warnings.append(f"回答判定の文エンコーダを読み込めず {self.answer_encoder.model_id} で代用中 / answer encoder "
                            f"unavailable, {self.answer_encoder.model_id} scores sentences instead: {self.answer_encoder_problem}")
        if self.search_encoder_problem:
            warnings.append(f"検索用の文エンコーダを読み込めず回答判定用で代用中 / search sentence encoder unavailable, the answer "
                            f"encoder's vectors order passages instead: {self.search_encoder_problem}")
        reader_problem = self.state.retriever.reader_problem if self.state.retriever.reader is None else None
        if reader_problem:
            warnings.append(f"回答の読解モデルを読み込めず、使わずに回答中 / answer reader unavailable, answering without it: {reader_problem}")
        precision = getattr(self.answer_encoder, "precision", None)
        if cpu.emulated(precision):
            warnings.append(f"回答判定用エンコーダの演算 {precision} はこの CPU では模擬実行で、float32 の何倍も遅くなります / "
                            f"the answer encoder's arithmetic {precision} is emulated on this CPU ({cpu.cpu_model()}), many times "
                            f"slower than float32: unset {cpu.PRECISION_ENV} (auto) to use the fastest here")
        backend = self.state.retriever.index.describe()
        if backend.get("reachable") is False:
            warnings.append(f"検索バックエンドに接続できません / search backend unreachable: {backend.get('uri')}")
        h = {
            "status": "backend_unavailable" if backend.get("reachable") is False else "stale" if self.stale else "ok",
            "documents": m.get("counts", {}).get("documents", 0),
            "passages": m.get("counts", {}).get("passages", 0),
            "model": self.embedder.model_id,
            # which fitted answer model decides answer choice and refusal (evidence_model), or the
            # hand-calibrated evidence score ("legacy-evidence")
            "answer_encoder": self.answer_encoder.model_id,
            "answer_model": getattr(answering.answer_model(self.state.retriever), "key", "legacy-evidence"),
            # the answer encoder's arithmetic (bf16 / int8-rows / int8-dynamic / none = float32), None for chiVe
            "answer_encoder_precision": precision,
            # the sentence encoder whose vectors ordered the passages (None: the answer encoder's did)
            "search_encoder": self.state.retriever.sentence_side()[0].model_id if self.search_encoder else None,
            # the answer reader (a cross-encoder over the answer's candidate sentences) or None
            "reader": reader.READER_NAME if self.state.retriever.reader is not None else None,
            "built_at": m.get("built_at"),
            # "memory" (everything loaded) or "disk" (a large index: SQLite passages, mmapped BM25/IVF)
            "storage": m.get("storage", "memory"),
            # false when the build skipped them (large index, ASSISTANT_SENTENCE_VECTORS_MAX): the
            # answer model then uses its lexical entry
            "sentence_vectors": bool(m.get("sentence_vectors", {}).get("built", True)),
            "backend": backend,
        }
        skipped = m.get("sentence_vectors", {}).get("skipped")
        if skipped:
            h["sentence_vectors_skipped"] = skipped
        if warnings:
            h["warnings"] = warnings
        if cat:
            h["catalog_error"] = cat
        if self.answer_encoder_problem:
            h["answer_encoder_fallback"] = self.answer_encoder_problem
        if self.search_encoder_problem:
            h["search_encoder_fallback"] = self.search_encoder_problem
        if reader_problem:
            h["reader_fallback"] = reader_problem
        return h


def _answer_encoder(embedder, cache_dir: str | None):
    """(the answer model's sentence encoder (see ANSWER_ENCODER), None) — or, if it cannot be
    opened (a missing or corrupt model file: the error names it and the rebuild command), (the
    search embedder, why), said in the log and in ``health()``, never silently."""
    name = os.environ.get("ASSISTANT_ANSWER_MODEL") or ANSWER_ENCODER
    if name == "same" or name == embedder.model_id:
        return embedder, None
    try:
        return load_embedder(name, cache_dir=cache_dir), None
    except Exception as e:
        log.warning("answer encoder %s unavailable: the search embedder %s scores sentences instead, and the "
                    "answer model falls back accordingly. %s", name, embedder.model_id, e)
        return embedder, f"{name}: {e}"


def _search_encoder(embedder, answer_encoder, cache_dir: str | None):
    """(the search sentence encoder (see SEARCH_ENCODER) or None, None) — or, if it cannot be opened,
    (None, why), said in the log and in ``health()``: passages are then ordered by the answer encoder's
    vectors. None without a separate answer encoder (nothing to fine-tune beside a chosen model)."""
    name = os.environ.get("ASSISTANT_SEARCH_SENTENCE_MODEL") or SEARCH_ENCODER
    if name == "none" or answer_encoder is embedder:
        return None, None
    if name == answer_encoder.model_id:  # the same vectors: nothing to build twice
        return None, None
    try:
        return load_embedder(name, cache_dir=cache_dir), None
    except Exception as e:
        log.warning("search sentence encoder %s unavailable: the answer encoder %s orders passages instead. %s",
                    name, answer_encoder.model_id, e)
        return None, f"{name}: {e}"


def _encoder_info(encoder) -> dict[str, Any] | None:
    """What an index build records of a sentence encoder (a change makes the index stale)."""
    if encoder is None:
        return None
    return {"id": encoder.model_id, "fingerprint": encoder.fingerprint, "precision": getattr(encoder, "precision", None)}


def _word_vectors_for(embedder):
    """The bundled chiVe word vectors for query expansion when ``embedder`` has none of its own
    (a sentence encoder): its neighbours (送り迎え → 送迎) bridge residents' words and the plans'."""
    if getattr(embedder, "_neighbours", None) is None or embedder._neighbours() is not None:
        return None
    try:
        return load_embedder(BUNDLED_WORD_VECTORS)
    except Exception as e:  # expansion is a help, never a reason not to answer
        log.warning("bundled word vectors unavailable for query expansion (%s)", e)
        return None


def _merge_overlapping(texts: list[str]) -> str:
    """Join consecutive passages that share an overlap sentence without repeating it."""
    out: list[str] = []
    for t in texts:
        if out:
            prev = out[-1]
            best = 0
            for n in range(min(len(prev), len(t)), 0, -1):
                if prev.endswith(t[:n]):
                    best = n
                    break
            t = t[best:].lstrip("\n")
        if t:
            out.append(t)
    return "\n".join(out)

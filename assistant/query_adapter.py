"""A query-side linear adapter for the answer encoder (e5): ``q' = normalize(W q)``.

Why: e5-small finds a paraphrased question's passage more often than BM25 does, but zero-shot its
query vectors sit close to whatever shares the question's *wording*. A 384×384 map applied to the
query vector only — passage and sentence vectors stay as built, so nothing is re-embedded — can be
taught "question wording → statement wording" from pairs that are not evaluation items
(``scripts/fit_query_adapter.py``: JaQuAD questions → answer sentences, and pseudo-queries from the
plans' own structure). W starts at the identity and is pulled back to it, so it is a small delta.

Stored as ``assistant/data/e5_query_adapter.npy`` (float16, W) with ``e5_query_adapter.json`` beside it
(the encoder it belongs to, sources, data hashes, seed, command, measured figures). A missing or
corrupt file is one :class:`QueryAdapterError` naming the file and the rebuild command. This module
knows numpy only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "e5_query_adapter.npy"
CARD_FILE = "e5_query_adapter.json"
REBUILD_COMMAND = "python scripts/fit_query_adapter.py --write"


class QueryAdapterError(RuntimeError):
    """The adapter's files are missing or unusable."""


@dataclass
class QueryAdapter:
    W: np.ndarray  # [dim, dim], applied as W @ q
    encoder: str  # model id of the answer encoder whose query vectors it maps
    info: dict = field(default_factory=dict)

    @classmethod
    def identity(cls, dim: int, encoder: str) -> "QueryAdapter":
        return cls(np.eye(dim, dtype=np.float32), encoder)

    def apply(self, q: np.ndarray) -> np.ndarray:
        """Adapted, L2-normalized query vector(s) (``q`` is one vector or a row per query)."""
        q = np.asarray(q, dtype=np.float32)
        out = q @ self.W.T
        norm = np.linalg.norm(out, axis=-1, keepdims=True)
        return (out / np.maximum(norm, 1e-12)).astype(np.float32)


def default_dir() -> Path:
    return Path(str(resources.files("assistant") / "data"))


def load(directory: Path | str | None = None) -> QueryAdapter:
    """The stored adapter; :class:`QueryAdapterError` (naming the file and ``REBUILD_COMMAND``) when a
    file is missing, unreadable, not a finite square matrix, or its card does not name an encoder."""
    d = Path(directory) if directory is not None else default_dir()
    wpath, cpath = d / WEIGHTS_FILE, d / CARD_FILE

    def fail(path: Path, why: str) -> QueryAdapterError:
        return QueryAdapterError(f"query adapter file {path} {why}; rebuild it with `{REBUILD_COMMAND}`")

    for p in (wpath, cpath):
        if not p.is_file():
            raise fail(p, "is missing")
    try:
        W = np.load(wpath, allow_pickle=False)
    except Exception as e:  # numpy raises several kinds for a truncated / foreign file
        raise fail(wpath, f"is not a readable .npy array ({type(e).__name__}: {e})") from e
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0 or not np.all(np.isfinite(W)):
        raise fail(wpath, f"does not hold a finite square matrix (shape {W.shape})")
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
        encoder = str(card["encoder"])
    except Exception as e:
        raise fail(cpath, f"is not a model card naming its encoder ({type(e).__name__}: {e})") from e
    return QueryAdapter(W.astype(np.float32), encoder, {k: v for k, v in card.items() if k != "encoder"})

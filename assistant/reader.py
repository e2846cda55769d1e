"""The answer reader: a cross-encoder that reads the question and one candidate sentence together.

Why: the answer model otherwise judges a sentence from word overlap and from two vectors computed apart
(the question's and the sentence's), which cannot tell a sentence that answers from one that shares the
topic. The reader is e5-small-ja with its top layers fine-tuned on the plan training questions as a
cross-encoder (``scripts/train_reader.py``; an overlay directory, ``assistant/models/e5-small-ja-reader``,
over the bundled base; in bfloat16 where the CPU has it natively, see ``Reader.load``). Its score is a feature of the answer model
for the few candidates the answer model's first stage ranks highest (``answering.add_reader_features``):
reading every candidate would cost ~15 ms each on two cores.

Input, as trained: ``<s> query: Q </s> passage: HEADING｜SENTENCE AND WHAT IT BRINGS </s>`` (each side
truncated); output: a logit (higher: the sentence answers the question).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

READER_NAME = "e5-small-ja-reader"
READER_DIR = Path(__file__).resolve().parent / "models" / READER_NAME
# the answer encoder whose lower layers (and tokenizer) the reader runs on
READER_BASE = "bundled:e5-small-ja"
REBUILD_COMMAND = "python scripts/reader_data.py && python scripts/train_reader.py && python scripts/train_reader.py --write"
MAX_Q = 64  # question tokens kept (incl. <s> … </s>)
MAX_P = 192  # candidate tokens kept
MAX_CHARS = 300  # characters of a candidate's text (heading, sentence and what it brings)
HEADING_SEP = "｜"
# reader scores kept per process (question, candidate text): the two sides of one answer share candidates
MEMO_SIZE = 4096


def passage_text(heading: str, sentence: str, brought: list[str]) -> str:
    """What the reader reads for a candidate: its passage's nearest heading, the sentence and what choosing
    it brings into an answer (the list it announces …), cut at ``MAX_CHARS``."""
    return (heading + HEADING_SEP + " ".join([sentence, *brought]))[:MAX_CHARS]


def question_ids(core, question: str) -> list[int]:
    """<s> query: Q </s>, at most ``MAX_Q`` tokens."""
    q = core.token_ids("query: " + question)
    return q if len(q) <= MAX_Q else q[: MAX_Q - 1] + q[-1:]


def passage_ids(core, passage: str) -> list[int]:
    """passage: P </s> (its own <s> dropped: it follows the question's </s>), at most ``MAX_P`` tokens."""
    p = core.token_ids("passage: " + passage)[1:]
    return p if len(p) <= MAX_P else p[: MAX_P - 1] + p[-1:]


class Reader:
    """Scores (question, candidate text) pairs with the bundled reader."""

    def __init__(self, core, head_w: np.ndarray, head_b: float, weights_id: str):
        self.core = core
        self.head_w = np.asarray(head_w, dtype=np.float32)
        self.head_b = float(head_b)
        self.weights_id = weights_id  # the overlay's weights sha256 (an answer model entry fitted on it names it)
        self._memo: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str | None = None) -> "Reader":
        """The reader in ``path`` (default ``READER_DIR``); a missing or damaged file raises
        ``model_files.ModelFileError`` naming it and the rebuild command."""
        from .cpu import auto_precision
        from .e5_core import E5Core
        from .model_files import E5_OVERLAY_REBUILD_COMMAND, ModelFileError, check_e5, file_error

        path = Path(path) if path is not None else READER_DIR
        try:
            config = check_e5(path)
        except ModelFileError as e:  # name the reader's rebuild command, not the search overlay's
            raise ModelFileError(str(e).replace(E5_OVERLAY_REBUILD_COMMAND, REBUILD_COMMAND)) from None
        # bfloat16 where the CPU computes it natively: as fast as the int8 base here and within 0.02 (mean)
        # of the logits the reader was trained and its answer-model entry fitted with (GPU, bfloat16);
        # int8 base layers are 0.38 off on average (docs/BENCHMARKS.md §9.23); without native bf16, int8 with
        # per-token scales (cpu.auto_precision), which is much nearer float32. A second copy of the base
        # in memory (~70 MB) rather than sharing the answer encoder's int8 layers.
        core = E5Core.load(str(path), model_kwargs={"quantize": auto_precision()})
        raw = core._raw or {}
        if "head.w" not in raw or "head.b" not in raw:
            raise file_error(path / "model.safetensors", "not a reader (no head.w / head.b)", REBUILD_COMMAND, kind="reader model")
        return cls(core, raw["head.w"].float().numpy().reshape(-1), float(raw["head.b"].float().reshape(-1)[0]),
                   str((config.get("files_sha256") or {}).get("model.safetensors")))

    def scores(self, question: str, passages: list[str]) -> np.ndarray:
        """One logit per passage (memoized per process: both sides of an answer read the same candidates)."""
        with self._lock:
            known = {p: self._memo[(question, p)] for p in passages if (question, p) in self._memo}
        todo = list(dict.fromkeys(p for p in passages if p not in known))
        if todo:
            new = self._forward(question, todo)
            with self._lock:
                if len(self._memo) > MEMO_SIZE:
                    self._memo.clear()
                for p, s in zip(todo, new):
                    self._memo[(question, p)] = float(s)
                    known[p] = float(s)
        return np.array([known[p] for p in passages], dtype=np.float32)

    def _forward(self, question: str, passages: list[str]) -> np.ndarray:
        import torch

        q = question_ids(self.core, question)
        rows = [q + passage_ids(self.core, p) for p in passages]
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.core.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        with torch.inference_mode():
            x = self.core.encoder(ids, mask)
            m = mask.unsqueeze(-1).to(x.dtype)
            pooled = ((x * m).sum(1) / m.sum(1).clamp_min(1.0)).float().numpy()
        return pooled @ self.head_w + self.head_b

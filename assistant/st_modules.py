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
import unicodedata
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sentence_transformers.base.modules.input_module import InputModule

from assistant.japanese import normalize, tagger

# Bumped whenever text → word-id mapping changes, so fingerprints (and built indexes) change too.
TOKENIZER_VERSION = 2

# Parts of speech skipped entirely: they carry no meaning a word vector could add.
_SKIP_POS1 = {"補助記号", "空白", "記号"}
# No sub-word fallback for these (a missing particle or auxiliary is no loss).
_NO_FALLBACK_POS1 = {"助詞", "助動詞", "接続詞", "感動詞", "フィラー"}
# Parts of speech that may be glued into a longer vocabulary entry (山陽小野田 + 市 → 山陽小野田市).
_MERGE_POS1 = {"名詞", "接頭辞", "接尾辞"}

_HIRA_TO_KATA = {c: c + 0x60 for c in range(0x3041, 0x3097)}
_KATA_TO_HIRA = {c + 0x60: c for c in range(0x3041, 0x3097)}


def _variants(form: str) -> list[str]:
    """Spellings under which chiVe may list a form: as is, NFKC, lower-case, hiragana/katakana swapped,
    and for katakana words with/without a final 長音 (Sudachi normalizes コミュニティ → コミュニティー)."""
    out = [form]
    n = unicodedata.normalize("NFKC", form)
    cands = [n, n.lower(), n.translate(_KATA_TO_HIRA), n.translate(_HIRA_TO_KATA)]
    if len(n) >= 3 and _is_katakana(n):
        cands.append(n[:-1] if n.endswith("ー") else n + "ー")
    for v in cands:
        if v not in out:
            out.append(v)
    return out


def _is_katakana(s: str) -> bool:
    return all("\u30a0" <= c <= "\u30ff" for c in s)


# Godan verb endings → their 連用形 (masu-stem), which chiVe often lists as a noun (減らす → 減らし,
# 繋がる → 繋がり) when the verb itself is missing from the pruned ja_ginza key set.
_GODAN_STEM = dict(zip("うくぐすつぬぶむる", "いきぎしちにびみり"))


def _verb_stems(lemma: str) -> list[str]:
    if len(lemma) < 2 or lemma[-1] not in _GODAN_STEM:
        return []
    out = [lemma[:-1] + _GODAN_STEM[lemma[-1]]]
    if lemma.endswith("る"):
        out.append(lemma[:-1])  # 一段: 含める → 含め
    return out


def _is_kanji(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff" or c in "々〆ヶ"


def _lemma(word) -> str | None:
    lemma = getattr(word.feature, "lemma", None)
    if word.is_unk or not lemma or lemma == "*":
        return None
    # UniDic writes loanwords as 「スポーツ-sport」.
    return lemma.split("-", 1)[0] or None


class ChiveWordEmbedding(InputModule):
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

    # --- tokenization -------------------------------------------------------------------

    def _lookup(self, forms: list[str | None]) -> int | None:
        for form in forms:
            if not form:
                continue
            for v in _variants(form):
                i = self.word_id.get(v)
                if i is not None:
                    return i
        return None

    def word_ids(self, text: str, fallback: bool | None = None) -> list[int]:
        """Word ids of a text: longest vocabulary compounds of nouns/affixes first, then each token by
        lemma → orthBase → surface (proper nouns: surface first, their UniDic lemma is a reading);
        missing content words via :meth:`_fallback` unless ``fallback`` (default: the config) is off."""
        fallback = self.fallback if fallback is None else fallback
        toks = [w for w in tagger()(normalize(text)) if (w.feature.pos1 or "") not in _SKIP_POS1]
        ids: list[int] = []
        i = 0
        while i < len(toks):
            merged = False
            if self.max_merge > 1 and toks[i].feature.pos1 in _MERGE_POS1:
                j = i + 1
                while j < len(toks) and j - i < self.max_merge and toks[j].feature.pos1 in _MERGE_POS1:
                    j += 1
                for end in range(j, i + 1, -1):
                    wid = self._lookup(["".join(t.surface for t in toks[i:end])])
                    if wid is not None:
                        ids.append(wid)
                        i = end
                        merged = True
                        break
            if merged:
                continue
            w = toks[i]
            f = w.feature
            orth = getattr(f, "orthBase", None)
            if f.pos2 == "固有名詞":
                forms = [w.surface, orth, _lemma(w)]
            else:
                forms = [_lemma(w), orth, w.surface]
            wid = self._lookup(forms)
            if wid is not None:
                ids.append(wid)
            elif fallback and f.pos1 not in _NO_FALLBACK_POS1:
                ids.extend(self._fallback(w))
            i += 1
        return ids

    def _fallback(self, w) -> list[int]:
        """Ids for a content word chiVe lacks: a verb's 連用形, else the longest vocabulary pieces of its
        surface (データベース → データ + ベース), keeping only pieces of 2+ characters or single kanji."""
        lemma = _lemma(w)
        if w.feature.pos1 in ("動詞", "形容詞") and lemma:
            wid = self._lookup(_verb_stems(lemma))
            if wid is not None:
                return [wid]
        text = unicodedata.normalize("NFKC", w.surface)
        out, i = [], 0
        while i < len(text):
            for end in range(min(len(text), i + 12), i, -1):
                piece = text[i:end]
                if (len(piece) >= 2 or _is_kanji(piece)) and (wid := self._lookup([piece])) is not None:
                    out.append(wid)
                    i = end
                    break
            else:
                i += 1
        return out

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

"""The bundled chiVe word-vector model without torch: its tokenization and a numpy encoder.

Why: a one-shot command (``python -m assistant search``) spent most of its start-up importing
torch and sentence-transformers to compute one query vector, although the bundled model is a
weighted bag of word vectors — a lookup and a weighted mean. This module holds everything of
that model that needs no torch:

* :class:`ChiveTokenizer` — text → chiVe word ids (fugashi, lemma → orthBase → surface lookup,
  compounds, sub-word fallback); the sentence-transformers module
  (:class:`assistant.st_modules.ChiveWordEmbedding`) uses the very same code;
* :class:`ChiveVocab` — the model directory read with ``safetensors.numpy`` and
  :meth:`ChiveVocab.encode`, the same weighted mean as the module's ``forward`` (float32), so a
  query vector computed here equals the sentence-transformers one (tests/test_embedding.py pins
  it to 1e-6).
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np

from assistant.japanese import normalize, tagger

# Bumped whenever text → word-id mapping changes, so fingerprints (and built indexes) change too.
TOKENIZER_VERSION = 2

# How many distinct lookups ChiveTokenizer remembers (then it starts over): ~100 bytes each.
LOOKUP_MEMO_MAX = 300_000
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



class ChiveTokenizer:
    """Text → chiVe word ids. Needs ``self.word_id`` (word → id), ``self.max_merge``, ``self.fallback``."""

    def _lookup(self, forms: list[str | None]) -> int | None:
        """The id of the first of ``forms`` (in any of its ``_variants``) that chiVe lists, or None.

        Remembered per tokenizer (bounded): a passage asks this for every token and every span
        of nouns it might merge, mostly for words seen before, and the variants (NFKC, case,
        kana swaps) cost more than the fugashi analysis itself (docs/BENCHMARKS.md §4.1)."""
        key = tuple(forms)
        memo = self.__dict__.get("_lookup_memo")
        if memo is None:
            memo = self.__dict__["_lookup_memo"] = {}
        try:
            return memo[key]
        except KeyError:
            pass
        if len(memo) >= LOOKUP_MEMO_MAX:
            memo.clear()
        memo[key] = wid = self._lookup_uncached(forms)
        return wid

    def _lookup_uncached(self, forms: list[str | None]) -> int | None:
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



class ChiveVocab(ChiveTokenizer):
    """The bundled chiVe model as numpy arrays (see module docstring)."""

    def __init__(self, words: list[str], rows: np.ndarray, word_row: np.ndarray, word_weight: np.ndarray,
                 max_merge: int = 4, fallback: bool = True, tokenizer_version: int = TOKENIZER_VERSION, **_: object):
        # stored float16, computed float32, as the sentence-transformers module does
        self.rows = np.asarray(rows).astype(np.float16).astype(np.float32)
        self.word_row = np.asarray(word_row).astype(np.int64)
        self.word_weight = np.asarray(word_weight).astype(np.float16).astype(np.float32)
        self.words = list(words)
        self.word_id = {w: i for i, w in enumerate(self.words)}
        self.max_merge = int(max_merge)
        self.fallback = bool(fallback)
        self.tokenizer_version = int(tokenizer_version)

    @classmethod
    def load(cls, path: str | Path) -> "ChiveVocab":
        """The model directory's arrays; a missing, unparseable or inconsistent file is one
        :class:`assistant.model_files.ModelFileError` naming it and the rebuild command."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        from assistant.model_files import chive_error

        path = Path(path)
        cfg, weights, words_file = path / "config.json", path / "model.safetensors", path / "words.txt"
        for p in (cfg, weights, words_file):
            if not p.is_file():
                raise chive_error(p, "missing")
        try:
            config = json.loads(cfg.read_text(encoding="utf-8"))
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise chive_error(cfg, f"corrupt ({e})") from None
        if config.get("tokenizer_version", TOKENIZER_VERSION) != TOKENIZER_VERSION:
            raise chive_error(cfg, f"built for tokenizer version {config.get('tokenizer_version')}, "
                                   f"this code is version {TOKENIZER_VERSION}")
        try:
            t = load_file(str(weights))
            rows, word_row, word_weight = t["rows"], t["word_row"], t["word_weight"]
            if rows.ndim != 2 or word_row.ndim != 1 or word_weight.shape != word_row.shape:
                raise ValueError(f"shapes rows {rows.shape}, word_row {word_row.shape}, word_weight {word_weight.shape}")
            if len(word_row) and not (0 <= int(word_row.min()) and int(word_row.max()) < len(rows)):
                raise ValueError("word_row points outside rows")
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            raise chive_error(weights, f"corrupt ({type(e).__name__}: {e})") from None
        try:
            words = words_file.read_text(encoding="utf-8").split("\n")[:-1]
        except UnicodeDecodeError as e:
            raise chive_error(words_file, f"corrupt ({e})") from None
        if len(words) != len(word_row):
            raise chive_error(words_file, f"inconsistent with model.safetensors ({len(words)} words, {len(word_row)} rows)")
        return cls(words, rows, word_row, word_weight, **config)

    def get_embedding_dimension(self) -> int:
        return int(self.rows.shape[1])

    def row_matrix(self) -> np.ndarray:
        return self.rows

    def encode_many(self, texts: list[str], prompt: str | None = None, batch_size: int = 256,
                    progress: bool = False) -> np.ndarray:
        """:meth:`encode` with a progress bar (an index build's passages): the same vectors."""
        if not progress:
            return self.encode(texts, prompt)
        from tqdm.auto import tqdm

        parts = [self.encode(texts[a : a + batch_size], prompt)
                 for a in tqdm(range(0, len(texts), batch_size), desc="節ベクトル (passage vectors)", unit="batch")]
        return np.concatenate(parts) if parts else np.zeros((0, self.rows.shape[1]), dtype=np.float32)

    def encode(self, texts: list[str], prompt: str | None = None) -> np.ndarray:
        """float32 [n, dim]: each text's weighted mean of word rows, L2-normalized (zero if no word)."""
        if prompt:
            texts = [prompt + t for t in texts]
        out = np.zeros((len(texts), self.rows.shape[1]), dtype=np.float32)
        for k, text in enumerate(texts):
            ids = self.word_ids(text)
            if not ids:
                continue
            w = self.word_weight[ids]
            v = (self.rows[self.word_row[ids]] * w[:, None]).sum(0) / max(float(w.sum()), 1e-9)
            out[k] = v
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)

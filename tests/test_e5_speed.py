"""The e5 encoder's fast path: bfloat16 arithmetic, length-sorted batches, no sentence-transformers in a build.

Pins (docs/BENCHMARKS.md §9.6): bf16 sentence vectors stay within cosine 0.9999 of float32 ones, and a
text's vector does not depend on which other texts share its batch (int8 dynamic quantization's did,
at cosine ~0.993; int8 with a scale per token, the arithmetic where bf16 is not native, moves by ≤ 0.001,
§9.27); ``encode_many`` gives every text the vector ``encode`` gives it alone, in input
order, duplicates included; the precision is chosen per CPU, named in the fingerprint when it is not
the model directory's own, and a bad ``ASSISTANT_E5_PRECISION`` is one clear error; a bundled
model's passages are embedded without importing sentence-transformers, with the same vectors.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import assistant.cpu as cpu
import assistant.embedding as E
from assistant import evidence_model
from assistant.e5_core import E5Core
from assistant.embedding import EmbedderError, load_embedder
from assistant.types import Chunk

MODEL = Path(E.__file__).resolve().parent / "models" / "e5-small-ja"

# what the build embeds: sentences in context (heading, list intro), of very different lengths
SENTENCES = [
    "協働の推進\n市民活動を次のとおり支援します。\n・相談窓口の設置",
    "・相談窓口の設置",
    "第2次あおば市協働推進プラン（令和６年度～令和１０年度）",
    "燃やすごみは週2回、決められた曜日の朝8時30分までに出してください。",
    "地域づくり協議会\n各地域では、地域づくり協議会が中心となり、防災訓練や見守り活動、子どもの居場所づくりなど、"
    "地域の課題に応じた取組を進めています。市はその運営費の一部を補助し、職員が相談に応じます。",
    "How do I apply for a childcare subsidy?",
    "①地域コミュニティの振興 ㈱ ㎡ ｱｲｳ",
    "NPOを始めるには？",
]


@pytest.fixture(scope="module")
def fp32():
    return E5Core.load(str(MODEL), model_kwargs={"quantize": "none"})


@pytest.fixture(scope="module")
def bf16():
    return E5Core.load(str(MODEL), model_kwargs={"quantize": "bf16"})


@pytest.fixture(autouse=True)
def _fresh_cache():
    E.clear_cache()
    yield
    E.clear_cache()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1)


@pytest.mark.parametrize("prompt", ["passage: ", "query: "])
def test_bf16_vectors_stay_within_0_9999_of_float32(fp32, bf16, prompt):
    a = bf16.encode_many(SENTENCES, prompt=prompt)
    b = np.stack([fp32.encode([t], prompt=prompt)[0] for t in SENTENCES])
    assert _cos(a, b).min() >= 0.9999


def test_a_bf16_vector_does_not_depend_on_its_batch_neighbours(bf16):
    alone = np.stack([bf16.encode([t], prompt="passage: ")[0] for t in SENTENCES])
    together = bf16.encode(SENTENCES, prompt="passage: ")  # one padded batch of every length
    assert _cos(alone, together).min() >= 0.99999


@pytest.fixture(scope="module")
def int8_rows():
    return E5Core.load(str(MODEL), model_kwargs={"quantize": "int8-rows"})


@pytest.fixture(scope="module")
def int8_dynamic():
    return E5Core.load(str(MODEL), model_kwargs={"quantize": "int8-dynamic"})


def test_int8_with_a_scale_per_token_is_nearer_float32_than_dynamic_int8(fp32, int8_rows, int8_dynamic):
    """Full 8-bit activations scaled per token (``int8-rows``, the arithmetic of a CPU without native bf16)
    lose less than fbgemm's per-batch 7-bit ones: §9.27 measured cosine 0.9994 vs 0.9965 on 64 passages."""
    b = np.stack([fp32.encode([t], prompt="passage: ")[0] for t in SENTENCES])
    rows = _cos(int8_rows.encode_many(SENTENCES, prompt="passage: "), b)
    dynamic = _cos(int8_dynamic.encode_many(SENTENCES, prompt="passage: "), b)
    assert rows.min() >= 0.998 and rows.mean() > dynamic.mean()


def test_an_int8_rows_vector_barely_depends_on_its_batch_neighbours(int8_rows, int8_dynamic):
    """Per-token scales make each token's integer product independent of the batch; what is left is a
    rounding step flipped by float32 noise of the padded attention (§9.27: cosine ≥ 0.9993 vs 0.995)."""
    def spread(model):
        alone = np.stack([model.encode([t], prompt="passage: ")[0] for t in SENTENCES])
        return 1.0 - _cos(alone, model.encode(SENTENCES, prompt="passage: ")).min()

    rows = spread(int8_rows)
    assert rows <= 0.001 and rows < spread(int8_dynamic)


def test_the_int8_rows_layer_is_exact_integer_arithmetic_per_row():
    """One row's output is the same whatever other rows share the call (no batch-wide statistics)."""
    import torch

    from assistant.e5_core import RowInt8Linear

    torch.manual_seed(0)
    layer = RowInt8Linear(torch.nn.Linear(384, 96))
    x = torch.randn(5, 7, 384)
    x[1] *= 50.0  # one loud sentence would set a per-tensor scale for every other one
    assert torch.equal(layer(x)[0], layer(x[:1])[0])
    ref = torch.nn.functional.linear(x, layer.weight_t.t().float() * layer.weight_scale[:, None], layer.bias)
    assert float((layer(x) - ref).norm() / ref.norm()) < 0.02


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_encode_many_keeps_input_order_and_duplicates(bf16, batch_size):
    texts = SENTENCES + [SENTENCES[1], SENTENCES[0]]
    out = bf16.encode_many(texts, prompt="passage: ", batch_size=batch_size)
    alone = np.stack([bf16.encode([t], prompt="passage: ")[0] for t in texts])
    assert out.shape == (len(texts), 384) and out.dtype == np.float32
    assert _cos(out, alone).min() >= 0.99999
    assert np.array_equal(out[-1], out[0]) and np.array_equal(out[-2], out[1])
    assert bf16.encode_many([], prompt="passage: ").shape == (0, 384)


def test_auto_precision_is_bf16_where_native_else_int8_where_vnni_else_float32(monkeypatch):
    monkeypatch.delenv(cpu.PRECISION_ENV, raising=False)
    monkeypatch.setattr(cpu, "native_int8_dot", lambda: True)
    monkeypatch.setattr(cpu, "native_bf16", lambda: True)
    # the default is auto: the arithmetic the fitted answer model's vectors were computed in
    assert cpu.e5_precision("int8-dynamic") == "bf16"
    monkeypatch.setenv(cpu.PRECISION_ENV, "auto")
    assert cpu.e5_precision("int8-dynamic") == "bf16"
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)
    assert cpu.e5_precision("int8-dynamic") == "int8-rows"  # emulated bf16 would be slower than float32
    monkeypatch.setattr(cpu, "native_int8_dot", lambda: False)
    assert cpu.e5_precision("int8-dynamic") == "none"  # without VNNI torch._int_mm has no fast kernel (§9.36)
    monkeypatch.setattr(cpu, "native_int8_dot", lambda: True)
    monkeypatch.setenv(cpu.PRECISION_ENV, "model")
    assert cpu.e5_precision("int8-dynamic") == "int8-dynamic"
    monkeypatch.setenv(cpu.PRECISION_ENV, "none")
    assert cpu.e5_precision("int8-dynamic") == "none"


def test_a_precision_this_cpu_would_emulate_is_named_in_the_log(monkeypatch, caplog):
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)
    monkeypatch.setattr(cpu, "native_int8_dot", lambda: False)
    cpu._warn_if_emulated.cache_clear()
    for precision in ("int8-rows", "bf16"):
        monkeypatch.setenv(cpu.PRECISION_ENV, precision)
        with caplog.at_level("WARNING", logger="assistant.cpu"):
            assert cpu.e5_precision("int8-dynamic") == precision  # honoured, but not silently
        assert f"{cpu.PRECISION_ENV}={precision}" in caplog.text and "emulated" in caplog.text
        caplog.clear()
    monkeypatch.setenv(cpu.PRECISION_ENV, "none")  # float32 is native everywhere
    with caplog.at_level("WARNING", logger="assistant.cpu"):
        cpu.e5_precision("int8-dynamic")
    assert caplog.text == ""
    cpu._warn_if_emulated.cache_clear()


def test_precision_is_part_of_the_fingerprint_unless_it_is_the_model_s_own(monkeypatch):
    prints = {}
    for p in ("int8-dynamic", "int8-rows", "bf16", "none"):
        monkeypatch.setenv(cpu.PRECISION_ENV, p)
        E.clear_cache()
        emb = load_embedder("bundled:e5-small-ja")
        assert emb.precision == p
        prints[p] = emb.fingerprint
    assert len(set(prints.values())) == 4
    # the model directory's own setting keeps the plain directory fingerprint (indexes built with it stay valid)
    from assistant.chive_vocab import TOKENIZER_VERSION

    assert prints["int8-dynamic"] == E.dir_fingerprint(MODEL, extra=f"tokenizer-v{TOKENIZER_VERSION}")
    assert load_embedder("bundled:chive-ja").precision is None


def test_an_unknown_precision_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(cpu.PRECISION_ENV, "fp8")
    with pytest.raises(EmbedderError, match="ASSISTANT_E5_PRECISION='fp8'.*bf16"):
        load_embedder("bundled:e5-small-ja")


def test_passages_of_a_bundled_model_need_no_sentence_transformers_and_match_its_pipeline():
    code = (
        "import sys\n"
        "from assistant.embedding import load_embedder\n"
        "e = load_embedder('bundled:e5-small-ja')\n"
        "v = e.encode_passages(['市民活動を次のとおり支援します。', '・相談窓口の設置'])\n"
        "c = load_embedder('bundled:chive-ja').encode_passages(['市民活動を次のとおり支援します。'])\n"
        "assert v.shape == (2, 384) and c.shape == (1, 300)\n"
        "print('sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=str(MODEL.parents[2]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"

    for name, prefix in (("bundled:e5-small-ja", "passage: "), ("bundled:chive-ja", "")):
        emb = load_embedder(name)
        light = emb.encode_passages(SENTENCES)
        assert not emb.loaded
        full = emb.model.encode(SENTENCES, prompt=prefix or None, batch_size=64, convert_to_numpy=True,
                                normalize_embeddings=True)
        # bf16 vectors do not move with their batch; int8-rows (a CPU without native bf16) by ≤ 0.001
        floor = 0.999 if getattr(emb, "precision", None) == "int8-rows" else 0.99999
        assert _cos(light, full).min() >= floor, name


def test_int8_vectors_are_exactly_those_of_the_sentence_transformers_batches(monkeypatch):
    """int8 scales activations per batch, so encode_many must batch as sentence-transformers did
    when the answer model's vectors were computed (64 a batch, longest first by characters)."""
    monkeypatch.setenv(cpu.PRECISION_ENV, "int8-dynamic")
    emb = load_embedder("bundled:e5-small-ja")
    # > 64 distinct texts of many lengths: two batches, ties in length included
    texts = list(dict.fromkeys(f"{h}\n{s[: 4 + 7 * i]}" for i in range(12) for h in ("協働の推進", "第3章", "") for s in SENTENCES))
    assert len(texts) > 64
    light = emb.encode_passages(texts)
    full = emb.model.encode(texts, prompt="passage: ", batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    assert emb.model[0].quantize == "int8-dynamic"
    assert np.abs(light - full).max() < 1e-6


def test_the_build_embeds_each_distinct_sentence_once(monkeypatch, tmp_path):
    from assistant.index import EmbeddingCache

    emb = load_embedder("bundled:e5-small-ja")
    seen: list[list[str]] = []
    real = emb.encode_passages

    def spy(texts, **kw):
        seen.append(list(texts))
        return real(texts, **kw)

    monkeypatch.setattr(emb, "encode_passages", spy)
    same = "協働のまちづくりを進めます。地域づくり協議会を支援します。"
    chunks = [Chunk(id=f"c{i}", doc_id="d", title="t", municipality="m", section=["基本方針"], text=same,
                    search_text=same, lines=(1, 1)) for i in range(3)]
    sv = evidence_model.embed_sentences(chunks, emb, EmbeddingCache(tmp_path / "s.npz"))
    assert len(seen) == 1 and len(seen[0]) == len(set(seen[0])) == 2
    assert sv.vectors.shape == (6, 384) and np.array_equal(sv.for_chunk(0), sv.for_chunk(2))

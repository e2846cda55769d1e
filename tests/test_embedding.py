"""Specifications of the embedder layer (offline, a few seconds).

The bundled model is the product's only offline dense model, so these pin what the index relies on:
it loads from the package directory, saving/reloading changes nothing, similar sentences score
higher, model-specific prefixes really reach the model, fingerprints follow the weights, and a model
that cannot be downloaded fails with one clear EmbedderError.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer

from assistant import embedding as E
from assistant.embedding import DEFAULT_MODEL, KNOWN_MODELS, EmbedderError, load_embedder

BUNDLED = E.MODELS_DIR / "chive-ja"

SENTENCES = [
    "市では高齢者の見守り活動を支援しています。",
    "NPO法人への補助金の申請方法を教えてください。",
    "子育て世帯の送り迎えを手伝うサービスはありますか？",
    "",
]

# (anchor, paraphrase, unrelated) – written for these tests, not taken from JSTS.
TRIPLES = [
    ("お年寄りの買い物を手伝うボランティアを募集しています。", "高齢者の買い物支援を行うボランティアを募っています。", "駅前の駐車場は来月から有料になります。"),
    ("市は市民活動団体に補助金を交付します。", "市民活動を行う団体へ市から助成金が出ます。", "今日は朝から雨が降っていて寒い。"),
    ("災害時の避難所の場所を確認しておきましょう。", "地震などの際に避難する場所を事前に調べておこう。", "図書館で新しい小説を三冊借りた。"),
    ("子どもの送り迎えを地域で支え合う仕組みをつくります。", "地域ぐるみで子供の送迎を助け合う制度を整えます。", "ごみの分別方法が変わりました。"),
    ("市の財政状況は厳しく、歳出の見直しが必要です。", "自治体の予算が苦しいので支出を見直さなければならない。", "サッカーの試合は延長戦の末に引き分けた。"),
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    E.clear_cache()
    yield
    E.clear_cache()


def _copy_bundled(dst):
    shutil.copytree(BUNDLED, dst)
    return dst


def test_bundled_model_is_a_sentence_transformers_directory_within_size_budget():
    size = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert size <= 40e6
    model = SentenceTransformer(str(BUNDLED), device="cpu", trust_remote_code=True, local_files_only=True)
    vecs = model.encode(SENTENCES[:2])
    assert vecs.shape == (2, 300)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_save_and_reload_give_identical_vectors(tmp_path):
    model = SentenceTransformer(str(BUNDLED), device="cpu", trust_remote_code=True, local_files_only=True)
    before = model.encode(SENTENCES, convert_to_numpy=True)
    model.save(str(tmp_path / "saved"))
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu", trust_remote_code=True, local_files_only=True)
    after = reloaded.encode(SENTENCES, convert_to_numpy=True)
    assert np.array_equal(before, after)
    # The word → row map survives too (the WordLevel pitfall: many words sharing one row).
    a, b = model[0], reloaded[0]
    assert a.words == b.words and torch.equal(a.word_row, b.word_row)
    assert len(set(a.word_row.tolist())) < len(a.words)  # rows really are shared


def test_default_embedder_contract():
    emb = load_embedder()
    assert emb is load_embedder(None) is load_embedder(DEFAULT_MODEL)  # cached per process
    assert emb.model_id == DEFAULT_MODEL and emb.dim == 300
    assert len(emb.fingerprint) == 64
    assert 0 < emb.dense_weight < 0.5  # the weak offline model must weigh less than BM25
    q = emb.encode_queries(SENTENCES)
    p = emb.encode_passages(SENTENCES, batch_size=2)
    assert q.dtype == np.float32 and p.dtype == np.float32 and q.shape == (4, 300)
    assert np.allclose(np.linalg.norm(q[:3], axis=1), 1.0, atol=1e-5)
    assert not q[3].any()  # empty text: zero vector, scores 0 against everything
    assert emb.encode_passages([]).shape == (0, 300)


def test_paraphrases_score_higher_than_unrelated_sentences():
    emb = load_embedder()
    for anchor, para, other in TRIPLES:
        a, p, o = emb.encode_passages([anchor, para, other])
        assert a @ p > a @ o + 0.1, (anchor, float(a @ p), float(a @ o))


def test_word_neighbours_find_related_frequent_words():
    emb = load_embedder()
    assert "送迎" in [w for w, _ in emb.word_neighbours("送り迎え", k=3)]
    assert "高齢者" in [w for w, _ in emb.word_neighbours("お年寄り", k=5)]
    # 交付金 shares 補助金's pruned row: offered, but below an exact vector match.
    assert ("交付金", E.ROW_MATE_SIM) in emb.word_neighbours("補助金", k=3)
    nb = emb.word_neighbours("補助金", k=5)
    assert len(nb) == 5 and all(w != "補助金" for w, _ in nb)
    assert [s for _, s in nb] == sorted((s for _, s in nb), reverse=True)
    assert emb.word_neighbours("ｘｙｚｚｙ", k=5) == []
    assert emb.word_neighbours("山陽小野田", k=5) == []  # proper noun: its neighbours are other places
    assert emb.word_neighbours("為る", k=5) == []  # function word
    assert emb.word_neighbours("補助金", k=0) == []


@pytest.mark.parametrize("pattern", ["cl-nagoya/ruri-v3-*", "intfloat/multilingual-e5-*"])
def test_known_model_prefixes_are_applied_to_a_local_directory(tmp_path, pattern):
    name = pattern.split("/", 1)[1].replace("*", "small")
    path = _copy_bundled(tmp_path / name)
    emb = load_embedder(str(path))
    expected = KNOWN_MODELS[pattern]
    assert (emb.query_prefix, emb.passage_prefix, emb.dense_weight) == (
        expected["query_prefix"], expected["passage_prefix"], expected["dense_weight"],
    )
    assert emb.query_prefix != emb.passage_prefix
    text = ["子育て支援センターの利用方法"]
    raw = emb.model.encode(text, normalize_embeddings=True)
    with_q = emb.model.encode([emb.query_prefix + text[0]], normalize_embeddings=True)
    with_p = emb.model.encode([emb.passage_prefix + text[0]], normalize_embeddings=True)
    assert np.allclose(emb.encode_queries(text), with_q, atol=1e-6)
    assert np.allclose(emb.encode_passages(text), with_p, atol=1e-6)
    assert not np.allclose(with_q, raw, atol=1e-3)  # the prefix really changes the input


def test_unknown_local_name_gets_no_prefix(tmp_path):
    emb = load_embedder(str(_copy_bundled(tmp_path / "my-model")))
    assert emb.query_prefix == emb.passage_prefix == ""


def _tiny_model(path, prompts=None):
    """A 4-dim sentence-transformers model built from library classes only (one token per character)."""
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "市": 1, "補": 2, "金": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    st = SentenceTransformer(
        modules=[StaticEmbedding(tok, embedding_weights=np.eye(4, dtype=np.float32))], prompts=prompts
    )
    st.save(str(path))
    return path


def test_plain_local_model_loads_uses_saved_prompts_and_has_no_neighbours(tmp_path):
    """A plain sentence-transformers model (library classes only) loads without trust_remote_code."""
    emb = load_embedder(str(_tiny_model(tmp_path / "tiny", prompts={"query": "市", "document": "金"})))
    assert emb.dim == 4
    assert emb.word_neighbours("補助金") == []
    # Not a known model: the prompts saved with it are used as prefixes.
    assert (emb.query_prefix, emb.passage_prefix) == ("市", "金")
    assert np.allclose(emb.encode_queries(["補"]), [[0, 1, 1, 0]] / np.sqrt(2), atol=1e-6)
    assert np.allclose(emb.encode_passages(["補"]), [[0, 0, 1, 1]] / np.sqrt(2), atol=1e-6)


def test_fingerprint_follows_the_weights_not_the_location(tmp_path):
    a = _copy_bundled(tmp_path / "a")
    fp_bundled = load_embedder().fingerprint
    fp_copy = load_embedder(str(a)).fingerprint
    assert fp_copy == fp_bundled  # same files → same fingerprint, wherever they live

    weights = load_file(str(a / "model.safetensors"))
    weights["rows"][100, 0] += 1.0
    save_file(weights, str(a / "model.safetensors"))
    E.clear_cache()
    assert load_embedder(str(a)).fingerprint != fp_copy


def test_hub_id_is_loaded_from_the_cache_without_network(tmp_path, monkeypatch):
    """A Hub id already in the cache loads offline, with its known prefixes and the commit as fingerprint."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--intfloat--multilingual-e5-small"
    _tiny_model(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    emb = load_embedder("intfloat/multilingual-e5-small", cache_dir=str(tmp_path / "cache"))
    assert emb.fingerprint == f"hf:intfloat/multilingual-e5-small@{commit}"
    assert (emb.query_prefix, emb.passage_prefix) == ("query: ", "passage: ")
    assert emb.encode_queries(["市"]).shape == (1, 4)


def test_unreachable_hub_fails_fast_with_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(E, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(EmbedderError, match="cannot be reached") as info:
        load_embedder("cl-nagoya/ruri-v3-30m", cache_dir=str(tmp_path))
    assert "bundled:chive-ja" in str(info.value)


def test_unknown_hf_id_offline_gives_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(EmbedderError) as info:
        load_embedder("nonexistent-org/no-such-model-xyz", cache_dir=str(tmp_path))
    msg = str(info.value)
    assert "nonexistent-org/no-such-model-xyz" in msg
    assert "could not be found or downloaded" in msg
    assert DEFAULT_MODEL in msg and "HF_HUB_OFFLINE" in msg
    assert info.value.__cause__ is None  # one error, not a chain of Hugging Face exceptions


def test_missing_directory_and_unknown_bundled_name(tmp_path):
    with pytest.raises(EmbedderError, match="does not exist"):
        load_embedder(str(tmp_path / "nope") + "/")
    with pytest.raises(EmbedderError, match="unknown bundled model"):
        load_embedder("bundled:nope")


# ---- one-shot start: the bundled query side without torch (issue 11) -------------------------

QUERIES = SENTENCES + [
    "子育て支援の補助金はいくらですか？", "空き家バンクの登録件数を教えてください", "ｘｙｚｚｙ",
    "令和5年度の高松市の市民満足度調査の回収率は？", "送り迎え　お年寄り　ＮＰＯ法人",
]


def test_the_numpy_query_vector_of_the_bundled_model_equals_the_sentence_transformers_one():
    from assistant.chive_vocab import ChiveVocab

    model = SentenceTransformer(str(BUNDLED), device="cpu", trust_remote_code=True, local_files_only=True)
    st = model.encode(QUERIES, convert_to_numpy=True, normalize_embeddings=True)
    np_vecs = ChiveVocab.load(BUNDLED).encode(QUERIES)
    assert np_vecs.dtype == np.float32 and np_vecs.shape == st.shape
    assert np.abs(np_vecs - st).max() < 1e-6
    assert not np_vecs[QUERIES.index("")].any()  # no word: zero vector, as before


def test_the_remembered_chive_lookups_give_the_same_ids_as_looking_up_afresh(monkeypatch):
    # every passage of the bundled corpus, as the build embeds them: identical word ids either way
    from pathlib import Path

    from assistant import chive_vocab
    from assistant.chive_vocab import ChiveVocab

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    lines = [line for p in sorted(corpus.glob("*.txt")) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    remembered = ChiveVocab.load(BUNDLED)
    ids = [remembered.word_ids(line) for line in lines]
    assert 0 < len(remembered._lookup_memo) <= chive_vocab.LOOKUP_MEMO_MAX
    fresh = ChiveVocab.load(BUNDLED)
    monkeypatch.setattr(chive_vocab.ChiveTokenizer, "_lookup", chive_vocab.ChiveTokenizer._lookup_uncached)
    assert [fresh.word_ids(line) for line in lines] == ids
    monkeypatch.undo()  # the memo again, bounded: it starts over instead of growing
    monkeypatch.setattr(chive_vocab, "LOOKUP_MEMO_MAX", 10)
    small = ChiveVocab.load(BUNDLED)
    assert [small.word_ids(line) for line in lines[:50]] == ids[:50] and len(small._lookup_memo) <= 10


def test_opening_the_bundled_embedder_and_encoding_queries_does_not_load_torch_until_passages():
    emb = load_embedder()
    assert not emb.loaded, "opening the bundled model reads its files only"
    q = emb.encode_queries(QUERIES)
    assert not emb.loaded, "a query vector of the bundled model needs no torch"
    assert emb.word_neighbours("送り迎え", k=3) and not emb.loaded
    p = emb.encode_queries(QUERIES[:0])
    assert p.shape == (0, 300)
    emb.encode_passages(["子育て支援"])  # an index build's passages use the numpy model too
    assert not emb.loaded
    assert emb.model is not None and emb.loaded  # the sentence-transformers model, on request
    assert np.abs(emb.encode_queries(QUERIES) - q).max() < 1e-6, "same vectors either way"


def test_a_python_process_running_search_side_code_does_not_import_torch(tmp_path):
    """The import graph, pinned in a fresh interpreter: the CLI module, the embedder and a bundled
    query vector import neither torch nor sentence-transformers (nor gradio/pdfplumber/docx)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import assistant.cli, assistant.core\n"
        "from assistant.embedding import load_embedder\n"
        "load_embedder().encode_queries(['子育て支援'])\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'gradio', 'pdfplumber', 'docx') if m in sys.modules]\n"
        "load_embedder('bundled:e5-small-ja').encode_queries(['子育て支援'])  # e5 needs torch, not sentence-transformers\n"
        "bad += [m for m in ('sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=str(BUNDLED.parents[2]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_the_e5_query_vector_without_sentence_transformers_equals_the_pipeline_one():
    emb = load_embedder("bundled:e5-small-ja")
    light = emb.encode_queries(QUERIES)
    assert not emb.loaded and light.shape == (len(QUERIES), 384)
    model = SentenceTransformer(str(E.MODELS_DIR / "e5-small-ja"), device="cpu", trust_remote_code=True, local_files_only=True)
    full = model.encode(QUERIES, prompt="query: ", convert_to_numpy=True, normalize_embeddings=True)
    assert np.abs(light - full).max() < 1e-5

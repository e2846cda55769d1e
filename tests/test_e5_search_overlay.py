"""The search sentence encoder: e5-small-ja with its top layers fine-tuned, stored as an *overlay*.

Pins: the overlay directory holds only the fine-tuned layers' tensors and names its base and the base
weights' sha256; ``scripts/finetune_e5_model.py``'s writer produces a directory the loader reads back
exactly (an overlay of the base's own layers computes the base); the fine-tuned layers run in float32
while the base's layers below them keep their int8 arithmetic; all bundled models stay within the
issue's 80 MB budget. (Broken overlay files: tests/test_model_files.py.)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import assistant.embedding as E
from assistant.e5_core import E5Core
from assistant.model_files import OVERLAY_BASE_SHA, OVERLAY_OF

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "assistant" / "models"
BASE = MODELS / "e5-small-ja"
OVERLAY = MODELS / "e5-small-ja-search"
TEXTS = ["NPOを立ち上げたいときの相談先は？", "passage: 市民活動支援センターでは団体の設立や運営の相談に応じます。"]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1)


def test_all_bundled_models_fit_the_80_mb_budget():
    size = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert size <= 80e6, f"bundled models: {size / 1e6:.1f} MB"


def test_the_bundled_overlay_holds_only_its_fine_tuned_layers_over_the_recorded_base():
    config = json.loads((OVERLAY / "config.json").read_text(encoding="utf-8"))
    base_config = json.loads((BASE / "config.json").read_text(encoding="utf-8"))
    assert config[OVERLAY_OF] == BASE.name
    assert config[OVERLAY_BASE_SHA] == base_config["files_sha256"]["model.safetensors"]
    layers = config["float_layers"]
    assert layers == list(range(config["num_layers"] - config["finetuned_top_layers"], config["num_layers"]))
    names = load_file(str(OVERLAY / "model.safetensors")).keys()
    assert {n.split(".")[0] for n in names} == {f"l{i}" for i in layers}
    assert not (OVERLAY / "tokenizer.json").exists()  # the base's tokenizer, not a copy that could drift
    assert (OVERLAY / "README.md").read_text(encoding="utf-8").count("overlay") >= 1


def test_the_fine_tuned_layers_run_in_float32_over_the_int8_base_layers():
    m = E5Core.load(str(OVERLAY), model_kwargs={"quantize": "int8-dynamic"})
    top = m.encoder.layers[m.float_layers[0]].q
    below = m.encoder.layers[m.float_layers[0] - 1].q
    assert isinstance(top, torch.nn.Linear) and type(below) is not torch.nn.Linear
    fp32 = E5Core.load(str(OVERLAY), model_kwargs={"quantize": "none"})
    assert _cos(m.encode(TEXTS), fp32.encode(TEXTS)).min() > 0.99


def test_the_overlay_differs_from_the_base_it_was_trained_over():
    base = E5Core.load(str(BASE), model_kwargs={"quantize": "none"}).encode(TEXTS)
    tuned = E5Core.load(str(OVERLAY), model_kwargs={"quantize": "none"}).encode(TEXTS)
    assert _cos(base, tuned).max() < 0.99


def test_the_writer_round_trips_an_overlay_of_the_bases_own_layers(tmp_path):
    """finetune_e5_model.write_model with untrained layers: the overlay must compute the base."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import finetune_e5_model as F

    base_dir = tmp_path / "models" / BASE.name
    shutil.copytree(BASE, base_dir)
    core = E5Core.load(str(base_dir), model_kwargs={"quantize": "none"})
    first = core.num_layers - 2
    layers = torch.nn.ModuleList([core.encoder.layers[i] for i in range(first, core.num_layers)])
    info = {"layers": list(range(first, core.num_layers)), "examples": 0, "pairs": 0, "temp": 0.05, "lr": 0.0, "batch": 1,
            "epochs": 0, "seed": 0, "command": "test", "seconds": 0, "machine": "test", "data_sha256": {}}
    out = tmp_path / "models" / "overlay"
    F.write_model(base_dir, out, layers, first, info, overlay=True)
    E.clear_cache()
    got = E5Core.load(str(out), model_kwargs={"quantize": "none"}).encode(TEXTS)
    # untrained layers: every stored change is zero, so the overlay is the base itself
    assert _cos(got, core.encode(TEXTS)).min() > 0.9999
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))[OVERLAY_OF] == BASE.name


@pytest.mark.parametrize("name", ["bundled:e5-small-ja-search"])
def test_load_embedder_gives_the_overlay_e5_prefixes_and_its_own_fingerprint(name):
    E.clear_cache()
    emb = E.load_embedder(name)
    base = E.load_embedder("bundled:e5-small-ja")
    assert emb.query_prefix == "query: " and emb.passage_prefix == "passage: "
    assert emb.fingerprint != base.fingerprint and emb.dim == base.dim == 384
    assert emb.encode_queries(TEXTS[:1]).shape == (1, 384)
    E.clear_cache()


class _Unshared(E5Core):
    """E5Core loaded on its own: the sharing of a base between light models is for E5Core itself."""


def test_an_overlay_opened_with_its_base_runs_the_bases_own_lower_layers_and_computes_the_same():
    """The answer encoder and its search overlay are one base plus four layers: in one process they share
    the base's embeddings and layers 0–7 (memory once, BENCHMARKS §9.20) — and the vectors are exactly those
    of an overlay loaded on its own."""
    base = E5Core.load(str(BASE))
    overlay = E5Core.load(str(OVERLAY))
    assert base.shared_layers(overlay) == 8 and overlay.shared_layers(base) == 8
    assert E5Core.load(str(BASE)) is base, "the same weights in the same arithmetic are loaded once per process"
    alone = _Unshared.load(str(OVERLAY))
    assert alone.shared_layers(base) == 0
    assert np.array_equal(overlay.encode(TEXTS), alone.encode(TEXTS))
    assert not np.allclose(overlay.encode(TEXTS), base.encode(TEXTS))


def test_a_pair_encoding_runs_the_shared_layers_once_and_gives_both_encoders_own_vectors():
    base = E5Core.load(str(BASE))
    overlay = E5Core.load(str(OVERLAY))
    texts = TEXTS * 3 + ["市民協働推進室", "短い"]
    mine, theirs = base.encode_many_pair(overlay, texts, prompt="passage: ")
    assert np.array_equal(mine, base.encode_many(texts, prompt="passage: "))
    assert np.array_equal(theirs, overlay.encode_many(texts, prompt="passage: "))
    none_a, none_b = base.encode_many_pair(overlay, [], prompt="passage: ")
    assert none_a.shape == none_b.shape == (0, base.hidden_size)


def test_a_build_embeds_both_sentence_sets_as_one_by_one(tmp_path):
    """Index builds embed every sentence with both encoders in one pass over the shared layers
    (``evidence_model.embed_sentence_sets``); each cache gets what embedding one by one gives."""
    from assistant import chunking, corpus, evidence_model
    from assistant.index import EmbeddingCache

    docs = corpus.load_corpus(ROOT / "corpus")[:1]
    chunks = chunking.chunk_corpus(docs)[:6]
    answer, search = E.load_embedder("bundled:e5-small-ja"), E.load_embedder("bundled:e5-small-ja-search")
    together = evidence_model.embed_sentence_sets(
        chunks, [(answer, EmbeddingCache(tmp_path / "a.npz")), (search, EmbeddingCache(tmp_path / "s.npz"))])
    apart = [evidence_model.embed_sentences(chunks, e, EmbeddingCache(tmp_path / f"{i}.npz")) for i, e in enumerate((answer, search))]
    assert answer.encode_passages_pair(search, ["市民協働推進室"]) is not None, "the two bundled encoders share their base"
    for t, a in zip(together, apart):
        assert t.model_id == a.model_id and t.n_new == a.n_new > 0 and len(t.vectors) == len(a.vectors)
        assert np.allclose(t.vectors, a.vectors, atol=1e-6)

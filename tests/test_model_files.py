"""A missing or damaged bundled model file: one clear error naming the file and the rebuild command,
and never a silent switch to another model.

Pins: opening either bundled model (chiVe search model, e5 answer encoder) with a file deleted,
truncated or altered raises one ``EmbedderError`` that names that file and the command that rebuilds
the directory — when the model is opened, before any torch work; when the *answer encoder* is the one
broken, the assistant keeps answering with the search embedder and says so in the log and in
``health()`` (``/api/health``); when the *search sentence encoder* (the fine-tuned overlay over e5) is
broken or was trained over other base weights, passages are ordered by the answer encoder's vectors and
the log and ``health()`` say so; the index manifest and ``health()`` name the models that answered.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

import assistant.embedding as E
from assistant import Assistant, cpu
from assistant.embedding import EmbedderError, load_embedder
from assistant.model_files import CHIVE_REBUILD_COMMAND, E5_OVERLAY_REBUILD_COMMAND, E5_REBUILD_COMMAND, OVERLAY_BASE_SHA

MODELS = Path(E.__file__).resolve().parent / "models"


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A private copy of the bundled models, used by every bundled: name in this test."""
    d = tmp_path / "models"
    for name in ("chive-ja", "e5-small-ja", "e5-small-ja-search"):
        shutil.copytree(MODELS / name, d / name)
    monkeypatch.setattr(E, "MODELS_DIR", d)
    E.clear_cache()
    yield d
    E.clear_cache()


def _damage(p: Path, how: str) -> None:
    if how == "delete":
        p.unlink()
    elif how == "truncate":
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])
    elif how == "flip":
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0x01
        p.write_bytes(bytes(b))
    elif how == "garbage":
        p.write_bytes(b"\xff\xfe not what it should be")


def _error_opening(models: Path, directory: str, victim: str, how: str) -> tuple[Path, str]:
    """(the damaged file, the message of the one EmbedderError opening ``bundled:<directory>`` raises)."""
    p = models / directory / victim
    _damage(p, how)
    with pytest.raises(EmbedderError) as info:
        load_embedder(f"bundled:{directory}")  # opening only: no torch, no vector computed yet
    return p, str(info.value)


@pytest.mark.parametrize("victim,how", [
    ("model.safetensors", "delete"), ("model.safetensors", "truncate"), ("model.safetensors", "garbage"),
    ("words.txt", "delete"), ("words.txt", "truncate"), ("words.txt", "garbage"),
    ("config.json", "delete"), ("config.json", "garbage"),
])
def test_a_broken_chive_file_is_one_error_naming_it_and_the_rebuild_command(models, victim, how):
    p, msg = _error_opening(models, "chive-ja", victim, how)
    assert str(p) in msg and CHIVE_REBUILD_COMMAND in msg, msg
    assert ("missing" in msg) if how == "delete" else ("corrupt" in msg or "inconsistent with" in msg)


@pytest.mark.parametrize("victim,how", [
    ("model.safetensors", "delete"), ("model.safetensors", "flip"), ("tokenizer.json", "flip"),
    ("normalizer.json", "delete"), ("config.json", "garbage"),
])
def test_a_broken_e5_file_is_one_error_when_the_model_is_opened(models, victim, how):
    p, msg = _error_opening(models, "e5-small-ja", victim, how)
    assert str(p) in msg and E5_REBUILD_COMMAND in msg, msg
    assert ("missing" if how == "delete" else "corrupt") in msg


def test_a_broken_answer_encoder_falls_back_loudly_in_log_and_health(models, small_corpus, tmp_path, caplog):
    weights = models / "e5-small-ja" / "model.safetensors"
    _damage(weights, "flip")
    with caplog.at_level(logging.WARNING, logger="assistant.core"):
        a = Assistant.load(small_corpus, tmp_path / "index")
    logged = [r.getMessage() for r in caplog.records if "answer encoder" in r.getMessage()]
    assert logged and str(weights) in logged[0] and E5_REBUILD_COMMAND in logged[0]
    h = a.health()
    assert h["answer_encoder"] == "bundled:chive-ja" == h["model"]
    assert str(weights) in h["answer_encoder_fallback"] and E5_REBUILD_COMMAND in h["answer_encoder_fallback"]
    assert any("answer encoder" in w and "bundled:e5-small-ja" in w for w in h["warnings"])
    # the manifest says which encoder made the sentence vectors the answers were scored with
    m = json.loads((tmp_path / "index" / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert m["model"]["id"] == "bundled:chive-ja" and m["settings"]["sentence_encoder"]["id"] == "bundled:chive-ja"
    assert a.ask("協働とは何ですか？").text
    # the JSON API a monitor polls says the same
    from fastapi.testclient import TestClient

    from assistant.web import create_app

    with TestClient(create_app(a, data_dir=tmp_path / "web")) as c:
        api = c.get("/api/health").json()
    assert api["answer_encoder"] == "bundled:chive-ja" and str(weights) in api["answer_encoder_fallback"]


def test_health_and_manifest_name_both_models_and_the_encoder_precision_and_say_when_it_is_emulated(small_corpus, tmp_path, monkeypatch):
    E.clear_cache()
    a = Assistant.load(small_corpus, tmp_path / "index")
    h = a.health()
    assert h["model"] == "bundled:chive-ja" and h["answer_encoder"] == "bundled:e5-small-ja"
    assert h["search_encoder"] == "bundled:e5-small-ja-search" and "search_encoder_fallback" not in h
    assert "answer_encoder_fallback" not in h and not any("answer encoder" in w for w in h.get("warnings", []))
    assert h["answer_encoder_precision"] in {"bf16", "int8-rows", "int8-dynamic", "none"}
    m = json.loads((tmp_path / "index" / "current" / "manifest.json").read_text(encoding="utf-8"))
    enc = m["settings"]["sentence_encoder"]
    assert enc["id"] == "bundled:e5-small-ja" and enc["precision"] == h["answer_encoder_precision"]
    assert enc["fingerprint"] == a.answer_encoder.fingerprint and m["model"]["id"] == h["model"]
    assert m["settings"]["search_sentence_encoder"]["id"] == "bundled:e5-small-ja-search"
    assert m["sentence_vectors"]["search_built"] is True
    assert not any("emulated" in w for w in h.get("warnings", []))  # auto never picks an emulated arithmetic
    # as ASSISTANT_E5_PRECISION=bf16 on a CPU without native bf16 would have it: honoured, and said
    monkeypatch.setattr(cpu, "native_bf16", lambda: False)
    monkeypatch.setattr(a.answer_encoder, "precision", "bf16")
    h = a.health()
    assert h["answer_encoder_precision"] == "bf16"
    assert any("bf16 is emulated on this CPU" in w for w in h["warnings"])


@pytest.mark.parametrize("victim,how", [("model.safetensors", "delete"), ("model.safetensors", "flip"), ("config.json", "garbage")])
def test_a_broken_search_overlay_file_is_one_error_naming_it_and_the_overlay_rebuild_command(models, victim, how):
    p, msg = _error_opening(models, "e5-small-ja-search", victim, how)
    assert str(p) in msg, msg
    if victim != "config.json":  # an unreadable config cannot say it is an overlay's
        assert E5_OVERLAY_REBUILD_COMMAND in msg, msg


def test_an_overlay_trained_over_other_base_weights_is_refused_when_opened(models):
    cfg = models / "e5-small-ja-search" / "config.json"
    config = json.loads(cfg.read_text(encoding="utf-8"))
    config[OVERLAY_BASE_SHA] = "0" * 64  # as if the base had been rebuilt differently since the overlay was trained
    cfg.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(EmbedderError) as info:
        load_embedder("bundled:e5-small-ja-search")
    msg = str(info.value)
    assert "not the base this overlay was trained on" in msg and E5_OVERLAY_REBUILD_COMMAND in msg, msg
    assert str(models / "e5-small-ja" / "model.safetensors") in msg


def test_a_broken_search_encoder_falls_back_loudly_and_answers_still_come(models, small_corpus, tmp_path, caplog):
    weights = models / "e5-small-ja-search" / "model.safetensors"
    _damage(weights, "flip")
    with caplog.at_level(logging.WARNING):
        a = Assistant.load(small_corpus, tmp_path / "index")
    logged = [r.getMessage() for r in caplog.records if "search sentence encoder" in r.getMessage()]
    assert logged and str(weights) in logged[0] and E5_OVERLAY_REBUILD_COMMAND in logged[0]
    h = a.health()
    assert h["answer_encoder"] == "bundled:e5-small-ja" and h["search_encoder"] is None
    assert str(weights) in h["search_encoder_fallback"]
    assert any("search sentence encoder" in w for w in h["warnings"])
    m = json.loads((tmp_path / "index" / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert m["settings"]["search_sentence_encoder"] is None and m["sentence_vectors"]["search_built"] is False
    assert a.ask("協働とは何ですか？").text

"""The answer model: sentence vectors in the build, fitted coefficients per embedder, honest fallbacks."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, answering, evidence_model, japanese
from assistant.embedding import load_embedder


@pytest.fixture
def built(small_corpus, tmp_path):
    idx = tmp_path / "index"
    return Assistant.load(small_corpus, idx), small_corpus, idx


def test_the_build_stores_one_vector_per_sentence_of_every_passage(built):
    a, _corpus, idx = built
    si = a.state.search_index
    sv = si.sentence_vectors
    assert sv is not None and sv.model_id == a.answer_encoder.model_id
    assert len(sv.offsets) == len(si.chunks) + 1
    for i, c in enumerate(si.chunks[:20]):
        assert len(sv.for_chunk(i)) == len(japanese.split_sentences(c.text))
    m = json.loads((idx / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert evidence_model.SENTENCES_FILE in m["files"], "sentence vectors are checksummed like every index file"
    norms = np.linalg.norm(sv.vectors, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-2) | (norms == 0))


def test_unchanged_sentences_are_never_embedded_again(built):
    a, corpus, idx = built
    assert a.last_build["sentences_embedded"] > 0
    doc = corpus / "003_dfaa35240c5397ba.txt"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n\n新たに追加した一文として、協働ポイント制度を創設します。\n", encoding="utf-8")
    assert a.refresh() is True
    assert 0 < a.last_build["sentences_embedded"] < 10, a.last_build


def test_a_sentence_is_embedded_with_its_heading_and_the_line_a_list_item_depends_on():
    sents = ["市民活動を次のとおり支援します。", "・相談窓口の設置", "補助金の交付により、地域の自主的な活動を財政面から支援します。"]
    ctx = evidence_model.sentence_context(["第3章 協働の推進", "(1) 市民活動の支援"], sents, 1)
    assert ctx.splitlines() == ["(1) 市民活動の支援", "市民活動を次のとおり支援します。", "・相談窓口の設置"]
    # a full sentence stands alone under its heading
    assert evidence_model.sentence_context(["(1) 市民活動の支援"], sents, 2).splitlines() == ["(1) 市民活動の支援", sents[2]]


def test_every_committed_entry_names_its_data_and_a_threshold():
    data = json.loads((Path(evidence_model.__file__).parent / "data" / "answer_model.json").read_text(encoding="utf-8"))
    assert evidence_model.LEXICAL in data["models"]
    for key, entry in data["models"].items():
        if entry.get("use") == "legacy-evidence":
            continue
        assert 0 < entry["threshold"] < 1 and entry["hedge"] >= entry["threshold"]
        assert entry["fitted_on"]["data_sha256"], key
        for part in ("sentence", "answerable"):
            m = entry[part]
            assert len(m["features"]) == len(m["coef"]) == len(m["mean"]) == len(m["scale"])
        if key == evidence_model.LEXICAL:
            assert not evidence_model.COSINE_FEATURES & set(entry["sentence"]["features"] + entry["answerable"]["features"])


def test_a_model_without_fitted_coefficients_says_so_and_uses_the_lexical_model(caplog):
    evidence_model.clear_cache()
    with caplog.at_level(logging.WARNING, logger="assistant.evidence_model"):
        m = evidence_model.for_embedder("some-org/unfitted-model")
    assert m is not None and m.key == evidence_model.LEXICAL and not m.uses_cosines
    assert any("no answer model fitted" in r.getMessage() and "unfitted-model" in r.getMessage() for r in caplog.records)
    lex = evidence_model.lexical()
    assert m.threshold == lex.threshold, "never another embedder's threshold"
    evidence_model.clear_cache()


def test_the_bag_of_words_model_keeps_its_own_calibrated_evidence_score():
    assert evidence_model.for_embedder("bundled:chive-ja") is None


def test_health_names_the_embedder_and_the_answer_model(built):
    a, _c, _i = built
    h = a.health()
    assert h["model"] == a.embedder.model_id
    assert h["answer_encoder"] == a.answer_encoder.model_id
    assert h["answer_model"] in {"legacy-evidence", a.answer_encoder.model_id, evidence_model.LEXICAL,
                                 a.answer_encoder.model_id + evidence_model.READER_SUFFIX}
    m = json.loads((a.index_dir / "current" / "manifest.json").read_text(encoding="utf-8"))
    assert m["settings"]["sentence_encoder"]["id"] == a.answer_encoder.model_id


def test_logistic_combination_is_monotone_in_a_positive_feature():
    m = evidence_model.Logistic(["a", "b"], [0.0, 0.0], [1.0, 1.0], [2.0, -1.0], 0.0)
    assert m.prob({"a": 1, "b": 0}) > m.prob({"a": 0, "b": 0}) > m.prob({"a": 0, "b": 1})
    assert 0 < m.prob({"a": -100, "b": 100}) < 1e-6


def test_an_entry_fitted_with_another_search_model_is_not_used(built, caplog):
    a, _c, _i = built
    r = a.state.retriever
    entry = evidence_model.for_embedder(a.answer_encoder.model_id)
    if entry is None or not entry.info.get("retrieval_model"):
        pytest.skip("no fitted entry for this answer encoder")
    r.__dict__.pop("_answer_model", None)
    r.embedder = type("Other", (), {"model_id": "some-other-search-model", "dense_weight": 0.3})()
    with caplog.at_level(logging.WARNING, logger="assistant.answering"):
        m = answering.answer_model(r)
    assert m is not None and m.key == evidence_model.LEXICAL
    assert any("fitted with search model" in rec.getMessage() for rec in caplog.records)


def test_an_entry_fitted_on_other_weights_of_the_same_encoder_is_not_used(built, caplog):
    """A rebuilt or fine-tuned bundled e5 keeps its model id; an answer model fitted on the old weights'
    cosines would refuse (or answer) at random, so it gives way to the lexical model, loudly, with the
    refit command."""
    a, _c, _i = built
    r = a.state.retriever
    entry = evidence_model.for_embedder(a.answer_encoder.model_id)
    if entry is None or not entry.uses_cosines:
        pytest.skip("no fitted cosine entry for this answer encoder")
    assert entry.info["fitted_on"].get("weights_id") == a.answer_encoder.weights_id, "the shipped entry fits the shipped weights"
    r.__dict__.pop("_answer_model", None)
    r.answer_encoder = type("Rebuilt", (), {"model_id": a.answer_encoder.model_id, "weights_id": "0123456789abcdef"})()
    with caplog.at_level(logging.WARNING, logger="assistant.answering"):
        m = answering.answer_model(r)
    assert m is not None and m.key == evidence_model.LEXICAL
    assert any("encoder weights" in rec.getMessage() and "fit_answer_model.py" in rec.getMessage() for rec in caplog.records)


def test_a_bundled_model_names_its_weights_from_its_config(tmp_path):
    from assistant.embedding import bundled_weights_id

    (tmp_path / "config.json").write_text(json.dumps({"files_sha256": {"model.safetensors": "ab" * 32}}), encoding="utf-8")
    assert bundled_weights_id(tmp_path) == "ab" * 8
    (tmp_path / "config.json").write_text("{", encoding="utf-8")
    assert bundled_weights_id(tmp_path) is None
    assert bundled_weights_id(tmp_path / "missing") is None


def _shipped_chooser(a):
    r = a.state.retriever
    r.__dict__.pop("_answer_model", None)
    m = answering.answer_model(r)
    if m is None or m.chooser is None or not r.two_sided:
        pytest.skip("no chooser fitted, or no search encoder in this index")
    return r, m


def test_the_chooser_orders_the_search_sides_sentences_with_the_search_encoders_cosine(built):
    """The answer is composed from the search side's candidates, ordered by the chooser (the sentence
    features plus the fine-tuned search encoder's sentence cosine); answerability is still judged by the
    sentence model, which never sees that cosine."""
    a, _c, _i = built
    r, m = _shipped_chooser(a)
    assert m.chooser.features == evidence_model.CHOOSER_FEATURES
    assert m.info["fitted_on"]["search_weights_id"] == r.search_encoder.weights_id, "the shipped chooser fits the shipped search encoder"
    q = "協働のまちづくりを進めるために市は何をしますか"
    qa = r.analyze(q)
    hits = r.search(q, k=answering.TOP_HITS, analysis=qa)
    weights = answering._term_weights(r, qa)
    ordered, _ = answering._score_with_model(r, m, qa, hits, weights, judge=False)
    judged, p = answering._score_with_model(r, m, qa, hits, weights)
    assert ordered and all("scos" in c.features and -1.0 <= c.features["scos"] <= 1.0 for c in ordered)
    assert any(c.features["scos"] != 0.0 for c in ordered)
    assert all(c.logit == pytest.approx(m.chooser.logit(c.features)) for c in ordered)
    assert all("scos" not in c.features for c in judged) and 0.0 <= p <= 1.0
    assert all(c.logit == pytest.approx(m.sentence.logit(c.features)) for c in judged)


def test_a_chooser_fitted_on_other_search_weights_gives_way_to_the_sentence_model(built, caplog, monkeypatch):
    """A rebuilt search overlay keeps its model id but not its cosines: the chooser steps aside, loudly
    and with the refit command, and the rest of the answer model stays."""
    a, _c, _i = built
    r, m = _shipped_chooser(a)
    monkeypatch.setattr(r.search_encoder, "weights_id", "0123456789abcdef")
    r.__dict__.pop("_answer_model", None)
    with caplog.at_level(logging.WARNING, logger="assistant.answering"):
        other = answering.answer_model(r)
    assert other is not None and other.key == m.key and other.chooser is None
    assert evidence_model.for_embedder(m.key).chooser is not None, "the cached entry itself is untouched"
    assert any("chooser" in rec.getMessage() and "fit_answer_model.py" in rec.getMessage() for rec in caplog.records)
    q = "協働のまちづくりを進めるために市は何をしますか"
    qa = r.analyze(q)
    ordered, _ = answering._score_with_model(r, other, qa, r.search(q, analysis=qa), answering._term_weights(r, qa), judge=False)
    assert ordered and all("scos" not in c.features for c in ordered)

"""The fitted search reranker (assistant/rerank.py): a wider pool ordered by stored coefficients, and a
broken coefficients file is one clear error naming the file and the command that rebuilds it."""

import json

import numpy as np
import pytest

from assistant import rerank, retrieval

from test_retrieval_sentences import PARAPHRASE, toy  # noqa: F401  (module fixture: a four-chapter plan)


def test_missing_coefficients_name_the_file_and_the_refit_command(tmp_path):
    path = tmp_path / "rerank_model.json"
    with pytest.raises(rerank.RerankModelError) as e:
        rerank.load(path)
    assert str(path) in str(e.value) and rerank.REFIT_COMMAND in str(e.value)


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"features": ["bm25"], "mean": [0], "scale": [1], "coef": [1, 2], "search_model": "m", "answer_encoder": "e"}),
    json.dumps({"features": ["bm25"], "mean": [0], "scale": [0], "coef": [1], "search_model": "m", "answer_encoder": "e"}),
    json.dumps({"features": ["made_up"], "mean": [0], "scale": [1], "coef": [1], "search_model": "m", "answer_encoder": "e"}),
    json.dumps({"features": ["bm25"], "mean": [0], "scale": [1], "coef": [1]}),
])
def test_corrupt_coefficients_are_one_clear_error(tmp_path, content):
    path = tmp_path / "rerank_model.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(rerank.RerankModelError) as e:
        rerank.load(path)
    assert str(path) in str(e.value) and rerank.REFIT_COMMAND in str(e.value)


def test_the_committed_fit_loads_and_records_how_it_was_made():
    m = rerank.load()
    assert set(m.features) <= set(rerank.FEATURES)
    assert m.info["out_of_fold"]["tune"]["n"] > 0 and "data_sha256" in m.info
    assert m.search_model and m.answer_encoder


def test_pool_is_the_fusion_head_plus_the_nearest_sentences_passages():
    fused_order = np.array([4, 2, 0, 1, 3])
    sent_best = np.array([0.1, 0.9, 0.2, 0.3, 0.8])
    allowed = np.array([True, True, True, True, False])
    # fusion top 2 = {4, 2}; best allowed sentences = {1, 3} (4 is filtered out)
    assert rerank.pool(fused_order, sent_best, allowed, 2, 2).tolist() == [1, 2, 3, 4]


def _signals(r, q):
    qa = r.analyze(q)
    n = len(r.index.chunks)
    bm25 = np.zeros(n, dtype=np.float32)
    for w, toks in qa.weighted_token_groups():
        bm25 += w * r.index.bm25_scores(toks)
    return bm25, np.argsort(-bm25, kind="stable"), np.ones(n, dtype=bool), r.sentence_scores(q), np.ones(n, dtype=np.float32)


def test_fitted_mode_ranks_by_the_model_and_keeps_the_fusion_score(toy):  # noqa: F811
    """(The measured, non-default fitted mode needs exact dense cosines of its pool: a Milvus replica
    keeps no dense vectors, so there it is one clear error, not a silently different ranking.)"""
    from assistant.backends import BackendError

    r = toy.state.retriever
    r.sentence_mode = "fitted"
    try:
        if r.index.describe().get("kind") == "milvus":
            with pytest.raises(BackendError, match="local backend"):
                toy.search(PARAPHRASE, k=4)
            return
        hits = toy.search(PARAPHRASE, k=4)
    finally:
        r.sentence_mode = retrieval.SENTENCE_MODE
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == 1.0
    pos, X = r.fitted_pool(r.analyze(PARAPHRASE), *_signals(r, PARAPHRASE))
    n = len(r.index.chunks)  # the pool of a tiny plan is all of it
    assert sorted(pos.tolist()) == list(range(n)) and X.shape == (n, len(r.rerank_model.features))
    assert all(h.fused is not None and 0.0 <= h.fused <= 1.0 for h in hits)

"""The fitted search reranker (assistant/rerank.py): a wider pool ordered by stored coefficients, and a
broken coefficients file is one clear error naming the file and the command that rebuilds it."""

import json

import numpy as np
import pytest

from assistant import backends, rerank, retrieval

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


def test_a_city_weighted_pool_draws_its_sentence_side_from_the_named_city_first():
    fused_order = np.array([0])
    sent_best = np.array([0.5, 0.9, 0.8, 0.7])
    allowed = np.ones(4, dtype=bool)
    city = np.array([1.0, 0.4, 1.0, 1.0])  # passage 1 is another city's: 0.9 × 0.4 = 0.36
    assert rerank.pool(fused_order, sent_best, allowed, 1, 2).tolist() == [0, 1, 2]
    assert rerank.pool(fused_order, sent_best, allowed, 1, 2, city).tolist() == [0, 2, 3]


def test_the_pool_city_flag_round_trips_and_defaults_to_the_raw_cosine():
    d = rerank.load().to_dict()
    assert rerank.RerankModel.from_dict(d | {"pool_city": True}).pool_city is True
    assert rerank.RerankModel.from_dict({k: v for k, v in d.items() if k != "pool_city"}).pool_city is False


def _signals(r, q):
    qa = r.analyze(q)
    n = len(r.index.chunks)
    bm25 = np.zeros(n, dtype=np.float32)
    for w, toks in qa.weighted_token_groups():
        bm25 += w * r.index.bm25_scores(toks)
    return bm25, np.argsort(-bm25, kind="stable"), np.ones(n, dtype=bool), r.sentence_scores(q), np.ones(n, dtype=np.float32)


def test_fitted_mode_ranks_by_the_model_and_keeps_the_fusion_score(toy):  # noqa: F811
    """(The pool's exact dense cosines come from the index on the local backend and from a dense search
    restricted to the pool on a Milvus replica.)"""
    r = toy.state.retriever
    r.sentence_mode = "fitted"
    try:
        hits = toy.search(PARAPHRASE, k=4)
    finally:
        r.sentence_mode = retrieval.SENTENCE_MODE
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == 1.0
    qv = r.query_vector(PARAPHRASE)
    top, scores = r.index.dense_search(qv, len(r.index.chunks), backends.Filter())
    assert np.allclose(r.index.dense_cosines(qv, top[::-1]), scores[::-1], atol=1e-4), "exact cosines of any passages, any order"
    if r.index.describe().get("kind") == "milvus":
        return  # the feature rows below need the local index's BM25 (the _signals helper)
    pos, X, X_all = r.fitted_pool(r.analyze(PARAPHRASE), *_signals(r, PARAPHRASE))
    n = len(r.index.chunks)  # the pool of a tiny plan is all of it
    assert sorted(pos.tolist()) == list(range(n)) and X.shape == (n, len(r.rerank_model.features))
    assert X_all.shape == (n, len(rerank.FEATURES))
    exact = r.index.dense_cosines(r.query_vector(PARAPHRASE), pos)
    assert np.allclose(X[:, r.rerank_model.features.index("dense")], exact, atol=1e-4)
    assert all(h.fused is not None and 0.0 <= h.fused <= 1.0 for h in hits)


def _ranking(a, q, mode):
    r = a.state.retriever
    r.sentence_mode = mode
    try:
        return [(h.id, h.score) for h in a.search(q, k=4)]
    finally:
        r.sentence_mode = retrieval.SENTENCE_MODE


def test_gated_mode_keeps_the_default_order_for_a_question_whose_words_a_passage_holds(toy):  # noqa: F811
    r = toy.state.retriever
    model = r.rerank_model
    saved = model.gate_cov
    model.gate_cov = 0.5
    try:
        q = "図書館の開館時間は延長されますか"  # every word of it is in 第3章
        assert _ranking(toy, q, "gated") == _ranking(toy, q, "rerank")
        # the paraphrase shares no word with any passage (coverage 0 < gate): the model orders it
        assert _ranking(toy, PARAPHRASE, "gated") == _ranking(toy, PARAPHRASE, "fitted")
        model.gate_cov = 0.0  # nothing is weak enough: the default order everywhere
        assert _ranking(toy, PARAPHRASE, "gated") == _ranking(toy, PARAPHRASE, "rerank")
    finally:
        model.gate_cov = saved


def test_gate_and_adapter_flag_round_trip_and_a_bad_gate_is_a_clear_error(tmp_path):
    m = rerank.load()
    d = m.to_dict() | {"gate_cov": 0.25, "query_adapter": True}
    back = rerank.RerankModel.from_dict(d)
    assert back.gate_cov == 0.25 and back.query_adapter is True
    assert back.gated_out(np.array([[0.0] * len(rerank.FEATURES)])) is False
    row = np.zeros((1, len(rerank.FEATURES)))
    row[0, rerank.FEATURES.index("cov")] = 0.25
    assert back.gated_out(row) is True
    path = tmp_path / "rerank_model.json"
    path.write_text(json.dumps(d | {"gate_cov": "high"}), encoding="utf-8")
    with pytest.raises(rerank.RerankModelError) as e:
        rerank.load(path)
    assert rerank.REFIT_COMMAND in str(e.value)


def test_the_gate_separates_paraphrased_questions_by_word_coverage():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from fit_rerank_model import fit_gate

    cov = np.array([0.0, 0.1, 0.2, 0.5, 0.6, 0.9])
    para = np.array([True, True, True, False, False, False])
    g = fit_gate(cov, para)
    assert 0.2 < g < 0.5 and g == pytest.approx(0.35)


def _boosted(n_features: int = 3, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.RandomState(seed)
    X = rng.randn(2000, 2 * n_features)
    y = X[:, 0] * X[:, 1] + X[:, n_features] > 0.2  # an interaction a linear order cannot express
    return HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=8, random_state=0).fit(X, y)


def test_stored_trees_score_exactly_as_scikit_learn_without_it():
    m = _boosted()
    trees = rerank.Trees.from_dict(json.loads(json.dumps(rerank.Trees.from_sklearn(m).to_dict())), 6)
    X = np.random.RandomState(1).randn(300, 6)
    X[::7, 2] = np.nan  # a missing value follows the branch scikit-learn learnt for it
    assert np.allclose(trees.decision(X), m.decision_function(X), atol=1e-12)
    assert trees.decision(X[:0]).shape == (0,)


def test_a_boosted_model_orders_a_pool_by_its_trees_over_the_features_and_their_gaps_to_the_best():
    feats = ["bm25", "dense", "cov"]
    m = _boosted(len(feats))
    d = rerank.load().to_dict() | {"features": feats, "mean": [0.0] * 3, "scale": [1.0] * 3, "coef": [0.0] * 3,
                                   "trees": rerank.Trees.from_sklearn(m).to_dict()}
    model = rerank.RerankModel.from_dict(json.loads(json.dumps(d)))
    X = np.random.RandomState(2).randn(40, 3)
    assert np.allclose(model.scores(X), m.decision_function(np.hstack([X, X - X.max(0)])))
    assert rerank.RerankModel.from_dict(model.to_dict()).trees is not None


@pytest.mark.parametrize("breakage", ["child out of range", "feature out of range", "ragged", "loop", "nan value"])
def test_corrupt_trees_are_one_clear_error(tmp_path, breakage):
    feats = ["bm25", "dense", "cov"]
    trees = rerank.Trees.from_sklearn(_boosted(len(feats))).to_dict()
    t = trees["nodes"][0]
    inner = t["leaf"].index(False)
    if breakage == "child out of range":
        t["left"][inner] = len(t["leaf"]) + 5
    elif breakage == "feature out of range":
        t["feature"][inner] = 2 * len(feats)
    elif breakage == "ragged":
        t["value"] = t["value"][:-1]
    elif breakage == "loop":  # node 1's children are node 1 itself: in range, but a path would never end
        t["leaf"][1] = False
        t["left"][1] = t["right"][1] = 1
    else:
        t["value"][0] = float("nan")
    d = rerank.load().to_dict() | {"features": feats, "mean": [0.0] * 3, "scale": [1.0] * 3, "coef": [0.0] * 3, "trees": trees}
    path = tmp_path / "rerank_model.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(rerank.RerankModelError) as e:
        rerank.load(path)
    assert str(path) in str(e.value) and rerank.REFIT_COMMAND in str(e.value)


def test_a_crossed_model_weighs_the_products_of_the_standardized_features():
    d = rerank.load().to_dict() | {"features": ["bm25", "dense"], "mean": [0.0, 0.0], "scale": [1.0, 1.0], "crosses": True,
                                   "coef": [0.0, 0.0, 0.0, 1.0, 0.0]}  # bm25, dense, bm25², bm25·dense, dense²
    model = rerank.RerankModel.from_dict(d)
    X = np.array([[1.0, 1.0], [2.0, -1.0], [-3.0, -3.0]])
    assert model.scores(X).tolist() == [1.0, -2.0, 9.0]
    with pytest.raises(ValueError):
        rerank.RerankModel.from_dict(d | {"coef": [1.0, 2.0]})  # a crossed model needs a coefficient per product too


def _fit_script():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import fit_rerank_model

    return fit_rerank_model


def test_training_questions_are_fitted_where_they_cannot_leak_and_never_evaluated():
    F = _fit_script()
    items = [{"source": "tune", "question": f"質問{i}について教えて", "docs": ["a" if i % 2 else "b"]} for i in range(10)]
    items += [
        {"source": "train", "question": "まったく別の言い方の問い", "docs": ["a"]},  # shares q0's right passage
        {"source": "train", "question": "ほかの節についての問い", "docs": ["a"]},  # a passage no tune question needs
        {"source": "train", "question": "質問3について教えて！", "docs": ["b"]},  # nearly copies q3
    ]
    rel = [frozenset({i}) for i in range(10)] + [frozenset({0}), frozenset({99}), frozenset({98})]
    folds = F.fold_of(items)
    assert (folds[10:] == -1).all() and sorted(set(folds[:10])) == list(range(F.FOLDS))
    for k in range(F.FOLDS):
        rows = F.fit_rows(items, folds, k, rel, "passage")
        assert not rows[:10][folds[:10] == k].any(), "a held-out question is never fitted"
        assert rows[:10][folds[:10] != k].all()
        assert rows[10] == (folds[0] != k) and rows[11] and rows[12] == (folds[3] != k)
        assert F.fit_rows(items, folds, k, rel, "none")[10:].all()
    plan = F.plan_folds(items)
    assert sorted(set(plan[:10])) == [0, 1] and (plan[10:] == -1).all()
    rows = F.fit_rows(items, plan, plan[1], rel, "plan")  # plan "a" held out: no training question about "a"
    assert rows.tolist()[10:] == [False, False, True]


def test_the_training_size_curve_nests_its_shares():
    F = _fit_script()
    items = [{"source": "tune"}] * 3 + [{"source": "train"}] * 8
    quarter, half, full = (F.subset(items, f) for f in (0.25, 0.5, 1.0))
    assert quarter.sum() == 2 and half.sum() == 4 and full.sum() == 8 and not full[:3].any()
    assert (half[quarter]).all() and (full[half]).all()

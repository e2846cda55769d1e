"""The e5 query adapter (assistant/query_adapter.py): a linear map on the query vector of the sentence
signal. Identity changes nothing, a broken file is one clear error, and the fit is reproducible."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import query_adapter
from assistant.query_adapter import QueryAdapter, QueryAdapterError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from test_retrieval_sentences import PARAPHRASE, toy  # noqa: E402,F401  (the toy plan fixture)


def _write(d: Path, W, card) -> Path:
    np.save(d / query_adapter.WEIGHTS_FILE, W)
    (d / query_adapter.CARD_FILE).write_text(card if isinstance(card, str) else json.dumps(card), encoding="utf-8")
    return d


def test_apply_maps_and_renormalizes():
    W = np.diag([2.0, 1.0]).astype(np.float32)
    out = QueryAdapter(W, "m").apply(np.array([0.6, 0.8], np.float32))
    assert np.linalg.norm(out) == pytest.approx(1.0)
    assert out == pytest.approx(np.array([1.2, 0.8]) / np.hypot(1.2, 0.8))


def test_identity_adapter_leaves_search_unchanged(toy):  # noqa: F811
    r = toy.state.retriever
    questions = [PARAPHRASE, "図書館の開館時間は延長されますか", "公園の遊具"]
    before = [[(h.id, h.score) for h in toy.search(q, k=5)] for q in questions]
    dim = len(r.answer_query_vector(PARAPHRASE))
    r.query_adapter, r.use_query_adapter = QueryAdapter.identity(dim, r.answer_encoder.model_id), True
    try:
        after = [[(h.id, h.score) for h in toy.search(q, k=5)] for q in questions]
    finally:
        r.query_adapter, r.use_query_adapter = None, False
    # same passages in the same order; scores equal up to float32 rounding of the identity product
    assert [[i for i, _ in hits] for hits in after] == [[i for i, _ in hits] for hits in before]
    flat = lambda runs: [s for hits in runs for _, s in hits]  # noqa: E731
    assert flat(after) == pytest.approx(flat(before), abs=1e-5)


def test_a_non_identity_adapter_moves_the_sentence_scores_only(toy):  # noqa: F811
    r = toy.state.retriever
    plain = r.sentence_scores(PARAPHRASE, search=False)
    plain_search = r.sentence_scores(PARAPHRASE)
    q = r.answer_query_vector(PARAPHRASE).copy()
    dim = len(q)
    W = np.eye(dim, dtype=np.float32) + 0.5 * np.random.RandomState(0).randn(dim, dim).astype(np.float32) / np.sqrt(dim)
    r.query_adapter, r.use_query_adapter = QueryAdapter(W, r.answer_encoder.model_id), True
    try:
        assert not np.allclose(r.sentence_scores(PARAPHRASE, search=False), plain)
        assert np.array_equal(r.answer_query_vector(PARAPHRASE), q), "the answer model keeps the plain query vector"
        # fitted for the answer encoder, it does not touch the search sentence encoder's scores
        assert np.allclose(r.sentence_scores(PARAPHRASE), plain_search)
    finally:
        r.query_adapter, r.use_query_adapter = None, False


def test_an_adapter_of_another_encoder_is_not_applied(toy):  # noqa: F811
    r = toy.state.retriever
    plain = r.sentence_scores(PARAPHRASE)
    dim = len(r.answer_query_vector(PARAPHRASE))
    r.query_adapter, r.use_query_adapter = QueryAdapter(2 * np.eye(dim, dtype=np.float32)[::-1], "another-model"), True
    try:
        assert np.allclose(r.sentence_scores(PARAPHRASE), plain)
    finally:
        r.query_adapter, r.use_query_adapter = None, False


def test_missing_file_names_it_and_the_rebuild_command(tmp_path):
    with pytest.raises(QueryAdapterError) as e:
        query_adapter.load(tmp_path)
    assert query_adapter.WEIGHTS_FILE in str(e.value) and query_adapter.REBUILD_COMMAND in str(e.value)


@pytest.mark.parametrize("weights, card, names", [
    (b"not an npy file", {"encoder": "m"}, query_adapter.WEIGHTS_FILE),
    (np.ones((3, 4), np.float16), {"encoder": "m"}, query_adapter.WEIGHTS_FILE),
    (np.array([[np.nan]], np.float16), {"encoder": "m"}, query_adapter.WEIGHTS_FILE),
    (np.eye(3, dtype=np.float16), "{truncated", query_adapter.CARD_FILE),
    (np.eye(3, dtype=np.float16), {"no": "encoder"}, query_adapter.CARD_FILE),
])
def test_corrupt_files_are_one_clear_error(tmp_path, weights, card, names):
    if isinstance(weights, bytes):
        (tmp_path / query_adapter.WEIGHTS_FILE).write_bytes(weights)
        (tmp_path / query_adapter.CARD_FILE).write_text(json.dumps(card))
    else:
        _write(tmp_path, weights, card)
    with pytest.raises(QueryAdapterError) as e:
        query_adapter.load(tmp_path)
    assert names in str(e.value) and query_adapter.REBUILD_COMMAND in str(e.value)


def test_a_valid_file_round_trips(tmp_path):
    W = np.eye(4, dtype=np.float16)
    a = query_adapter.load(_write(tmp_path, W, {"encoder": "bundled:e5-small-ja", "seed": 0}))
    assert a.encoder == "bundled:e5-small-ja" and a.W.dtype == np.float32 and np.array_equal(a.W, np.eye(4))
    assert a.info == {"seed": 0}


def test_the_fit_is_deterministic_for_a_seed():
    from fit_query_adapter import fit

    rng = np.random.RandomState(1)
    Q = rng.randn(96, 16).astype(np.float32)
    P = (Q + 0.3 * rng.randn(96, 16)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    groups = np.arange(96)
    kw = dict(lam=0.01, epochs=3, scale=20.0, lr=1e-2, batch=32)
    W1 = fit(Q, P, groups, seed=0, **kw)
    W2 = fit(Q, P, groups, seed=0, **kw)
    W3 = fit(Q, P, groups, seed=1, **kw)
    assert np.array_equal(W1, W2)
    assert not np.array_equal(W1, W3)
    assert not np.allclose(W1, np.eye(16)), "the fit moves W away from the identity"


def test_the_fit_script_runs_in_a_fresh_interpreter():
    """The deterministic fit does not depend on state an earlier test left in torch."""
    code = ("import sys, numpy as np; sys.path.insert(0, 'scripts'); from fit_query_adapter import fit; "
            "r = np.random.RandomState(1); Q = r.randn(40, 8).astype('float32'); "
            "W = fit(Q, Q, np.arange(40), lam=0.01, epochs=2, scale=10.0, lr=1e-2, batch=20, seed=0); print(float(W.sum()))")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(outs) == 1

"""Search's sentence signal: the answer encoder's sentence vectors rerank the head of the BM25 +
dense fusion, so a paraphrased question (no word in common with its passage) still finds it."""

from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, retrieval

PLAN = """みどり市子育て支援計画

第1章 保育の充実

保育所の定員を拡充し、待機児童の解消を図ります。あわせて、一時預かり事業を実施する施設を増やします。

第2章 公園の整備

子どもが安心して遊べる場所として、身近な公園の遊具を更新します。公園の数を増やしてほしいという要望に応え、空き地の活用を検討します。

第3章 図書館

図書館の開館時間を延長し、子ども向けの読書スペースを増やします。

第4章 道路

通学路の歩道を広げ、子どもが安全に歩ける場所を増やします。
"""

# shares no content word with 第1章 (保育所・一時預かり), nor does any expansion: BM25 scores every passage 0
# (「小さい子」 would not do: the thesaurus expands it to 子ども, which 第2〜4章 use; nor 「働いている間」:
# the learned rules expand 働く to 図る, which 第1章 uses)
PARAPHRASE = "勤務中、幼い子を見てもらえるところはある？"


@pytest.fixture(scope="module", params=["local", "milvus"])
def toy(tmp_path_factory, request) -> Assistant:
    """The toy plan on each search backend (the milvus one: a milvus-lite file)."""
    root = tmp_path_factory.mktemp("sentence-signal")
    (root / "corpus").mkdir()
    (root / "corpus" / "plan.txt").write_text(PLAN, encoding="utf-8")
    if request.param == "milvus":
        from conftest import milvus_lite_or_skip

        milvus_lite_or_skip()
        return Assistant.load(root / "corpus", root / "index", backend=f"milvus:{root / 'toy.db'}")
    return Assistant.load(root / "corpus", root / "index", backend="local")


def _top(a: Assistant, q: str) -> str:
    return a.search(q, k=5)[0].text


def test_a_paraphrase_bm25_misses_is_found_through_its_sentence(toy):
    r = toy.state.retriever
    assert r.sentence_weight == retrieval.SENTENCE_WEIGHT > 0
    hits = toy.search(PARAPHRASE, k=5)
    assert all(h.bm25 == 0 for h in hits), "the question must share no search term with the plan"
    assert "保育所の定員" in hits[0].text
    # no sentence signal anywhere: neither the default rerank's weight nor the fitted pool order (whose
    # features are sentence cosines too, and which orders every question when the stored model has no gate)
    mode, r.sentence_mode, r.sentence_weight = r.sentence_mode, "rerank", 0.0
    try:
        assert "保育所の定員" not in _top(toy, PARAPHRASE), "without the sentence signal the paraphrase is missed"
    finally:
        r.sentence_mode, r.sentence_weight = mode, retrieval.SENTENCE_WEIGHT


def test_exact_wording_still_wins(toy):
    assert "図書館の開館時間" in _top(toy, "図書館の開館時間は延長されますか")
    assert "通学路の歩道" in _top(toy, "通学路の歩道を広げる計画はありますか")


@pytest.mark.parametrize("search", [True, False])
def test_per_passage_score_is_its_best_sentence(toy, search):
    r = toy.state.retriever
    _, sv = r.sentence_side(search)
    s = r.sentence_scores(PARAPHRASE, search=search)
    q = r.sentence_query_vector(PARAPHRASE, search=search)
    for i in range(len(r.index.chunks)):
        rows = sv.for_chunk(i)
        assert s[i] == pytest.approx(float((rows @ q).max()) if len(rows) else 0.0, abs=1e-5)


def test_search_compares_the_search_encoders_vectors_and_the_answer_side_keeps_the_answer_encoders(toy):
    r = toy.state.retriever
    enc, sv = r.sentence_side()
    assert enc is r.search_encoder and sv is r.index.search_sentence_vectors and sv.model_id == enc.model_id
    assert r.sentence_side(search=False) == (r.answer_encoder, r.index.sentence_vectors)
    assert np.array_equal(r.index.search_sentence_vectors.offsets, r.index.sentence_vectors.offsets)
    # an index without the search encoder's vectors (built before it, or with it switched off): the answer side
    kept, r.index.search_sentence_vectors = r.index.search_sentence_vectors, None
    try:
        assert r.sentence_side() == (r.answer_encoder, r.index.sentence_vectors)
    finally:
        r.index.search_sentence_vectors = kept


def test_without_sentence_vectors_search_is_the_two_way_fusion(toy):
    r = toy.state.retriever
    with_sv = [h.id for h in toy.search(PARAPHRASE, k=5)]
    sv, r.index.sentence_vectors = r.index.sentence_vectors, None
    ssv, r.index.search_sentence_vectors = r.index.search_sentence_vectors, None
    r.sentence_weight = 0.0
    try:
        plain = [h.id for h in toy.search(PARAPHRASE, k=5)]
        r.sentence_weight = retrieval.SENTENCE_WEIGHT
        assert r.sentence_scores(PARAPHRASE) is None
        assert [h.id for h in toy.search(PARAPHRASE, k=5)] == plain
    finally:
        r.index.sentence_vectors = sv
        r.index.search_sentence_vectors = ssv
        r.sentence_weight = retrieval.SENTENCE_WEIGHT
    assert with_sv != plain


def test_the_answer_side_orders_with_the_answer_encoder_and_no_fitted_pool(toy):
    r = toy.state.retriever
    assert r.two_sided
    calls = []
    inner = r._fitted_hits
    r._fitted_hits = lambda *a, **kw: calls.append(1) or inner(*a, **kw)
    try:
        answer_side = [h.id for h in r.search(PARAPHRASE, k=5, side="answer")]
        assert not calls  # the pool reranker is fitted on the search encoder's vectors: not used here
    finally:
        r._fitted_hits = inner
    # the same as a one-encoder retriever's default rerank over the answer encoder's sentence vectors
    kept, r.search_encoder, r.sentence_mode = r.search_encoder, None, "rerank"
    try:
        assert answer_side == [h.id for h in r.search(PARAPHRASE, k=5)]
    finally:
        r.search_encoder, r.sentence_mode = kept, retrieval.SENTENCE_MODE
    with pytest.raises(ValueError):
        r.search(PARAPHRASE, side="both")


def test_answerability_is_judged_on_the_answer_side_when_a_search_encoder_ordered_the_hits(toy):
    from assistant import answering

    r = toy.state.retriever
    hits = r.search(PARAPHRASE, k=5)
    judged = answering.judging_hits(r, hits, PARAPHRASE, k=5)
    assert judged is not hits
    assert [h.id for h in judged] == [h.id for h in r.search(PARAPHRASE, k=5, side="answer")]
    kept, r.search_encoder = r.search_encoder, None  # no search encoder: one side, the same hits
    try:
        assert not r.two_sided and answering.judging_hits(r, hits, PARAPHRASE, k=5) is hits
    finally:
        r.search_encoder = kept
    assert answering.judging_hits(r, [], PARAPHRASE, k=5) == []


def test_the_search_encoder_reads_the_question_with_its_strongest_plan_words(bundled_assistant):
    """「お金の援助」 is read with the plans' words for it (補助金 …), at most ``SEARCH_EXPANSIONS`` of them and
    never a year's other spelling; with ``search_expansions = 0`` the question alone."""
    from assistant import retrieval

    r = bundled_assistant.state.retriever
    text = r.analyze("お金の援助はある？").text
    read = r.search_query_text(text)
    assert read.startswith(text + "（") and read.endswith("）") and "補助金" in read
    assert len(read[len(text) + 1 : -1].split("、")) <= retrieval.SEARCH_EXPANSIONS
    year = r.analyze("平成29年度の目標は").text
    assert r.search_query_text(year) == year  # 2017年度 is a year's spelling, not a plan word
    saved = r.search_expansions
    try:
        r.search_expansions = 0
        assert r.search_query_text(text) == text
    finally:
        r.search_expansions = saved

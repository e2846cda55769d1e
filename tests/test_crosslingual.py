"""English questions: the multilingual answer encoder finds the Japanese passage, and the reply points
to it under an English lead without claiming that the plans answer the question."""

import pytest

from assistant import crosslingual
from assistant.query import _mentions, is_latin_question

from test_retrieval_sentences import toy  # noqa: F401  (module fixture: a four-chapter plan)


@pytest.mark.parametrize("text, latin", [
    ("Where can my child be looked after while I work?", True),
    ("Will the library open longer hours?", True),
    ("NPOとは？", False),
    ("DV相談の窓口はどこですか", False),
    ("hello", False),
])
def test_english_is_told_apart_from_japanese_with_latin_words(text, latin):
    assert is_latin_question(text) is latin


@pytest.mark.parametrize("text, city, named", [
    ("Where can I get a passport if I live in Sanyo-Onoda?", "山陽小野田市", True),
    ("Does Sanyo Onoda City help with tents?", "山陽小野田市", True),
    ("Who runs Nagato city hall?", "長門市", True),
    ("Are there volunteer groups in Onoda?", "山陽小野田市", True),  # a merged town's name (data/municipality_aliases.txt)
    ("Tell me about Yamagata plans", "山口市", False),
    ("Is there a YouTube channel for my town?", "宇部市", False),
])
def test_an_english_question_names_a_city_in_romaji(text, city, named):
    assert _mentions(text, city) is named


def test_an_english_question_gets_the_japanese_passage_under_an_english_lead(toy):  # noqa: F811
    ans = toy.ask("Will the library stay open longer?")
    assert not ans.refused
    assert ans.text.startswith(crosslingual.LEAD)
    assert "図書館の開館時間" in ans.citations[0].quote[0]
    assert "[1]" in ans.text


def test_without_the_multilingual_sentence_vectors_english_takes_the_usual_path(toy):  # noqa: F811
    r = toy.state.retriever
    sv, r.index.sentence_vectors = r.index.sentence_vectors, None
    try:
        assert not crosslingual.applies(r, "Will the library stay open longer?")
        assert not toy.ask("Will the library stay open longer?").text.startswith(crosslingual.LEAD)
    finally:
        r.index.sentence_vectors = sv


def test_japanese_questions_are_unchanged(toy):  # noqa: F811
    assert not crosslingual.applies(toy.state.retriever, "図書館の開館時間は延長されますか")
    assert not toy.ask("図書館の開館時間は延長されますか").text.startswith(crosslingual.LEAD)


def test_the_english_question_set_is_well_formed_and_its_evidence_is_in_its_documents():
    import json
    from pathlib import Path

    from assistant import chunking, corpus
    from assistant.japanese import compact

    root = Path(__file__).resolve().parent.parent
    items = [json.loads(x) for x in (root / "eval" / "english_qa.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    assert len({it["id"] for it in items}) == len(items) >= 20
    chunks: dict[str, list[str]] = {}
    for c in chunking.chunk_corpus(corpus.load_corpus(root / "corpus")):
        chunks.setdefault(c.doc_id, []).append(compact(c.text))
    for it in items:
        assert is_latin_question(it["question"]), it["id"]
        assert it["split"] in ("tune", "test"), it["id"]
        if it["type"] == "out_of_scope":
            assert it["docs"] == [] and it["evidence"] == [] and it["answer_keywords"] == [], it["id"]
            continue
        for e in it["evidence"]:
            assert any(compact(e) in t for d in it["docs"] for t in chunks[d]), (it["id"], e)

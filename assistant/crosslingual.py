"""Questions in English: point to the closest passages of the Japanese plans, never claim an answer.

Keyword search and the bag-of-words model share no word with an English question, so the usual path
refused 12 of 13 answerable English tune questions (docs/BENCHMARKS.md §9.2). The answer encoder
(multilingual-e5-small) compares meaning across languages: ``retrieval`` ranks passages for a Latin-script
question by their best e5 sentence cosine, and this module quotes, from each of the best few passages,
the sentence nearest to the question, under a short English lead.

It never says the plans answer the question: the answerability model was fitted on Japanese questions
only and no English one is fitted, so every English reply is a pointer ("the closest passages are …"),
for answerable and out-of-scope questions alike. Follow-up rewriting is Japanese-only, so the chat
history is not used here.
"""

from __future__ import annotations

import numpy as np

from . import japanese
from .conversation import BULLET_RE, clean_question
from .query import is_latin_question
from .types import Answer, Citation, Hit

LEAD = (
    "The plans are written in Japanese and an answer to an English question cannot be confirmed. "
    "These passages of the plans (in Japanese) are the closest to your question:"
)
NO_MATCH = "The plans are written in Japanese, and no passage close to your question was found. Please try asking in Japanese."
QUOTED_PASSAGES = 3


def applies(retriever, question: object) -> bool:
    """An English (Latin-script) question, and an index with the answer encoder's sentence vectors."""
    if not isinstance(question, str):
        return False
    q, _ = clean_question(question)
    return bool(q) and is_latin_question(q) and retriever.sentence_scores(q, search=False) is not None


def answer(retriever, question: str, *, municipality: str | None = None, doc_id: str | None = None, k: int = 10) -> Answer:
    q, notes = clean_question(question)
    hits = retriever.search(q, k=max(k, QUOTED_PASSAGES), municipality=municipality, doc_id=doc_id)
    if not hits:
        return Answer(text=NO_MATCH, refused=True, query_used=q, notes=notes)
    qvec = np.asarray(retriever.answer_query_vector(retriever.analyze(q).text), dtype=np.float32)
    citations: list[Citation] = []
    lines: list[str] = []
    for hit in hits[:QUOTED_PASSAGES]:
        sentence = _nearest_sentence(retriever, hit, qvec)
        if not sentence:
            continue
        n = len(citations) + 1
        citations.append(Citation(number=n, hit=hit, quote=[sentence]))
        lines.append(f"・{_label(hit)}: {sentence} [{n}]")
    if not citations:
        return Answer(text=NO_MATCH, refused=True, query_used=q, related=hits[:QUOTED_PASSAGES], notes=notes)
    text = LEAD + "\n" + "\n".join(lines)
    return Answer(text=text, citations=citations, refused=False, query_used=q, confidence=float(hits[0].score),
                  related=[], notes=notes)


def _nearest_sentence(retriever, hit: Hit, qvec: np.ndarray) -> str:
    """The passage's sentence with the highest e5 cosine (its vector was embedded in context at build time)."""
    sents = japanese.split_sentences(hit.text)
    sv = retriever.index.sentence_vectors
    i = retriever._position.get(hit.id)
    if i is None or sv is None or not sents:
        return ""
    vecs = sv.for_chunk(i)
    if len(vecs) != len(sents):
        return BULLET_RE.sub("", sents[0].strip())
    return BULLET_RE.sub("", sents[int(np.argmax(vecs @ qvec))].strip())


def _label(hit: Hit) -> str:
    if hit.municipality and hit.municipality != "不明" and hit.municipality not in hit.title:
        return f"{hit.title}（{hit.municipality}）"
    return hit.title

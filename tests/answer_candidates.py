"""Answer candidates for tests of what reorders them (named_rows, definitions): one passage's lines,
each a candidate with the given score, as ``answering`` builds them."""

from assistant import answering
from assistant.types import Chunk, Hit


def candidates(text: str, scores: list[float], section: list[str] | None = None) -> list:
    chunk = Chunk(id="c1", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=section or ["協議会"],
                  text=text, search_text=text, lines=(1, 1))
    hit = Hit(chunk=chunk, score=1.0, rank=1)
    return [answering._Candidate(hit, i, s, sc, 1.0) for i, (s, sc) in enumerate(zip(text.splitlines(), scores))]

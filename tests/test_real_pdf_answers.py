"""End to end on the real PDFs (../shared/data/real-pdfs, CC BY 4.0): added as a city's staff would,
asked questions whose answers are printed in them — the answer quotes the fact in a sentence cited
on the page that prints it (issue 11; scripts/eval_real_pdfs.py asks all of eval/real_pdfs_qa.jsonl).

Builds an index of both PDFs once for the module (a few minutes on a shared CPU): slow."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pdfplumber")

from assistant.core import Assistant  # noqa: E402
from assistant.ingest import add_documents  # noqa: E402
from assistant.japanese import compact  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-pdfs"
PDFS = [REAL / "takamatsu-r4-citizen-satisfaction.pdf", REAL / "takamatsu-school-districts-by-school.pdf"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not all(p.exists() for p in PDFS), reason="real PDFs not present")]


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    results = add_documents(PDFS, root / "corpus", municipality="高松市")
    assert all(r.ok for r in results), results
    return Assistant.load(root / "corpus", root / "index")


def _quoting(ans, fact: str) -> list[int]:
    """Pages of the citations whose quoted sentences hold ``fact``."""
    return [c.hit.chunk.page for c in ans.citations if compact(fact) in compact(" ".join(c.quote))]


@pytest.mark.parametrize("question, fact, page", [
    ("満足度が最も高かった施策は何ですか？", "消防・救急の充実強化", 18),
    ("不満度が最も高かった施策は何ですか？", "公共交通の利便性の向上", 19),
    ("重要度が最も高い施策は何ですか？", "医療体制の充実", 20),
])
def test_the_policy_with_the_extreme_value_is_quoted_not_the_attribute_sentences(assistant, question, fact, page):
    ans = assistant.ask(question)
    assert not ans.refused
    assert page in _quoting(ans, fact), ans.text
    assert "70歳代" not in ans.text and "30歳代" not in ans.text, "p.16's extremes are about age groups, not 施策"


def test_as_of_when_is_answered_by_quoting_the_validity_note_on_its_page(assistant):
    ans = assistant.ask("高松市の小・中学校区一覧表はいつ現在の情報ですか？")
    assert not ans.refused
    assert _quoting(ans, "平成３０年６月２８日現在") == [1], ans.text


def test_a_question_that_is_neither_is_answered_as_before(assistant):
    ans = assistant.ask("栗林小学校の校区の中学校はどこですか？")
    assert "桜町" in " ".join(q for c in ans.citations for q in c.quote)

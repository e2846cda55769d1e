"""The QA harness computes its metrics right (on a hand-made set with a fake assistant)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from assistant import answering
from assistant.evaluation import (
    assign_splits, eval_qa, format_report, is_hedged, load_qa, parse_batches, report_for_batches,
)
from assistant.types import Answer, Chunk, Citation, Hit


def _hit(doc: str, text: str, rank: int) -> Hit:
    c = Chunk(id=f"{doc}-{rank}", doc_id=doc, title="t", municipality="m", section=[], text=text, search_text=text, lines=(1, 1))
    return Hit(chunk=c, score=1.0 / rank, rank=rank)


@dataclass
class FakeAssistant:
    """Canned answers and hit lists per question."""

    answers: dict[str, Answer]
    hits: dict[str, list[Hit]] = field(default_factory=dict)

    def ask(self, q: str) -> Answer:
        return self.answers[q]

    def search(self, q: str, k: int = 10) -> list[Hit]:
        return self.hits.get(q, [])[:k]


ITEMS = [
    # q1: evidence at rank 1, right answer
    {"id": "a1", "question": "Q1", "docs": ["A"], "evidence": ["目標は 50%"], "answer_keywords": ["50%"], "type": "number", "paraphrase": False, "split": "tune"},
    # q2: evidence at rank 3 (a wrong-doc hit with the same text at rank 2 does not count); answer lacks a keyword
    {"id": "a2", "question": "Q2", "docs": ["A"], "evidence": ["窓口"], "answer_keywords": ["窓口", "延長"], "type": "resident", "paraphrase": True, "split": "tune"},
    # q3: not retrieved, refused
    {"id": "a3", "question": "Q3", "docs": ["B"], "evidence": ["なし"], "answer_keywords": ["x"], "type": "resident", "paraphrase": True, "split": "test"},
    # q4, q5: out of scope; q4 refused, q5 answered with a hedge
    {"id": "o1", "question": "Q4", "docs": [], "evidence": [], "answer_keywords": [], "type": "out_of_scope", "paraphrase": False, "split": "tune"},
    {"id": "o2", "question": "Q5", "docs": [], "evidence": [], "answer_keywords": [], "type": "out_of_scope", "paraphrase": False, "split": "test"},
]


@pytest.fixture()
def qa_file(tmp_path):
    p = tmp_path / "qa.jsonl"
    p.write_text("\n".join(json.dumps(it, ensure_ascii=False) for it in ITEMS) + "\n", encoding="utf-8")
    return p


@pytest.fixture()
def fake():
    h1 = _hit("A", "目標は５０％です", 1)  # NFKC: ５０％ == 50%
    a2 = [_hit("X", "窓口", 1), _hit("B", "窓口", 2), _hit("A", "窓 口の受付", 3)]  # whitespace removed before matching
    hedge = answering.HEDGE_TEXT + "\n\n関連する記述"
    return FakeAssistant(
        answers={
            "Q1": Answer(text="目標は 50% です [1]", citations=[Citation(1, h1)], confidence=0.9),
            "Q2": Answer(text="窓口で受け付けます", citations=[Citation(1, a2[0])], confidence=0.5),
            "Q3": Answer(text="わかりません", refused=True, confidence=0.1),
            "Q4": Answer(text="わかりません", refused=True, confidence=0.1),
            "Q5": Answer(text=hedge, confidence=0.25),
        },
        hits={"Q1": [h1], "Q2": a2, "Q3": [_hit("A", "なし", 1)]},
    )


def test_metrics_on_all_items(qa_file, fake):
    rep = eval_qa(fake, qa_file)
    r = rep["retrieval"]
    assert r["n"] == 3
    assert r["R@1"] == pytest.approx(1 / 3)
    assert r["R@5"] == pytest.approx(2 / 3)
    assert r["MRR@10"] == pytest.approx((1 + 1 / 3) / 3)
    p = rep["retrieval_paraphrase"]
    assert p["n"] == 2 and p["R@5"] == pytest.approx(0.5)
    a = rep["answers"]
    assert a["keyword_hit"] == pytest.approx(1 / 3)
    assert a["answerable_refused"] == pytest.approx(1 / 3)
    assert a["cites_evidence"] == pytest.approx(1 / 3)  # Q2 cites the wrong-document passage
    assert a["unanswerable"] == 2
    assert a["oos_refused"] == pytest.approx(0.5)
    assert a["oos_hedged"] == pytest.approx(0.5)
    assert a["answerable_hedged"] == 0.0
    t = rep["by_type"]
    assert t["resident"]["n"] == 2 and t["resident"]["R@5"] == pytest.approx(0.5)
    assert t["out_of_scope"]["oos_refused"] == pytest.approx(0.5)
    rows = {d["id"]: d for d in rep["items"]}
    assert rows["a2"]["rank"] == 3 and rows["a2"]["keywords_missing"] == ["延長"]
    assert rows["a3"]["rank"] is None and rows["a3"]["refused"]
    assert rows["o2"]["hedged"] and not rows["o2"]["refused"]
    assert rep["ask_latency_ms"]["p95"] >= rep["ask_latency_ms"]["p50"] >= 0
    text = format_report(rep)
    assert "R@5 0.667" in text and "out of scope: refused 0.500" in text


def test_split_filter(qa_file, fake):
    tune = eval_qa(fake, qa_file, split="tune")
    test = eval_qa(fake, qa_file, split="test")
    assert {d["id"] for d in tune["items"]} == {"a1", "a2", "o1"}
    assert {d["id"] for d in test["items"]} == {"a3", "o2"}
    assert test["retrieval"]["R@5"] == 0.0 and test["answers"]["oos_refused"] == 0.0
    assert tune["split"] == "tune" and test["split"] == "test"


def test_split_requires_split_field(tmp_path):
    p = tmp_path / "dev.jsonl"
    p.write_text(json.dumps({"id": "d1", "question": "q", "docs": []}) + "\n", encoding="utf-8")
    assert len(load_qa(p)) == 1
    with pytest.raises(ValueError):
        load_qa(p, "test")


def test_hedged_and_refused_are_distinct():
    assert is_hedged(Answer(text=answering.HEDGE_TEXT + "\n\nx"))
    assert not is_hedged(Answer(text="普通の答え"))
    assert not is_hedged(Answer(text=answering.HEDGE_TEXT, refused=True))


def test_assign_splits_is_stratified_and_order_free():
    items = [{"id": f"x{i:03d}", "type": t, "batch": 1} for i, t in enumerate(["a"] * 10 + ["b"] * 5)]
    s1 = assign_splits(items)
    s2 = assign_splits(list(reversed(items)))
    assert s1 == s2
    assert sum(1 for it in items if it["type"] == "a" and s1[it["id"]] == "test") == 4
    assert sum(1 for it in items if it["type"] == "b" and s1[it["id"]] == "test") == 2
    # a later batch does not move earlier items
    more = items + [{"id": f"y{i}", "type": "a", "batch": 2} for i in range(3)]
    s3 = assign_splits(more)
    assert all(s3[i] == s1[i] for i in s1)


def test_batch_filter_and_per_batch_reports(tmp_path, fake):
    """--batch asks only a batch's questions; report_for_batches splits one run's rows by batch without
    asking again, and gives the same figures as a filtered run."""
    p = tmp_path / "qa.jsonl"
    batch_of = {"a1": 1, "a2": 2, "a3": 2, "o1": 1, "o2": 2}
    p.write_text("".join(json.dumps({**it, "batch": batch_of[it["id"]]}) + "\n" for it in ITEMS), encoding="utf-8")
    only2 = eval_qa(fake, p, batches=[2])
    assert {d["id"] for d in only2["items"]} == {"a2", "a3", "o2"}
    assert only2["batch"] == "2" and "batch: 2" in format_report(only2)
    full = eval_qa(fake, p)
    assert {d["id"]: d["batch"] for d in full["items"]} == batch_of
    sub = report_for_batches(full, [2])
    assert sub["retrieval"] == only2["retrieval"] and sub["answers"] == only2["answers"]
    assert {d["id"] for d in report_for_batches(full, [1])["items"]} == {"a1", "o1"}
    assert {d["id"] for d in eval_qa(fake, p, split="tune", batches=[1, 2])["items"]} == {"a1", "a2", "o1"}


def test_batch_filter_needs_a_batch_field_and_a_readable_value(qa_file):
    with pytest.raises(ValueError):
        load_qa(qa_file, batches=[1])
    assert parse_batches("3") == [3] and parse_batches("1,2") == [1, 2] and parse_batches("1-3") == [1, 2, 3]
    for bad in ("", "x", "1,,2", "2-a"):
        with pytest.raises(ValueError):
            parse_batches(bad)


def test_a_report_names_the_machine_it_was_measured_on(qa_file, fake, monkeypatch):
    """The default int8 arithmetic differs by CPU (BENCHMARKS §9.26): a figure carries its machine."""
    monkeypatch.setenv("ASSISTANT_E5_PRECISION", "bf16")
    rep = eval_qa(fake, qa_file)
    m = rep["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["e5_precision"] == "bf16"
    assert f"machine: {m['cpu']}, {m['cores']} cores, e5 arithmetic bf16" in format_report(rep)

"""eval/plan_qa.jsonl cannot rot silently: every evidence string is in a chunk of its document,
every item is well formed, and the frozen test split is exactly what the hash rule gives."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from assistant import chunking, corpus
from assistant.evaluation import assign_splits
from assistant.japanese import compact

ROOT = Path(__file__).resolve().parent.parent
QA = ROOT / "eval" / "plan_qa.jsonl"
TYPES = {"resident", "staff", "number", "date", "paraphrase", "multi_doc", "out_of_scope"}

# sha256 over the sorted ids of the frozen test split (recorded when the batches were committed).
# If this changes, an item moved between tune and test — that must not happen.
TEST_IDS_SHA256 = "e32905d6a59300e9057c287468f60b3d00ece96bdc07c1d062fdaf31ebebc3b1"


def _items():
    return [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def chunks_by_doc():
    docs = corpus.load_corpus(ROOT / "corpus")
    out: dict[str, list[str]] = {}
    for c in chunking.chunk_corpus(docs):
        out.setdefault(c.doc_id, []).append(compact(c.text))
    return out


def test_items_well_formed():
    items = _items()
    assert len(items) >= 150
    ids = [it["id"] for it in items]
    assert len(set(ids)) == len(ids)
    for it in items:
        assert it["type"] in TYPES, it["id"]
        assert it["split"] in ("tune", "test"), it["id"]
        assert isinstance(it["paraphrase"], bool), it["id"]
        if it["type"] == "out_of_scope":
            assert it["docs"] == [] and it["evidence"] == [] and it["answer_keywords"] == [], it["id"]
        else:
            assert it["docs"] and it["evidence"] and it["answer_keywords"], it["id"]
    counts = Counter(it["type"] for it in items)
    assert counts["out_of_scope"] >= 25


def test_not_copied_from_devset():
    dev = ROOT.parent / "shared" / "devset" / "qa.jsonl"
    if not dev.exists():
        pytest.skip("no dev set next to this checkout")
    devq = {compact(json.loads(line)["question"]) for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not [it["id"] for it in _items() if compact(it["question"]) in devq]


def test_every_evidence_string_is_in_a_chunk_of_its_document(chunks_by_doc):
    missing = []
    for it in _items():
        for ev in it["evidence"]:
            e = compact(ev)
            if not any(e in text for d in it["docs"] for text in chunks_by_doc.get(d, [])):
                missing.append((it["id"], ev))
    assert not missing


def test_keywords_are_in_the_evidence_passages(chunks_by_doc):
    """A correct extractive answer can contain every keyword: each one is in a passage holding the evidence."""
    bad = []
    for it in _items():
        evs = [compact(e) for e in it["evidence"]]
        passages = "".join(t for d in it["docs"] for t in chunks_by_doc.get(d, []) if any(e in t for e in evs))
        bad += [(it["id"], kw) for kw in it["answer_keywords"] if compact(kw) not in passages]
    assert not bad


def test_split_follows_the_hash_rule_and_is_pinned():
    items = _items()
    rule = assign_splits(items)
    assert {it["id"]: it["split"] for it in items} == rule
    test_ids = sorted(it["id"] for it in items if it["split"] == "test")
    assert hashlib.sha256(",".join(test_ids).encode()).hexdigest() == TEST_IDS_SHA256

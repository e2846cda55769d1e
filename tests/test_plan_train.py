"""The plan training questions (scripts/data/plan_train/*.jsonl) stay usable and honest: every item
passes scripts/check_plan_train.py (evidence in a chunk of its document, keywords in the evidence
passage, the paraphrase flag as the eval README computes it, no near copy of a frozen or blind eval
question), and they are what they were written to be — mostly paraphrased, spread over all five plans."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRAIN = sorted((ROOT / "scripts" / "data" / "plan_train").glob("*.jsonl"))


def _checker():
    spec = importlib.util.spec_from_file_location("check_plan_train", ROOT / "scripts" / "check_plan_train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _items():
    return [json.loads(x) for p in TRAIN for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_every_training_file_passes_the_checker():
    assert TRAIN, "no plan training files"
    assert _checker().check(TRAIN, fix=False, max_jaccard=0.6) == []


def test_training_ids_are_unique_and_distinct_from_eval_ids():
    ids = [it["id"] for it in _items()]
    assert len(ids) == len(set(ids))
    eval_ids = {json.loads(x)["id"] for x in (ROOT / "eval" / "plan_qa.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()}
    assert not set(ids) & eval_ids


def test_the_set_is_large_mostly_paraphrased_and_covers_every_plan():
    items = _items()
    answerable = [it for it in items if it["docs"]]
    assert len(answerable) >= 300
    assert sum(it["paraphrase"] for it in answerable) >= 0.4 * len(answerable)
    docs = Counter(d for it in answerable for d in it["docs"])
    assert set(docs) == {p.name for p in (ROOT / "corpus").glob("*.txt")}
    kinds = Counter(it["type"] for it in items if not it["docs"])
    assert kinds["near_miss"] >= 40 and kinds["out_of_scope"] >= 20


@pytest.mark.parametrize("path", TRAIN, ids=[p.name for p in TRAIN])
def test_a_training_file_evaluates_like_a_qa_set(path):
    """`python -m assistant eval <file>` reads it: the same loader, no split field needed."""
    from assistant.evaluation import load_qa

    assert load_qa(path)

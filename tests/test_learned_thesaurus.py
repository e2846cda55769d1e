"""The learned thesaurus (assistant/data/thesaurus_learned.txt, made by scripts/learn_thesaurus.py): what the
learner keeps and drops, that the shipped file is the one today's training files give, and that its rules
reach search."""

import gzip
import hashlib
import importlib.util
from importlib import resources
from pathlib import Path

import pytest

from assistant import japanese
from assistant.query import W_LEARNED, Thesaurus, analyze_query, load_thesaurus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def learner():
    spec = importlib.util.spec_from_file_location("learn_thesaurus", ROOT / "scripts" / "learn_thesaurus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _shipped_lines() -> list[str]:
    return (resources.files("assistant") / "data" / "thesaurus_learned.txt").read_text(encoding="utf-8").splitlines()


def _pairs(*rows):
    return [(set(q.split()), set(s.split())) for q, s in rows]


FILLER = [("天気 晴れ", f"計画 推進 項目{i}") for i in range(40)]


def test_a_word_pair_seen_in_two_questions_becomes_a_rule(learner):
    rules = learner.learn(_pairs(("スタッフ 人数", "職員 配置"), ("スタッフ 研修", "職員 研修会"), *FILLER))
    assert "職員" in rules["スタッフ"]


def test_a_pair_seen_once_is_not_learnt(learner):
    rules = learner.learn(_pairs(("スタッフ 人数", "職員 配置"), *FILLER))
    assert "スタッフ" not in rules


def test_a_word_every_answer_sentence_has_is_not_a_translation(learner):
    """「計画」 is in every answer sentence here: its lift is 1, however often it meets 「スタッフ」."""
    rules = learner.learn(_pairs(("スタッフ 人数", "職員 計画"), ("スタッフ 研修", "職員 計画"), *FILLER))
    assert rules.get("スタッフ") == ["職員"]


def test_a_word_the_answer_already_has_teaches_nothing(learner):
    """Only the vocabulary gap counts: a question word present in its answer sentence is no paraphrase."""
    rules = learner.learn(_pairs(("職員 人数", "職員 配置"), ("職員 研修", "職員 配置"), *FILLER))
    assert "職員" not in rules


def test_numbers_are_never_targets(learner):
    rules = learner.learn(_pairs(("スタッフ 人数", "職員 25"), ("スタッフ 研修", "職員 25"), *FILLER))
    assert rules["スタッフ"] == ["職員"]


def test_noun_targets_leave_out_verbs_a_question_word_meets(learner):
    """``--noun-targets`` (measured, not the default: BENCHMARKS §9.22): 「働く => 図る」-like rules go."""
    pairs = _pairs(("スタッフ 人数", "職員 図る"), ("スタッフ 研修", "職員 図る"), *FILLER)
    assert sorted(learner.learn(pairs)["スタッフ"]) == ["図る", "職員"]
    assert learner.learn(pairs, noun_targets=True)["スタッフ"] == ["職員"]


def test_the_shipped_file_was_learnt_from_todays_training_files(learner):
    """Its header records each training file's sha256 and the bounds: a training file added or edited
    since means the rules are stale (rerun ``python scripts/learn_thesaurus.py``)."""
    lines = _shipped_lines()
    recorded = {ln.split()[2]: ln.split()[3] for ln in lines if ln.startswith("# sha256 ")}
    current = {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted((ROOT / "scripts" / "data" / "plan_train").glob("*.jsonl"))}
    assert recorded == current
    bounds = next(ln for ln in lines if ln.startswith("# bounds: "))
    assert bounds == (f"# bounds: min_pair={learner.MIN_PAIR}, min_share={learner.MIN_SHARE}, "
                      f"min_lift={learner.MIN_LIFT}, top={learner.TOP}")


def test_every_learned_rule_reaches_the_query_expansions():
    """Each rule alone: its word, asked about, adds one of its plan words (at the learned weight, below
    the asked words' own)."""
    dead = []
    rules = [ln for ln in _shipped_lines() if ln and not ln.startswith("#")]
    assert len(rules) > 100
    for line in rules:
        source, targets = (x.strip() for x in line.split("=>"))
        alone = Thesaurus([], [], [line])
        question = source + "について"
        new = [t.strip() for t in targets.split(",") if japanese.normalize(t.strip()) not in japanese.normalize(question)]
        got = analyze_query(question, alone).expansions
        if new and not set(new) & set(got):
            dead.append(line)
        assert all(w <= W_LEARNED for w in got.values())
    assert not dead, dead


def test_the_default_thesaurus_carries_the_learned_rules():
    line = next(ln for ln in _shipped_lines() if ln and not ln.startswith("#"))
    source, targets = (x.strip() for x in line.split("=>"))
    assert set(load_thesaurus().lookup(source)) >= {japanese.normalize(t.strip()) for t in targets.split(",")} - {japanese.normalize(source)}


def test_the_curated_view_keeps_the_synonyms_and_leaves_out_the_learned_rules():
    full = Thesaurus(["旅券, パスポート"], [], ["写し => 効率, サービス"])
    curated = full.curated()
    assert set(full.lookup("写し")) == {"効率", "サービス"} and curated.lookup("写し") == {}
    assert "パスポート" in curated.lookup("旅券") and curated.curated() is curated
    assert Thesaurus(["旅券, パスポート"], []).curated().lookup("旅券") == full.lookup("旅券")


def test_the_curated_view_is_the_thesaurus_built_without_the_learned_rules():
    """Taking the learnt rules back out gives what the domain file and Sudachi alone give, word for word,
    weights included (a learnt rule that raised a Sudachi near-synonym's weight is lowered again)."""
    base = resources.files("assistant") / "data"
    domain = (base / "thesaurus.txt").read_text(encoding="utf-8").splitlines()
    with gzip.open(str(base / "sudachi_synonyms.tsv.gz"), "rt", encoding="utf-8") as f:
        sudachi = f.read().splitlines()
    curated = Thesaurus(domain, sudachi, _shipped_lines()).curated()
    plain = Thesaurus(domain, sudachi)
    assert {k: v for k, v in curated.map.items() if v} == {k: v for k, v in plain.map.items() if v}

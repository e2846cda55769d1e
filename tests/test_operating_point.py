"""The refusal operating point (scripts/operating_point.py, docs/BENCHMARKS.md §9.9): refuse as much as the
false-refusal budget allows, estimated so that one answerable question near the budget's edge does not
move it."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import operating_point as op  # noqa: E402


def test_the_threshold_refuses_exactly_the_budget_of_answerable_questions():
    p = np.arange(1, 101) / 100.0  # 100 answerable questions, 0.01 … 1.00
    th = op.fr_threshold(p, np.ones(100, dtype=bool), max_fr=0.05)
    assert int((p < th).sum()) == 5  # the five weakest are refused, the sixth is not
    assert th == pytest.approx(0.06)


def test_out_of_scope_questions_do_not_move_the_threshold():
    pos = np.linspace(0.3, 1.0, 40)
    neg = np.linspace(0.0, 0.9, 60)
    p = np.concatenate([pos, neg])
    answerable = np.r_[np.ones(40, dtype=bool), np.zeros(60, dtype=bool)]
    assert op.fr_threshold(p, answerable, 0.05) == op.fr_threshold(pos, np.ones(40, dtype=bool), 0.05)


def test_no_budget_refuses_no_answerable_question_and_no_answerable_question_refuses_nothing():
    p = np.array([0.2, 0.5, 0.9])
    assert (p < op.fr_threshold(p, np.ones(3, dtype=bool), 0.0)).sum() == 0
    assert op.fr_threshold(p, np.zeros(3, dtype=bool), 0.05) == 0.0


def test_the_bagged_threshold_moves_less_than_one_split_when_the_question_at_the_edge_moves():
    # 40 answerable questions: with a 5 % budget the one-split threshold *is* the 3rd weakest question
    base = np.linspace(0.2, 1.0, 40)
    moved = base.copy()
    moved[2] = base[3] - 1e-3  # the edge question scores higher on another refit; the order is unchanged
    yes = np.ones(40, dtype=bool)
    one_split = abs(op.fr_threshold(moved, yes, 0.05) - op.fr_threshold(base, yes, 0.05))
    bagged = abs(op.bagged_fr_threshold(moved, yes, 0.05, seed=1) - op.bagged_fr_threshold(base, yes, 0.05, seed=1))
    assert one_split > 0.015
    assert bagged < 0.5 * one_split
    # the median of the bootstrap thresholds is no smoother: it sits on the same order statistic
    median = abs(op.bagged_fr_threshold(moved, yes, 0.05, seed=1, median=True) - op.bagged_fr_threshold(base, yes, 0.05, seed=1, median=True))
    assert median > 0.5 * one_split


def test_a_pooled_fold_seed_that_agrees_changes_nothing():
    # the same question's entries are drawn together: a second seed giving the same probabilities is not
    # new evidence
    rng = np.random.default_rng(0)
    p = rng.random(50)
    answerable = rng.random(50) < 0.6
    one = op.bagged_fr_threshold(p, answerable, 0.05, seed=3)
    two = op.bagged_fr_threshold(np.r_[p, p], np.r_[answerable, answerable], 0.05, seed=3, groups=np.r_[np.arange(50), np.arange(50)])
    assert two == one


def test_spread_reports_mean_sd_min_max():
    assert op.spread([0.4, 0.5, 0.6]) == {"mean": 0.5, "sd": 0.1, "min": 0.4, "max": 0.6}

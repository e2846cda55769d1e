"""The refusal operating point, chosen so that it survives a refit (issue 10, docs/BENCHMARKS.md §9.9).

Why this module exists: the answerability model is fitted on a few hundred questions of one corpus,
and each refit moved its threshold (0.54 in one branch, 0.44 on merged main) and individual frozen-test
questions across it, while the out-of-fold figures looked fine. The threshold was one order statistic
of one cross-validation split: the answerable question at the 5 % point of one set of out-of-fold
probabilities (≈ the 10th weakest of ≈ 200), or, where the out-of-scope target could not also be met,
a boundary set by single items of a 27-question source.

Here the threshold is estimated, not read off one split:

* ``fr_threshold``: the highest threshold whose false refusal on answerable questions is at most the
  target — the point the product wants (refuse as much as the false-refusal budget allows);
* ``bagged_fr_threshold``: its mean over bootstrap resamples of the questions, taken on out-of-fold
  probabilities pooled over several fold seeds (each question counts once per seed). The mean of
  bootstrap estimates of a quantile is a smoothed quantile (a weighted average of the order statistics
  around it, like the Harrell–Davis estimator): it depends on the several answerable questions near the
  5 % point, not on which one happens to be the 10th weakest. (Their *median* is not: it lands on one
  order statistic, in practice the same one as a single split — tests/test_operating_point.py.)

``bagged`` does the same for any rule (a threshold chosen on resampled entries).
``spread`` summarises repeated refits (mean, standard deviation, min, max) for the stability table of
``scripts/fit_answer_model.py --stability N``.
"""

from __future__ import annotations

import numpy as np


def fr_threshold(p: np.ndarray, answerable: np.ndarray, max_fr: float) -> float:
    """The highest refusal threshold (refuse when ``p < threshold``) whose false-refusal rate on the
    answerable questions is ≤ ``max_fr``: just above the ``floor(max_fr × n)``-th weakest answerable
    probability, so that exactly that many are refused. With no answerable question, 0 (refuse
    nothing)."""
    pos = np.sort(np.asarray(p, dtype=np.float64)[np.asarray(answerable, dtype=bool)])
    if not len(pos):
        return 0.0
    allowed = int(np.floor(max_fr * len(pos) + 1e-9))  # questions that may be refused
    if allowed >= len(pos):
        return float(pos[-1]) + 1e-6
    # refuse the `allowed` weakest: the threshold sits on the next one (p < th refuses strictly below)
    return float(pos[allowed])


def bagged_fr_threshold(p: np.ndarray, answerable: np.ndarray, max_fr: float, n_boot: int = 200, seed: int = 0,
                        groups: np.ndarray | None = None, median: bool = False) -> float:
    """The mean over ``n_boot`` bootstrap resamples of ``fr_threshold`` (``median=True``: their median,
    for comparison only).

    ``p`` may hold several out-of-fold probabilities per question (one per fold seed); ``groups``
    then names the question of each entry, and a resample draws questions (with all their entries),
    so that a question is never counted as independent evidence for itself."""
    p = np.asarray(p, dtype=np.float64)
    answerable = np.asarray(answerable, dtype=bool)
    return bagged(lambda idx: fr_threshold(p[idx], answerable[idx], max_fr), len(p), n_boot, seed, groups, median)


def bagged(rule, n: int, n_boot: int = 200, seed: int = 0, groups: np.ndarray | None = None, median: bool = False) -> float:
    """The mean (or median) over ``n_boot`` bootstrap resamples of ``rule(idx)``, a threshold chosen on
    the entries ``idx`` (with repeats) of ``n``; resamples draw whole ``groups`` (questions)."""
    groups = np.arange(n) if groups is None else np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.where(inverse == g)[0] for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    ths = []
    for _ in range(n_boot):
        draw = rng.integers(0, len(uniq), size=len(uniq))
        ths.append(rule(np.concatenate([members[g] for g in draw])))
    return float(np.median(ths) if median else np.mean(ths))


def spread(values) -> dict[str, float]:
    """Mean, standard deviation, min and max of repeated measurements (rounded to 3 decimals)."""
    v = np.asarray(list(values), dtype=np.float64)
    if not len(v):
        return {"mean": float("nan"), "sd": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"mean": round(float(v.mean()), 3), "sd": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 3),
            "min": round(float(v.min()), 3), "max": round(float(v.max()), 3)}

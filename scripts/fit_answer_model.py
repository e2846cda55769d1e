"""Fit the answer model (sentence scorer + answerability) for one embedding model.

Training data (never the evaluation's test split):

* positives and in-scope negatives: the dev set (``../shared/devset/qa.jsonl``) and the
  ``split == "tune"`` items of the plan QA set (``--qa``, repeatable), plus
  ``scripts/data/in_scope_train.jsonl`` (everyday-wording questions the plans do answer);
* out-of-scope negatives: ``scripts/data/out_of_scope_train.txt`` (everyday city-service questions
  written for fitting) and JSQuAD validation questions (Wikipedia trivia) asked against the corpus;
* the plan training questions (``--plan-train``, default ``scripts/data/plan_train/*.jsonl``): their
  near misses and out-of-scope questions as negatives (sources ``plan_near``, ``plan_oos``); their
  answerable ones (``plan_train``) only with ``--plan-train-positives`` — as positives they lowered
  out-of-scope refusal out of fold (docs/BENCHMARKS.md §9.15), so by default they are scored by the final
  models as a held-out false-refusal check. One item per question text (``dedupe``).
* sentence choice only (``--sentence-extra``, on by default): the answerable plan training questions of the
  files the search encoder was *not* trained on (its ``build_info.json`` names the files it was) join the
  fitting of the sentence model and the chooser — in every fold, never scored out of fold — so the
  chooser's search-cosine features on them look like those of unseen questions. Answerability, the
  threshold and the composition rule are fitted and chosen on the items above alone.

A sentence is a positive when it — or what choosing it brings into the answer: the list it announces,
belongs to or heads, the sentence carrying on from it — contains one of the item's answer keywords or
evidence strings.
The sentence model is fitted on the answerable items' candidate sentences; the answerability
model on question-level features whose sentence scores come from *out-of-fold* sentence models
(5 folds grouped by question), so its inputs look like those of unseen questions. The refusal
threshold (``--threshold-rule bagged``, the default; ``scripts/operating_point.py``) is the highest one
whose out-of-fold false-refusal rate on answerable items is ≤ the target (0.05), estimated stably: the
out-of-fold probabilities of ``--seeds`` fold seeds pooled, and the mean of that point over bootstrap
resamples of the questions — one split's 5 % point moved with every refit (docs/BENCHMARKS.md §9.8,
§9.9). ``--threshold-rule rule`` keeps the earlier ``choose_threshold`` (both targets on one split; it
moved the lexical entry's threshold 0.33 → 0.44 and its false refusal 0.11 → 0.20 on this refit).

    python scripts/fit_answer_model.py [--model NAME] [--qa eval/plan_qa.jsonl] [--write]

Reported besides: refusal per source out of fold (the list's ``# near misses`` section apart, as
``oos_near``), refusal per source at fixed out-of-fold false refusal 0.05 / 0.10, and the share of the
held-out near misses (``--check``, default ``scripts/data/near_miss_check.txt``, never fitted on) that the
final models refuse. ``--no-detail`` leaves out the asked-detail features, for comparison.

Per source the fit also reports out-of-fold refusal over the pooled fold seeds (``oof_pooled``: one split's
figures move by a few points with the fold draw), false refusal of paraphrased questions, and
``--hold-out-plan-train [STEM …|answerable]`` scores plan training questions never fitted on (all, one
writer's file, or the answerable ones). ``--near-curve``: a training-size curve for the near misses.
``--bank-k K`` turns on the question bank, computed out of fold (off: it refuses by wording, §9.15).
``--features-cache FILE`` reuses extracted rows while the product code is unchanged (exploring only).

``--write`` stores the entry in ``assistant/data/answer_model.json`` (keyed by model id, with data
hashes); ``--lexical`` fits the model-independent fallback entry (no cosine features); ``--reader`` fits the
entry that also reads the judging side's best candidates with the answer reader (``<id>+reader``, §9.23:
its training questions' reader scores come out of fold from ``--reader-run``, ``scripts/train_reader.py``'s).

Exploring (nothing written): ``--stability N`` refits N times on bootstrap resamples of the training
questions with other fold seeds and prints the spread of each rule's threshold and of out-of-fold
refusal per source; ``--ablate`` prints out-of-fold AUC and refusal per source with each answerability
feature left out; ``--C`` sets the answerability model's regularisation; ``--in-scope FILE`` and
``--out-of-scope FILE`` swap the training files (e.g. an older version, for a before/after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"

from assistant import Assistant, answering, asked, evidence_model, japanese  # noqa: E402
from assistant.evaluation import jsquad_corpus  # noqa: E402

import operating_point  # noqa: E402  (scripts/, beside this file)

K_CAND = answering.CANDIDATE_HITS
# answerability features the encoder entry leaves out (--drop overrides): each one's out-of-fold ablation
# (--ablate, 3 fold seeds pooled, docs/BENCHMARKS.md §9.9) raised refusal at equal false refusal on most
# negative sources when it was removed, with the old and the new training files alike, and the four
# together lowered the spread over bootstrap refits; the lexical entry keeps every feature (not measured)
DROPPED_WITH_COSINES = ["cos_gap", "pcos_max", "absent", "detail_asked"]
# nearest questions per side in the question-bank feature (--bank-k; 0 = off, the default). It judges the
# *kind* of question, not whether the documents answer it: with only the tune split and the everyday lists
# in it, questions the plans do touch on in everyday wording (「パスポートの申請に必要な書類は？」) sat nearer
# the out-of-scope list than any answerable question and were refused (docs/BENCHMARKS.md §9.3, §9.5). With
# the plan training questions it refused more out-of-scope and near-miss questions out of fold and with one
# writer's file held out, at the same false refusal of right answers, but still refused those two pinned
# questions (p 0.00–0.01) and hedged a toy plan's festival question although the plan states the date
# (tests/test_asked_detail.py): the training near misses ask festival dates, so the question's wording
# alone decided (§9.15)
BANK_K = 0
# judging-side candidates the answer reader reads (the first stage's best): out of fold, reading 1 / 2 gave
# answerability AUC 0.970 / 0.975 and tune out-of-scope refusal 0.911 / 0.947 (reading 3 of both sides,
# ~4 pairs: 0.978 / 0.956, at twice the time); each read costs ~30 ms on two cores (docs/BENCHMARKS.md §9.23)
READER_K = 2
# search-side candidates (the chooser's first) the reader reads too, for reader_max (docs/BENCHMARKS.md §9.25)
READER_SEARCH_K = 2
# which out-of-scope training questions the bank holds (--bank-negatives): all but JSQuAD, or the near misses only
BANK_NEGATIVES = "all"


def load_items(args) -> list[dict]:
    items = []
    for it in _jsonl(Path(args.dev)):
        items.append(it | {"source": "dev"})
    for path in args.qa:
        for it in _jsonl(Path(path)):
            if it.get("split") == "tune":
                items.append(it | {"source": Path(path).name})
    # everyday-wording questions the plans do answer, so that "sounds like a city-service question"
    # alone is never learnt as "out of scope"
    for it in _jsonl(Path(args.in_scope)):
        items.append(it | {"source": "in_scope"})
    # plan training questions (scripts/data/plan_train/*.jsonl, checked by scripts/check_plan_train.py):
    # answerable ones are positives like the tune items; near misses and out-of-scope ones negatives
    for path in plan_train_files(args):
        for it in _jsonl(path):
            src = PLAN_TRAIN_SOURCES.get(it.get("type"), "plan_train") if not it.get("docs") else "plan_train"
            items.append(it | {"id": f"pt:{path.stem}:{it['id']}", "source": src, "file": path.stem})
    # the lines after a comment naming "near misses" are reported as their own source (oos_near):
    # questions naming a real thing of the plans and asking a detail the plans do not give
    source = "oos"
    for line in Path(args.out_of_scope).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and "near miss" in line:
            source = "oos_near"
        elif line.strip() and not line.startswith("#"):
            items.append({"id": "oos:" + line[:12], "question": line.strip(), "docs": [], "source": source})
    _paras, questions = jsquad_corpus(Path(args.jsquad_file))
    random.Random(0).shuffle(questions)
    for q, _pid in questions[: args.jsquad]:
        items.append({"id": "jsq:" + q[:12], "question": q, "docs": [], "source": "jsquad"})
    return dedupe(items)


def dedupe(items: list[dict]) -> list[dict]:
    """One item per question text (compacted): the same question in two training files would sit in two
    folds and score itself out of fold. The first occurrence is kept; the others are named."""
    seen: dict[str, str] = {}
    out = []
    for it in items:
        key = japanese.compact(it["question"])
        if key in seen:
            print(f"duplicate question left out: {it['id']} ({it['source']}) repeats {seen[key]}", file=sys.stderr)
            continue
        seen[key] = f"{it['id']} ({it['source']})"
        out.append(it)
    return out


# the plan training files' unanswerable types, each reported as its own source
PLAN_TRAIN_SOURCES = {"near_miss": "plan_near", "out_of_scope": "plan_oos"}
# sources pooled with the out-of-scope list for the earlier two-target rule (--threshold-rule rule)
POOLED_AS_OOS = ("oos_near", "plan_near", "plan_oos")
PLAN_TRAIN_ALL = ("plan_train", *PLAN_TRAIN_SOURCES.values())
PLAN_TRAIN_DIR = ROOT / "scripts" / "data" / "plan_train"
# the plan training files whose answerable questions are fitted on as positives (the others' are held out
# as a false-refusal check or teach sentence choice only, --sentence-extra): qak, the short casual questions
# (「ボランティアを始めるには？」), which the evaluation-like sets hardly hold — without them every short
# question's high bigram overlap was learnt as a sign of a near miss (docs/BENCHMARKS.md §9.22)
POSITIVES_FROM: list[str] = ["qak"]


def plan_train_files(args) -> list[Path]:
    """``--plan-train``: a directory (its ``*.jsonl``, sorted) or files; '' for none."""
    out: list[Path] = []
    for spec in args.plan_train:
        if not spec:
            continue
        p = Path(spec)
        if p.is_dir():
            out.extend(sorted(p.glob("*.jsonl")))
        elif p.is_file():
            out.append(p)
        elif p == PLAN_TRAIN_DIR:  # the default, before any plan training file was written
            print(f"no plan training files ({p} does not exist)", file=sys.stderr)
        else:
            raise SystemExit(f"--plan-train {spec}: no such file or directory")
    return out


def encoder_training_files(encoder) -> set[str] | None:
    """Stems of the plan training files a fine-tuned encoder was trained on (its ``build_info.json``'s
    ``finetune.data_sha256``, by file name: a file edited since still counts as seen), or None when it
    records no fine-tune (a model from elsewhere: nothing tells which questions it saw, so none is used)."""
    path = getattr(encoder, "path", None)
    info = Path(path) / "build_info.json" if path else None
    if info is None or not info.is_file():
        return None
    seen = (json.loads(info.read_text(encoding="utf-8")).get("finetune") or {}).get("data_sha256") or {}
    return {Path(k.split(" ")[0]).stem for k in seen if "plan_train" in k}


def sentence_extra_items(held: list[dict], seen: set[str] | None) -> list[dict]:
    """Answerable plan training questions that may teach sentence choice (``--sentence-extra``): those of
    files the search encoder was never trained on, so that the chooser's ``scos`` features on them look like
    those of unseen questions. Answerability never fits on them (as positives they lowered out-of-scope
    refusal, §9.15), and they are left out of the held-out false-refusal check, which they no longer are."""
    if seen is None:
        return []
    return [it for it in held if it["source"] == "plan_train" and it.get("file") not in seen]


def subgroup(d: dict) -> str | None:
    """The answerable subgroup a question is also reported under: paraphrased questions (the eval
    README's flag: no content word shared with the evidence), where false refusal concentrates."""
    return "paraphrase" if d["answerable"] and d["item"].get("paraphrase") else None


def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def label(sentence: str, item: dict) -> bool:
    c = japanese.compact(sentence)
    if any(japanese.compact(k) in c for k in item.get("answer_keywords", []) if k):
        return True
    for e in item.get("evidence", []):
        e = japanese.compact(e)
        if e and (e in c or (len(c) >= 12 and c in e)):
            return True
    return False


def brought(r, c) -> str:
    """What choosing candidate ``c`` puts into an answer: the sentence and what completes it
    (``answering._continuation``: the list it announces, belongs to or heads, or the sentence carrying on
    from it). 「次の事項を基本理念として…」 holds the asked 「自助、共助及び公助」 through the items it brings,
    so it is labelled a right sentence; labelled by its own text it taught the model that list intros are
    wrong answers."""
    return " ".join([c.text, *(x.text for x in answering._continuation(c, r.following_chunks(c.hit)))])


def extract(a, items, use_cos: bool) -> list[dict]:
    """Per question: candidates' feature rows and labels, plus the question's fixed features."""
    r = a.state.retriever
    out = []
    for it in items:
        qa = r.analyze(it["question"])
        # the passages answerability is judged on at run time (answering.judging_hits: the answer side when
        # a fine-tuned search encoder orders the search side); the sentence model is fitted on their candidates
        search_hits = r.search(it["question"], k=answering.TOP_HITS, analysis=qa)
        hits = answering.judging_hits(r, search_hits, it["question"], k=answering.TOP_HITS, analysis=qa)
        weights = answering._term_weights(r, qa)
        qvec = r.answer_query_vector(qa.text) if use_cos else None
        sv = r.index.sentence_vectors if use_cos else None
        cands = answering.model_candidates(r, qa, hits[:K_CAND], weights, qvec, sv)
        pcov = answering._evidence_parts(qa, hits, weights)[0]
        # the answer is composed from the search side's candidates (answering._judge): with the search
        # encoder's sentence cosine, they fit the chooser and decide how the answer's sentences are chosen
        # (answerable questions), and the reader reads the first of them for the judgement (every question)
        scands = None
        if use_cos and r.two_sided:
            scands = answering.model_candidates(r, qa, search_hits[:K_CAND], weights, qvec, sv,
                                                (r.sentence_query_vector(qa.text, adapted=False), r.sentence_side()[1]))
        out.append({
            "item": it,
            "answerable": bool(it.get("docs")),
            "X": [c.features for c in cands],
            "y": [label(brought(r, c), it) for c in cands],
            "texts": [c.text for c in cands],
            "pcov": pcov,
            "hits": hits,
            "weights": weights,
            "absent": answering.absent_weight(r, weights),
            "qtype": answering.asked_type(qa),
            "miss": answering.missing_max(r, qa, hits, weights),
            "detail": asked.asked_detail(qa.text),
            "nbig": len(answering._question_bigrams(qa)),
            "qvec": qvec,
            "cands": cands,
            "scands": scands,
            "sX": [c.features for c in scands] if scands is not None else None,
            "sy": [label(brought(r, c), it) for c in scands] if scands is not None else None,
        })
    return out


def code_fingerprint() -> str:
    """A hash of what a cached feature row depends on besides its question: the product code, and the
    data and models retrieval reads (thesauri, the pool reranker, the query adapter, each model's
    ``config.json``, which records its weights' sha256) — the answer model being fitted excluded."""
    h = hashlib.sha256()
    data = ROOT / "assistant" / "data"
    paths = [*sorted((ROOT / "assistant").rglob("*.py")), *sorted(p for p in data.iterdir() if p.name != "answer_model.json"),
             *sorted((ROOT / "assistant" / "models").glob("*/config.json"))]
    for p in paths:
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def cached_extract(a, items, use_cos: bool, cache: str | None) -> list[dict]:
    """``extract`` through a pickle of earlier rows (``--features-cache``, for exploring only): rows are
    reused per question (text, documents, evidence, keywords) when the product code is byte-identical, so that adding training files
    or comparing fits extracts only the new questions. A stale or unreadable cache is ignored."""
    if not cache:
        return with_reader(extract(a, items, use_cos))
    import pickle

    key = (code_fingerprint(), use_cos, str(a.state.search_index.path) if hasattr(a.state.search_index, "path") else "")
    rows: dict[str, dict] = {}
    try:
        with open(cache, "rb") as f:
            saved = pickle.load(f)
        if saved.get("key") == key:
            rows = saved["rows"]
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError):
        pass
    def row_key(it: dict) -> str:  # the labels depend on the docs, evidence and keywords too
        return json.dumps([it["question"], it.get("docs", []), it.get("evidence", []), it.get("answer_keywords", [])], ensure_ascii=False)

    todo = [it for it in items if row_key(it) not in rows]
    for it, d in zip(todo, extract(a, todo, use_cos)):
        rows[row_key(it)] = {k: v for k, v in d.items() if k != "item"}
    if todo:
        tmp = cache + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump({"key": key, "rows": rows}, f)
        Path(tmp).replace(cache)
    print(f"features: {len(items) - len(todo)} rows from {cache}, {len(todo)} extracted", file=sys.stderr)
    return with_reader([rows[row_key(it)] | {"item": it} for it in items])


# --reader: sets the reader's features on rows extracted from then on (reader_data.add_features)
ROW_HOOK = None


def with_reader(rows: list[dict]) -> list[dict]:
    if ROW_HOOK is not None:
        ROW_HOOK(rows)
    return rows


def fit_logistic(X: np.ndarray, y: np.ndarray, features: list[str], C: float = 1.0, balanced: bool = False) -> evidence_model.Logistic:
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(0)
    scale = X.std(0)
    scale[scale < 1e-9] = 1.0
    m = LogisticRegression(C=C, class_weight="balanced" if balanced else None, max_iter=2000)
    m.fit((X - mean) / scale, y)
    return evidence_model.Logistic(features, mean.tolist(), scale.tolist(), m.coef_[0].tolist(), float(m.intercept_[0]))


def matrix(rows: list[dict], features: list[str]) -> np.ndarray:
    return np.array([[r.get(f, 0.0) for f in features] for r in rows], dtype=np.float64)


def sentence_fit(data, feats, C=1.0, side: str = ""):
    """The sentence model on the answerable items' candidates of the judging side (``side`` ""), or the
    chooser on those of the search side (``side`` "s": rows ``sX``/``sy``)."""
    X = [x for d in data if d["answerable"] and d.get(side + "X") for x in d[side + "X"]]
    y = [v for d in data if d["answerable"] and d.get(side + "X") for v in d[side + "y"]]
    return fit_logistic(matrix(X, feats), np.array(y), feats, C=C, balanced=True)


def oof_logits(data, fold, feats, side: str = "", extra=()) -> list:
    """Per question, out-of-fold logits of its candidates (``side`` as in ``sentence_fit``; None where it has none).
    ``extra`` questions join every fold's training set (never scored here)."""
    out = [None] * len(data)
    for k in sorted(set(fold)):
        m = sentence_fit([d for d, f in zip(data, fold) if f != k] + list(extra), feats, side=side)
        for i, d in enumerate(data):
            if fold[i] == k and d.get(side + "X") is not None:
                out[i] = [m.logit(x) for x in d[side + "X"]]
    return out


def first_and_top3(pairs, side: str = "") -> tuple[float, float]:
    """Share of questions (with a labelled candidate) whose right sentence the logits put first, and in the first three."""
    have = [(d[side + "y"], z) for d, z in pairs if z is not None and any(d[side + "y"])]
    top1 = sum(y[int(np.argmax(z))] for y, z in have) / max(len(have), 1)
    top3 = sum(any(y[i] for i in np.argsort(z)[::-1][:3]) for y, z in have) / max(len(have), 1)
    return top1, top3


def composed_from(d, z, cz) -> tuple[list, list]:
    """(candidates, logits) an answer is composed from: the search side's with the chooser's logits
    ``cz`` when there are any, else the judging side's with the sentence model's ``z``."""
    return (d["scands"], cz) if cz is not None else (d["cands"], z)


def apply_sentence(model, d):
    return [model.logit(x) for x in d["X"]]


def bank_members(data) -> np.ndarray:
    """Which training questions go into the question bank: the answerable ones and the city
    out-of-scope ones (the list, the QA sets' unanswerable items) — not JSQuAD's Wikipedia trivia."""
    if BANK_NEGATIVES == "near":  # only the near misses on the out-of-scope side (exploring, §9.15)
        return np.array([d["qvec"] is not None and (d["answerable"] or d["item"]["source"] in ("oos_near", "plan_near")) for d in data])
    return np.array([d["qvec"] is not None and (d["answerable"] or d["item"]["source"] != "jsquad") for d in data])


def bank_of(data, mask: np.ndarray) -> evidence_model.QuestionBank | None:
    idx = np.where(mask & bank_members(data))[0]
    if not len(idx):
        return None
    return evidence_model.QuestionBank(vectors=np.stack([data[i]["qvec"] for i in idx]).astype(np.float32),
                                       answerable=np.array([data[i]["answerable"] for i in idx]), k=BANK_K)


def question_rows(data, logits_per_q, near=None):
    rows = []
    for j, (d, logits) in enumerate(zip(data, logits_per_q)):
        for c, z in zip(d["cands"], logits):
            c.logit = z
        rows.append(answering.question_features(d["cands"], d["hits"], d["pcov"], d["weights"], d["absent"], d["qtype"], d["miss"],
                                                near[j] if near is not None else 0.0, d["detail"], d["nbig"]))
    return rows


def choose_threshold(p: np.ndarray, answerable: np.ndarray, source: np.ndarray, max_fr: float, min_refusal: float) -> float:
    """The refusal threshold on out-of-fold answerability probabilities.

    Out-of-scope refusal is the lowest refusal rate over the negative sources with at least 10
    questions (the plan QA set's out-of-scope tune items, the out-of-scope list, JSQuAD), so an easy
    source cannot hide a hard one. Among thresholds meeting both targets (false refusal ≤ ``max_fr``,
    refusal ≥ ``min_refusal``) the one with the lowest false refusal; if none does, the one closest to
    the targets: least (false refusal above ``max_fr``) + (refusal short of ``min_refusal``), and of
    equal distance the one with less false refusal. (An earlier rule, false refusal + 2 × out-of-scope
    answered, let a 17-question source outweigh everything and sat on a plateau where float noise
    between runs moved the threshold from 0.54 to 0.75.)"""
    negs = [m for m in ((~answerable) & (source == s) for s in sorted(set(source))) if m.sum() >= 10]

    def rates(th):
        fr = float((p[answerable] < th).mean()) if answerable.any() else 0.0
        refusals = [float((p[m] < th).mean()) for m in negs]
        return fr, min(refusals) if refusals else 1.0

    grid = sorted(set(np.round(p, 6).tolist()) | {0.0})
    cands = [(th + 1e-6, *rates(th + 1e-6)) for th in grid]
    ok = [c for c in cands if c[1] <= max_fr and c[2] >= min_refusal]
    if ok:
        return min(ok, key=lambda c: (c[1], -c[2]))[0]
    # none meets both: the one closest to meeting both (the sum of the two shortfalls, to 3 decimals so
    # that run-to-run float noise cannot flip it), then the least false refusal
    return min(cands, key=lambda c: (round(max(0.0, c[1] - max_fr) + max(0.0, min_refusal - c[2]), 3), c[1]))[0]


def folds(n: int, k: int = 5, seed: int = 0) -> list[int]:
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    f = [0] * n
    for j, i in enumerate(idx):
        f[i] = j % k
    return f



def oof_answerability(data, s_feats, q_feats, seed: int = 0, idx=None, C: float = 1.0, k: int = 5):
    """Out-of-fold answerability probabilities, for one refit: folds drawn with ``seed``, the models
    trained on the questions ``idx`` (a bootstrap resample when it repeats some; default all), both
    stages out of fold (sentence logits, then the answerability model on question rows built from
    them). Returns an array over ``data`` (NaN for questions not in ``idx``); a question repeated in a
    resample stays in one fold, so it never trains the model that scores it. With the question bank
    (``--bank-k``), each fold's bank holds the other folds' questions only."""
    idx = list(range(len(data))) if idx is None else list(idx)
    uniq = sorted(set(idx))
    fold_of = dict(zip(uniq, folds(len(uniq), k, seed)))
    sample_fold = np.array([fold_of[i] for i in idx])
    logits = [None] * len(data)
    for f in range(k):
        m = sentence_fit([data[i] for i, g in zip(idx, sample_fold) if g != f], s_feats)
        for i in uniq:
            if fold_of[i] == f:
                logits[i] = apply_sentence(m, data[i])
    y = np.array([data[i]["answerable"] for i in idx])
    p = np.full(len(data), np.nan)

    def score_fold(f: int, X: np.ndarray, row_of: dict) -> None:
        """Fit on the other folds' rows, score fold ``f``'s questions into ``p``."""
        tr = sample_fold != f
        m = fit_logistic(X[tr], y[tr], q_feats, C=C, balanced=True)
        for i in uniq:
            if fold_of[i] == f:
                p[i] = m.prob(row_of[i])

    if BANK_K and "near_q" in q_feats:
        # the question bank of each fold holds only the other folds' questions (and never the question
        # itself), for the rows it is fitted on and the rows it scores alike
        sims, members = bank_similarities(data)
        for f in range(k):
            allowed = members & np.isin(np.arange(len(data)), [i for i in uniq if fold_of[i] != f])
            near = bank_nearness(sims, data, allowed, BANK_K)
            rows_u = question_rows([data[i] for i in uniq], [logits[i] for i in uniq], [near[i] for i in uniq])
            row_of = dict(zip(uniq, rows_u))
            score_fold(f, matrix([row_of[i] for i in idx], q_feats), row_of)
        return p
    rows_u = question_rows([data[i] for i in uniq], [logits[i] for i in uniq])
    row_of = dict(zip(uniq, rows_u))
    X = matrix([row_of[i] for i in idx], q_feats)
    for f in range(k):
        score_fold(f, X, row_of)
    return p


def bank_similarities(data) -> tuple[np.ndarray, np.ndarray]:
    """Cosines between all training questions' encoder vectors, and which may be bank members."""
    members = bank_members(data)
    dim = next((len(d["qvec"]) for d in data if d["qvec"] is not None), 1)
    Q = np.stack([np.asarray(d["qvec"], dtype=np.float32) if d["qvec"] is not None else np.zeros(dim, np.float32) for d in data])
    return Q @ Q.T, members


def bank_nearness(sims: np.ndarray, data, allowed: np.ndarray, k: int) -> np.ndarray:
    """Every question's ``QuestionBank.nearness`` against the bank of the ``allowed`` questions (itself
    left out): mean cosine to its ``k`` nearest answerable members minus to its ``k`` nearest
    out-of-scope ones."""
    ans = np.array([d["answerable"] for d in data])
    S = np.where(allowed[None, :], sims, -np.inf)
    np.fill_diagonal(S, -np.inf)

    def top_mean(cols: np.ndarray) -> np.ndarray:
        sub = S[:, cols]
        kk = min(k, sub.shape[1])
        if kk == 0:
            return np.zeros(len(data))
        part = -np.sort(-sub, axis=1)[:, :kk]
        part = np.where(np.isfinite(part), part, np.nan)
        return np.nan_to_num(np.nanmean(part, axis=1))

    return (top_mean(np.where(ans)[0]) - top_mean(np.where(~ans)[0])).astype(np.float64)


def per_source(p: np.ndarray, yq: np.ndarray, src: np.ndarray, th: float) -> dict[str, float]:
    """Refused share per source at threshold ``th``: negatives' refusal, and answerable questions'
    false refusal (``FR:`` + source), over the questions with a probability (not NaN)."""
    out = {}
    have = ~np.isnan(p)
    for s in sorted(set(src)):
        for lab, name in ((False, s), (True, "FR:" + s)):
            m = have & (src == s) & (yq == lab)
            if m.any():
                out[name] = float((p[m] < th).mean())
    m = have & yq
    out["FR:all"] = float((p[m] < th).mean()) if m.any() else 0.0
    return out


def pooled_threshold(data, s_feats, q_feats, max_fr: float, seeds: int, C: float = 1.0, n_boot: int = 200, boot_seed: int = 0,
                     counted: np.ndarray | None = None):
    """The stable operating point (``operating_point.bagged_fr_threshold``): out-of-fold probabilities
    of ``seeds`` fold seeds pooled, then the mean over bootstrap resamples of the questions of the
    highest threshold with false refusal ≤ ``max_fr``. Returns (threshold, pooled probabilities
    [seeds, n])."""
    ps = np.stack([oof_answerability(data, s_feats, q_feats, seed=s, C=C) for s in range(seeds)])
    yq = np.array([d["answerable"] for d in data]) if counted is None else np.asarray(counted, dtype=bool)
    th = operating_point.bagged_fr_threshold(ps.ravel(), np.tile(yq, seeds), max_fr, n_boot=n_boot, seed=boot_seed,
                                             groups=np.tile(np.arange(len(data)), seeds))
    return th, ps


def pooled_report(ps: np.ndarray, data: list[dict], th: float, counted: np.ndarray | None = None) -> dict[str, float]:
    """Refusal per source (``FR:`` for answerable ones, ``/paraphrase`` for their paraphrased part) at
    ``th`` over the out-of-fold probabilities ``ps`` [seeds, n] of several fold seeds pooled: one split's
    figures moved by 0.02–0.04 on a source of 200 when one duplicate question was left out (a new fold
    draw), so comparisons between training sets or features use these. ``FR:right`` counts only the
    answerable questions in ``counted`` (those whose out-of-fold answer holds the asked fact)."""
    seeds = ps.shape[0]
    yq = np.array([d["answerable"] for d in data])
    src = np.array([d["item"]["source"] for d in data])
    sub = np.array([subgroup(d) or "" for d in data])
    pp, yy, ss, uu = ps.ravel(), np.tile(yq, seeds), np.tile(src, seeds), np.tile(sub, seeds)
    out = per_source(pp, yy, ss, th)
    for s in sorted(set(src)):
        m = yy & (ss == s) & (uu == "paraphrase")
        if m.any():
            out[f"FR:{s}/paraphrase"] = float((pp[m] < th).mean())
    if counted is not None:
        out["FR:right"] = float((pp[np.tile(counted, seeds)] < th).mean())
    from sklearn.metrics import roc_auc_score

    out["auc"] = float(roc_auc_score(yy, pp))
    return {k: round(v, 3) for k, v in out.items()}


def stability(a, data, s_feats, q_feats, args, n: int, use_cos: bool) -> None:
    """``--stability N``: N refits, each on a bootstrap resample of the training questions with its own
    fold seed; per refit the threshold of each rule and, at it, the out-of-fold refusal per source on
    the resample (the held-out near-miss file apart: scored by that refit's final model). Prints the
    spread (mean, sd, min, max) per rule and source, and how often a question's decision differs
    from its majority decision across refits (the share of out-of-scope questions whose fate is luck)."""
    rng = np.random.default_rng(args.stability_seed)
    yq = np.array([d["answerable"] for d in data])
    src = np.array([d["item"]["source"] for d in data])
    pooled = np.where(np.isin(src, POOLED_AS_OOS), "oos", src)
    check = [{"id": "chk:" + q[:12], "question": q, "docs": [], "source": "check"} for q in _lines(Path(args.check))] if args.check else []
    cdata = extract(a, check, use_cos) if check else []
    rules = ("rule", "fr", "bagged")
    ths = {r: [] for r in rules}
    rates = {r: [] for r in rules}
    decisions = {r: [] for r in rules}
    from tqdm import tqdm

    for b in tqdm(range(n), desc="refits", file=sys.stderr):
        # resample within each source, so that every refit sees every kind of question
        idx = np.concatenate([rng.choice(np.where(src == s)[0], size=int((src == s).sum()), replace=True) for s in sorted(set(src))])
        seed = 1000 + b
        p = oof_answerability(data, s_feats, q_feats, seed=seed, idx=idx, C=args.C)
        ps, ys, ss = p[idx], yq[idx], pooled[idx]
        th = {"rule": choose_threshold(ps, ys, ss, args.target_false_refusal, args.target_refusal),
              "fr": operating_point.fr_threshold(ps, ys, args.target_false_refusal)}
        # the bagged rule within this refit: its own 5 fold seeds pooled (the first is the one above)
        extra = [oof_answerability(data, s_feats, q_feats, seed=seed + 10_000 * j, idx=idx, C=args.C) for j in range(1, args.seeds)]
        allp = np.concatenate([ps, *(e[idx] for e in extra)])
        th["bagged"] = operating_point.bagged_fr_threshold(allp, np.tile(ys, args.seeds), args.target_false_refusal,
                                                           groups=np.tile(np.arange(len(idx)), args.seeds), seed=b)
        # the refit's final models, for the held-out file
        cp = None
        if cdata:
            sm = sentence_fit([data[i] for i in idx], s_feats)
            rows_tr = question_rows([data[i] for i in idx], [apply_sentence(sm, data[i]) for i in idx])
            qm = fit_logistic(matrix(rows_tr, q_feats), ys, q_feats, C=args.C, balanced=True)
            cp = np.array([qm.prob(r) for r in question_rows(cdata, [apply_sentence(sm, d) for d in cdata])])
        for r in rules:
            ths[r].append(th[r])
            rr = {"check": float((cp < th[r]).mean())} if cp is not None else {}
            # rates over the resample (duplicates count), as the refit itself sees them
            for s in sorted(set(src)):
                for lab, name in ((False, s), (True, "FR:" + s)):
                    m = (src[idx] == s) & (ys == lab)
                    if m.any():
                        rr[name] = float((ps[m] < th[r]).mean())
            rr["FR:all"] = float((ps[ys] < th[r]).mean())
            rates[r].append(rr)
            decisions[r].append(np.where(np.isnan(p), np.nan, (p < th[r]).astype(float)))
    names = ["FR:all", *sorted({k for rr in rates["rule"] for k in rr if k != "FR:all"})]
    print(f"\nstability over {n} refits (bootstrap resamples within source, fold seeds 1000+), C={args.C}, "
          f"pooled seeds for 'bagged': {args.seeds}")
    print("rule | threshold mean ± sd [min, max] | " + " | ".join(names) + " | out-of-scope flip share")
    for r in rules:
        t = operating_point.spread(ths[r])
        cells = []
        for name in names:
            sp = operating_point.spread(rr[name] for rr in rates[r] if name in rr)
            cells.append(f"{sp['mean']:.3f}±{sp['sd']:.3f}")
        # per out-of-scope question seen in ≥ 2 refits: how often it is decided against its majority
        D = np.array(decisions[r])
        flips = []
        for i in np.where(~yq)[0]:
            col = D[:, i][~np.isnan(D[:, i])]
            if len(col) >= 2:
                maj = 1.0 if col.mean() >= 0.5 else 0.0
                flips.append(float((col != maj).mean()))
        print(f"{r} | {t['mean']:.3f} ± {t['sd']:.3f} [{t['min']:.3f}, {t['max']:.3f}] | " + " | ".join(cells)
              + f" | {np.mean(flips):.3f}")
    print(json.dumps({"stability": {r: {"threshold": operating_point.spread(ths[r]),
                                        **{name: operating_point.spread(rr[name] for rr in rates[r] if name in rr) for name in names}}
                                    for r in rules}, "C": args.C, "n": n}, ensure_ascii=False))



def near_curve(a, data, s_feats, q_feats, args, use_cos: bool) -> None:
    """``--near-curve``: a training-size curve for the plan training near misses. Per split seed, half
    of them (``plan_near``) are held out; the models are fitted with 0, ¼, ½ and all of the other half
    (everything else always in). At the threshold refusing 5 % of the answerable questions out of fold
    (3 fold seeds pooled) it prints out-of-fold refusal of the list's near misses (``oos_near``) and of
    the near misses in training, false refusal, and the refusal of the held-out half and of the
    held-out check file by the models fitted on that training set."""
    yq = np.array([d["answerable"] for d in data])
    src = np.array([d["item"]["source"] for d in data])
    near = np.where(src == "plan_near")[0]
    if not len(near):
        raise SystemExit("--near-curve needs plan training near misses (scripts/data/plan_train)")
    check = [{"id": "chk:" + q[:12], "question": q, "docs": [], "source": "check"} for q in _lines(Path(args.check))] if args.check else []
    cdata = cached_extract(a, check, use_cos, args.features_cache) if check else []
    fracs = (0.0, 0.25, 0.5, 1.0)
    res: dict[float, list[dict]] = {f: [] for f in fracs}
    for split in range(args.curve_splits):
        order = np.random.default_rng(split).permutation(near)
        held, pool = order[: len(order) // 2], order[len(order) // 2:]
        for f in fracs:
            used = set(pool[: int(round(f * len(pool)))].tolist())
            idx = np.array([i for i in range(len(data)) if src[i] != "plan_near" or i in used])
            ps = np.stack([oof_answerability(data, s_feats, q_feats, seed=100 * split + s, idx=idx, C=args.C) for s in range(3)])
            pp, yy = ps[:, idx].ravel(), np.tile(yq[idx], 3)
            th = operating_point.fr_threshold(pp, yy, args.target_false_refusal)
            rates = per_source(pp, yy, np.tile(src[idx], 3), th)
            sm = sentence_fit([data[i] for i in idx], s_feats)
            in_idx = np.isin(np.arange(len(data)), idx)
            near_tr = bank = None
            if BANK_K and "near_q" in q_feats:  # the bank of this training set
                sims, members = bank_similarities(data)
                near_tr = list(bank_nearness(sims, data, members & in_idx, BANK_K)[idx])
                bank = bank_of(data, in_idx)
            rows_tr = question_rows([data[i] for i in idx], [apply_sentence(sm, data[i]) for i in idx], near_tr)
            qm = fit_logistic(matrix(rows_tr, q_feats), yq[idx], q_feats, C=args.C, balanced=True)

            def near_of(ds):
                return [bank.nearness(d["qvec"]) for d in ds] if bank is not None else None

            hd = [data[i] for i in held]
            hp = np.array([qm.prob(r) for r in question_rows(hd, [apply_sentence(sm, d) for d in hd], near_of(hd))])
            row = {"n_train_near": len(used), "threshold": th, "FR:all": rates["FR:all"], "oos_near": rates.get("oos_near", float("nan")),
                   "plan_near(oof)": rates.get("plan_near", float("nan")), "held_out_half": float((hp < th).mean())}
            if cdata:
                cp = np.array([qm.prob(r) for r in question_rows(cdata, [apply_sentence(sm, d) for d in cdata], near_of(cdata))])
                row["check"] = float((cp < th).mean())
            res[f].append(row)
            print(f"split {split} fraction {f}: " + json.dumps({k: round(v, 3) for k, v in row.items()}), file=sys.stderr)
    print(f"\nnear-miss training-size curve ({args.curve_splits} splits; held-out half of {len(near)} plan near misses; "
          f"refusal at out-of-fold false refusal {args.target_false_refusal}, 3 fold seeds pooled); mean over splits")
    keys = [k for k in res[fracs[0]][0] if k != "threshold"]
    print("fraction | threshold | " + " | ".join(keys))
    for f in fracs:
        means = {k: float(np.mean(v)) if len(v := [r[k] for r in res[f] if not np.isnan(r[k])]) else float("nan")
                 for k in ["threshold", *keys]}
        print(f"{f} | {means['threshold']:.3f} | " + " | ".join(f"{means[k]:.3f}" for k in keys))


def ablation(data, s_feats, q_feats, args) -> None:
    """``--ablate``: out of fold (``--seeds`` fold seeds pooled), the answerability model with all
    features and with each one left out: AUC, and refusal per source at the threshold that refuses
    ``--target-false-refusal`` of the answerable questions. A feature whose removal does not lower
    refusal at equal false refusal earns no place."""
    from sklearn.metrics import roc_auc_score

    yq = np.array([d["answerable"] for d in data])
    src = np.array([d["item"]["source"] for d in data])
    print(f"\nablation, {args.seeds} fold seeds pooled, C={args.C}, refusal at out-of-fold false refusal {args.target_false_refusal}")
    for drop in [None, *q_feats]:
        feats = [f for f in q_feats if f != drop]
        ps = np.stack([oof_answerability(data, s_feats, feats, seed=s, C=args.C) for s in range(args.seeds)])
        yy, pp, ss = np.tile(yq, args.seeds), ps.ravel(), np.tile(src, args.seeds)
        th = operating_point.fr_threshold(pp, yy, args.target_false_refusal)
        rates = per_source(pp, yy, ss, th)
        print(f"{'(all)' if drop is None else '-' + drop:14s} AUC {roc_auc_score(yy, pp):.3f} | "
              + " ".join(f"{k} {v:.3f}" for k, v in rates.items() if not k.startswith("FR:")))



def _least_departure_within_one_se(options: list[tuple[str, float, float, float]], n: int) -> tuple[str, float, float]:
    """The answer-choice option to keep: the one-standard-error rule.

    ``options`` are (choice, blend weight, keep ratio, out-of-fold keyword hit) over ``n`` questions.
    Keyword hits a couple of questions apart are noise at this n (the binomial standard error at
    0.7 and n = 200 is 0.03), and picking the raw maximum let the refit jump between a 0.1 and a
    1.0 blend weight on a two-question difference. So: every option within one standard error of
    the best is as good, and among those the one that departs least from the hand-weighted score,
    which every pinned answer was written against — the hand score itself, then the smallest blend
    weight, then the sentence model alone (keeping the most sentences).
    """
    best = max(o[3] for o in options)
    se = (best * (1 - best) / max(n, 1)) ** 0.5
    tied = [o for o in options if o[3] >= best - se - 1e-12]
    departure = {"prior": 0, "blend": 1, "model": 2}
    choice, blend, ratio, _hit = min(tied, key=lambda o: (departure[o[0]], o[1], -o[2]))
    print(f"answer choice: {choice} (blend {blend}, keep ratio {ratio}); best out-of-fold keyword hit "
          f"{best:.3f}, one standard error {se:.3f}: {len(tied)} of {len(options)} options within it")
    return choice, blend, ratio

def use_reader(a, args, data, extra, s_feats, q_feats):
    """``--reader``: the entry's first stage (its sentence model without the reader's features, fitted on all
    rows: it only picks which candidates are read), the reader's features on every row's judging-side
    candidates from here on (stored out-of-fold scores for the reader's training questions, ``--reader-run``),
    and the feature lists with them; the chooser (the search side's order) stays as without the reader.
    Returns (the ReaderUse, sentence features, question features)."""
    import reader_data

    global ROW_HOOK
    rd = a.state.retriever.reader
    if rd is None:
        raise SystemExit(f"--reader: the answer reader is not available ({a.state.retriever.reader_problem})")
    stored = reader_data.StoredScores(Path(args.reader_run))
    use = evidence_model.ReaderUse(k=args.reader_k, floor=evidence_model.READER_FLOOR, sentence=sentence_fit(data + extra, s_feats),
                                   weights_id=rd.weights_id, search_k=args.reader_search_k)
    # the search side's order: the chooser as the entry will hold it (fitted on all rows, as in main)
    chooser = sentence_fit(data + extra, evidence_model.CHOOSER_FEATURES, side="s") \
        if args.reader_search_k and any(d.get("sX") for d in data) else None
    ROW_HOOK = lambda rows: reader_data.add_features(rows, use, stored, a.state.retriever, chooser)  # noqa: E731
    ROW_HOOK(data)
    ROW_HOOK(extra)
    print(f"reader: {stored.hits} candidates' scores stored or read by the run's fold models ({stored.fold_reads}: out of "
          f"fold for its training questions), {stored.misses} read now by the bundled reader",
          file=sys.stderr)
    return use, s_feats + evidence_model.READER_FEATURES, q_feats + evidence_model.READER_QUESTION_FEATURES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--index", default=None, help="index directory (default: index/ for the default model, else a temp one)")
    ap.add_argument("--dev", default=str(SHARED / "devset" / "qa.jsonl"))
    ap.add_argument("--qa", action="append", default=None, help="QA file whose split=='tune' items are used (default: eval/plan_qa.jsonl)")
    ap.add_argument("--jsquad-file", default=str(SHARED / "bench" / "jsquad-valid-v1.3.json"))
    ap.add_argument("--jsquad", type=int, default=200)
    ap.add_argument("--target-false-refusal", type=float, default=0.05)
    ap.add_argument("--target-refusal", type=float, default=0.90, help="out-of-scope refusal wanted")
    ap.add_argument("--lexical", action="store_true", help="fit the model-independent (no cosine) entry")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--dump", default=None, help="write per-question out-of-fold scores (JSON) here")
    ap.add_argument("--out-of-scope", default=str(ROOT / "scripts" / "data" / "out_of_scope_train.txt"), help="out-of-scope training questions, one a line")
    ap.add_argument("--in-scope", default=str(ROOT / "scripts" / "data" / "in_scope_train.jsonl"), help="everyday in-scope training questions (JSONL)")
    ap.add_argument("--plan-train", nargs="*", default=[str(PLAN_TRAIN_DIR)], metavar="PATH",
                    help="plan training questions: a directory of *.jsonl or files (default scripts/data/plan_train; "
                         "'--plan-train' alone for none, the before row)")
    ap.add_argument("--features-cache", default=None, metavar="FILE",
                    help="reuse extracted feature rows per question from this pickle (exploring only; keyed by the code's hash)")
    ap.add_argument("--hold-out-plan-train", nargs="*", default=None, metavar="STEM",
                    help="fit without the plan training questions (or those of the files named by stem, e.g. qaa; or 'answerable': "
                         "their answerable ones, fitting on their near misses and out-of-scope ones) and report how the final "
                         "models treat them (the before row; a writer held out)")
    ap.add_argument("--plan-train-positives", action=argparse.BooleanOptionalAction, default=False,
                    help="fit on the answerable plan training questions too (default: no — out of fold they lowered "
                         "out-of-scope refusal, BENCHMARKS §9.15; they are scored as a held-out false-refusal check instead)")
    ap.add_argument("--sentence-extra", action=argparse.BooleanOptionalAction, default=True,
                    help="fit the sentence model and the chooser on the answerable plan training questions of the files the "
                         "search encoder was not trained on too (default: yes; answerability never fits on them)")
    ap.add_argument("--positives-from", nargs="*", default=POSITIVES_FROM, metavar="STEM",
                    help="plan training files (by stem) whose answerable questions answerability and sentence choice are "
                         "fitted on like tune items (default: %(default)s; '--positives-from' alone for none)")
    ap.add_argument("--plan-train-in-budget", action=argparse.BooleanOptionalAction, default=False,
                    help="whether the answerable plan training questions fitted on (--positives-from) count towards the "
                         "false-refusal budget (default: no — it is spent on the tune, dev and in-scope questions; the "
                         "easier short training questions would let the threshold refuse more of them)")
    ap.add_argument("--check", default=str(ROOT / "scripts" / "data" / "near_miss_check.txt"), help="held-out out-of-scope questions to report on ('' for none)")
    ap.add_argument("--no-detail", action="store_true", help="leave out the asked-detail features (for comparison)")
    ap.add_argument("--bank-k", type=int, default=BANK_K, help="nearest training questions per side for the question-bank feature")
    ap.add_argument("--bank-negatives", choices=["all", "near"], default=BANK_NEGATIVES,
                    help="out-of-scope questions in the bank: all but JSQuAD, or the near misses only (exploring)")
    ap.add_argument("--threshold-rule", choices=["bagged", "rule"], default="bagged",
                    help="bagged (default): mean over bootstrap resamples of the highest threshold with out-of-fold false "
                         "refusal ≤ the target, on out-of-fold probabilities pooled over --seeds fold seeds (operating_point.py); "
                         "rule: the earlier two-target choose_threshold on one split")
    ap.add_argument("--refusal-cost", choices=["right", "answerable"], default="right",
                    help="which refusals spend the --target-false-refusal budget (bagged rule): those of answerable questions "
                         "whose out-of-fold answer holds the asked fact (right, default), or of every answerable question")
    ap.add_argument("--seeds", type=int, default=5, help="fold seeds pooled for the bagged threshold")
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength of the answerability model")
    ap.add_argument("--stability", type=int, default=0, metavar="N",
                    help="refit N times on bootstrap resamples with other fold seeds and print the spread of the threshold "
                         "and of out-of-fold refusal per source for each rule (explores only: nothing is written)")
    ap.add_argument("--stability-seed", type=int, default=0)
    ap.add_argument("--drop", nargs="*", default=None, metavar="FEATURE",
                    help=f"answerability features to leave out (default: {' '.join(DROPPED_WITH_COSINES)} with cosine features, "
                         "none for --lexical; '--drop' alone keeps all)")
    ap.add_argument("--near-curve", action="store_true", help="training-size curve for the plan training near misses (explores only)")
    ap.add_argument("--curve-splits", type=int, default=3, help="held-out halves averaged in --near-curve")
    ap.add_argument("--ablate", action="store_true", help="out-of-fold ablation of the answerability features (explores only)")
    ap.add_argument("--reader", action="store_true",
                    help="fit the entry that uses the answer reader's features (keyed <encoder id>+reader; §9.23)")
    ap.add_argument("--reader-run", default=str(ROOT / ".reader" / "run"),
                    help="the reader's training run (scripts/train_reader.py --out): its out-of-fold scores")
    ap.add_argument("--reader-k", type=int, default=READER_K, help="judging-side candidates the reader reads")
    ap.add_argument("--reader-search-k", type=int, default=READER_SEARCH_K, help="search-side candidates the reader reads too")
    args = ap.parse_args()
    globals()["BANK_K"] = args.bank_k
    globals()["BANK_NEGATIVES"] = args.bank_negatives
    if args.qa is None:
        args.qa = [str(ROOT / "eval" / "plan_qa.jsonl")]

    t0 = time.time()
    a = Assistant.load(ROOT / "corpus", args.index or ROOT / "index", args.model)
    use_cos = not args.lexical and a.state.search_index.sentence_vectors is not None
    items = load_items(args)
    held: list[dict] = []
    if args.hold_out_plan_train is None and not args.plan_train_positives:
        args.hold_out_plan_train = ["answerable"]
    if args.hold_out_plan_train is not None:  # the "before" row: plan training questions scored, never fitted on
        def is_held(it: dict) -> bool:  # all of them, those of the named files (a writer held out), or the answerable ones
            if args.hold_out_plan_train == ["answerable"]:
                return it["source"] == "plan_train" and it.get("file") not in args.positives_from
            return it["source"] in PLAN_TRAIN_ALL and (not args.hold_out_plan_train or it.get("file") in args.hold_out_plan_train)
        held = [it for it in items if is_held(it)]
        items = [it for it in items if not is_held(it)]
    extra_items: list[dict] = []
    if args.sentence_extra and use_cos and a.state.retriever.search_encoder is not None and not args.plan_train_positives:
        extra_items = sentence_extra_items(held, encoder_training_files(a.state.retriever.search_encoder))
        held = [it for it in held if it not in extra_items]
    data = cached_extract(a, items, use_cos, args.features_cache)
    extra = [d for d in cached_extract(a, extra_items, use_cos, args.features_cache) if d["answerable"]] if extra_items else []
    print(f"{len(items)} questions, features in {time.time() - t0:.0f}s; cosine features: {use_cos}; "
          f"{len(extra)} more for sentence choice only", file=sys.stderr)
    if args.drop is None:
        args.drop = DROPPED_WITH_COSINES if use_cos else []
    s_feats = [f for f in evidence_model.SENTENCE_FEATURES if use_cos or f not in evidence_model.COSINE_FEATURES]
    q_feats = [f for f in evidence_model.QUESTION_FEATURES if (use_cos or f not in evidence_model.COSINE_FEATURES) and (BANK_K or f != "near_q")
              and not (args.no_detail and f in evidence_model.DETAIL_FEATURES) and f not in args.drop]
    reader_use = None
    if args.reader:
        reader_use, s_feats, q_feats = use_reader(a, args, data, extra, s_feats, q_feats)
    if args.ablate:
        ablation(data, s_feats, q_feats, args)
        return
    if args.near_curve:
        near_curve(a, data, s_feats, q_feats, args, use_cos)
        return
    if args.stability:
        if BANK_K:
            raise SystemExit("--stability needs --bank-k 0 (its refits do not rebuild the question bank)")
        stability(a, data, s_feats, q_feats, args, args.stability, use_cos)
        return

    # out-of-fold sentence logits (folds over all questions; only answerable ones train the model)
    fold = folds(len(data))
    oof = oof_logits(data, fold, s_feats, extra=extra)
    ans = [(d, z) for d, z in zip(data, oof) if d["answerable"] and d["X"]]
    top1, top3 = first_and_top3(ans)
    have_pos = [d for d, _z in ans if any(d["y"])]
    old1 = sum(d["y"][int(np.argmax([c.score for c in d["cands"]]))] for d in have_pos) / max(len(have_pos), 1)
    print(f"sentence model (out-of-fold): right sentence first {top1:.3f}, in top 3 {top3:.3f} "
          f"(old score first: {old1:.3f}); {len(have_pos)}/{len(ans)} answerable items have a labelled candidate")
    # the chooser (with the search encoder's sentence cosine) on the search side's candidates, which the
    # answer is composed from; without a search encoder the sentence model's logits compose it
    c_feats = evidence_model.CHOOSER_FEATURES if use_cos and any(d.get("sX") for d in data) else None
    coof = oof_logits(data, fold, c_feats, side="s", extra=extra) if c_feats else [None] * len(data)
    if c_feats:
        spairs = [(d, z) for d, z in zip(data, coof) if d["answerable"] and z]
        c1, c3 = first_and_top3(spairs, side="s")
        sc1 = first_and_top3([(d, [x["scos"] for x in d["sX"]]) for d, _z in spairs], side="s")[0]
        print(f"chooser (out-of-fold, search side): right sentence first {c1:.3f}, in top 3 {c3:.3f} (search cosine alone: {sc1:.3f})")

    # how the answer's sentences are chosen: the hand-weighted score ("prior"), the fitted logits
    # ("model", with how many sentences join the best one), or their sum ("blend", with its weight) —
    # judged by the keyword hit of the answers composed (as answering._judge does: the search side's
    # candidates ordered by the chooser when there is one) on out-of-fold logits (no refusals)
    r = a.state.retriever
    compose_on = [(d, *composed_from(d, z, cz)) for d, z, cz in zip(data, oof, coof) if d["answerable"] and d["X"]]

    def composed_hits(choice: str, blend: float = 0.0, ratio: float = 0.75, rows=None) -> dict[str, bool]:
        """Per answerable item id: does the answer composed this way hold all its keywords?"""
        out = {}
        for d, cands, z in (compose_on if rows is None else rows):
            for c, zz in zip(cands, z):
                c.logit = zz
            answering.order_by_model(cands, choice, blend)
            text, _cit = answering.compose(answering.choose(list(cands), r.following_chunks, ratio=ratio))
            out[d["item"]["id"]] = all(japanese.compact(k) in japanese.compact(text) for k in d["item"].get("answer_keywords", []))
        return out

    def composed_hit(choice: str, blend: float = 0.0, ratio: float = 0.75) -> float:
        hits = composed_hits(choice, blend, ratio)
        return sum(hits.values()) / max(len(ans), 1)

    legacy_hit = composed_hit("prior")
    ratio_hits = {ratio: composed_hit("model", ratio=ratio) for ratio in (0.1, 0.2, 0.35, 0.5, 0.75)}
    blend_hits = {b: composed_hit("blend", blend=b) for b in (0.1, 0.2, 0.3, 0.5, 1.0)}
    print(f"keyword hit with the hand-weighted score and ratio 0.75 (no refusals): {legacy_hit:.3f}")
    print("keyword hit by keep_ratio, sentence model (out-of-fold):", ratio_hits)
    print("keyword hit by blend weight (out-of-fold):", blend_hits)
    # the fitted scores choose the answer only where they measurably beat the hand-weighted score
    options = [("prior", 0.0, 0.75, legacy_hit)]
    options += [("model", 0.0, ratio, h) for ratio, h in ratio_hits.items()]
    options += [("blend", b, 0.75, h) for b, h in blend_hits.items()]
    choice, blend, keep_ratio = _least_departure_within_one_se(options, len(ans))
    # --refusal-cost right: a refusal costs only where the answer would have held the asked fact (an
    # answerable question answered wrongly is no better off answered — a wrong answer on a city website is
    # worse than "not found"), so the false-refusal budget is spent on those questions alone
    right = composed_hits(choice, blend, keep_ratio)

    # answerability on out-of-fold sentence logits, itself cross-validated
    # (the bank nearness of a question never sees the question itself, nor, out of fold, its fold)
    yq = np.array([d["answerable"] for d in data])
    pq = np.zeros(len(data))
    rows = None
    sims, members = bank_similarities(data) if use_cos and BANK_K else (None, None)
    for k in range(5):
        tr = np.array([f != k for f in fold])
        near = list(bank_nearness(sims, data, members & tr, BANK_K)) if use_cos and BANK_K else None
        rows_k = question_rows(data, oof, near)
        Xk = matrix(rows_k, q_feats)
        m = fit_logistic(Xk[tr], yq[tr], q_feats, C=args.C, balanced=True)
        for i in np.where(~tr)[0]:
            pq[i] = m.prob(rows_k[i])
        rows = rows if rows is not None else rows_k
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(yq, pq)
    pos = np.sort(pq[yq])
    src = np.array([d["item"]["source"] for d in data])
    sub = np.array([subgroup(d) or "" for d in data])
    # the threshold rule pools the near misses with the rest of the out-of-scope list, as before they
    # were reported apart (a rule over a 20-question source would let it outweigh everything)
    th_rule = choose_threshold(pq, yq, np.where(np.isin(src, POOLED_AS_OOS), "oos", src), args.target_false_refusal, args.target_refusal)
    th = th_rule
    if args.threshold_rule == "bagged":
        counted = None
        if args.refusal_cost == "right":
            counted = np.array([bool(d["answerable"]) and right.get(d["item"]["id"], True)
                                and (args.plan_train_in_budget or d["item"]["source"] != "plan_train") for d in data])
            print(f"refusal cost: right answers only ({int(counted.sum())} of {int(yq.sum())} answerable questions "
                  "hold the asked fact out of fold and count towards the false-refusal budget)")
        th, ps = pooled_threshold(data, s_feats, q_feats, args.target_false_refusal, args.seeds, C=args.C, counted=counted)
        pooled_rates = pooled_report(ps, data, th, counted)
        print(f"out of fold, {args.seeds} fold seeds pooled, at the threshold: {json.dumps(pooled_rates, ensure_ascii=False)}")
        print(f"threshold: {args.threshold_rule} {th:.4f} over {args.seeds} fold seeds (the one-split rule would give {th_rule:.4f}; "
              f"false refusal ≤ {args.target_false_refusal} on one split at {operating_point.fr_threshold(pq, yq, args.target_false_refusal):.4f})")
    # hedge: answers weaker than the weakest fifth of the answerable training questions
    hedge = max(th, float(pos[int(np.floor(0.2 * len(pos)))])) if len(pos) else th
    report = {"oof_pooled": pooled_rates if args.threshold_rule == "bagged" else None, "auc_oof": round(float(auc), 3), "threshold": round(th, 4), "threshold_rule": args.threshold_rule,
              "threshold_seeds": args.seeds if args.threshold_rule != "rule" else 1, "threshold_one_split_rule": round(th_rule, 4),
              "C": args.C, "dropped": list(args.drop),
              "refusal_cost": args.refusal_cost,
              "false_refusal_oof": round(float((pq[yq] < th).mean()), 3)}
    right_mask = np.array([bool(d["answerable"]) and right.get(d["item"]["id"], True) for d in data])
    if right_mask.any():  # refusals that lose an answer holding the asked fact
        report["false_refusal_oof[right answers]"] = round(float((pq[right_mask] < th).mean()), 3)
    for s in sorted(set(src)):
        neg = (~yq) & (src == s)
        if neg.any():
            report[f"refusal_oof[{s}]"] = round(float((pq[neg] < th).mean()), 3)
        pos_s = yq & (src == s)
        if pos_s.any():  # where the false refusals come from: the QA sets, or the everyday in-scope questions
            report[f"false_refusal_oof[{s}]"] = round(float((pq[pos_s] < th).mean()), 3)
        para = pos_s & (sub == "paraphrase")
        if para.any():  # paraphrased questions, where false refusal concentrates
            report[f"false_refusal_oof[{s}/paraphrase]"] = round(float((pq[para] < th).mean()), 3)
    print(json.dumps(report, ensure_ascii=False))
    # the same model at fixed out-of-fold false refusal (thresholds at quantiles of the answerable
    # items' probabilities), so that two feature sets are compared on equal terms whatever the rule picks
    for fr in (0.05, 0.10):
        t = float(np.quantile(pq[yq], fr)) if yq.any() else 0.0
        at = {s: round(float((pq[(~yq) & (src == s)] < t).mean()), 3) for s in sorted(set(src)) if ((~yq) & (src == s)).any()}
        at |= {f"FR:{s}/paraphrase": round(float((pq[yq & (src == s) & (sub == "paraphrase")] < t).mean()), 3)
               for s in sorted(set(src)) if (yq & (src == s) & (sub == "paraphrase")).any()}
        print(f"at false refusal {fr:.2f} (threshold {t:.3f}): refused per source {json.dumps(at, ensure_ascii=False)}")
        report[f"refusal_at_fr{fr:.2f}"] = at
    if args.dump:
        Path(args.dump).write_text(json.dumps([
            {"id": d["item"]["id"], "source": d["item"]["source"], "answerable": bool(d["answerable"]), "p": float(p), "q": r,
             "question": d["item"]["question"], "paraphrase": bool(d["item"].get("paraphrase")),
             "right": right.get(d["item"]["id"]) if d["answerable"] else None}
            for d, p, r in zip(data, pq, rows)], ensure_ascii=False), encoding="utf-8")

    # final models on all training data
    s_model = sentence_fit(data + extra, s_feats)
    c_model = sentence_fit(data + extra, c_feats, side="s") if c_feats else None
    none = np.zeros(len(data), dtype=bool)
    near_all = list(bank_nearness(sims, data, members, BANK_K)) if use_cos and BANK_K else None
    rows_all = question_rows(data, [apply_sentence(s_model, d) for d in data], near_all)
    bank = bank_of(data, ~none) if use_cos and BANK_K else None
    q_model = fit_logistic(matrix(rows_all, q_feats), yq, q_feats, C=args.C, balanced=True)
    # held-out near misses (never fitted on): the final models and the chosen threshold on them
    if held:
        hdata = cached_extract(a, held, use_cos, args.features_cache)
        hnear = [bank.nearness(d["qvec"]) for d in hdata] if bank is not None else None
        hp = np.array([q_model.prob(r) for r in question_rows(hdata, [apply_sentence(s_model, d) for d in hdata], hnear)])
        hsrc = np.array([d["item"]["source"] for d in hdata])
        hy = np.array([d["answerable"] for d in hdata])
        hsub = np.array([subgroup(d) or "" for d in hdata])
        rates = per_source(hp, hy, hsrc, th)
        # refusals that lose an answer holding the asked fact (the final sentence model or chooser composing)
        hz = [apply_sentence(s_model, d) for d in hdata]
        hcz = [[c_model.logit(x) for x in d["sX"]] if c_model is not None and d.get("sX") is not None else None for d in hdata]
        hright = composed_hits(choice, blend, keep_ratio, [(d, *composed_from(d, z, cz)) for d, z, cz in zip(hdata, hz, hcz) if d["answerable"] and d["X"]])
        hr = np.array([bool(d["answerable"]) and hright.get(d["item"]["id"], False) for d in hdata])
        if hr.any():
            rates["FR:plan_train/right"] = float((hp[hr] < th).mean())
            rates["right_share"] = float(hr.sum() / max(hy.sum(), 1))
        if (hy & (hsub == "paraphrase")).any():
            rates["FR:plan_train/paraphrase"] = float((hp[hy & (hsub == "paraphrase")] < th).mean())
        report["held_out_plan_train"] = {k: round(v, 3) for k, v in rates.items()}
        print(f"plan training questions held out (never fitted on), final models at threshold {th:.3f}: "
              f"{json.dumps(report['held_out_plan_train'], ensure_ascii=False)}")
    check = [{"id": "chk:" + q[:12], "question": q, "docs": [], "source": "check"} for q in _lines(Path(args.check))] if args.check else []
    if check:
        cdata = cached_extract(a, check, use_cos, args.features_cache)
        cnear = [bank.nearness(d["qvec"]) if bank is not None else 0.0 for d in cdata] if use_cos and BANK_K else None
        cp = [q_model.prob(r) for r in question_rows(cdata, [apply_sentence(s_model, d) for d in cdata], cnear)]
        report["held_out_near_miss_refused"] = round(float(np.mean([p < th for p in cp])), 3)
        print(f"held-out near misses ({args.check}): refused {report['held_out_near_miss_refused']} of {len(cp)} at threshold {th:.3f}")
        for d, p in zip(cdata, cp):
            print(f"  {'refused ' if p < th else 'ANSWERED'} {p:.2f} [{d['detail']}] {d['item']['question']}")
    print("sentence coef:", {f: round(c, 2) for f, c in zip(s_feats, s_model.coef)})
    if c_model is not None:
        print("chooser coef:", {f: round(c, 2) for f, c in zip(c_feats, c_model.coef)})
    print("answerable coef:", {f: round(c, 2) for f, c in zip(q_feats, q_model.coef)})
    if args.write:
        key = evidence_model.LEXICAL if not use_cos else a.answer_encoder.model_id
        if reader_use is not None:
            key += evidence_model.READER_SUFFIX
        hashes = {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in [args.dev, *args.qa, args.out_of_scope, args.in_scope, *plan_train_files(args)]}
        entry = {
            "sentence": s_model.__dict__,
            "answerable": q_model.__dict__,
            "threshold": th,
            "hedge": hedge,
            "keep_ratio": keep_ratio,
            "choice": choice,
            "blend": blend,
            "bank": bank.to_dict() if bank is not None else None,
            "chooser": c_model.__dict__ if c_model is not None else None,
            "reader": {"k": reader_use.k, "search_k": reader_use.search_k, "floor": reader_use.floor, "sentence": reader_use.sentence.__dict__,
                       "weights_id": reader_use.weights_id} if reader_use is not None else None,
            "retrieval_model": a.embedder.model_id if use_cos else None,
            "fitted_on": {"data_sha256": hashes, "items": len(data), "answerable": int(yq.sum()), "jsquad_negatives": args.jsquad,
                          "model_fingerprint": a.answer_encoder.fingerprint[:16] if use_cos else None,
                          # checked at run time (answering.answer_model): cosines of other weights do not fit
                          "weights_id": getattr(a.answer_encoder, "weights_id", None) if use_cos else None,
                          # the chooser's scos features are this search encoder's cosines (checked like weights_id)
                          "search_weights_id": getattr(a.state.retriever.search_encoder, "weights_id", None) if c_model is not None else None},
            "oof": report | {"sentence_first": round(top1, 3), "sentence_top3": round(top3, 3),
                             "chooser_first": round(c1, 3) if c_feats else None, "chooser_top3": round(c3, 3) if c_feats else None, "keyword_hit_model": ratio_hits, "keyword_hit_blend": blend_hits, "keyword_hit_prior": round(legacy_hit, 3)},
        }
        path = ROOT / "assistant" / "data" / "answer_model.json"
        current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"models": {}}
        current.setdefault("models", {})[key] = entry
        tmp = path.with_suffix(".json.tmp")  # atomic: a killed fit never leaves a half-written model file
        tmp.write_text(json.dumps(current, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {key} to {path}")


if __name__ == "__main__":
    main()

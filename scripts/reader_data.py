"""The answer reader's training data, and its scores when the answer model is fitted (issue 10, §9.23).

``python scripts/reader_data.py`` writes ``.reader/pairs.json.gz``: for every question the answer model is
fitted on (``fit_answer_model.load_items``: the dev set, the tune split, the everyday and plan training
questions, the out-of-scope lists, 200 JSQuAD questions), its candidate sentences as the answer path finds
them (both sides: the passages answerability is judged on and those the answer is composed from), each as
the reader reads it (``answering.reader_text``) and labelled as the answer model labels it (the sentence,
or what choosing it brings, holds the question's evidence or an answer keyword). Training questions get a
fold (0–4, by a hash of the question); the dev set, the tune split and JSQuAD get -1: the reader never
trains on them (``scripts/train_reader.py`` scores them with its final model). The frozen test split is
not in the file at all. Per training question the pairs trained on (``train_idx``): its right candidates
(≤ 4), the five wrong ones the hand-weighted score ranks highest and two random wrong ones.

``StoredScores`` and ``add_features`` are what ``scripts/fit_answer_model.py --reader`` uses: the training
questions' reader scores out of fold (from ``train_reader.py``'s ``scores.npy``), the others' live.

    python scripts/reader_data.py [--features-cache FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from assistant import answering, japanese  # noqa: E402

OUT = ROOT / ".reader" / "pairs.json.gz"
# sources the reader never trains on: what the answer model is checked on (tune, dev) and JSQuAD's trivia
NOT_TRAINED = {"dev", "plan_qa.jsonl", "jsquad"}
FOLDS = 5
POSITIVES, HARD, RANDOM = 4, 5, 2
SEED = 0


def candidate_key(c) -> str:
    return japanese.compact(c.text) + "|" + c.hit.id


def question_candidates(row: dict) -> list:
    """The question's candidates of both sides, once each (a sentence of a passage both sides found)."""
    seen: dict[str, object] = {}
    for c in [*row["cands"], *(row["scands"] or [])]:
        seen.setdefault(candidate_key(c), c)
    return list(seen.values())


def fold_of(question: str) -> int:
    return zlib.crc32(japanese.compact(question).encode("utf-8")) % FOLDS


def export(rows: list[dict], retriever, out: Path = OUT) -> dict:
    """Write the pairs file (atomically); returns counts."""
    import fit_answer_model as F

    texts: list[str] = []
    text_id: dict[str, int] = {}
    questions = []
    rng = random.Random(SEED)
    for d in rows:
        it = d["item"]
        cands = question_candidates(d)
        ys = [int(bool(d["answerable"]) and F.label(F.brought(retriever, c), it)) for c in cands]
        ids = []
        for c in cands:
            t = answering.reader_text(retriever, c)
            ids.append(text_id.setdefault(t, len(text_id)))
            if ids[-1] == len(texts):
                texts.append(t)
        train = it["source"] not in NOT_TRAINED
        pos = [i for i, y in enumerate(ys) if y][:POSITIVES]
        neg = sorted((i for i, y in enumerate(ys) if not y), key=lambda i: -cands[i].score)
        pick = pos + neg[:HARD] + rng.sample(neg[HARD:], min(RANDOM, len(neg[HARD:])))
        questions.append({"id": it["id"], "source": it["source"], "q": it["question"], "answerable": bool(d["answerable"]),
                          "fold": fold_of(it["question"]) if train else -1, "cands": [[i, y] for i, y in zip(ids, ys)],
                          "train_idx": sorted(pick) if train else []})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump({"texts": texts, "questions": questions}, f, ensure_ascii=False)
    tmp.replace(out)
    return {"questions": len(questions), "texts": len(texts), "pairs": sum(len(q["cands"]) for q in questions),
            "train_pairs": sum(len(q["train_idx"]) for q in questions)}


class StoredScores:
    """A training run's scores (``train_reader.py --out``: ``scores.npy`` over its ``log.json``'s pairs file),
    looked up by (question, reader text): out of fold for the training questions. A training question's
    candidate the run did not score (``--fold-scores on-demand``) is read now by the run's model for its fold,
    so it stays out of fold."""

    def __init__(self, run: Path):
        import train_reader

        log = json.loads((run / "log.json").read_text(encoding="utf-8"))
        with gzip.open(log["args"]["pairs"], "rt", encoding="utf-8") as f:
            data = json.load(f)
        scores = np.load(run / "scores.npy")
        self.map: dict[tuple[str, str], float] = {}
        self.group: dict[str, int] = {}
        k = 0
        for q in data["questions"]:
            key = japanese.compact(q["q"])
            if q["fold"] >= 0 and log["args"]["folds"]:
                self.group[key] = train_reader.fold_group(q, log["args"]["folds"])
            for tid, _y in q["cands"]:
                if not np.isnan(scores[k]):
                    self.map[(key, data["texts"][tid])] = float(scores[k])
                k += 1
        self.folds = train_reader.FoldReaders(run)
        self.hits = self.misses = self.fold_reads = 0

    def scores(self, question: str, texts: list[str]) -> list[float | None]:
        """Each text's stored (or now out-of-fold) score; None where only the bundled reader can read it
        (a question the run never trained on)."""
        key = japanese.compact(question)
        group = self.group.get(key)
        todo = [t for t in dict.fromkeys(texts) if (key, t) not in self.map]
        if todo and group is not None and self.folds.available(group):
            for t, v in zip(todo, self.folds.scores(group, question, todo)):
                self.map[(key, t)] = float(v)
            self.fold_reads += len(todo)
        got = [self.map.get((key, t)) for t in texts]
        self.hits += sum(v is not None for v in got)
        self.misses += sum(v is None for v in got)
        return got


def add_features(rows: list[dict], use, stored: StoredScores, retriever, chooser=None) -> None:
    """The reader's features on each row's judging-side candidates (``answering.add_reader_features`` with
    the entry's first stage ``use``, and the search side's first ``use.search_k`` in ``chooser``'s order):
    stored scores where the run has them, else read now by the bundled reader (questions the run never saw:
    the held-out checks)."""
    rd = retriever.reader

    def reader_for(question: str):
        def read(cands) -> np.ndarray:
            texts = [answering.reader_text(retriever, c) for c in cands]
            got = stored.scores(question, texts)
            todo = [t for t, v in zip(texts, got) if v is None]
            live = dict(zip(todo, rd.scores(question, todo))) if todo else {}
            return np.array([v if v is not None else live[t] for t, v in zip(texts, got)])
        return read

    for d in rows:
        search_side = sorted(d.get("scands") or [], key=lambda c: -chooser.logit(c.features)) if chooser is not None else []
        answering.add_reader_features(use, d["cands"], reader_for(d["item"]["question"]), search_side)


def main(argv: list[str] | None = None) -> None:
    import fit_answer_model as F
    from assistant import Assistant

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features-cache", default=None, metavar="FILE", help="as fit_answer_model.py's (reuses extracted rows)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    ns = argparse.Namespace(dev=str(F.SHARED / "devset" / "qa.jsonl"), qa=[str(ROOT / "eval" / "plan_qa.jsonl")],
                            in_scope=str(ROOT / "scripts" / "data" / "in_scope_train.jsonl"), plan_train=[str(F.PLAN_TRAIN_DIR)],
                            out_of_scope=str(ROOT / "scripts" / "data" / "out_of_scope_train.txt"),
                            jsquad_file=str(F.SHARED / "bench" / "jsquad-valid-v1.3.json"), jsquad=200)
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    items = F.load_items(ns)
    rows = F.cached_extract(a, items, True, args.features_cache)
    print(json.dumps(export(rows, a.state.retriever, Path(args.out))))


if __name__ == "__main__":
    main()

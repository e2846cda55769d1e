"""Print the evidence scores that decide refusal, to set ``answering.REFUSAL_THRESHOLD``.

This calibrates the hand-weighted evidence score, used when the answer encoder is ``bundled:chive-ja``
(``ASSISTANT_ANSWER_MODEL=same`` with the default search model). The default path (e5 answer encoder)
is fitted by ``scripts/fit_answer_model.py`` instead.

Positives: the dev set's answerable questions. Negatives: its unanswerable questions plus JSQuAD
validation questions (Wikipedia trivia) asked against the bundled corpus, which cannot answer them.
For each candidate threshold it prints the refusal rate on negatives and the false-refusal rate
on positives, so the choice is visible and reproducible:

    python scripts/calibrate_refusal.py [--jsquad N]
"""

from __future__ import annotations

import argparse
import os
import json
import random
from pathlib import Path

from assistant import Assistant
from assistant.evaluation import jsquad_corpus

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qa", default=str(SHARED / "devset" / "qa.jsonl"))
    ap.add_argument("--jsquad-file", default=str(SHARED / "bench" / "jsquad-valid-v1.3.json"))
    ap.add_argument("--jsquad", type=int, default=300, help="how many JSQuAD questions to sample")
    ap.add_argument("--index", default=str(ROOT / "index"))
    args = ap.parse_args()
    os.environ.setdefault("ASSISTANT_ANSWER_MODEL", "same")  # the hand-weighted evidence path (see above)

    a = Assistant.load(ROOT / "corpus", args.index)
    items = [json.loads(x) for x in Path(args.qa).read_text(encoding="utf-8").splitlines() if x.strip()]
    pos = [a.ask(it["question"]).confidence for it in items if it.get("docs")]
    neg_dev = [a.ask(it["question"]).confidence for it in items if not it.get("docs")]
    _paras, questions = jsquad_corpus(Path(args.jsquad_file))
    random.Random(0).shuffle(questions)
    neg_jsq = [a.ask(q).confidence for q, _pid in questions[: args.jsquad]]

    def rate(xs, th):
        return sum(x < th for x in xs) / max(len(xs), 1)

    print(f"positives {len(pos)}, dev negatives {len(neg_dev)}, JSQuAD negatives {len(neg_jsq)}")
    print("dev answerable:", sorted(round(x, 3) for x in pos))
    print("dev unanswerable:", sorted(round(x, 3) for x in neg_dev))
    print("threshold  false-refusal(dev)  refusal(dev-unans)  refusal(JSQuAD)")
    for th in [x / 100 for x in range(10, 61)]:
        print(f"  {th:.2f}      {rate(pos, th):.3f}             {rate(neg_dev, th):.3f}            {rate(neg_jsq, th):.3f}")


if __name__ == "__main__":
    main()

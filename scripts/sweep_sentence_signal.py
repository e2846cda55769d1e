"""Search with the sentence signal off / on at several settings, on the tune split + dev set.

    OMP_NUM_THREADS=1 python scripts/sweep_sentence_signal.py                # the §9.1 sweep
    OMP_NUM_THREADS=1 python scripts/sweep_sentence_signal.py rerank:0.35:10 fuse:0.3:0

Each setting is MODE:WEIGHT:N (retrieval.SENTENCE_MODE / SENTENCE_WEIGHT / RERANK_N); ``fitted:0:0`` is the
fitted pool reranker of assistant/rerank.py (in-sample on these items: its out-of-fold figures come from
scripts/fit_rerank_model.py). Prints R@1/R@5/MRR@10
on tune, dev, the tune split's paraphrased items, the rest of tune, all, and how many items entered /
left the top 5 against the first setting. Never reads the test split.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.evaluation import _rank, load_qa  # noqa: E402

DEFAULT = ["rerank:0:10"] + [f"rerank:{w}:{n}" for n in (10, 20, 30, 50) for w in (0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)] + [
    f"fuse:{w}:0" for w in (0.1, 0.2, 0.3, 0.4, 0.5)]


def main(specs: list[str]) -> None:
    a = Assistant.load(ROOT / "corpus", ROOT / "index")
    r = a.state.retriever
    items = [("tune", it) for it in load_qa(ROOT / "eval/plan_qa.jsonl", "tune")]
    items += [("dev", json.loads(x)) for x in (ROOT.parent / "shared/devset/qa.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    items = [(s, it) for s, it in items if it.get("docs")]

    def summary(out, pred):
        rs = [v[2] for v in out.values() if pred(v)]
        n = len(rs)
        return f"{sum(1 for x in rs if x and x <= 1) / n:.3f}/{sum(1 for x in rs if x and x <= 5) / n:.3f}/{sum(1 / x for x in rs if x) / n:.3f} ({n})"

    base = None
    print("setting: R@1/R@5/MRR@10 on tune | dev | tune paraphrased | tune other | all; +in/-out of top 5")
    for spec in specs:
        mode, w, n = spec.split(":")
        r.sentence_mode, r.sentence_weight, r.rerank_n = mode, float(w), int(n)
        out = {}
        for s, it in items:
            hits = a.search(it["question"], k=10)
            out[s + it["id"]] = (s, bool(it.get("paraphrase")), _rank(hits, it["docs"], it.get("evidence", [])))
        base = base or out
        gain = sum(1 for k in out if (out[k][2] or 99) <= 5 < (base[k][2] or 99))
        loss = sum(1 for k in out if (base[k][2] or 99) <= 5 < (out[k][2] or 99))
        print(spec, "|", summary(out, lambda v: v[0] == "tune"), "|", summary(out, lambda v: v[0] == "dev"), "|",
              summary(out, lambda v: v[0] == "tune" and v[1]), "|", summary(out, lambda v: v[0] == "tune" and not v[1]), "|",
              summary(out, lambda v: True), f"| +{gain} -{loss}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)

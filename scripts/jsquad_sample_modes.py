"""JSQuAD-valid on a bounded sample, search's sentence modes side by side (docs/BENCHMARKS.md §9.1, §9.4).

The full set would need ~10k sentences embedded with e5 (≥ 15 min on 2 cores), so the sample is the
paragraphs of the first N article titles and all their questions (N = 6: 183 paragraphs, 741 questions).

    OMP_NUM_THREADS=1 python scripts/jsquad_sample_modes.py [--articles 6] [rerank:0.35:10 gated:0.35:10 ...]

A mode may end in ``@answer`` (``gated:0.35:10@answer``): search's answer side (``Retriever.search(side=
"answer")``: the untouched e5's sentence vectors instead of the fine-tuned search encoder's, §9.19).
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation import _retrieval_metrics, jsquad_corpus, paragraph_assistant  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(ROOT.parent / "shared" / "bench" / "jsquad-valid-v1.3.json"))
    ap.add_argument("--articles", type=int, default=6)
    ap.add_argument("modes", nargs="*", default=["rerank:0.35:10", "gated:0.35:10", "gated:0.35:10@answer"])
    args = ap.parse_args()
    paras, questions = jsquad_corpus(Path(args.file))
    titles = list(dict.fromkeys(p["title"] for p in paras))[: args.articles]
    paras = [p for p in paras if p["title"] in titles]
    ids = {p["id"] for p in paras}
    questions = [(q, pid) for q, pid in questions if pid in ids]
    print(f"{len(titles)} articles, {len(paras)} paragraphs, {len(questions)} questions", flush=True)
    with paragraph_assistant(paras, "jsquad-sample", None) as (a, build_s):
        print(f"build {build_s:.0f} s", flush=True)
        r = a.state.retriever
        for spec in args.modes:
            mode_spec, _, side = spec.partition("@")
            mode, w, n = mode_spec.split(":")
            r.sentence_mode, r.sentence_weight, r.rerank_n = mode, float(w), int(n)
            t0 = time.perf_counter()
            ranks = []
            for q, pid in questions:
                hits = r.search(q, k=10, side=side) if side else a.search(q, k=10)
                ranks.append(next((i for i, h in enumerate(hits, 1) if h.doc_id == pid), None))
            ms = 1000 * (time.perf_counter() - t0) / max(len(questions), 1)
            m = _retrieval_metrics(ranks)
            print(f"{spec}: R@1 {m['R@1']:.3f} R@5 {m['R@5']:.3f} MRR@10 {m['MRR@10']:.3f} ({ms:.0f} ms/question)", flush=True)


if __name__ == "__main__":
    main()

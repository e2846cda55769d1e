"""Where a one-shot question spends its start-up: imports, Assistant.load, query vectors, answer.

    python scripts/bench_oneshot.py [--corpus corpus] [--index index] [--question Q]

Prints wall and CPU seconds per step (CPU is the figure to compare on a shared machine) and
whether torch / sentence-transformers got imported. Reported in docs/bench/ingest.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT / "corpus"))
    ap.add_argument("--index", default=str(ROOT / "index"))
    ap.add_argument("--question", default="子育て支援の補助金はいくらですか")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()

    def lap(label: str) -> None:
        nonlocal t0, c0
        t, c = time.perf_counter(), time.process_time()
        print(f"{label:<44} {t - t0:6.2f} s wall {c - c0:6.2f} s CPU", flush=True)
        t0, c0 = t, c

    from assistant.core import Assistant

    lap("import assistant.core")
    a = Assistant.load(args.corpus, args.index)
    lap("Assistant.load (models opened, index loaded)")
    retriever = a._state.retriever
    retriever.query_vector(args.question)
    lap("search-model query vector")
    retriever.answer_query_vector(args.question)
    lap("answer-model (e5) query vector")
    a.ask(args.question)
    lap("ask (retrieval + answer)")
    print("imported:", ", ".join(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

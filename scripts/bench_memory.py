"""Memory of a serving process on the bundled corpus: resident set after load and after answering.

Each configuration runs in its own fresh process (peak RSS never goes down, so two in one process would
mix) over its own copy of ``index/`` (a configuration whose index differs is built there first, in another
process, so that the measured one only loads), answers a fixed list of questions and prints its RSS and
peak RSS in MB. ``--search-encoder none`` is the process without the fine-tuned search encoder (one
sentence encoder), the default is the shipped one, so the difference is what the second encoder costs.

    python scripts/bench_memory.py                  # both configurations, side by side
    python scripts/bench_memory.py --one default    # one configuration (what the parent runs)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["NPOを立ち上げたい。市はどんな支援をしてくれる？", "ボランティアを始めるには？", "NPO法人認証数の目標値は？",
             "地域づくり協議会とは何ですか", "自治会の加入率はどのくらい？", "市長と話せる場はある？"]
CONFIGS = {"default": None, "none": "none"}


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one(config: str, index_dir: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from assistant import Assistant

    t0 = time.time()
    a = Assistant.load(ROOT / "corpus", index_dir)
    after_load = rss_mb()
    for q in QUESTIONS:
        a.ask(q)
    return {"config": config, "search_encoder": getattr(a.state.retriever.search_encoder, "model_id", None),
            "rss_after_load_mb": round(after_load), "rss_after_answers_mb": round(rss_mb()),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "seconds": round(time.time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", choices=sorted(CONFIGS), help="measure one configuration in this process")
    ap.add_argument("--index", default=str(ROOT / "index"), help="the index directory (the parent passes a copy)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, Path(args.index))))
        return
    for config, value in CONFIGS.items():
        env = dict(os.environ)
        env.pop("ASSISTANT_SEARCH_SENTENCE_MODEL", None)
        if value:
            env["ASSISTANT_SEARCH_SENTENCE_MODEL"] = value
        with tempfile.TemporaryDirectory() as tmp:
            idx = Path(tmp) / "index"
            shutil.copytree(args.index, idx, symlinks=True)
            run = [sys.executable, __file__, "--one", config, "--index", str(idx)]
            subprocess.run(run, env=env, capture_output=True, text=True, check=True)  # builds if this config's index differs
            out = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

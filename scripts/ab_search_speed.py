"""Before / after of a search speed change on one loaded index, alternated so both see the same load
(issue 13, docs/BENCHMARKS.md §4.1 third pass).

    git show c4c6212:assistant/backends/local.py > /tmp/old_local.py
    OMP_NUM_THREADS=1 nice -n 10 python scripts/ab_search_speed.py INDEX_DIR --old-local /tmp/old_local.py \
        [--rounds 2] [--city 青森市]

"Before" is ``LocalBackend._pooled_search`` and ``mask`` of the given older ``backends/local.py`` plus the
old object-array city factor of retrieval (``np.isin`` over every passage's municipality), patched in for
every other search; "after" is this checkout. Each dev question is searched (k = 10) with both, the order
alternating per round. Prints p50 / p95 of each and how many top-10 lists (ids and scores) are identical.
``--city NAME``: the bundled city names in the questions are replaced by NAME, as bench_scale's synthetic
passages replaced them, so the city factor runs (the synthetic index has none of the bundled cities).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> None:
    import numpy as np

    import bench_scale
    from assistant import conversation, core, index, retrieval
    from assistant.backends import local
    from assistant.embedding import load_embedder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("where", type=Path)
    ap.add_argument("--old-local", type=Path, required=True, help="an older assistant/backends/local.py")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--city", default=None)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("assistant.backends._old_local", a.old_local)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    new_methods = {"_pooled_search": local.LocalBackend._pooled_search, "mask": local.LocalBackend.mask}
    old_methods = {"_pooled_search": old.LocalBackend._pooled_search, "mask": old.LocalBackend.mask}
    new_city = retrieval.Retriever._city_factor

    def old_city(self, qa):
        out = np.ones(len(self.index.chunks), dtype=np.float32)
        if qa.municipalities and len(self.municipalities) > 1:
            named = np.isin(self._muni, qa.municipalities)
            unknown = self._muni == "不明"
            out = np.where(named, 1.0, np.where(unknown, retrieval.UNKNOWN_CITY_FACTOR, retrieval.OTHER_CITY_FACTOR)).astype(np.float32)
        return out

    columns = {True: {}, False: {}}  # each version keeps its own filter-column cache (built once)

    def use(before: bool) -> None:
        for name, f in (old_methods if before else new_methods).items():
            setattr(local.LocalBackend, name, f)
        retrieval.Retriever._city_factor = old_city if before else new_city
        loaded.__dict__["_filter_columns"] = columns[before]

    emb = load_embedder()
    loaded = index.load(a.where, None, verify=False)
    r = retrieval.Retriever(loaded, emb, neighbours=core._word_vectors_for(emb))
    qs = [conversation.clean_question(json.loads(x)["question"])[0] for x in bench_scale.DEVSET.read_text(encoding="utf-8").splitlines() if x.strip()]
    if a.city:
        city_re = re.compile("|".join(map(re.escape, bench_scale.BUNDLED_CITIES)))
        qs = [city_re.sub(a.city, q) for q in qs]
    named = sum(bool(r.analyze(q).municipalities) for q in qs)
    for before in (True, False):  # warm-up of both
        use(before)
        for q in qs:
            r.search(q, k=10)
    lat = {True: [], False: []}
    same = 0
    for rnd in range(a.rounds):
        for q in qs:
            got = {}
            for before in ((True, False) if rnd % 2 == 0 else (False, True)):
                use(before)
                t = time.perf_counter()
                hits = r.search(q, k=10)
                lat[before].append(1000 * (time.perf_counter() - t))
                got[before] = [(h.id, round(h.score, 6)) for h in hits]
            same += got[True] == got[False]
    use(False)

    def pct(v, p):
        v = sorted(v)
        return round(v[int(p * (len(v) - 1))], 1)
    print(json.dumps({"index": str(a.where), "passages": len(loaded.chunks), "questions": len(qs), "city": a.city,
                      "questions_naming_a_city_of_the_index": named, "rounds": a.rounds,
                      "before_p50_p95_ms": [pct(lat[True], .5), pct(lat[True], .95)],
                      "after_p50_p95_ms": [pct(lat[False], .5), pct(lat[False], .95)],
                      "same_top10": f"{same}/{len(qs) * a.rounds}", "load_avg": [round(x, 2) for x in os.getloadavg()],
                      "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Per-passage CPU cost of a large build's shard work (embed + tokenize + phrase counts), before/after
two exact changes (ChiveTokenizer lookup memo, content_words without Token objects; the old paths are
patched back in for "before"), alternated in one process so both see the same load. process_time:
CPU seconds, not wall time, so a loaded machine slows both alike (docs/BENCHMARKS.md §4.1).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/ab_shard_cpu.py [BATCH=1000]
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import bench_scale
import numpy as np
from assistant import chive_vocab, index, japanese, large_build
from assistant.embedding import load_embedder
from assistant.query import load_thesaurus

emb = load_embedder()
ch = bench_scale.synthetic_chunks(10000)
keys = large_build.phrase_keys(load_thesaurus().map.keys())
automaton = large_build._automaton(keys)
memo_lookup = chive_vocab.ChiveTokenizer._lookup
new_content = japanese.content_words
def old_content(text):
    return [t.lemma for t in japanese.analyze(text) if japanese.is_content(t)]
def shard(part, new, phrases):
    chive_vocab.ChiveTokenizer._lookup = memo_lookup if new else chive_vocab.ChiveTokenizer._lookup_uncached
    japanese.content_words = new_content if new else old_content
    try:
        v = emb.encode_passages([index.passage_text(c) for c in part])
        toks = []
        for c in part:
            text = index.index_text(c)
            if phrases:
                {i for _e, i in automaton.iter(large_build.phrase_key(text))}
            toks.append(japanese.search_tokens(text))
        return v, toks
    finally:
        chive_vocab.ChiveTokenizer._lookup = memo_lookup
        japanese.content_words = new_content
emb.encode_passages(["準備"])
B = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
res = {"before": [], "after": [], "after+phrases": []}
for r in range(len(ch) // (3 * B)):
    for j, name in enumerate(["before", "after", "after+phrases"][r % 3:] + ["before", "after", "after+phrases"][:r % 3]):
        lo = (3 * r + j) * B
        t = time.process_time()
        shard(ch[lo:lo + B], name != "before", name == "after+phrases")
        res[name].append(1000 * (time.process_time() - t) / B)
a, b = shard(ch[:300], False, False), shard(ch[:300], True, False)
assert np.array_equal(a[0], b[0]) and a[1] == b[1], "the same vectors and tokens"
print({k: round(float(np.mean(v)), 3) for k, v in res.items()}, "ms CPU per passage;", {k: len(v) for k, v in res.items()}, "batches of", B)

"""kill -9 at random moments of a builder, then check what an operator would find.

A child process rebuilds a small corpus again and again (each round changes a document, every
other round is a ``--force`` rebuild, so the passage cache, the embedding cache, the build
directory, ``current`` and pruning are all being written); the test kills it with SIGKILL at a
random moment, several times. After every kill:

* ``current`` still loads with every checksum verified (the previous build keeps serving);
* every passage cache entry on disk is complete (atomic writes: a killed write leaves only a
  ``*.tmp`` file, never half an entry under a real name).

At the end one ordinary load cleans every leftover and answers exactly like an index built from
scratch out of the same corpus. The builders embed with ``HashEmbedder`` (character bigrams
hashed into a small vector): what is under test is how the index is written, not the model, and
a process that starts in a second can be killed many times. Bounded: well under a minute.
``CRASH_SEED=n`` replays a run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, index, passage_cache

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
ROUNDS = 6


class HashEmbedder:
    """A deterministic stand-in for the sentence model: hashed character bigrams, L2-normalized."""

    model_id = "test/hash-bigrams"
    fingerprint = "test-hash-bigrams-v1"
    dim = 64
    dense_weight = 0.3
    query_prefix = passage_prefix = ""

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for a, b in zip(text, text[1:]):
            v[hash_bigram(a + b) % self.dim] += 1.0
        return v / (np.linalg.norm(v) or 1.0)

    def encode_passages(self, texts, show_progress=False, batch_size=64):
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def encode_queries(self, texts):
        return self.encode_passages(texts)

    def word_neighbours(self, word, k=5):
        return []


def hash_bigram(s: str) -> int:
    return int.from_bytes(s.encode("utf-8")[:8].ljust(8, b"\0"), "little") * 2654435761 % (1 << 31)


def open_assistant(corpus_dir: Path, index_dir: Path) -> Assistant:
    a = Assistant(corpus_dir, index_dir, HashEmbedder())
    a.refresh()
    return a


CHILD = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from test_reliability_crash import open_assistant

corpus, idx = Path(sys.argv[1]), Path(sys.argv[2])
a = open_assistant(corpus, idx)
print("ready", flush=True)
i = int(sys.argv[3])
while True:
    i += 1
    (corpus / "extra.md").write_text(f"# 追加の計画\n\n## 第{i}版\n\n協働ポイント制度の第{i}版を定めます。\n", encoding="utf-8")
    a.refresh(force=i % 2 == 0)
"""


def leftovers(index_dir: Path) -> list[str]:
    pats = ["builds/.staging-*", "cache/*.tmp", "cache/passages/*.tmp", ".current.*.tmp", ".replaced-current-*"]
    return sorted(str(p.relative_to(index_dir)) for pat in pats for p in index_dir.glob(pat))


def test_kill_9_at_random_moments_of_builds_never_breaks_the_index(small_corpus, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    idx = tmp_path / "index"
    open_assistant(small_corpus, idx)
    kills = []
    for round_no in range(ROUNDS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(small_corpus), str(idx), str(round_no * 1000), str(HERE)],
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert child.stdout.readline().strip() == b"ready", f"seed {seed}: child did not start"
            delay = rng.uniform(0.05, 1.5)
            try:
                child.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
            assert child.poll() is None, f"seed {seed}: the builder died on its own"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        kills.append((round(delay, 2), leftovers(idx)))
        index.load(idx, verify=True)  # raises if a kill left `current` pointing at anything incomplete
        for entry in (idx / "cache" / "passages").glob("*.jsonl"):
            passage_cache.decode_entry(entry.read_bytes())  # raises CacheEntryError on half an entry

    a = open_assistant(small_corpus, idx)
    assert leftovers(idx) == [], f"seed {seed}"
    fresh_dir = tmp_path / "fresh"
    shutil.copytree(small_corpus, fresh_dir / "corpus")
    fresh = open_assistant(fresh_dir / "corpus", fresh_dir / "index")
    assert [c.text for c in a.state.search_index.chunks] == [c.text for c in fresh.state.search_index.chunks], f"seed {seed}"
    question = "協働ポイント制度はありますか？"
    assert a.ask(question).text == fresh.ask(question).text, f"seed {seed}"
    print(f"seed {seed}: kills after (s, leftovers) {kills}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_crash_test_really_kills_builders_mid_write(small_corpus, tmp_path):
    """The test above must be able to fail: a builder killed mid-build does leave leftovers that a
    later build has to clean (if it never did, the test would prove nothing)."""
    idx = tmp_path / "index"
    open_assistant(small_corpus, idx)
    seen = set()
    for attempt in range(6):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(small_corpus), str(idx), str(attempt * 1000), str(HERE)],
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert child.stdout.readline().strip() == b"ready"
            for _ in range(2000):
                time.sleep(0.002)
                found = leftovers(idx)
                if found:
                    os.kill(child.pid, signal.SIGKILL)
                    seen.update(found)
                    break
        finally:
            child.kill()
            child.wait()
        if seen:
            break
    assert seen, "never caught a build in the middle of writing"
    open_assistant(small_corpus, idx)
    assert leftovers(idx) == []

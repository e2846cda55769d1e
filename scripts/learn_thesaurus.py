"""Learn one-way thesaurus rules 「住民の言い方 => 計画書の言い方」 from the plan training questions (issue 10).

Why: a paraphrased question shares no content word with the passage that answers it, so BM25 — which
carries exact names and numbers — scores nothing, and the hand-written thesaurus (``assistant/data/
thesaurus.txt``) covers only the everyday words its writer thought of. The plan training questions
(``scripts/data/plan_train/*.jsonl``, ~1,000 answerable ones, most written as paraphrases) pair a resident's
words with the plan sentence that answers them: a word that keeps appearing in questions whose answer
sentence lacks it, together with a plan word those answer sentences keep having, is a translation the
plans' readers make (スタッフ → 職員, アドバイス → 助言, ジェンダー → 男女, ちびっこ → 子供).

How, per answerable training question: its content lemmas absent from its answer sentence(s) (``gap``
words; municipality names, question words and one-character lemmas left out) and the answer sentences'
content lemmas absent from the question. A rule ``q => s`` needs the pair in ≥ ``MIN_PAIR`` questions, s
in ≥ ``MIN_SHARE`` of the questions whose gap holds q, and a lift (that share over s's share among all
answer sentences) ≥ ``MIN_LIFT``, so words every plan sentence has (市民, 地域) are not learnt; q must be a
noun, verb or adjective but not a proper noun, neither side a bare number; the ``TOP`` best targets per word are kept (share ×
log lift). These bounds were set by reading the rules once, before any measurement.

Honesty: a training question that nearly copies any evaluation or dev question is left out
(``finetune_e5_data.near_copies``, as for the e5 fine-tune), so no figure is measured on a question a rule
was learnt from. The output records the inputs' sha256 and the bounds; ``tests/test_learned_thesaurus.py``
checks that it is the one these inputs give.

    python scripts/learn_thesaurus.py            # writes assistant/data/thesaurus_learned.txt
    python scripts/learn_thesaurus.py --out /tmp/t.txt --min-lift 4
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import finetune_e5_data as D  # noqa: E402

from assistant import chunking, corpus, japanese  # noqa: E402
from assistant.query import _QUESTION_LEMMAS  # noqa: E402

OUT = ROOT / "assistant" / "data" / "thesaurus_learned.txt"
MIN_PAIR = 2
MIN_SHARE = 0.25
MIN_LIFT = 6.0
TOP = 3
_NUMBER = re.compile(r"^[0-9.,%]+$")
_RULE_POS = ("名詞", "動詞", "形容詞")


def gap_words(text: str, skip: set[str]) -> set[str]:
    """Content lemmas of ``text`` that can carry a rule (not a question word, a place name or one character)."""
    return {w for w in japanese.content_words(text) if w not in _QUESTION_LEMMAS and w not in skip and len(w) >= 2}


def can_be_key(word: str) -> bool:
    """A rule's left side must be a word a question is looked up by: a noun, verb or adjective lemma, not a
    proper noun (search never paraphrases names: ``query.analyze_query`` skips them)."""
    toks = japanese.analyze(word)
    return (bool(toks) and toks[0].pos1 in _RULE_POS and toks[0].pos2 != "固有名詞"
            and not _NUMBER.match(japanese.normalize(word)))


def is_noun(word: str) -> bool:
    """Whether ``word`` reads as a noun (its first token): a plan word a rule may point to with ``--noun-targets``."""
    toks = japanese.analyze(word)
    return bool(toks) and toks[0].pos1 == "名詞"


def learn(pairs: list[tuple[set[str], set[str]]], min_pair: int = MIN_PAIR, min_share: float = MIN_SHARE,
          min_lift: float = MIN_LIFT, top: int = TOP, noun_targets: bool = False) -> dict[str, list[str]]:
    """Rules from (question words, answer-sentence words) pairs: ``{question word: [plan words, best first]}``."""
    n_q, n_s, n_qs = Counter(), Counter(), Counter()
    for q_words, s_words in pairs:
        gq, gs = q_words - s_words, s_words - q_words
        n_q.update(gq)
        n_s.update(gs)
        n_qs.update((q, s) for q in gq for s in gs)
    n = max(len(pairs), 1)
    scored: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (q, s), c in n_qs.items():
        if c < min_pair or _NUMBER.match(japanese.normalize(s)) or (noun_targets and not is_noun(s)):
            continue
        share = c / n_q[q]
        lift = share / (n_s[s] / n)
        if share >= min_share and lift >= min_lift:
            scored[q].append((share * math.log(lift), s))
    rules = {}
    for q in sorted(scored):
        if can_be_key(q):
            rules[q] = [s for _score, s in sorted(scored[q], key=lambda x: (-x[0], x[1]))[:top]]
    return rules


def training_pairs(corpus_dir: Path, files: list[Path]) -> tuple[list[tuple[set[str], set[str]]], dict]:
    """(question words, answer-sentence words) per answerable plan training question, and counts."""
    chunks = list(chunking.chunk_corpus(corpus.load_corpus(corpus_dir)))
    sents: list[str] = []
    offsets = [0]
    for c in chunks:
        sents += japanese.split_sentences(c.text)
        offsets.append(len(sents))
    towns = {japanese.normalize(c.municipality).removesuffix("市").removesuffix("町") for c in chunks if c.municipality}
    items = [it for it in D.load_items(files) if it.get("docs") and it.get("evidence")]
    copies = D.near_copies(items, D.protected_questions())
    pairs, no_sentence = [], 0
    for it in items:
        if it["id"] in copies:
            continue
        pos, _ = D.answer_sentences(chunks, offsets, sents, it["docs"], it["evidence"])
        if not pos:
            no_sentence += 1
            continue
        pairs.append((gap_words(it["question"], towns), set().union(*(gap_words(sents[p], towns) for p in pos))))
    return pairs, {"answerable": len(items), "near_copies": len(copies), "no_sentence": no_sentence, "used": len(pairs)}


def render(rules: dict[str, list[str]], files: list[Path], stats: dict, bounds: dict) -> str:
    head = [
        "# 学習した言い換え (machizukuri-qa): 住民の言い方 => 計画書の言い方",
        "# Generated by scripts/learn_thesaurus.py from the plan training questions; do not edit by hand",
        "# (a city's own words go in thesaurus.txt). Rerun the script after the training files change.",
        "# bounds: " + ", ".join(f"{k}={v}" for k, v in bounds.items()),
        "# questions: " + ", ".join(f"{k}={v}" for k, v in stats.items()),
    ]
    head += [f"# sha256 {f.relative_to(ROOT).as_posix()} {hashlib.sha256(f.read_bytes()).hexdigest()}" for f in files]
    return "\n".join(head + [f"{q} => {', '.join(ss)}" for q, ss in rules.items()]) + "\n"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--corpus", default=str(ROOT / "corpus"))
    ap.add_argument("--plan-train", default=D.PLAN_TRAIN_GLOB, help="comma-separated globs of plan training files")
    ap.add_argument("--min-pair", type=int, default=MIN_PAIR)
    ap.add_argument("--min-share", type=float, default=MIN_SHARE)
    ap.add_argument("--min-lift", type=float, default=MIN_LIFT)
    ap.add_argument("--top", type=int, default=TOP)
    ap.add_argument("--noun-targets", action="store_true", help="rules point to plan nouns only (measured, not the default)")
    args = ap.parse_args()
    files = D.plan_train_files(args.plan_train)
    if not files:
        raise SystemExit(f"no plan training files match {args.plan_train}")
    pairs, stats = training_pairs(Path(args.corpus), files)
    bounds = {"min_pair": args.min_pair, "min_share": args.min_share, "min_lift": args.min_lift, "top": args.top,
              **({"noun_targets": True} if args.noun_targets else {})}
    rules = learn(pairs, args.min_pair, args.min_share, args.min_lift, args.top, args.noun_targets)
    write_atomic(Path(args.out), render(rules, files, stats, bounds))
    print(f"{len(rules)} rules from {stats['used']} questions ({stats}) → {args.out}")


if __name__ == "__main__":
    main()

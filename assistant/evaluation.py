"""Evaluation: retrieval and answer quality on a QA set, and paragraph retrieval on JSQuAD.

QA set format (``../shared/devset/qa.jsonl``): ``{"id","question","docs","evidence","answer_keywords","type"}``.
A retrieved passage is *relevant* when it comes from one of ``docs`` and contains one of ``evidence``
after NFKC + whitespace removal. Items with no ``docs`` are unanswerable: the assistant should refuse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

from . import cpu
from .japanese import compact, content_words

log = logging.getLogger(__name__)


def _rank(hits, docs: list[str], evidence: list[str]) -> int | None:
    ev = [compact(e) for e in evidence]
    for i, h in enumerate(hits, 1):
        if h.doc_id in docs and (not ev or any(e in compact(h.text) for e in ev)):
            return i
    return None


def _retrieval_metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {
        "n": len(ranks),
        "R@1": sum(1 for r in ranks if r and r <= 1) / n,
        "R@5": sum(1 for r in ranks if r and r <= 5) / n,
        "R@10": sum(1 for r in ranks if r and r <= 10) / n,
        "MRR@10": sum(1 / r for r in ranks if r and r <= 10) / n,
    }


# Municipality names and the bare 市/町 do not count as shared words (eval/README.md).
PARAPHRASE_IGNORED_WORDS = frozenset({"山陽小野田", "山口", "長門", "日南", "市", "町"})


def is_paraphrase(question: str, passages: Iterable[str]) -> bool:
    """True when the question shares no content word (lemma) with any of the passages holding its
    evidence — the eval README's rule for ``paraphrase``, computed, never judged by eye."""
    words: set[str] = set()
    for text in passages:
        words |= set(content_words(text))
    return not ((set(content_words(question)) - PARAPHRASE_IGNORED_WORDS) & words)


SPLITS = ("tune", "test")
TEST_SHARE = 0.4


def load_qa(path: Path, split: str | None = None, batches: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Items of a QA JSONL file; with ``split``, only the items whose ``split`` field equals it; with
    ``batches``, only the items whose ``batch`` is one of them (a later batch, written apart from the
    tuning, can then be reported on its own)."""
    items = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        if not any("split" in it for it in items):
            raise ValueError(f"{path} has no split field; evaluate it without --split")
        items = [it for it in items if it.get("split") == split]
    if batches is not None:
        wanted = set(batches)
        if not any("batch" in it for it in items):
            raise ValueError(f"{path} has no batch field; evaluate it without --batch")
        items = [it for it in items if it.get("batch") in wanted]
    return items


def parse_batches(text: str) -> list[int]:
    """``"3"`` → [3], ``"1,2"`` → [1, 2], ``"1-2"`` → [1, 2]; anything else is a clear error."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ValueError(f"--batch wants numbers like 3, 1,2 or 1-2, not {text!r}") from None
    if not out:
        raise ValueError(f"--batch wants numbers like 3, 1,2 or 1-2, not {text!r}")
    return out


def report_for_batches(rep: dict[str, Any], batches: Iterable[int]) -> dict[str, Any]:
    """The report of ``eval_qa`` recomputed over the rows of some batches only (no new ask/search calls):
    one run per split then gives the figures of every batch group."""
    wanted = set(batches)
    sub = _report(rep["dataset"], None if rep["split"] == "all" else rep["split"],
                  [r for r in rep["items"] if r.get("batch") in wanted])
    sub["batch"] = ",".join(map(str, sorted(wanted)))
    return sub


def assign_splits(items: list[dict[str, Any]], test_share: float = TEST_SHARE) -> dict[str, str]:
    """The split rule of eval/plan_qa.jsonl: within each (batch, type), sort by sha256(id) and put the
    first floor(test_share·n + 0.5) items in "test", the rest in "tune". Returns {id: split}.

    Applied once per batch when the batch is added; a later batch never moves an earlier item."""
    groups: dict[tuple[Any, str], list[str]] = defaultdict(list)
    for it in items:
        groups[(it.get("batch"), it.get("type", "?"))].append(it["id"])
    out: dict[str, str] = {}
    for ids in groups.values():
        ids = sorted(ids, key=lambda i: hashlib.sha256(i.encode("utf-8")).hexdigest())
        k = math.floor(test_share * len(ids) + 0.5)
        for j, i in enumerate(ids):
            out[i] = "test" if j < k else "tune"
    return out


def is_hedged(ans) -> bool:
    """A non-refused answer that says it found nothing that fits exactly (led by one of
    ``answering.HEDGE_LEADS``: the generic hedge or the one naming the missing detail), or an Answer
    that carries its own ``hedged`` flag."""
    flag = getattr(ans, "hedged", None)
    if isinstance(flag, bool):
        return flag and not ans.refused
    from . import answering

    return not ans.refused and answering.is_hedge_text(ans.text)


def _share(xs: list[bool]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _answer_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    oos = [r for r in rows if not r["answerable"]]
    return {
        "answerable": len(ans),
        "keyword_hit": _share([r["keywords_ok"] for r in ans]),
        "cites_evidence": _share([r["cites_evidence"] for r in ans]),
        "answerable_refused": _share([r["refused"] for r in ans]),
        "answerable_hedged": _share([r["hedged"] for r in ans]),
        "unanswerable": len(oos),
        "oos_refused": _share([r["refused"] for r in oos]),
        "oos_hedged": _share([r["hedged"] for r in oos]),
        # old names, kept for scripts that read them
        "false_refusal": _share([r["refused"] for r in ans]),
        "refusal": _share([r["refused"] for r in oos]),
    }


def _latency(rows: list[dict[str, Any]]) -> dict[str, float]:
    xs = [r["ask_ms"] / 1000 for r in rows]
    return {"p50": 1000 * statistics.median(xs) if xs else 0.0, "p95": 1000 * _p95(xs)}


def eval_qa(assistant, path: Path, k: int = 10, split: str | None = None,
            batches: Iterable[int] | None = None) -> dict[str, Any]:
    """Ask every question (and search it, for passage metrics); report retrieval, answer and refusal
    metrics overall and per type. ``split`` limits a set with a ``split`` field to "tune" or "test",
    ``batches`` one with a ``batch`` field to those batches.

    Passage ranks come from ``assistant.search`` (retrieval alone); keyword hit, refusal and hedging
    from ``assistant.ask``. ``items`` holds one row per question for error analysis."""
    items = load_qa(path, split, batches)
    rows: list[dict[str, Any]] = []
    for it in items:
        docs = it.get("docs") or []
        answerable = bool(docs)
        t0 = time.perf_counter()
        ans = assistant.ask(it["question"])
        ask_s = time.perf_counter() - t0
        row: dict[str, Any] = {
            "id": it["id"], "type": it.get("type", "?"), "split": it.get("split"), "batch": it.get("batch"),
            "question": it["question"],
            "answerable": answerable, "paraphrase": bool(it.get("paraphrase")),
            "refused": bool(ans.refused), "hedged": is_hedged(ans), "confidence": round(float(ans.confidence), 3),
            "ask_ms": round(1000 * ask_s, 1), "answer": ans.text,
            "cited": [f"{c.hit.doc_id}#{c.hit.id}" for c in getattr(ans, "citations", [])],
        }
        if answerable:
            hits = assistant.search(it["question"], k=k)
            evidence = it.get("evidence", [])
            r = _rank(hits, docs, evidence)
            text = compact(ans.text)
            missing = [kw for kw in it.get("answer_keywords", []) if compact(kw) not in text]
            cites = [c.hit for c in getattr(ans, "citations", [])]
            row.update({
                "rank": r, "keywords_ok": not missing, "keywords_missing": missing,
                "cites_evidence": (not ans.refused) and _rank(cites, docs, evidence) is not None,
                "top_hits": [f"{h.doc_id}#{h.id}" for h in hits[:5]],
                "docs": docs,
            })
        rows.append(row)
    rep = _report(str(path), split, rows)
    rep["machine"] = cpu.describe()  # the same commit measures differently on another CPU (BENCHMARKS §9.26)
    if batches is not None:
        rep["batch"] = ",".join(map(str, sorted(set(batches))))
    return rep


def _report(dataset: str, split: str | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    types = {}
    for t, rs in sorted(by_type.items()):
        a = [r for r in rs if r["answerable"]]
        m: dict[str, Any] = {"n": len(rs)}
        if a:
            m.update({k: v for k, v in _retrieval_metrics([r["rank"] for r in a]).items() if k != "n"})
            m["keyword_hit"] = _share([r["keywords_ok"] for r in a])
            m["answerable_refused"] = _share([r["refused"] for r in a])
        else:
            m["oos_refused"] = _share([r["refused"] for r in rs])
        m["hedged"] = _share([r["hedged"] for r in rs])
        types[t] = m
    para = [r["rank"] for r in ans if r["paraphrase"]]
    return {
        "dataset": dataset,
        "split": split or "all",
        "n": len(rows),
        "retrieval": _retrieval_metrics([r["rank"] for r in ans]),
        "retrieval_paraphrase": _retrieval_metrics(para),
        "retrieval_by_type": {t: _retrieval_metrics([r["rank"] for r in rs if r["answerable"]]) for t, rs in sorted(by_type.items()) if any(r["answerable"] for r in rs)},
        "answers": _answer_metrics(rows),
        "by_type": types,
        "ask_latency_ms": _latency(rows),
        "items": rows,
    }


def _p95(xs: list[float]) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def jsquad_corpus(path: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """JSQuAD → (paragraph records for a JSONL corpus, [(question, paragraph id)])."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    paras: dict[str, dict] = {}
    questions: list[tuple[str, str]] = []
    for art in data:
        for p in art["paragraphs"]:
            ctx = p["context"]
            title, _, text = ctx.partition(" [SEP] ")
            pid = paras.setdefault(ctx, {"id": f"p{len(paras):05d}", "title": title or art.get("title", ""), "text": text or ctx})["id"]
            for qa in p["qas"]:
                questions.append((qa["question"], pid))
    return list(paras.values()), questions


@contextlib.contextmanager
def paragraph_assistant(paras: list[dict], name: str, model: str | None = None) -> Iterator[tuple[Any, float]]:
    """An ``Assistant`` over ``paras`` (``{"id","title","text"}`` records) written as one JSONL
    corpus in a temporary directory; yields it with its build time in seconds.

    On a Milvus backend (``ASSISTANT_BACKEND=milvus:…``) it publishes under its own scratch alias
    (``eval_<pid>_<random>``), never the served one, and drops that alias and its collections at
    the end: evaluating must not move what replicas serve."""
    from . import backends
    from .core import Assistant

    store = None
    if backends.parse_spec(None)[0] == "milvus":
        store = backends.open_backend(None, alias=f"{EVAL_ALIAS_PREFIX}{os.getpid()}_{os.urandom(3).hex()}")
    with tempfile.TemporaryDirectory() as tmp, _dropped_at_exit(store):
        corpus_dir = Path(tmp) / "corpus"
        corpus_dir.mkdir()
        with open(corpus_dir / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for p in paras:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        a = Assistant.load(corpus_dir, Path(tmp) / "index", model, progress=False, store=store)
        yield a, time.perf_counter() - t0


EVAL_ALIAS_PREFIX = "eval_"


@contextlib.contextmanager
def _dropped_at_exit(store) -> Iterator[None]:
    try:
        yield
    finally:
        if store is not None:
            try:
                store.drop_everything()
            except Exception as e:  # noqa: BLE001 - the evaluation's result stands; say what is left
                log.warning("could not drop the evaluation's Milvus alias %s: %s", store.alias, e)


def eval_jsquad(path: Path, model: str | None = None, limit: int | None = None, k: int = 10) -> dict[str, Any]:
    """Index JSQuAD paragraphs as a JSONL corpus in a temp dir and measure paragraph retrieval."""
    paras, questions = jsquad_corpus(path)
    if limit:
        questions = questions[:limit]
    with paragraph_assistant(paras, "jsquad", model) as (a, build_s):
        ranks = []
        t0 = time.perf_counter()
        for q, pid in questions:
            hits = a.search(q, k=k)
            ranks.append(next((i for i, h in enumerate(hits, 1) if h.doc_id == pid), None))
        per_q = (time.perf_counter() - t0) / max(len(questions), 1)
    return {
        "dataset": str(path),
        "paragraphs": len(paras),
        "retrieval": _retrieval_metrics(ranks),
        "build_seconds": round(build_s, 1),
        "ms_per_query": round(1000 * per_q, 2),
        "model": a.embedder.model_id,
        "dense_weight": a.state.retriever.dense_weight,
    }


def format_report(rep: dict[str, Any]) -> str:
    head = f"dataset: {rep['dataset']}"
    if "split" in rep:
        head += f"  split: {rep['split']}"
        if rep.get("batch"):
            head += f"  batch: {rep['batch']}"
        head += f"  (n={rep['n']})"
    lines = [head]
    if "machine" in rep:
        m = rep["machine"]
        lines.append(f"machine: {m['cpu']}, {m['cores']} cores, e5 arithmetic {m['e5_precision']}")
    r = rep["retrieval"]
    lines.append(f"passages (answerable, n={r['n']}): R@1 {r['R@1']:.3f}  R@5 {r['R@5']:.3f}  R@10 {r['R@10']:.3f}  MRR@10 {r['MRR@10']:.3f}")
    if rep.get("retrieval_paraphrase", {}).get("n"):
        p = rep["retrieval_paraphrase"]
        lines.append(f"paraphrased (n={p['n']}): R@5 {p['R@5']:.3f}  MRR@10 {p['MRR@10']:.3f}")
    if "answers" in rep:
        a = rep["answers"]
        lines.append(
            f"answers: keyword hit {a['keyword_hit']:.3f}  cites evidence {a.get('cites_evidence', 0.0):.3f}  "
            f"answerable refused {a['false_refusal']:.3f}  answerable hedged {a.get('answerable_hedged', 0.0):.3f}  (n={a['answerable']})"
        )
        lines.append(
            f"out of scope: refused {a['refusal']:.3f}  hedged {a.get('oos_hedged', 0.0):.3f}  (n={a['unanswerable']})"
        )
    if "by_type" in rep:
        lines.append("by type:")
        for t, m in rep["by_type"].items():
            if "R@1" in m:
                lines.append(
                    f"  {t:15s} n={m['n']:3d}  R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  MRR@10 {m['MRR@10']:.3f}  "
                    f"kw {m['keyword_hit']:.3f}  refused {m['answerable_refused']:.3f}  hedged {m['hedged']:.3f}"
                )
            else:
                lines.append(f"  {t:15s} n={m['n']:3d}  refused {m['oos_refused']:.3f}  hedged {m['hedged']:.3f}")
    else:
        for t, m in rep.get("retrieval_by_type", {}).items():
            lines.append(f"  {t:16s} (n={m['n']}): R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  MRR@10 {m['MRR@10']:.3f}")
    if "ask_latency_ms" in rep:
        lat = rep["ask_latency_ms"]
        lines.append(f"ask latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
    if "items" in rep:
        misses = [d["id"] for d in rep["items"] if d.get("answerable", "rank" in d) and d.get("rank") is None]
        if misses:
            lines.append("not retrieved in top 10: " + ", ".join(misses))
        bad = [d["id"] for d in rep["items"] if d.get("keywords_ok") is False]
        if bad:
            lines.append("answer missing keywords: " + ", ".join(bad))
    for key in ("paragraphs", "build_seconds", "ms_per_query", "model", "dense_weight"):
        if key in rep:
            lines.append(f"{key}: {rep[key]}")
    return "\n".join(lines)

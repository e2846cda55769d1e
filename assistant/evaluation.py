"""Evaluation: retrieval and answer quality on a QA set, and paragraph retrieval on JSQuAD.

QA set format (``../shared/devset/qa.jsonl``): ``{"id","question","docs","evidence","answer_keywords","type"}``.
A retrieved passage is *relevant* when it comes from one of ``docs`` and contains one of ``evidence``
after NFKC + whitespace removal. Items with no ``docs`` are unanswerable: the assistant should refuse.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .japanese import compact


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


def eval_qa(assistant, path: Path, k: int = 10) -> dict[str, Any]:
    items = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    ranks_by_type: dict[str, list[int | None]] = defaultdict(list)
    all_ranks: list[int | None] = []
    kw_hits: list[bool] = []
    false_refusals = 0
    refusals_unans: list[bool] = []
    latencies: list[float] = []
    details = []
    for it in items:
        answerable = bool(it.get("docs"))
        t0 = time.perf_counter()
        ans = assistant.ask(it["question"])
        latencies.append(time.perf_counter() - t0)
        row = {"id": it["id"], "type": it.get("type"), "refused": ans.refused, "confidence": round(ans.confidence, 3)}
        if answerable:
            hits = assistant.search(it["question"], k=k)
            r = _rank(hits, it["docs"], it.get("evidence", []))
            all_ranks.append(r)
            ranks_by_type[it.get("type", "?")].append(r)
            text = compact(ans.text)
            ok = all(compact(kw) in text for kw in it.get("answer_keywords", []))
            kw_hits.append(ok)
            false_refusals += ans.refused
            row.update({"rank": r, "keywords_ok": ok})
        else:
            refusals_unans.append(ans.refused)
        details.append(row)
    n_ans = len(kw_hits)
    return {
        "dataset": str(path),
        "retrieval": _retrieval_metrics(all_ranks),
        "retrieval_by_type": {t: _retrieval_metrics(r) for t, r in sorted(ranks_by_type.items())},
        "answers": {
            "answerable": n_ans,
            "keyword_hit": sum(kw_hits) / max(n_ans, 1),
            "false_refusal": false_refusals / max(n_ans, 1),
            "unanswerable": len(refusals_unans),
            "refusal": sum(refusals_unans) / max(len(refusals_unans), 1),
        },
        "ask_latency_ms": {
            "p50": 1000 * statistics.median(latencies) if latencies else 0.0,
            "p95": 1000 * _p95(latencies),
        },
        "items": details,
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


def eval_jsquad(path: Path, model: str | None = None, limit: int | None = None, k: int = 10) -> dict[str, Any]:
    """Index JSQuAD paragraphs as a JSONL corpus in a temp dir and measure paragraph retrieval."""
    from .core import Assistant

    paras, questions = jsquad_corpus(path)
    if limit:
        questions = questions[:limit]
    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir = Path(tmp) / "corpus"
        corpus_dir.mkdir()
        with open(corpus_dir / "jsquad.jsonl", "w", encoding="utf-8") as f:
            for p in paras:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        a = Assistant.load(corpus_dir, Path(tmp) / "index", model, progress=False)
        build_s = time.perf_counter() - t0
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
    lines = [f"dataset: {rep['dataset']}"]
    r = rep["retrieval"]
    lines.append(f"retrieval (n={r['n']}): R@1 {r['R@1']:.3f}  R@5 {r['R@5']:.3f}  R@10 {r['R@10']:.3f}  MRR@10 {r['MRR@10']:.3f}")
    for t, m in rep.get("retrieval_by_type", {}).items():
        lines.append(f"  {t:16s} (n={m['n']}): R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  MRR@10 {m['MRR@10']:.3f}")
    if "answers" in rep:
        a = rep["answers"]
        lines.append(
            f"answers: keyword hit {a['keyword_hit']:.3f} (n={a['answerable']}), false refusal {a['false_refusal']:.3f}, "
            f"refusal on unanswerable {a['refusal']:.3f} (n={a['unanswerable']})"
        )
        lat = rep["ask_latency_ms"]
        lines.append(f"ask latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
        misses = [d for d in rep["items"] if d.get("rank") is None and "rank" in d]
        if misses:
            lines.append("not retrieved in top 10: " + ", ".join(d["id"] for d in misses))
        bad = [d["id"] for d in rep["items"] if d.get("keywords_ok") is False]
        if bad:
            lines.append("answer missing keywords: " + ", ".join(bad))
    for key in ("paragraphs", "build_seconds", "ms_per_query", "model", "dense_weight"):
        if key in rep:
            lines.append(f"{key}: {rep[key]}")
    return "\n".join(lines)

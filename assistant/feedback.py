"""👍/👎 feedback on answers, kept as an append-only JSONL log under a data directory.

Why JSONL and not SQLite: the log is written a few times an hour, read by a person or a
script now and then, and must survive being copied around by city staff; one JSON object
per line is greppable and never needs a migration.

Privacy: a record holds the question, the answer text, the cited chunk ids, the rating and
a UTC timestamp — and nothing that identifies a person (no IP address, no session or user
id, no user agent). Callers cannot add such fields: ``FeedbackLog.record`` builds the record
itself from named arguments.

Each click is one event: a person who changes 👍 to 👎 leaves two records (there is no
session id to pair them by, on purpose); withdrawing a rating (clicking 👍 again) writes
nothing.

Atomicity: each record is one ``os.write`` of one complete line on a file opened with
``O_APPEND``, under a process-local lock and an advisory ``flock`` (several server
processes may share a data dir). A crash can therefore lose a record but never leave half
a line that breaks the next reader; the reader still skips damaged lines rather than fail.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

try:  # POSIX only; on other systems the in-process lock alone applies.
    import fcntl
except ImportError:  # pragma: no cover - not on the Linux hosts we deploy to
    fcntl = None  # type: ignore[assignment]

FEEDBACK_FILE = "feedback.jsonl"
ENV_DATA_DIR = "ASSISTANT_DATA_DIR"
# Upper bounds so a single pathological answer cannot bloat the log.
_MAX_TEXT = 8000
_MAX_IDS = 50

_RATINGS = {True: "up", False: "down", "Like": "up", "Dislike": "down", "up": "up", "down": "down"}


def default_data_dir() -> Path:
    """``$ASSISTANT_DATA_DIR`` or ``./data`` — resolved at call time so tests can set the env."""
    return Path(os.environ.get(ENV_DATA_DIR) or "data")


def normalize_rating(liked: Any) -> str:
    """Map Gradio's like payload (True/False, or "Like"/"Dislike" strings) to "up"/"down".

    Any other string (a custom feedback option) is kept as-is, truncated, so nothing is lost.
    """
    if isinstance(liked, (bool, str)) and liked in _RATINGS:
        return _RATINGS[liked]
    return str(liked)[:40]


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class FeedbackLog:
    """The feedback log of one data directory (created on first write, not on construction,
    so a read-only deployment that never receives feedback needs no writable dir)."""

    def __init__(self, data_dir: str | os.PathLike | None = None):
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.path = self.data_dir / FEEDBACK_FILE
        self._lock = threading.Lock()

    def record(
        self,
        *,
        question: str,
        answer: str,
        cited_ids: Iterable[str],
        rating: Any,
        refused: bool | None = None,
        source: str = "ui",
    ) -> dict[str, Any]:
        """Append one rating; returns the record written (useful for tests and logs)."""
        rec = {
            "time": _utc_now(),
            "rating": normalize_rating(rating),
            "question": str(question)[:_MAX_TEXT],
            "answer": str(answer)[:_MAX_TEXT],
            "cited_ids": [str(c) for c in list(cited_ids)[:_MAX_IDS]],
            "refused": bool(refused) if refused is not None else None,
            "source": source,
        }
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    view = memoryview(line)
                    while view:  # os.write may write less than asked on odd filesystems
                        n = os.write(fd, view)
                        view = view[n:]
                    os.fsync(fd)
                finally:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        return rec

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """All well-formed records and the number of damaged lines that were skipped."""
        records: list[dict[str, Any]] = []
        bad = 0
        for rec in self._iter_lines():
            if rec is None:
                bad += 1
            else:
                records.append(rec)
        return records, bad

    def _iter_lines(self) -> Iterator[dict[str, Any] | None]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    yield None
                    continue
                yield rec if isinstance(rec, dict) else None


def feedback_summary(data_dir: str | os.PathLike | None = None, *, top: int = 5) -> str:
    """A short Japanese report of the feedback log, for `python -m assistant feedback`.

    Shows totals, the share of 👍, a per-day count, and the questions most often rated 👎 —
    the list staff actually act on (missing documents, bad chunking, wrong refusals).
    """
    log = FeedbackLog(data_dir)
    records, bad = log.read()
    lines = [f"フィードバックログ: {log.path}"]
    if not records:
        lines.append("まだフィードバックはありません。")
        if bad:
            lines.append(f"(読み取れない行: {bad})")
        return "\n".join(lines)

    ratings = collections.Counter(r.get("rating") for r in records)
    up, down = ratings.get("up", 0), ratings.get("down", 0)
    total = len(records)
    rated = up + down
    share = f"{100 * up / rated:.0f}%" if rated else "-"
    lines.append(f"件数: {total}（👍 {up} / 👎 {down}" + (
        f" / その他 {total - rated}" if total - rated else "") + f"）  👍の割合: {share}")
    times = sorted(str(r.get("time", "")) for r in records if r.get("time"))
    if times:
        lines.append(f"期間: {times[0]} 〜 {times[-1]}")

    per_day = collections.Counter(str(r.get("time", ""))[:10] for r in records)
    lines.append("日別:")
    for day, n in sorted(per_day.items())[-14:]:
        d_up = sum(1 for r in records if str(r.get("time", ""))[:10] == day and r.get("rating") == "up")
        lines.append(f"  {day or '(日時なし)'}  {n}件（👍 {d_up}）")

    downs = collections.Counter(
        " ".join(str(r.get("question", "")).split())[:80] for r in records if r.get("rating") == "down"
    )
    if downs:
        lines.append(f"👎が多い質問（上位{top}）:")
        for q, n in downs.most_common(top):
            lines.append(f"  {n}件  {q}")
    refused_down = sum(1 for r in records if r.get("rating") == "down" and r.get("refused"))
    if down:
        lines.append(f"👎のうち「資料に記載なし」と答えたもの: {refused_down}件")
    if bad:
        lines.append(f"(読み取れない行: {bad} — 無視しました)")
    return "\n".join(lines)

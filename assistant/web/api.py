"""JSON API plumbing: request validation, Japanese errors, the shared gate, the answer cache.

Why a module of its own: these are the pieces of the ``/api/*`` contract (and of the
capacity limits the UI shares) that are plain Python, testable without building the app;
:mod:`assistant.web.app` only wires them to routes.
"""

from __future__ import annotations

import collections
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from fastapi.responses import JSONResponse

from .messages import DEFAULT_MAX_HISTORY, MAX_HISTORY_CONTENT_CHARS, MAX_HISTORY_ITEMS, MSG_EMPTY, MSG_TOO_LONG


MAX_SOURCE_IDS = 10  # passage ids an assistant turn of the history may carry (an answer cites a few)


class ApiError(Exception):
    """A client error with a Japanese message; rendered as ``{"error": {...}}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"Cache-Control": "no-store"})


@dataclass
class AskRequest:
    question: str
    history: list[dict[str, Any]]
    municipality: str | None
    doc_id: str | None


class Gate:
    """One admission gate in front of the Assistant, shared by the UI and the JSON API.

    ``concurrency`` calls run at once (the Assistant is CPU-bound; more threads than cores
    only add latency), at most ``max_waiting`` more wait; beyond that the API answers 503
    at once instead of letting latency grow without bound. Gradio's queue applies the same
    limits to UI events (``concurrency_limit`` / ``max_size``).
    """

    def __init__(self, concurrency: int, max_waiting: int):
        self.concurrency = max(1, int(concurrency))
        self.max_waiting = max(0, int(max_waiting))
        self._sem = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._pending = 0

    def try_admit(self) -> bool:
        with self._lock:
            if self._pending >= self.concurrency + self.max_waiting:
                return False
            self._pending += 1
            return True

    def release_admission(self) -> None:
        with self._lock:
            self._pending -= 1

    def run(self, fn, *args, **kwargs):
        with self._sem:
            return fn(*args, **kwargs)


class AnswerCache:
    """A small LRU of answers keyed by (question, history, filters, index build time).

    Why: residents ask the same handful of questions (「ごみ」「補助金」「地域協働体とは」)
    over and over, and an answer is a pure function of the question, the history, the
    filters and the index. Keying on the index's ``built_at`` means a rebuilt index never
    serves a stale answer. ``size=0`` disables it (the load benchmark measures both).
    """

    def __init__(self, size: int = 256):
        self.size = max(0, int(size))
        self._data: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(question: str, history: Sequence[dict], municipality: str | None, doc_id: str | None,
            version: Any) -> tuple:
        hist = tuple((h.get("role", ""), h.get("content", ""), tuple(h.get("sources") or ())) for h in history)
        return (question, hist, municipality or "", doc_id or "", str(version))

    def get(self, key: tuple):
        if not self.size:
            return None
        with self._lock:
            v = self._data.get(key)
            if v is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return v

    def clear(self) -> None:
        """Forget every answer (the corpus changed: an old answer may cite a removed document)."""
        with self._lock:
            self._data.clear()

    def put(self, key: tuple, value: Any) -> None:
        if not self.size:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def _clean_text(s: str) -> str:
    """Control characters other than newline/tab are never meaningful in a question; format
    characters (zero-width, bidi overrides like U+202E) and lone surrogates are invisible
    yet change what is displayed or crash the tokenizer, so they go as well."""
    return "".join(ch for ch in s if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")).strip()


def parse_ask_payload(payload: Any, *, max_question_chars: int, municipalities: set[str],
                      doc_ids: set[str], max_history: int = DEFAULT_MAX_HISTORY) -> AskRequest:
    """Validate a ``/api/ask`` body; raises :class:`ApiError` (4xx) with a Japanese message."""
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_body", "リクエスト本文はJSONオブジェクトで送信してください。")
    q = payload.get("question")
    if not isinstance(q, str):
        raise ApiError(422, "invalid_question", "「question」に質問文（文字列）を指定してください。")
    q = _clean_text(q)
    if not q:
        raise ApiError(422, "empty_question", MSG_EMPTY)
    if len(q) > max_question_chars:
        raise ApiError(422, "question_too_long", MSG_TOO_LONG.format(n=max_question_chars))

    raw_hist = payload.get("history") or []
    if not isinstance(raw_hist, list):
        raise ApiError(422, "invalid_history", "「history」は {\"role\", \"content\"} の配列で指定してください。")
    if len(raw_hist) > MAX_HISTORY_ITEMS:
        raise ApiError(422, "history_too_long", f"「history」は{MAX_HISTORY_ITEMS}件以内にしてください。")
    history: list[dict[str, str]] = []
    for item in raw_hist:
        if (not isinstance(item, dict) or item.get("role") not in ("user", "assistant")
                or not isinstance(item.get("content"), str)):
            raise ApiError(422, "invalid_history",
                           "「history」の各要素は role が \"user\" か \"assistant\"、content が文字列である必要があります。")
        content = _clean_text(item["content"])
        if len(content) > MAX_HISTORY_CONTENT_CHARS:
            raise ApiError(422, "history_too_long",
                           f"「history」の各発言は{MAX_HISTORY_CONTENT_CHARS}文字以内にしてください。")
        turn: dict[str, Any] = {"role": item["role"], "content": content}
        sources = item.get("sources")
        if sources is not None:
            # the ids of the passages that answer cited (its citations[].id), echoed back so a
            # follow-up such as 「それはいつまで？」 answers from exactly those passages
            if (item["role"] != "assistant" or not isinstance(sources, list) or len(sources) > MAX_SOURCE_IDS
                    or not all(isinstance(x, str) and 0 < len(x) <= 300 for x in sources)):
                raise ApiError(422, "invalid_history",
                               f"「history」の「sources」は回答（assistant）の出典ID（citations[].id）の配列で、{MAX_SOURCE_IDS}件以内にしてください。")
            turn["sources"] = list(sources)
        history.append(turn)
    history = history[-max_history:] if max_history else []

    def opt(name: str, known: set[str], label: str) -> str | None:
        v = payload.get(name)
        if v is None or v == "":
            return None
        if not isinstance(v, str):
            raise ApiError(422, f"invalid_{name}", f"「{name}」は文字列で指定してください。")
        if known and v not in known:
            raise ApiError(422, f"unknown_{name}", f"指定された{label}は見つかりません: {v[:50]}")
        return v

    return AskRequest(q, history, opt("municipality", municipalities, "自治体"),
                      opt("doc_id", doc_ids, "文書"))


class BodySizeLimit:
    """ASGI middleware: reject request bodies over ``max_bytes`` on ``prefix`` with 413 JSON.

    Checks ``Content-Length`` up front and also counts streamed (chunked) bodies, so a client
    cannot get around the limit by omitting the header.
    """

    def __init__(self, app, max_bytes: int, prefix: str = "/api/"):
        self.app, self.max_bytes, self.prefix = app, int(max_bytes), prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            return await self.app(scope, receive, send)
        await limit_body(self.app, scope, receive, send, self.max_bytes)


async def limit_body(app, scope, receive, send, max_bytes: int):
    """Run ``app`` with its request body capped at ``max_bytes``: 413 JSON when ``Content-Length``
    says more, or when a streamed (chunked) body grows past it before the response started."""
    for k, v in scope.get("headers") or []:
        if k == b"content-length":
            try:
                if int(v) > max_bytes:
                    return await too_large(scope, receive, send, max_bytes)
            except ValueError:
                pass
    seen = 0
    started = False

    class _TooLarge(Exception):
        pass

    async def limited_receive():
        nonlocal seen
        msg = await receive()
        if msg["type"] == "http.request":
            seen += len(msg.get("body", b""))
            if seen > max_bytes:
                raise _TooLarge()
        return msg

    async def tracking_send(msg):
        nonlocal started
        if msg["type"] == "http.response.start":
            started = True
        await send(msg)

    try:
        await app(scope, limited_receive, tracking_send)
    except _TooLarge:
        if not started:
            await too_large(scope, receive, send, max_bytes)


async def too_large(scope, receive, send, max_bytes: int):
    resp = _error_response(413, "body_too_large", f"リクエストが大きすぎます（上限 {max_bytes // 1024} KB）。")
    await resp(scope, receive, send)


class RateLimit:
    """At most ``per_minute`` requests per client in any sliding minute (page images: each one
    renders a PDF page, so a client must not be able to keep the CPUs busy with them).

    Clients are keyed by the connecting address, held in memory only for that minute and never
    logged; at most ``max_clients`` are tracked (the oldest are forgotten first).
    """

    def __init__(self, per_minute: int = 60, max_clients: int = 10000):
        self.per_minute, self.max_clients = max(1, int(per_minute)), int(max_clients)
        self._seen: "collections.OrderedDict[str, collections.deque]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        import time

        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._seen.pop(client, None) or collections.deque()
            while q and now - q[0] >= 60:
                q.popleft()
            ok = len(q) < self.per_minute
            if ok:
                q.append(now)
            self._seen[client] = q
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
            return ok


@dataclass
class PageImageRequest:
    doc_id: str
    page: int
    chunk_id: str
    sentences: list[int] | None
    excerpt: bool = False


_MAX_ID_CHARS = 300
MAX_HIGHLIGHT_SENTENCES = 16


def parse_page_image_query(params: Any) -> PageImageRequest:
    """Validate ``/api/page-image`` query parameters (``doc``, ``page``, ``chunk``, optional ``s``
    = comma-separated sentence numbers, optional ``view`` = ``page`` or ``excerpt``); raises
    :class:`ApiError` 400 with a Japanese message.

    Only the shape is checked here; whether the names exist is the Assistant's to say (404)."""
    def text(name: str) -> str:
        v = params.get(name)
        if not isinstance(v, str) or not v or len(v) > _MAX_ID_CHARS or _clean_text(v) != v:
            raise ApiError(400, f"invalid_{name}", f"「{name}」の指定が正しくありません。")
        return v

    doc, chunk = text("doc"), text("chunk")
    page = params.get("page")
    if not isinstance(page, str) or not page.isascii() or not page.isdigit() or len(page) > 5 or int(page) < 1:
        raise ApiError(400, "invalid_page", "「page」には1以上のページ番号を指定してください。")
    raw = params.get("s")
    sentences = None
    if raw not in (None, ""):
        parts = str(raw).split(",")
        if len(parts) > MAX_HIGHLIGHT_SENTENCES or not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts):
            raise ApiError(400, "invalid_s", "「s」には文の番号をコンマ区切りで指定してください。")
        sentences = sorted({int(p) for p in parts})
    view = params.get("view") or "page"
    if view not in ("page", "excerpt"):
        raise ApiError(400, "invalid_view", "「view」には page か excerpt を指定してください。")
    return PageImageRequest(doc, int(page), chunk, sentences, view == "excerpt")

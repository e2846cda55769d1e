"""The web face: a Gradio chat UI plus a small JSON API, in one FastAPI app.

Layout of the app returned by :func:`create_app`::

    POST /api/ask        {"question", "history"?, "municipality"?, "doc_id"?} -> Answer.to_dict()
    GET  /api/health     Assistant.health()
    GET  /api/documents  {"documents": Assistant.documents()}
    /                    Gradio Blocks: chat, sources panel, filters, examples, 👍/👎
    /embed               the same chat, compact, no header/footer (for an <iframe>)

Why FastAPI with Gradio mounted (rather than Gradio's own API): the city web team needs a
plain, stable JSON contract (the ``Answer`` dict) with CORS limited to their domain, a body
size limit and Japanese 4xx errors — things that are ordinary FastAPI code but awkward to
bolt onto Gradio's queue protocol. The UI and the API share one gate (a semaphore) in front
of the ``Assistant`` so neither can starve the 2-core host on its own.

Safety model: everything that comes from a user *or from a document* is data. Chat
messages are Markdown-escaped *and* HTML-escaped before Gradio sees them (so
``[x](javascript:…)`` cannot become a link and ``<img onerror>`` cannot become an element),
and Gradio's own sanitizer stays on as a second layer. The sources panel is HTML we build
ourselves from escaped pieces; the only tags in it are ours.

This module talks to the ``Assistant`` object only (``ask``, ``documents``,
``section_context``, ``health``), never to retrieval internals.
"""

from __future__ import annotations

import collections
import hmac
import html
import json
import logging
import os
import re
import sys
import threading
import time
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import anyio
import gradio as gr
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from .feedback import FeedbackLog

log = logging.getLogger("assistant.web")

TITLE = "まちづくり計画 Q&A"
EMBED_PATH = "/embed"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_HISTORY = 12          # messages of history passed to Assistant.ask
MAX_HISTORY_ITEMS = 100           # more than this in a request is rejected, not truncated
MAX_HISTORY_CONTENT_CHARS = 4000
MAX_TURNS_KEPT = 50              # per browser session, for history and 👍/👎
MAX_SECTION_CHARS = 12000         # "read the whole section" view is capped so one page stays light

RESIDENT_EXAMPLES = [
    "地域協働体とは何ですか？",
    "市民活動団体への補助金はありますか？",
    "公共施設の里親制度とはどんな仕組みですか？",
    "NPO法人の認証数の目標はいくつですか？",
]
STAFF_EXAMPLES = [
    "協働推進プランの基本方針と推進施策を教えてください",
    "地域コミュニティの振興の現状と課題は？",
    "電子自治体の推進で目標指標は何ですか？",
    "協働を担う人材育成のための取り組みは？",
]

MSG_EMPTY = "質問を入力してください。"
MSG_TOO_LONG = "質問が長すぎます。{n}文字以内で入力してください。"
MSG_ERROR = "申し訳ありません。回答の作成中にエラーが発生しました。時間をおいてもう一度お試しください。"
MSG_BUSY = "ただいま混み合っています。しばらくしてからもう一度お試しください。"
MSG_FEEDBACK_THANKS = "フィードバックありがとうございます。"

SOURCES_PLACEHOLDER = (
    '<div class="mq-sources mq-empty" lang="ja">回答の根拠となった計画書の箇所がここに表示されます。</div>'
)


# ---------------------------------------------------------------------------------------
# Escaping and rendering (pure functions: unit-testable without a server)
# ---------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:])")


def escape_markdown(text: str) -> str:
    """Make arbitrary text render literally in Gradio's Markdown (chat bubbles).

    Backslash-escapes Markdown punctuation first (so links, emphasis, lists and LaTeX ``$``
    cannot form, and ``javascript:`` loses its colon's meaning inside link syntax), *then*
    HTML-escapes ``& < > " '`` so raw HTML cannot form. The order matters: entities
    produced by ``html.escape`` contain ``#``/``;`` that must not be backslash-escaped.
    """
    text = unicodedata.normalize("NFC", str(text)).replace("\x00", "")
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=True)


def escape_html(text: Any) -> str:
    """HTML-escape for our own sources panel, including template syntax.

    Gradio's ``gr.HTML`` treats its template as a JS template string; ``$``, ``{``, ``}`` and
    backticks are encoded as entities as well so that document text such as ``${alert(1)}``
    can never be read as template code.
    """
    return (
        html.escape(str(text), quote=True)
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


_TERM_RE = re.compile(r"[\u3005\u4e00-\u9fff]{2,}|[\u30a1-\u30faー]{2,}|[A-Za-z0-9]{2,}")


def question_terms(question: str, limit: int = 16) -> list[str]:
    """Words of the question worth highlighting in a passage, longest first.

    Content words from the shared Japanese tokenizer when it is available (so 「協働を担う」
    highlights 協働 and 担う), plus runs of kanji / katakana / latin letters as a fallback
    that needs no tagger. Single characters are dropped: they would light up the whole page.
    """
    q = unicodedata.normalize("NFKC", question or "")
    terms: set[str] = set()
    try:
        from . import japanese

        for tok in japanese.analyze(q):
            if japanese.is_content(tok) and len(tok.surface) >= 2:
                terms.add(tok.surface)
    except Exception:  # the tagger is an optional nicety for highlighting
        pass
    terms.update(m.group(0) for m in _TERM_RE.finditer(q))
    return sorted(terms, key=lambda t: (-len(t), t))[:limit]


def highlight_html(text: str, terms: Iterable[str]) -> str:
    """Escape ``text`` for HTML and wrap occurrences of ``terms`` in ``<mark>``.

    Matching is done on the *raw* text and every piece is escaped on output, which gives the
    same guarantee as "escape first, then highlight" — no markup from the text survives —
    without the failure mode of matching inside entities (a term like ``amp`` hitting
    ``&amp;``). Terms are also matched in their NFKC form so a half-width query highlights
    full-width document text.
    """
    text = str(text)
    spans: list[tuple[int, int]] = []
    folded = text.casefold()
    for term in terms:
        for variant in {term, unicodedata.normalize("NFKC", term)}:
            v = variant.casefold()
            if not v:
                continue
            start = folded.find(v)
            while start != -1:
                spans.append((start, start + len(v)))
                start = folded.find(v, start + len(v))
        # Full-width variant of ASCII terms (documents often use 全角 letters/digits).
        wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
        if wide != term:
            start = text.find(wide)
            while start != -1:
                spans.append((start, start + len(wide)))
                start = text.find(wide, start + len(wide))
    if not spans or len(folded) != len(text):
        # casefold changed lengths (rare, e.g. ß): fall back to exact matching offsets.
        if spans and len(folded) != len(text):
            spans = []
            for term in terms:
                start = text.find(term)
                while term and start != -1:
                    spans.append((start, start + len(term)))
                    start = text.find(term, start + len(term))
        if not spans:
            return escape_html(text)
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(escape_html(text[pos:s]))
        out.append("<mark>" + escape_html(text[s:e]) + "</mark>")
        pos = e
    out.append(escape_html(text[pos:]))
    return "".join(out)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    try:
        return getattr(obj, name)
    except Exception:
        return default


def _section_path(section: Any) -> str:
    if not section:
        return ""
    if isinstance(section, str):
        return section
    return " › ".join(str(s) for s in section if str(s).strip())


def _location(lines: Any, page: Any) -> str:
    parts = []
    if page is not None and page != "":
        parts.append(f"p.{page}")
    try:
        a, b = lines
        parts.append(f"{a}行目" if a == b else f"{a}〜{b}行目")
    except Exception:
        pass
    return "・".join(parts)


def render_answer_markdown(answer: Any) -> str:
    """The assistant's chat bubble: the answer text with its [n] markers, then the sources.

    Everything is escaped; the only Markdown we add is bold headings and line breaks. A
    refusal's text already names the closest sections, so they are not repeated here (the
    sources panel shows them as cards).
    """
    text = escape_markdown(_get(answer, "text", "") or "")
    parts = [text]
    notes = [n for n in (_get(answer, "notes", []) or []) if str(n).strip()]
    citations = _get(answer, "citations", []) or []
    if citations:
        lines = []
        for c in citations:
            label = f"{_get(c, 'title', '')}（{_get(c, 'municipality', '')}）"
            path = _section_path(_get(c, "section", []))
            page = _get(c, "page", None)
            lines.append(
                f"\\[{int(_get(c, 'number', 0))}\\] " + escape_markdown(
                    label + (" › " + path if path else "") + (f"（p.{page}）" if page is not None else ""))
            )
        parts.append("**出典**\n" + "\n".join(lines))
    if notes:
        parts.append("\n".join("※ " + escape_markdown(str(n)) for n in notes))
    return "\n\n".join(p for p in parts if p)


def _source_card(hit: Any, *, number: int | None, terms: Sequence[str], context: dict | None,
                 quote: Sequence[str] = ()) -> str:
    title = _get(hit, "title", "") or ""
    muni = _get(hit, "municipality", "") or ""
    path = _section_path(_get(hit, "section", []))
    loc = _location(_get(hit, "lines", None), _get(hit, "page", None))
    doc_id = _get(hit, "doc_id", "") or ""
    head_num = f'<span class="mq-num">[{number}]</span> ' if number is not None else ""
    anchor = f' id="mq-src-{number}"' if number is not None else ""
    out = [f'<article class="mq-source"{anchor} data-number="{number if number is not None else ""}">']
    out.append(
        f'<div class="mq-src-head">{head_num}<strong class="mq-title">{escape_html(title)}</strong>'
        f' <span class="mq-muni">{escape_html(muni)}</span></div>'
    )
    if path:
        out.append(f'<div class="mq-path">{escape_html(path)}</div>')
    meta = " ・ ".join(x for x in (loc, doc_id) if x)
    if meta:
        out.append(f'<div class="mq-meta">{escape_html(meta)}</div>')
    out.append(f'<div class="mq-passage">{highlight_html(_get(hit, "text", "") or "", terms)}</div>')
    if context and context.get("text"):
        full = str(context["text"])
        cut = len(full) > MAX_SECTION_CHARS
        full = full[:MAX_SECTION_CHARS]
        cpath = _section_path(context.get("section")) or path
        lines = context.get("lines")
        cloc = _location(lines, None)
        out.append(
            '<details class="mq-section"><summary>この節の全文を読む</summary>'
            f'<div class="mq-meta">{escape_html(" ・ ".join(x for x in (cpath, cloc) if x))}</div>'
            f'<div class="mq-fulltext">{highlight_html(full, terms)}'
            + ("<p class=\"mq-meta\">（長いため途中までを表示しています）</p>" if cut else "")
            + "</div></details>"
        )
    out.append("</article>")
    return "".join(out)


def render_sources_html(answer: Any, question: str, contexts: dict[str, dict] | None = None) -> str:
    """The sources panel: one card per cited passage (or the closest sections on a refusal).

    ``contexts`` maps chunk id → ``Assistant.section_context(id)`` and feeds the
    「この節の全文を読む」 disclosure; a missing entry just omits it.
    """
    contexts = contexts or {}
    # The query actually searched (a follow-up rewritten with its context) names the topic
    # better than a bare 「その目標は？」, so its words are highlighted too.
    terms = question_terms(f"{question} {_get(answer, 'query_used', '') or ''}")
    citations = _get(answer, "citations", []) or []
    cards: list[str] = []
    if citations:
        heading = f"出典（{len(citations)}件）"
        for c in citations:
            hit = _get(c, "hit", c)
            cards.append(_source_card(hit, number=int(_get(c, "number", 0)), terms=terms,
                                      context=contexts.get(str(_get(hit, "id", ""))),
                                      quote=_get(c, "quote", []) or []))
    else:
        related = _get(answer, "related", []) or []
        if not related:
            return SOURCES_PLACEHOLDER
        heading = "資料に直接の記述は見つかりませんでした。近い箇所:"
        for h in related[:5]:
            cards.append(_source_card(h, number=None, terms=terms,
                                      context=contexts.get(str(_get(h, "id", "")))))
    return (f'<div class="mq-sources" lang="ja"><div class="mq-sources-head">{escape_html(heading)}</div>'
            + "".join(cards) + "</div>")


# Gradio's page says lang="en"; Japanese text then risks Chinese glyph variants and English
# screen-reader voices. The sources panel also carries lang="ja" for the web-component case.
HEAD = (
    '<script>document.documentElement.lang = "ja";</script>'
    # Unscoped page CSS: Gradio scopes `css=` to the content area (".contain"), but the page
    # padding and the navbar live outside it.
    "<style>"
    # gr.Navbar(visible=False) is not honoured by the 6.31 frontend; /embed must not show a menu.
    ".nav-holder { display: none !important; }"
    "@media (max-width: 480px) { .gradio-container .main { padding-left: 8px !important;"
    " padding-right: 8px !important; } }"
    "</style>"
)

CSS = """
.mq-sources { font-size: 0.95rem; line-height: 1.6; }
.mq-sources.mq-empty { color: var(--body-text-color-subdued); padding: 0.5rem 0; }
.mq-sources-head { font-weight: 600; margin: 0.25rem 0 0.5rem; }
.mq-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6rem 0.75rem; margin-bottom: 0.6rem; background: var(--background-fill-secondary);
  overflow-wrap: anywhere; }
.mq-num { font-weight: 700; color: var(--color-accent); }
.mq-muni { font-size: 0.85em; padding: 0 0.4em; border-radius: 4px; white-space: nowrap; display: inline-block;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary); }
.mq-path { font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: 0.15rem; }
.mq-meta { font-size: 0.8em; color: var(--body-text-color-subdued); }
.mq-passage, .mq-fulltext { white-space: pre-wrap; margin-top: 0.4rem; }
.mq-passage { border-left: 3px solid var(--color-accent); padding-left: 0.6rem; }
.mq-fulltext { max-height: 24rem; overflow-y: auto; padding: 0.5rem;
  background: var(--background-fill-primary); border-radius: 6px; }
.mq-section summary { cursor: pointer; color: var(--link-text-color, var(--color-accent));
  margin-top: 0.4rem; font-weight: 600; }
.mq-sources mark { background: #ffe58a; color: inherit; padding: 0 1px; border-radius: 2px; }
#mq-title h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
@media (max-width: 480px) {
  #mq-title h1 { font-size: 1.2rem; }
}
.mq-embed .mq-sources { font-size: 0.9rem; }
/* Side by side (desktop), the sources scroll next to the chat instead of pushing the
   examples a screen down; stacked (phone), the page scrolls as usual. */
@media (min-width: 768px) {
  .mq-sources-panel:not(.mq-embed) { max-height: 680px; overflow-y: auto; }
}
"""


# ---------------------------------------------------------------------------------------
# Request validation and the shared gate
# ---------------------------------------------------------------------------------------


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
    history: list[dict[str, str]]
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
        hist = tuple((h.get("role", ""), h.get("content", "")) for h in history)
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
    # Control characters other than newline/tab are never meaningful in a question.
    return "".join(ch for ch in s if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


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
        history.append({"role": item["role"], "content": content})
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
        for k, v in scope.get("headers") or []:
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    return await self._reject(send)
        seen = 0
        started = False

        class _TooLarge(Exception):
            pass

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        kb = self.max_bytes // 1024
        resp = _error_response(413, "body_too_large", f"リクエストが大きすぎます（上限 {kb} KB）。")
        await resp({"type": "http"}, None, send)


# ---------------------------------------------------------------------------------------
# What changes when the corpus changes, and the admin actions that change it
# ---------------------------------------------------------------------------------------


class LiveCatalog:
    """The document list and filter values the API and the UI validate against.

    Re-read after every admin change (never per request: ``Assistant.documents()`` walks all
    passages). ``generation`` is part of the answer-cache key.
    """

    def __init__(self, assistant: Any):
        self.assistant = assistant
        self.generation = 0
        self._lock = threading.Lock()
        self.docs: list[dict] = []
        self.municipalities: list[str] = []
        self.doc_ids: set[str] = set()
        self.reload(bump=False)

    def reload(self, *, bump: bool = True) -> None:
        docs = _safe_documents(self.assistant)
        munis = sorted({str(d.get("municipality")) for d in docs if d.get("municipality")})
        ids = {str(d.get("doc_id")) for d in docs if d.get("doc_id")}
        with self._lock:
            # each attribute is replaced by a new object, never mutated: readers need no lock
            self.docs, self.municipalities, self.doc_ids = docs, munis, ids
            if bump:
                self.generation += 1


ADMIN_ENV = "ASSISTANT_ADMIN_PASSWORD"
ADMIN_MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # = ingest.MAX_BYTES
ADMIN_FILE_TYPES = [".txt", ".md", ".pdf", ".docx", ".html", ".htm", ".jsonl"]
MSG_ADMIN_BAD_PASSWORD = "パスワードが正しくありません。何も変更していません。"
MSG_ADMIN_ERROR = ("処理中にエラーが発生しました。質問への回答はこれまでの索引で続いています。"
                   "時間をおいてもう一度お試しください。")
MSG_ADMIN_NO_FILES = "追加するファイルを選んでください。"
MSG_ADMIN_NO_DOC = "文書を選んでください。"
MSG_ADMIN_CONFIRM = "削除するには「削除を確認しました」にチェックを入れてください。"

# ingest/format reasons are English (shared with the CLI); the admin sees them in Japanese,
# with the original kept in parentheses for whoever has to dig deeper.
_REASONS_JA = [
    ("a title applies to one file", "タイトルを指定できるのは1ファイルずつ追加するときだけです。1つずつ追加してください"),
    ("file not found", "ファイルが見つかりません"),
    ("not a regular file", "通常のファイルではありません"),
    ("empty file", "空のファイルです"),
    ("file too large", "ファイルが大きすぎます"),
    ("no usable file name", "使えるファイル名がありません（名前と拡張子が必要です）"),
    ("unsupported file type", "対応していない形式です（対応: " + " ".join(ADMIN_FILE_TYPES) + "）"),
    ("scanned PDF", "文字情報のない（スキャン画像の）PDFです。文字を選択できるPDFを用意してください"),
    ("only page furniture", "文字情報のない（スキャン画像の）PDFです。文字を選択できるPDFを用意してください"),
    ("PDF is password-protected", "パスワード付きのPDFは読み込めません"),
    ("not a readable PDF", "PDFとして読み込めません"),
    ("PDF", "PDFを読み込めません"),
    ("not a readable .docx", "Wordファイル（.docx）として読み込めません"),
    ("the Word document contains no text", "Wordファイルに本文がありません"),
    ("binary", "文書ではない（バイナリの）ファイルです"),
    ("undecodable", "文字コードを判別できません"),
    ("no main text content", "ページに本文が見つかりません"),
    ("no text", "本文が見つかりません"),
    ("cannot read file", "ファイルを読めません"),
    ("catalog", "目録（catalog.toml）を読めないため変更できません"),
]


def reason_ja(reason: str) -> str:
    r = str(reason or "").strip()
    for prefix, ja in _REASONS_JA:
        if r.startswith(prefix) or (prefix in ("binary", "undecodable", "catalog") and prefix in r):
            return f"{ja}（{r}）"
    return f"読み込めませんでした（{r}）" if r else "読み込めませんでした"


@dataclass
class AdminOutcome:
    ok: bool
    message: str          # Japanese, one line per file / action; shown to the admin as-is
    changed: bool = False  # the corpus changed (and the index was refreshed)


class Admin:
    """The admin actions behind the 管理 tab: add/edit/remove documents and rebuild.

    Every action takes the password and checks it first (constant-time compare; a wrong
    password changes nothing and costs the caller ``fail_delay`` seconds). Changes and
    rebuilds run one at a time under ``lock``; questions keep being answered meanwhile from
    the index that is loaded (``Assistant.refresh`` swaps the new one in as one reference).
    After a change ``on_change`` runs (answer cache cleared, document list re-read).
    """

    def __init__(self, assistant: Any, password: str, on_change=None, *, fail_delay: float = 1.0):
        if not password:
            raise ValueError("admin password must not be empty")
        self.assistant = assistant
        self._secret = password.encode("utf-8")
        self.on_change = on_change or (lambda: None)
        self.fail_delay = fail_delay
        self.lock = threading.Lock()
        self.last_seconds: float | None = None

    # --- checks -----------------------------------------------------------------------

    def check(self, password: Any) -> bool:
        given = password.encode("utf-8") if isinstance(password, str) else b""
        ok = hmac.compare_digest(given, self._secret)
        if not ok:
            log.warning("admin: wrong password")
            if self.fail_delay:
                time.sleep(self.fail_delay)
        return ok

    def _denied(self) -> AdminOutcome:
        return AdminOutcome(False, MSG_ADMIN_BAD_PASSWORD)

    # --- the index ----------------------------------------------------------------------

    def _refresh_locked(self) -> str:
        """Rebuild what changed and swap it in; caller holds ``self.lock``. Returns a status line."""
        t0 = time.perf_counter()
        try:
            self.assistant.refresh()
        finally:
            self.last_seconds = round(time.perf_counter() - t0, 2)
            # even a failed build may have changed the corpus: never serve a cached answer
            # that cites a document the admin just removed
            try:
                self.on_change()
            except Exception:
                log.exception("admin: on_change failed")
        return f"索引を更新しました（{self.last_seconds:.2f}秒）。"

    def _run(self, what: str, fn) -> AdminOutcome:
        with self.lock:
            try:
                return fn()
            except Exception:
                log.exception("admin %s failed", what)
                return AdminOutcome(False, MSG_ADMIN_ERROR)

    # --- actions ------------------------------------------------------------------------

    def upload(self, password: Any, files: Sequence[Any] | None, *, title: str = "", municipality: str = "",
               year: Any = "", kind: str = "", url: str = "") -> AdminOutcome:
        if not self.check(password):
            return self._denied()
        paths = [_file_path(f) for f in (files or []) if f]
        paths = [p for p in paths if p]
        if not paths:
            return AdminOutcome(False, MSG_ADMIN_NO_FILES)

        def go() -> AdminOutcome:
            from .ingest import add_documents

            names = [os.path.basename(p) for p in paths]
            log.info("admin: adding %s", ", ".join(names))
            results = add_documents(paths, self.assistant.corpus_dir, title=(title or "").strip() or None,
                                    municipality=(municipality or "").strip() or None,
                                    year=str(year).strip() if year not in (None, "") else None,
                                    kind=(kind or "").strip() or None, url=(url or "").strip() or None,
                                    names=names)
            lines = []
            for r in results:
                src = os.path.basename(str(r.source))
                if not r.ok:
                    lines.append(f"✗ {src}: 追加できませんでした — {reason_ja(r.reason)}")
                    continue
                what = "登録済みのものと同じ内容です（メタデータのみ更新）" if r.unchanged else (
                    "置き換えました" if r.replaced else "追加しました")
                pages = f"、{r.pages}ページ" if r.pages else ""
                line = f"✓ {src}: {what} → 文書ID {r.doc_id}（「{r.title}」{pages}）"
                if r.renamed:
                    line += "　※同じ名前の別の文書があるため、名前を変えて保存しました"
                lines.append(line)
            accepted = any(r.ok for r in results)
            if accepted:
                lines.append(self._refresh_locked())
            else:
                lines.append("文書は変更していません。")
            return AdminOutcome(accepted, "\n".join(lines), changed=accepted)

        return self._run("upload", go)

    def edit(self, password: Any, doc_id: str, *, title: str = "", municipality: str = "", year: Any = "",
             kind: str = "", url: str = "") -> AdminOutcome:
        """Set the catalog fields of ``doc_id``; an empty field is removed from the entry."""
        if not self.check(password):
            return self._denied()
        if not doc_id:
            return AdminOutcome(False, MSG_ADMIN_NO_DOC)

        def go() -> AdminOutcome:
            from .ingest import IngestError, update_entry

            fields = {"title": title, "municipality": municipality, "year": year, "kind": kind, "url": url}
            fields = {k: ("" if v is None else str(v).strip()) for k, v in fields.items()}
            log.info("admin: editing catalog entry %s", doc_id)
            try:
                update_entry(doc_id, self.assistant.corpus_dir, **fields)
            except KeyError:
                return AdminOutcome(False, f"文書 {doc_id} は見つかりません。")
            except IngestError as e:
                return AdminOutcome(False, f"目録を変更できません — {reason_ja(str(e))}")
            return AdminOutcome(True, f"文書 {doc_id} の目録情報を保存しました。\n" + self._refresh_locked(),
                                changed=True)

        return self._run("edit", go)

    def remove(self, password: Any, doc_id: str) -> AdminOutcome:
        if not self.check(password):
            return self._denied()
        if not doc_id:
            return AdminOutcome(False, MSG_ADMIN_NO_DOC)

        def go() -> AdminOutcome:
            from .ingest import remove_document

            log.info("admin: removing %s", doc_id)
            r = remove_document(doc_id, self.assistant.corpus_dir)
            if not r.ok:
                why = {"no such document": "その文書はありません",
                       "documents from a .jsonl bulk file cannot be removed one by one":
                           ".jsonl の一括ファイルに含まれる文書は個別に削除できません"}.get(r.reason) or reason_ja(r.reason)
                return AdminOutcome(False, f"文書 {doc_id} を削除できませんでした — {why}")
            return AdminOutcome(True, f"文書 {doc_id} を削除しました。\n" + self._refresh_locked(), changed=True)

        return self._run("remove", go)

    def rebuild(self, password: Any) -> AdminOutcome:
        if not self.check(password):
            return self._denied()
        return self._run("rebuild", lambda: AdminOutcome(True, self._refresh_locked(), changed=True))

    # --- what the tab shows -------------------------------------------------------------

    def documents(self) -> list[list[Any]]:
        rows = []
        for d in _safe_documents(self.assistant):
            rows.append([d.get("doc_id", ""), d.get("title", ""), d.get("municipality", ""),
                         d.get("year", ""), d.get("kind", ""), d.get("passages", 0)])
        return rows

    def entry(self, doc_id: str) -> dict[str, str]:
        """The catalog fields of one document, for the edit form."""
        from .corpus import read_catalog

        e = dict(read_catalog(self.assistant.corpus_dir).get(doc_id, {})) if doc_id else {}
        if doc_id and not e.get("title"):
            d = next((x for x in _safe_documents(self.assistant) if x.get("doc_id") == doc_id), {})
            e.setdefault("title", d.get("title", ""))
        return {k: "" if e.get(k) is None else str(e.get(k)) for k in ("title", "municipality", "year", "kind", "url")}

    def stats_markdown(self) -> str:
        b = dict(self.assistant.last_build or {})
        try:
            h = self.assistant.health()
        except Exception:
            h = {}
        lines = [f"- 文書数: {h.get('documents', '?')}　段落（パッセージ）数: {h.get('passages', '?')}"
                 f"　索引の作成時刻: {h.get('built_at', '?')}"]
        if b:
            lines.append(f"- 前回の作成: ファイル {b.get('files', '?')} 件"
                         f"（読み込み {b.get('files_read', '?')}・再利用 {b.get('files_reused', '?')}）、"
                         f"段落の埋め込み 新規 {b.get('embedded', '?')}・再利用 {b.get('reused', '?')}、"
                         f"{b.get('seconds', '?')}秒")
        else:
            lines.append("- この起動では索引を作り直していません（保存済みの索引を読み込みました）。")
        if self.last_seconds is not None:
            lines.append(f"- 前回の更新処理（確認・入れ替えを含む）: {self.last_seconds:.2f}秒")
        skipped = list(getattr(self.assistant, "skipped", []) or [])
        if skipped:
            lines.append(f"- 読み込めなかったファイル: {len(skipped)} 件")
            for sk in skipped[:10]:
                path = os.path.basename(str(_get(sk, "path", sk)))
                # shown as Markdown: names and reasons come from uploads, so they are escaped
                lines.append(f"  - {escape_markdown(path)}: {escape_markdown(reason_ja(str(_get(sk, 'reason', ''))))}")
        return "\n".join(lines)


def _file_path(f: Any) -> str | None:
    """A gr.File value (a path string, or an object/dict with a path) → the path."""
    if isinstance(f, (str, os.PathLike)):
        return str(f)
    if isinstance(f, dict):
        return f.get("path") or f.get("name")
    return _get(f, "path", None) or _get(f, "name", None)


# ---------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------


def create_app(
    assistant: Any,
    *,
    allowed_origins: Sequence[str] = (),
    data_dir: str | os.PathLike | None = None,
    max_question_chars: int = 500,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    concurrency: int = 2,
    queue_max_size: int = 64,
    max_history: int = DEFAULT_MAX_HISTORY,
    answer_cache_size: int = 256,
    title: str = TITLE,
    admin_password: str | None = None,
) -> FastAPI:
    """Build the FastAPI app (JSON API + Gradio UI at ``/`` and ``/embed``) over ``assistant``.

    ``allowed_origins``: exact origins (``https://www.city.example.jp``) allowed to call the
    API / load the web component cross-origin; empty means same-origin only. ``data_dir``:
    where feedback is logged (default ``$ASSISTANT_DATA_DIR`` or ``./data``).
    ``concurrency`` / ``queue_max_size``: how many questions run at once and how many may
    wait, for the UI queue and the API alike. ``answer_cache_size``: answers kept for repeated
    questions (0 = off). ``admin_password`` (default ``$ASSISTANT_ADMIN_PASSWORD``): when set,
    the page at ``/`` gets a 管理 tab to add/edit/remove documents and rebuild the index while
    the app keeps answering; when unset there is no such tab at all.
    """
    feedback = FeedbackLog(data_dir)
    gate = Gate(concurrency, queue_max_size)
    cache = AnswerCache(answer_cache_size)

    live = LiveCatalog(assistant)

    def index_version() -> Any:
        # built_at has one-second resolution; the generation counter tells apart two
        # rebuilds within the same second (admin tab), so a cached answer never outlives one.
        try:
            return (assistant.health().get("built_at"), live.generation)
        except Exception:
            return (None, live.generation)

    def cached_ask(question: str, history: list[dict[str, str]], municipality: str | None,
                   doc_id: str | None):
        """Cache hit → at once; miss → through the gate (may wait), then remembered."""
        key = cache.key(question, history, municipality, doc_id, index_version())
        hit = cache.get(key)
        if hit is not None:
            return hit
        answer = gate.run(assistant.ask, question, history=history, municipality=municipality, doc_id=doc_id)
        cache.put(key, answer)
        return answer


    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    # Always install our CORS middleware, even with no origins: Gradio then skips its own
    # permissive defaults and our list is the only policy (see gr.mount_gradio_app docs).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.rstrip("/") for o in allowed_origins if o],
        allow_methods=["GET", "POST", "OPTIONS"],
        # Gradio's client (the <gradio-app> web component) sends its own headers on the queue
        # requests; the origin list is what restricts access, not the header list.
        allow_headers=["*"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.state.assistant = assistant
    app.state.feedback = feedback
    app.state.gate = gate
    app.state.answer_cache = cache
    limiter_box: dict[str, Any] = {}

    def _limiter():
        # Created lazily: an anyio CapacityLimiter must be made inside the running loop.
        if "l" not in limiter_box:
            limiter_box["l"] = anyio.CapacityLimiter(gate.concurrency)
        return limiter_box["l"]

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return _error_response(exc.status, exc.code, exc.message)

    @app.post("/api/ask")
    async def api_ask(request: Request):
        ctype = request.headers.get("content-type", "")
        if "json" not in ctype.lower():
            raise ApiError(415, "unsupported_media_type",
                           "Content-Type: application/json で送信してください。")
        raw = await request.body()
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, "invalid_json", "リクエスト本文が正しいJSON（UTF-8）ではありません。")
        req = parse_ask_payload(payload, max_question_chars=max_question_chars,
                                municipalities=set(live.municipalities), doc_ids=set(live.doc_ids),
                                max_history=max_history)
        hit = cache.get(cache.key(req.question, req.history, req.municipality, req.doc_id, index_version()))
        if hit is not None:
            return JSONResponse(hit.to_dict(), headers={"Cache-Control": "no-store"})
        if not gate.try_admit():
            return _error_response(503, "busy", MSG_BUSY)
        try:
            answer = await anyio.to_thread.run_sync(
                lambda: cached_ask(req.question, req.history, req.municipality, req.doc_id),
                limiter=_limiter(),
            )
        except Exception:
            log.exception("ask failed")
            return _error_response(500, "internal_error", MSG_ERROR)
        finally:
            gate.release_admission()
        return JSONResponse(answer.to_dict(), headers={"Cache-Control": "no-store"})

    @app.get("/api/health")
    async def api_health():
        try:
            h = await anyio.to_thread.run_sync(assistant.health)
        except Exception:
            log.exception("health failed")
            return JSONResponse({"status": "error"}, status_code=503)
        return JSONResponse(h, headers={"Cache-Control": "no-store"})

    @app.get("/api/documents")
    async def api_documents():
        return JSONResponse({"documents": live.docs})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def api_unknown(rest: str, request: Request):
        # Without this, unknown /api paths and wrong methods would fall through to the
        # Gradio mount at "/" and get an HTML/English error.
        known = {"ask": "POST", "health": "GET", "documents": "GET"}
        if rest in known:
            return _error_response(405, "method_not_allowed",
                                   f"/api/{rest} には {known[rest]} で送信してください。")
        return _error_response(404, "not_found", "そのAPIはありません（/api/ask, /api/health, /api/documents）。")

    if admin_password is None:
        admin_password = os.environ.get(ADMIN_ENV) or None
    admin = None
    if admin_password:
        def on_change() -> None:
            live.reload()
            cache.clear()

        admin = Admin(assistant, admin_password, on_change)
    app.state.admin = admin
    app.state.live = live

    demo = build_ui(assistant, live=live, ask=cached_ask, gate=gate, feedback=feedback,
                    max_question_chars=max_question_chars, max_history=max_history, title=title,
                    admin=admin)
    demo.queue(default_concurrency_limit=gate.concurrency, max_size=queue_max_size)
    with warnings.catch_warnings():
        # "SSR mode is not supported with multi-page apps": we never want SSR (it needs Node).
        warnings.filterwarnings("ignore", message="SSR mode is not supported")
        gr.mount_gradio_app(app, demo, path="/", footer_links=[], css=CSS, head=HEAD, show_error=False,
                            run_history=False, ssr_mode=False, mcp_server=False,
                            # the admin tab's file input is the only upload; cap it like ingest does
                            max_file_size=ADMIN_MAX_UPLOAD_BYTES if admin else "1mb")
    app.state.blocks = demo
    return app


def _safe_documents(assistant: Any) -> list[dict]:
    try:
        return [dict(d) for d in assistant.documents()]
    except Exception:
        log.exception("documents() failed; filters disabled")
        return []


# ---------------------------------------------------------------------------------------
# Gradio UI
# ---------------------------------------------------------------------------------------


def build_ui(assistant: Any, *, live: LiveCatalog, ask, gate: Gate, feedback: FeedbackLog,
             max_question_chars: int = 500, max_history: int = DEFAULT_MAX_HISTORY,
             title: str = TITLE, admin: Admin | None = None) -> gr.Blocks:
    """The Blocks app: the full page at ``/`` and the compact chat at ``/embed``.

    Per-session state (``turns``) keeps the *raw* questions/answers and cited ids: the chat
    component only holds escaped display text, which is neither what follow-up questions
    should see nor what the feedback log should store.
    """
    def muni_choices():
        return [("すべての自治体", "")] + [(m, m) for m in live.municipalities]

    def doc_choices(muni: str | None):
        items = [d for d in live.docs if not muni or str(d.get("municipality")) == muni]
        return [("すべての文書", "")] + [
            (f"{d.get('title') or d.get('doc_id')}（{d.get('municipality', '')}）", str(d.get("doc_id")))
            for d in items
        ]

    def respond(question, chat, turns, muni, doc_id):
        chat = list(chat or [])
        turns = list(turns or [])
        q = _clean_text(question or "")
        if not q:
            gr.Warning(MSG_EMPTY)
            return gr.update(), chat, turns, gr.update()
        if len(q) > max_question_chars:
            gr.Warning(MSG_TOO_LONG.format(n=max_question_chars))
            return gr.update(), chat, turns, gr.update()
        history: list[dict[str, str]] = []
        for t in turns:
            history += [{"role": "user", "content": t["question"]},
                        {"role": "assistant", "content": t["answer"]}]
        history = history[-max_history:] if max_history else []
        chat.append({"role": "user", "content": escape_markdown(q)})
        try:
            answer = ask(q, history, muni or None, doc_id or None)
        except Exception:
            log.exception("ask failed in UI")
            chat.append({"role": "assistant", "content": escape_markdown(MSG_ERROR)})
            return "", chat, turns, gr.update()
        contexts: dict[str, dict] = {}
        shown = list(_get(answer, "citations", []) or [])
        shown_hits = [_get(c, "hit", c) for c in shown] or list(_get(answer, "related", []) or [])[:5]
        for h in shown_hits:
            cid = str(_get(h, "id", "") or "")
            if cid and cid not in contexts:
                try:
                    contexts[cid] = dict(assistant.section_context(cid))
                except Exception:
                    log.warning("section_context(%s) failed", cid, exc_info=True)
        chat.append({"role": "assistant", "content": render_answer_markdown(answer)})
        del turns[: max(0, len(turns) - MAX_TURNS_KEPT + 1)]  # bound per-session memory; older turns can no longer be rated
        turns.append({
            "question": q,
            "answer": str(_get(answer, "text", "")),
            "cited_ids": [str(_get(_get(c, "hit", c), "id", "")) for c in shown],
            "refused": bool(_get(answer, "refused", False)),
            "msg_index": len(chat) - 1,
        })
        return "", chat, turns, render_sources_html(answer, q, contexts)

    def on_like(turns, data: gr.LikeData):
        idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = next((t for t in (turns or []) if t.get("msg_index") == idx), None)
        if turn is None or data.liked in (None, ""):
            return  # a user message, an error message, or a like being cleared
        feedback.record(question=turn["question"], answer=turn["answer"],
                        cited_ids=turn["cited_ids"], rating=data.liked, refused=turn["refused"])
        gr.Info(MSG_FEEDBACK_THANKS)

    def clear():
        return "", [], [], SOURCES_PLACEHOLDER

    def header():
        gr.Markdown(
            f"# {title}\n"
            "市の計画書（総合計画・協働推進プランなど）の内容について質問できます。"
            "回答には根拠となった箇所の番号 [1] が付き、右側（スマートフォンでは下）の"
            "「出典」で原文を確認できます。",
            elem_id="mq-title",
        )

    def page(compact: bool, *, with_header: bool = True):
        gr.Navbar(visible=False)  # the /embed page exists but is not a menu item
        turns = gr.State([])
        if not compact and with_header:
            header()
        with gr.Accordion("絞り込み（自治体・文書）", open=not compact):
            with gr.Row():
                muni = gr.Dropdown(choices=muni_choices(), value="", label="自治体",
                                   min_width=160, interactive=True, elem_classes="mq-muni-filter")
                doc = gr.Dropdown(choices=doc_choices(None), value="", label="文書",
                                  min_width=200, interactive=True, elem_classes="mq-doc-filter")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                chatbot = gr.Chatbot(
                    label="会話",
                    height=360 if compact else 520,
                    sanitize_html=True,
                    render_markdown=True,
                    latex_delimiters=[],
                    allow_tags=False,
                    line_breaks=True,
                    feedback_options=("Like", "Dislike"),
                    buttons=[],
                    placeholder="計画書について質問してください。例：「地域協働体とは何ですか？」",
                    elem_classes="mq-chatbot",
                )
                with gr.Row():
                    question = gr.Textbox(
                        label="質問",
                        show_label=False,
                        placeholder=f"質問を入力（{max_question_chars}文字まで）してEnter",
                        max_length=max_question_chars,
                        lines=1,
                        max_lines=4,
                        scale=5,
                        min_width=180,
                        elem_classes="mq-question",
                    )
                    send = gr.Button("送信", variant="primary", scale=1, min_width=72,
                                     elem_classes="mq-send")
                clear_btn = gr.Button("会話をクリア", size="sm", variant="secondary",
                                      elem_classes="mq-clear")
            with gr.Column(scale=2, min_width=300):
                if compact:
                    with gr.Accordion("出典", open=True):
                        sources = gr.HTML(SOURCES_PLACEHOLDER, js_on_load=None,
                                          elem_classes=["mq-sources-panel", "mq-embed"])
                else:
                    gr.Markdown("### 出典")
                    sources = gr.HTML(SOURCES_PLACEHOLDER, js_on_load=None,
                                      elem_classes="mq-sources-panel")

        if not compact:
            # Below chat *and* sources: on a phone the columns stack, and the sources should
            # come right after the answer, not after a list of examples.
            with gr.Row(elem_classes="mq-examples"):
                with gr.Column(min_width=280):
                    gr.Examples(examples=[[q] for q in RESIDENT_EXAMPLES], inputs=[question],
                                label="住民の方向けの質問例（クリックで入力）", examples_per_page=8)
                with gr.Column(min_width=280):
                    gr.Examples(examples=[[q] for q in STAFF_EXAMPLES], inputs=[question],
                                label="職員向けの質問例（クリックで入力）", examples_per_page=8)

        muni.change(lambda m: gr.update(choices=doc_choices(m), value=""), inputs=[muni],
                    outputs=[doc], queue=False, api_visibility="private")
        ev = dict(fn=respond, inputs=[question, chatbot, turns, muni, doc],
                  outputs=[question, chatbot, turns, sources], api_visibility="private",
                  concurrency_limit=gate.concurrency, concurrency_id="ask")
        question.submit(**ev)
        send.click(**ev)
        clear_btn.click(clear, outputs=[question, chatbot, turns, sources], queue=False,
                        api_visibility="private")
        chatbot.clear(clear, outputs=[question, chatbot, turns, sources], queue=False,
                      api_visibility="private")
        chatbot.like(on_like, inputs=[turns], outputs=None, api_visibility="private")
        return muni, doc

    def refresh_filters(m):
        # a page opened after an admin change starts from the current document list
        return gr.update(choices=muni_choices()), gr.update(choices=doc_choices(m))

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        if admin is None:
            muni, doc = page(compact=False)
        else:
            header()
            with gr.Tabs(elem_classes="mq-tabs"):
                with gr.Tab("質問する", id="ask", elem_classes="mq-tab-ask"):
                    muni, doc = page(compact=False, with_header=False)
                with gr.Tab("管理", id="admin", elem_classes="mq-tab-admin"):
                    admin_tab(admin, live, muni, doc, muni_choices, doc_choices)
        demo.load(refresh_filters, inputs=[muni], outputs=[muni, doc], queue=False, api_visibility="private")
    with demo.route("埋め込み", EMBED_PATH, show_in_navbar=False) as embed:
        emuni, edoc = page(compact=True)
        embed.load(refresh_filters, inputs=[emuni], outputs=[emuni, edoc], queue=False, api_visibility="private")
    return demo


ADMIN_DOC_HEADERS = ["文書ID", "タイトル", "自治体", "年", "種別", "段落数"]


def admin_tab(admin: Admin, live: LiveCatalog, muni_filter, doc_filter, muni_choices, doc_choices) -> None:
    """The 管理 tab (only built when an admin password is configured).

    The panel appears after a successful ログイン, but that is convenience only: every
    handler checks the password again on the server, so a hand-made request without it
    changes nothing. Results are shown in a read-only text box (file names come from the
    uploader and are never rendered as Markdown/HTML).
    """
    gr.Markdown(
        "### 文書の管理\n"
        "計画書ファイルの追加・目録情報の編集・削除と、索引の更新ができます。"
        "更新中も質問にはこれまでの索引で回答し、更新が終わると新しい索引に切り替わります（再起動は不要です）。"
    )
    with gr.Row():
        pw = gr.Textbox(label="管理者パスワード", type="password", scale=4, min_width=200,
                        elem_classes="mq-admin-password")
        login = gr.Button("ログイン", variant="primary", scale=1, min_width=90, elem_classes="mq-admin-login")
    status = gr.Markdown("", elem_classes="mq-admin-status")
    with gr.Column(visible=False, elem_classes="mq-admin-panel") as panel:
        result = gr.Textbox(label="処理結果", lines=4, max_lines=20, interactive=False,
                            elem_classes="mq-admin-result")
        with gr.Accordion("文書を追加", open=True):
            files = gr.File(label="ファイル（" + " ".join(ADMIN_FILE_TYPES) + "、複数可）", file_count="multiple",
                            file_types=ADMIN_FILE_TYPES, type="filepath", elem_classes="mq-admin-files")
            with gr.Row():
                up_title = gr.Textbox(label="タイトル（任意・1ファイルのとき）", min_width=200)
                up_muni = gr.Textbox(label="自治体（任意）", min_width=120)
                up_year = gr.Textbox(label="年（任意・例 2024）", min_width=100)
                up_kind = gr.Textbox(label="種別（任意・例 総合計画）", min_width=120)
                up_url = gr.Textbox(label="URL（任意）", min_width=200)
            upload_btn = gr.Button("追加して索引を更新", variant="primary", elem_classes="mq-admin-upload")
        with gr.Accordion("登録済みの文書", open=True):
            stats = gr.Markdown("", elem_classes="mq-admin-stats")
            table = gr.Dataframe(headers=ADMIN_DOC_HEADERS, interactive=False, wrap=True,
                                 elem_classes="mq-admin-docs")
            rebuild_btn = gr.Button("索引を更新（変更があった文書だけ作り直します）", elem_classes="mq-admin-rebuild")
        with gr.Accordion("目録情報の編集・削除", open=False):
            target = gr.Dropdown(label="文書", choices=[], value=None, interactive=True,
                                 elem_classes="mq-admin-target")
            with gr.Row():
                ed_title = gr.Textbox(label="タイトル", min_width=200)
                ed_muni = gr.Textbox(label="自治体", min_width=120)
                ed_year = gr.Textbox(label="年", min_width=100)
                ed_kind = gr.Textbox(label="種別", min_width=120)
                ed_url = gr.Textbox(label="URL", min_width=200)
            save_btn = gr.Button("目録情報を保存して索引を更新", elem_classes="mq-admin-save")
            with gr.Row():
                confirm = gr.Checkbox(label="削除を確認しました", value=False, elem_classes="mq-admin-confirm")
                remove_btn = gr.Button("この文書を削除", variant="stop", elem_classes="mq-admin-remove")

    def table_value():
        import pandas as pd

        return pd.DataFrame(admin.documents(), columns=ADMIN_DOC_HEADERS)

    def target_choices():
        return [(f"{d.get('title') or d.get('doc_id')}（{d.get('doc_id')}）", str(d.get("doc_id")))
                for d in live.docs]

    def refreshed(outcome: AdminOutcome, m):
        """Outputs after an action: [result, table, stats, target, muni filter, doc filter]."""
        if not outcome.changed:
            return (outcome.message, gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
        return (outcome.message, table_value(), admin.stats_markdown(),
                gr.update(choices=target_choices(), value=None),
                gr.update(choices=muni_choices()), gr.update(choices=doc_choices(m)))

    def do_login(password):
        try:
            if not admin.check(password):
                return (gr.update(visible=False), MSG_ADMIN_BAD_PASSWORD, gr.update(), gr.update(), gr.update())
            return (gr.update(visible=True), "ログインしました。", table_value(), admin.stats_markdown(),
                    gr.update(choices=target_choices(), value=None))
        except Exception:
            log.exception("admin login view failed")
            return (gr.update(), MSG_ADMIN_ERROR, gr.update(), gr.update(), gr.update())

    def do_upload(password, paths, title, muni, year, kind, url, m):
        out = admin.upload(password, paths, title=title, municipality=muni, year=year, kind=kind, url=url)
        return (*refreshed(out, m), None if out.changed else gr.update())

    def do_save(password, doc_id, title, muni, year, kind, url, m):
        return refreshed(admin.edit(password, doc_id, title=title, municipality=muni, year=year,
                                    kind=kind, url=url), m)

    def do_remove(password, doc_id, confirmed, m):
        if not confirmed:
            return (*refreshed(AdminOutcome(False, MSG_ADMIN_CONFIRM), m), gr.update())
        out = admin.remove(password, doc_id)
        return (*refreshed(out, m), False if out.changed else gr.update())

    def do_rebuild(password, m):
        return refreshed(admin.rebuild(password), m)

    def do_select(password, doc_id):
        empty = ("", "", "", "", "")
        if not doc_id:
            return empty
        if not admin.check(password):
            gr.Warning(MSG_ADMIN_BAD_PASSWORD)
            return empty
        try:
            e = admin.entry(doc_id)
        except Exception:
            log.exception("admin entry failed")
            return empty
        return (e["title"], e["municipality"], e["year"], e["kind"], e["url"])

    common = dict(api_visibility="private", concurrency_limit=1, concurrency_id="admin")
    outs = [result, table, stats, target, muni_filter, doc_filter]
    login.click(do_login, inputs=[pw], outputs=[panel, status, table, stats, target], **common)
    pw.submit(do_login, inputs=[pw], outputs=[panel, status, table, stats, target], **common)
    upload_btn.click(do_upload, inputs=[pw, files, up_title, up_muni, up_year, up_kind, up_url, muni_filter],
                     outputs=[*outs, files], **common)
    save_btn.click(do_save, inputs=[pw, target, ed_title, ed_muni, ed_year, ed_kind, ed_url, muni_filter],
                   outputs=outs, **common)
    remove_btn.click(do_remove, inputs=[pw, target, confirm, muni_filter], outputs=[*outs, confirm], **common)
    rebuild_btn.click(do_rebuild, inputs=[pw, muni_filter], outputs=outs, **common)
    target.change(do_select, inputs=[pw, target], outputs=[ed_title, ed_muni, ed_year, ed_kind, ed_url],
                  **common)


# ---------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------


def _env_origins() -> list[str]:
    return [o.strip() for o in os.environ.get("ASSISTANT_ALLOWED_ORIGINS", "").split(",") if o.strip()]


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _env_tuning() -> dict[str, int]:
    """Capacity knobs from the environment (see docs/embedding.md)."""
    return {
        "answer_cache_size": _env_int("ASSISTANT_ANSWER_CACHE", 256),
        "concurrency": _env_int("ASSISTANT_CONCURRENCY", 2),
        "queue_max_size": _env_int("ASSISTANT_QUEUE_MAX", 64),
        "max_question_chars": _env_int("ASSISTANT_MAX_QUESTION_CHARS", 500),
    }


def app_from_env() -> FastAPI:
    """App factory for multi-worker serving: each uvicorn worker process loads its own Assistant.

    Configured through the environment that :func:`serve` sets (ASSISTANT_CORPUS,
    ASSISTANT_INDEX, ASSISTANT_MODEL, ASSISTANT_ALLOWED_ORIGINS, ASSISTANT_DATA_DIR). The
    index is already built by the parent, so workers only load it.
    """
    from . import Assistant

    env = os.environ.get
    assistant = Assistant.load(corpus_dir=env("ASSISTANT_CORPUS", "corpus"),
                               index_dir=env("ASSISTANT_INDEX", "index"),
                               model=env("ASSISTANT_MODEL") or None)
    return create_app(assistant, allowed_origins=_env_origins(), data_dir=env("ASSISTANT_DATA_DIR") or None,
                      **_env_tuning())


def serve(host: str = "127.0.0.1", port: int = 7860, corpus: str = "corpus", index: str = "index",
          model: str | None = None, *, allowed_origins: Sequence[str] | None = None,
          data_dir: str | None = None, workers: int = 1, log_level: str = "info") -> None:
    """Load (building on first start) the index, then serve UI + API with uvicorn.

    Used by ``app.py`` and ``python -m assistant serve``. Access logging is off on purpose:
    uvicorn's access log records client IP addresses, which this service promises not to
    keep. ``workers > 1`` runs that many processes (answering is pure Python and holds the
    GIL, so a second process is what uses a second core); the index is built once here
    first so workers never race to build it, and the feedback log is safe to share
    (``flock``-ed appends). Gradio's UI state lives in each worker, so behind more than one
    worker a load balancer must keep a browser on one worker (sticky sessions) — uvicorn's
    own multi-worker mode shares one socket and is fine for the JSON API but not for the UI.
    """
    import uvicorn

    from . import Assistant

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    print(f"インデックスを準備しています（corpus={corpus}, index={index}）…", file=sys.stderr, flush=True)
    assistant = Assistant.load(corpus_dir=corpus, index_dir=index, model=model, progress=True)
    origins = list(allowed_origins) if allowed_origins is not None else _env_origins()
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    banner = f"起動しました: http://{shown}:{port}/  （埋め込み: {EMBED_PATH}, API: /api/ask）"
    if workers and workers > 1:
        if os.environ.get(ADMIN_ENV):
            print("注意: 複数プロセス（--workers）では、管理タブでの変更はそのプロセスにだけすぐ反映されます。"
                  "他のプロセスは再起動するまで以前の索引で回答します。", file=sys.stderr, flush=True)
        del assistant
        os.environ.update({"ASSISTANT_CORPUS": str(corpus), "ASSISTANT_INDEX": str(index),
                           "ASSISTANT_ALLOWED_ORIGINS": ",".join(origins)})
        if model:
            os.environ["ASSISTANT_MODEL"] = model
        if data_dir:
            os.environ["ASSISTANT_DATA_DIR"] = str(data_dir)
        print(banner + f" workers={workers}", file=sys.stderr, flush=True)
        uvicorn.run("assistant.web:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level, access_log=False)
        return
    app = create_app(assistant, allowed_origins=origins, data_dir=data_dir, **_env_tuning())
    print(banner, file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)

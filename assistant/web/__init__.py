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

The package talks to the ``Assistant`` object only (``ask``, ``documents``,
``section_context``, ``health``), never to retrieval internals. Its modules, each importing
only the ones listed before it:

- :mod:`~assistant.web.messages` — titles, paths, limits, example questions, Japanese messages
- :mod:`~assistant.web.render` — escaping, highlighting, the chat bubble and the sources panel
- :mod:`~assistant.web.api` — request validation, Japanese errors, the gate, the answer cache
- :mod:`~assistant.web.security` — login lockout, admin sessions, the guard in front of Gradio's
  own routes (uploads, file serving, queue joins) and the security headers (docs/SECURITY.md)
- :mod:`~assistant.web.admin` — the live document list, the admin actions and the 管理 tab
- :mod:`~assistant.web.ui` — the Gradio Blocks for ``/`` and ``/embed``
- :mod:`~assistant.web.app` — :func:`create_app`, :func:`serve` and the environment knobs

Everything callers use (``create_app``, ``serve``, ``app_from_env`` — also as the uvicorn
factory ``"assistant.web:app_from_env"`` — and the helpers the tests use) is re-exported here.
"""

from __future__ import annotations

from .admin import ADMIN_DOC_HEADERS, Admin, AdminOutcome, LiveCatalog, admin_tab, reason_ja
from .api import AnswerCache, ApiError, AskRequest, BodySizeLimit, Gate, parse_ask_payload
from .app import app_from_env, create_app, serve
from .messages import (ADMIN_ENV, ADMIN_FILE_TYPES, ADMIN_MAX_UPLOAD_BYTES, DEFAULT_MAX_BODY_BYTES,
                       DEFAULT_MAX_HISTORY, EMBED_PATH, MAX_HISTORY_CONTENT_CHARS, MAX_HISTORY_ITEMS,
                       MAX_SECTION_CHARS, MAX_TURNS_KEPT, MSG_ADMIN_BAD_PASSWORD, MSG_ADMIN_CONFIRM, MSG_ADMIN_ERROR,
                       MSG_ADMIN_NO_DOC, MSG_ADMIN_NO_FILES, MSG_BUSY, MSG_EMPTY, MSG_ERROR, MSG_FEEDBACK_THANKS,
                       MSG_TOO_LONG, RESIDENT_EXAMPLES, SOURCES_PLACEHOLDER, STAFF_EXAMPLES, TITLE)
from .render import (escape_html, escape_markdown, highlight_html, question_terms, render_answer_markdown,
                     render_sources_html)
from .ui import CSS, HEAD, build_ui

__all__ = [
    "ADMIN_DOC_HEADERS", "ADMIN_ENV", "ADMIN_FILE_TYPES", "ADMIN_MAX_UPLOAD_BYTES", "Admin", "AdminOutcome",
    "AnswerCache", "ApiError", "AskRequest", "BodySizeLimit", "CSS", "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HISTORY", "EMBED_PATH", "Gate", "HEAD", "LiveCatalog", "MAX_HISTORY_CONTENT_CHARS",
    "MAX_HISTORY_ITEMS", "MAX_SECTION_CHARS", "MAX_TURNS_KEPT", "MSG_ADMIN_BAD_PASSWORD", "MSG_ADMIN_CONFIRM",
    "MSG_ADMIN_ERROR", "MSG_ADMIN_NO_DOC", "MSG_ADMIN_NO_FILES", "MSG_BUSY", "MSG_EMPTY", "MSG_ERROR",
    "MSG_FEEDBACK_THANKS", "MSG_TOO_LONG", "RESIDENT_EXAMPLES", "SOURCES_PLACEHOLDER", "STAFF_EXAMPLES", "TITLE",
    "admin_tab", "app_from_env", "build_ui", "create_app", "escape_html", "escape_markdown", "highlight_html",
    "parse_ask_payload", "question_terms", "reason_ja", "render_answer_markdown", "render_sources_html", "serve",
]

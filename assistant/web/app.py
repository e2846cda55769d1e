"""App assembly and serving: :func:`create_app`, the environment knobs and :func:`serve`.

Why a module of its own: this is where the pieces meet — the JSON routes over
:mod:`~assistant.web.api`, the Gradio UI from :mod:`~assistant.web.ui`, the admin from
:mod:`~assistant.web.admin` — and the only module that starts a server or reads the
environment. Nothing else in the package imports it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, Sequence

import anyio
import gradio as gr
from gradio.utils import get_upload_folder
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from ..backends import BackendUnavailable
from ..feedback import FeedbackLog
from .admin import Admin, LiveCatalog
from .api import (AnswerCache, ApiError, BodySizeLimit, Gate, RateLimit, _error_response, parse_ask_payload,
                  parse_page_image_query)
from .security import (ADMIN_COOKIE, AdminSessions, GradioGuard, SecurityHeaders, has_lone_surrogate, is_inside,
                       strict_json_loads)
from .messages import (ADMIN_ENV, ADMIN_MAX_UPLOAD_BYTES, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HISTORY, EMBED_PATH,
                       MSG_BACKEND_DOWN, MSG_BUSY, MSG_ERROR, TITLE)
from .ui import CSS, HEAD, build_ui

log = logging.getLogger("assistant.web")  # one logger name for the whole web face


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
    frame_origins: Sequence[str] | None = None,
) -> FastAPI:
    """Build the FastAPI app (JSON API + Gradio UI at ``/`` and ``/embed``) over ``assistant``.

    ``allowed_origins``: exact origins (``https://www.city.example.jp``) allowed to call the
    API / load the web component cross-origin; empty means same-origin only. ``data_dir``:
    where feedback is logged (default ``$ASSISTANT_DATA_DIR`` or ``./data``).
    ``concurrency`` / ``queue_max_size``: how many questions run at once and how many may
    wait, for the UI queue and the API alike. ``answer_cache_size``: answers kept for repeated
    questions (0 = off). ``admin_password`` (default ``$ASSISTANT_ADMIN_PASSWORD``): when set,
    the page at ``/`` gets a 管理 tab to add/edit/remove documents and rebuild the index while
    the app keeps answering; when unset there is no such tab at all. ``frame_origins``:
    sites allowed to show ``/embed`` in an iframe (CSP ``frame-ancestors``; default
    ``$ASSISTANT_FRAME_ORIGINS``, else ``allowed_origins``; ``"*"`` = any site); every other
    page, the admin tab's included, cannot be framed. Security measures: docs/SECURITY.md.
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
    app.add_middleware(BodySizeLimit, max_bytes=4096, prefix="/admin/")  # a ticket is 43 characters
    if frame_origins is None:
        frame_origins = _env_list("ASSISTANT_FRAME_ORIGINS") or list(allowed_origins)
    sessions = AdminSessions()
    # the chat takes no files: only an admin session may upload, the file route serves only
    # the upload folder, and Gradio event bodies are capped (see security.GradioGuard)
    def is_queued(fn_index: int) -> bool | None:
        fn = getattr(app.state, "blocks", None) and app.state.blocks.fns.get(fn_index)
        return None if not fn else bool(fn.queue)

    app.add_middleware(GradioGuard, upload_dir=get_upload_folder(), sessions=sessions, is_queued=is_queued)
    app.add_middleware(SecurityHeaders, frame_origins=list(frame_origins), embed_path=EMBED_PATH)
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
        payload = await _json_body(request)
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
        except BackendUnavailable as e:
            # transient: the next question tries the backend again, no restart needed
            log.error("search backend unavailable: %s", e)
            r = _error_response(503, "backend_unavailable", MSG_BACKEND_DOWN)
            r.headers["Retry-After"] = "10"
            return r
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
        # a replica whose backend does not answer is out of a load balancer's rotation until it does
        down = h.get("status") == "backend_unavailable"
        return JSONResponse(h, status_code=503 if down else 200, headers={"Cache-Control": "no-store"})

    @app.get("/api/documents")
    async def api_documents():
        return JSONResponse({"documents": live.docs})

    page_rate = RateLimit(_env_int("ASSISTANT_PAGE_IMAGES_PER_MINUTE", 60))

    @app.get("/api/page-image")
    async def api_page_image(request: Request):
        """The cited page of a corpus PDF as a PNG with the cited sentences highlighted.

        The client names a document, a page and a passage of the loaded index — never a path;
        the Assistant resolves the name among the corpus PDFs (docs/SECURITY.md). Unknown names
        answer 404 and read nothing; each client may ask for a limited number per minute.
        """
        req = parse_page_image_query(request.query_params)
        client = request.client.host if request.client else ""
        if not page_rate.allow(client):
            return _error_response(429, "too_many_requests", "ページ画像の表示が多すぎます。1分ほど待ってからもう一度お試しください。")
        if not gate.try_admit():
            return _error_response(503, "busy", MSG_BUSY)
        try:
            png = await anyio.to_thread.run_sync(
                lambda: gate.run(assistant.pdf_page_image, req.doc_id, req.page, req.chunk_id, req.sentences,
                                 req.excerpt),
                limiter=_limiter())
        except KeyError:
            return _error_response(404, "not_found", "指定された文書のページ画像はありません（PDFの文書だけが対象です）。")
        except ValueError:
            return _error_response(404, "page_not_found", "指定されたページ（または文）はありません。")
        except Exception:
            log.exception("page image failed")
            return _error_response(500, "internal_error", MSG_ERROR)
        finally:
            gate.release_admission()
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def api_unknown(rest: str, request: Request):
        # Without this, unknown /api paths and wrong methods would fall through to the
        # Gradio mount at "/" and get an HTML/English error.
        known = {"ask": "POST", "health": "GET", "documents": "GET", "page-image": "GET"}
        if rest in known:
            return _error_response(405, "method_not_allowed",
                                   f"/api/{rest} には {known[rest]} で送信してください。")
        return _error_response(404, "not_found", "そのAPIはありません（/api/ask, /api/health, /api/documents, /api/page-image）。")

    if admin_password is None:
        admin_password = os.environ.get(ADMIN_ENV) or None
    admin = None
    if admin_password:
        def on_change() -> None:
            live.reload()
            cache.clear()

        admin = Admin(assistant, admin_password, on_change, sessions=sessions)

        @app.post("/admin/session")
        async def admin_session(request: Request):
            """Trade the one-time ticket of a successful 管理 login for the session cookie."""
            payload = await _json_body(request)
            token = sessions.redeem(payload.get("ticket") if isinstance(payload, dict) else None)
            if not token:
                return _error_response(403, "invalid_ticket", "ログインし直してください。")
            resp = JSONResponse({"ok": True}, headers={"Cache-Control": "no-store"})
            resp.set_cookie(ADMIN_COOKIE, token, max_age=int(sessions.ttl), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
            return resp
    app.state.admin = admin
    app.state.admin_sessions = sessions
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
                            max_file_size=ADMIN_MAX_UPLOAD_BYTES if admin else 1,
                            blocked_paths=_blocked_paths(assistant, data_dir))
    # Gradio checks that a file named in an event payload was uploaded (is in its upload
    # folder) only once `has_launched` is set, which launch() does and mount_gradio_app()
    # does not — without it any event could copy any readable server file into the cache
    # and serve it (issue 9). The mounted app *is* launched once uvicorn serves it.
    demo.has_launched = True
    app.state.blocks = demo
    return app


async def _json_body(request: Request) -> Any:
    """The request body as JSON, or an :class:`ApiError` (415/400/422) — never a 500.

    The media type must be exactly ``application/json`` (or ``…+json``): a substring match
    would accept ``text/plain;x=json``, which a cross-site form may send without a CORS
    preflight. Lone surrogates (``"\\ud800"``) are valid JSON but not text (422).
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))):
        raise ApiError(415, "unsupported_media_type", "Content-Type: application/json で送信してください。")
    raw = await request.body()
    try:
        payload = strict_json_loads(raw)
    except ValueError:  # also UnicodeDecodeError, too deep, too many digits
        raise ApiError(400, "invalid_json", "リクエスト本文が正しいJSON（UTF-8）ではありません。")
    if has_lone_surrogate(payload):
        raise ApiError(422, "invalid_text", "文字として読めない符号（サロゲート）が含まれています。")
    return payload


def _blocked_paths(assistant: Any, data_dir: Any) -> list[str]:
    """Folders Gradio must never copy from or serve, whatever else is configured: the corpus,
    the index, the feedback data, the project itself and the kernel's process files."""
    paths = [getattr(assistant, "corpus_dir", None), getattr(assistant, "index_dir", None),
             data_dir or os.environ.get("ASSISTANT_DATA_DIR") or "data", os.getcwd(), "/proc", "/etc", "/root"]
    uploads = get_upload_folder()
    # a folder that holds the upload folder (GRADIO_TEMP_DIR set inside the project) stays
    # open, or the admin's own uploads would be refused
    return sorted({os.path.abspath(str(p)) for p in paths if p and not is_inside(uploads, str(p))})


def _env_list(name: str) -> list[str]:
    return [o.strip() for o in os.environ.get(name, "").split(",") if o.strip()]


def _env_origins() -> list[str]:
    return _env_list("ASSISTANT_ALLOWED_ORIGINS")


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
    from .. import Assistant

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

    from .. import Assistant

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

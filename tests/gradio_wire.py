"""Talking to the mounted Gradio app the way its browser client does (tests only).

Why a module of its own: the security tests replay attacks on Gradio's wire protocol —
``POST /gradio_api/queue/join`` then the server-sent events of ``GET /gradio_api/queue/data``
for queued events, ``POST /gradio_api/run/predict`` for unqueued ones — and several test
files need the same few calls. It knows nothing about this app except what it is given.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx


def fn_ids(app, name: str, page: str | None = None) -> list[int]:
    """Ids (``fn_index``) of the Gradio events whose Python function is called ``name``.

    ``page`` is ``""`` for the page at ``/`` and ``"embed"`` for ``/embed``; None = both.
    """
    out = []
    for i, f in app.state.blocks.fns.items():
        if getattr(f.fn, "__name__", None) == name and (page is None or (f.page or "") == page):
            out.append(i)
    return out


def fn_inputs(app, fn_index: int) -> list[Any]:
    return list(app.state.blocks.fns[fn_index].inputs)


def queue_event(base: str, fn_index: int, data: list[Any], *, session_hash: str | None = None,
                timeout: float = 60, client: httpx.Client | None = None) -> dict:
    """Run one queued event; returns ``{"join_status", "join_body", "final"}``.

    ``final`` is the ``process_completed`` message (``success``, ``output``), or None when the
    join itself was refused (e.g. 503 "Queue is full").
    """
    session_hash = session_hash or uuid.uuid4().hex[:10]
    own = client is None
    c = client or httpx.Client(timeout=timeout)
    try:
        r = c.post(base + "/gradio_api/queue/join",
                   json={"data": data, "fn_index": fn_index, "session_hash": session_hash,
                         "event_data": None, "trigger_id": None})
        result = {"join_status": r.status_code, "join_body": r.text, "final": None}
        if r.status_code != 200:
            return result
        event_id = r.json().get("event_id")
        with c.stream("GET", base + "/gradio_api/queue/data", params={"session_hash": session_hash}) as s:
            for line in s.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    result["final"] = msg
                    return result
                if msg.get("msg") == "close_stream":
                    return result
        return result
    finally:
        if own:
            c.close()


def run_event(base: str, fn_index: int, data: list[Any], *, session_hash: str | None = None,
              client: httpx.Client | None = None, timeout: float = 30) -> httpx.Response:
    """Run one unqueued event (``queue=False``) with ``POST /gradio_api/run/predict``."""
    body = {"data": data, "fn_index": fn_index, "session_hash": session_hash or uuid.uuid4().hex[:10],
            "event_data": None, "trigger_id": None}
    if client is not None:
        return client.post(base + "/gradio_api/run/predict", json=body)
    return httpx.post(base + "/gradio_api/run/predict", json=body, timeout=timeout)


def file_payload(path: str) -> dict:
    """A Gradio ``FileData`` naming a server path, as a message part of a chat or on its own."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}, "orig_name": "x.txt"}

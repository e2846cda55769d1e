"""Defences of the web face that are not about answering: login throttling, admin sessions,
the Gradio route guard and the security headers.

Why a module of its own: these pieces are what an attacker meets before any question is
answered, and reviewing them together (docs/SECURITY.md maps each to its test) is easier
than finding them spread over the API, admin and app modules. Nothing here imports the
Assistant or Gradio; :mod:`assistant.web.app` wires them in.
"""

from __future__ import annotations

import collections
import hmac
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import unquote

from .api import _error_response, limit_body as _limit_body, too_large as _too_large

ADMIN_COOKIE = "mq_admin"


class LoginThrottle:
    """Failed-login bookkeeping, per client and for all clients together, without sleeping.

    Why no ``sleep``: a delay served by sleeping holds a worker thread (or a queue slot) of
    the server for every wrong guess, so the attacker's cheap request costs the city. Here a
    wrong guess only updates a counter; once a client has used its ``free`` failures, each
    further failure locks it out for ``base * 2**k`` seconds (capped at ``max_lock``), and
    while locked every attempt — even with the right password — is refused at once without
    the password being looked at. The same rule with ``global_free`` failures guards all
    clients together, so many addresses cannot share out the guessing. Counters are
    forgotten ``forget_after`` seconds after a client's last failure; a success resets that
    client (not the global counter) and makes its address *trusted* for ``trust_for``
    seconds: the global lock does not apply to it, so a flood from elsewhere cannot lock the
    city's own staff out (their per-address counter still applies). At most ``max_clients``
    clients are remembered (oldest dropped), so the bookkeeping itself cannot fill memory.
    """

    GLOBAL = "*"

    def __init__(self, *, free: int = 5, global_free: int = 30, base: float = 1.0, max_lock: float = 900.0,
                 forget_after: float = 86400.0, max_clients: int = 10_000, trust_for: float = 30 * 86400.0,
                 clock=time.monotonic):
        self.free, self.global_free = int(free), int(global_free)
        self.base, self.max_lock, self.forget_after = float(base), float(max_lock), float(forget_after)
        self.max_clients, self.trust_for = int(max_clients), float(trust_for)
        self.clock = clock
        self._trusted: "collections.OrderedDict[str, float]" = collections.OrderedDict()
        self._lock = threading.Lock()
        # key -> [failures, locked_until, last_failure]
        self._state: "collections.OrderedDict[str, list[float]]" = collections.OrderedDict()

    def _entry(self, key: str, now: float) -> list[float]:
        e = self._state.get(key)
        if e is not None and now - e[2] > self.forget_after and now >= e[1]:
            e = None
            del self._state[key]
        if e is None:
            e = [0, 0.0, now]
            self._state[key] = e
            if len(self._state) > self.max_clients + 1:
                for old in list(self._state)[:len(self._state) - self.max_clients - 1]:
                    if old != self.GLOBAL:
                        del self._state[old]
        return e

    def retry_after(self, client: str | None) -> float:
        """Seconds until ``client`` may try again (0 = now)."""
        now = self.clock()
        with self._lock:
            waits = [self._entry(k, now)[1] - now for k in self._keys(client)]
        return max(0.0, *waits)

    def failure(self, client: str | None) -> float:
        """Record a wrong password; returns the lockout that now applies (seconds)."""
        now = self.clock()
        with self._lock:
            for key in self._keys(client):
                e = self._entry(key, now)
                e[0] += 1
                e[2] = now
                free = self.global_free if key == self.GLOBAL else self.free
                over = int(e[0]) - free
                if over > 0:
                    e[1] = now + min(self.max_lock, self.base * 2 ** min(over - 1, 30))
                self._state.move_to_end(key)
        return self.retry_after(client)

    def success(self, client: str | None) -> None:
        with self._lock:
            self._state.pop(self._client_key(client), None)
            if client:
                self._trusted[client] = self.clock() + self.trust_for
                self._trusted.move_to_end(client)
                while len(self._trusted) > self.max_clients:
                    self._trusted.popitem(last=False)

    def _client_key(self, client: str | None) -> str:
        return "client:" + (client or "?")

    def _keys(self, client: str | None) -> tuple[str, ...]:
        # (called with self._lock held)
        if client and self._trusted.get(client, 0.0) > self.clock():
            return (self._client_key(client),)
        return (self._client_key(client), self.GLOBAL)


class AdminSessions:
    """Random session tokens handed out at a successful admin login (an HttpOnly cookie).

    Why: Gradio's upload route takes no password, only the browser's cookies; a token is
    what lets it tell the admin's upload from an anonymous one. Tokens live in memory only
    (a restart logs the admin out), expire after ``ttl`` seconds and at most ``max_tokens``
    are kept.
    """

    TICKET_TTL = 60.0

    def __init__(self, ttl: float = 8 * 3600, max_tokens: int = 100, clock=time.monotonic):
        self.ttl, self.max_tokens, self.clock = float(ttl), int(max_tokens), clock
        self._lock = threading.Lock()
        self._tokens: "collections.OrderedDict[str, float]" = collections.OrderedDict()
        self._tickets: "collections.OrderedDict[str, float]" = collections.OrderedDict()

    def ticket(self) -> str:
        """A one-time ticket (valid ``TICKET_TTL`` s) that :meth:`redeem` trades for a token.

        Why a ticket: the login runs as a Gradio event, which cannot set a cookie; the page
        then posts the ticket to ``/admin/session``, which can. The password itself is only
        ever checked once, in the event.
        """
        return self._new_secret(self._tickets, self.TICKET_TTL)

    def redeem(self, ticket: Any) -> str | None:
        """A new session token for a live ticket (used up at once), else None."""
        if not isinstance(ticket, str) or not ticket:
            return None
        now = self.clock()
        with self._lock:
            match = next((t for t in self._tickets if hmac.compare_digest(t.encode(), ticket.encode("utf-8", "replace"))),
                         None)
            exp = self._tickets.pop(match, 0.0) if match else 0.0
        return self.issue() if exp >= now else None

    def issue(self) -> str:
        return self._new_secret(self._tokens, self.ttl)

    def _new_secret(self, store: "collections.OrderedDict[str, float]", ttl: float) -> str:
        """A random secret remembered in ``store`` until ``ttl`` s from now; the oldest are
        forgotten beyond ``max_tokens``, so a flood of logins cannot grow memory."""
        secret = secrets.token_urlsafe(32)
        with self._lock:
            store[secret] = self.clock() + ttl
            while len(store) > self.max_tokens:
                store.popitem(last=False)
        return secret

    def valid(self, token: str | None) -> bool:
        if not token or not isinstance(token, str):
            return False
        now = self.clock()
        with self._lock:
            for t, exp in list(self._tokens.items()):
                if exp < now:
                    del self._tokens[t]
            # compare against every live token in constant time per token
            given = token.encode("utf-8", "replace")
            return any(hmac.compare_digest(given, t.encode()) for t in self._tokens)


def cookie_value(scope: dict, name: str) -> str | None:
    """The value of cookie ``name`` in an ASGI scope's headers (None when absent)."""
    for k, v in scope.get("headers") or []:
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == name:
                    return val
    return None


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``folder`` or below it."""
    try:
        p = Path(path).resolve()
        f = Path(folder).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return p == f or f in p.parents


class GradioGuard:
    """ASGI middleware in front of the mounted Gradio app's own routes.

    - ``POST {prefix}/upload``: only with a valid admin session cookie (403 otherwise, before
      the body is read); the chat never takes files.
    - ``GET {prefix}/file=…``: only files inside ``upload_dir`` (what the admin's file input
      shows); never URLs (Gradio would fetch and re-serve any public URL from our origin).
    - ``{prefix}/proxy=…``: refused (no loaded Spaces here).
    - every other request body to ``{prefix}/`` (events) is capped at ``max_event_bytes``.
    - ``POST {prefix}/queue/join`` for an event that is not queued (``queue=False``: the
      admin's) is refused: Gradio would otherwise put it in the one queue residents' questions
      wait in, and a flood of them could fill it.

    Gradio's own checks (``has_launched``, ``blocked_paths``) stay on underneath; this guard
    is a second, independent layer that does not depend on Gradio internals.
    """

    def __init__(self, app, *, upload_dir: str, sessions: AdminSessions | None, max_event_bytes: int = 64 * 1024,
                 prefix: str = "/gradio_api", is_queued=None):
        self.app, self.upload_dir, self.sessions = app, upload_dir, sessions
        self.max_event_bytes, self.prefix = int(max_event_bytes), prefix
        self.is_queued = is_queued  # fn_index -> bool | None (None: unknown, Gradio decides)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        # the Gradio app is mounted at "/": its routes also answer under "/embed/gradio_api"
        i = path.find(self.prefix + "/")
        if i < 0:
            return await self.app(scope, receive, send)
        rest = re.sub("/{2,}", "/", path[i + len(self.prefix):])  # "//upload" is still the upload route
        if rest.startswith("/upload"):
            if self.sessions is None or not self.sessions.valid(cookie_value(scope, ADMIN_COOKIE)):
                return await _error_response(403, "upload_forbidden",
                                             "ファイルのアップロードは管理者としてログインしたときだけ使えます。"
                                             )(scope, receive, send)
            return await self.app(scope, receive, send)
        if rest.startswith("/proxy="):
            return await _error_response(403, "forbidden", "このURLは使えません。")(scope, receive, send)
        if rest.startswith("/file=") or rest.startswith("/file/"):
            target = unquote(rest[len("/file="):])
            if "://" in target or target.startswith("//") or not is_inside(target, self.upload_dir):
                return await _error_response(404, "not_found", "ファイルが見つかりません。")(scope, receive, send)
            return await self.app(scope, receive, send)
        if rest.rstrip("/") == "/queue/join" and scope.get("method") == "POST" and self.is_queued is not None:
            return await self._queue_join(scope, receive, send)
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            return await _limit_body(self.app, scope, receive, send, self.max_event_bytes)
        return await self.app(scope, receive, send)

    async def _queue_join(self, scope, receive, send):
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            body += msg.get("body", b"")
            if len(body) > self.max_event_bytes:
                return await _too_large(scope, receive, send, self.max_event_bytes)
            if not msg.get("more_body"):
                break
        try:
            fn_index = json.loads(bytes(body)).get("fn_index")
        except (ValueError, AttributeError, RecursionError):
            fn_index = None
        if isinstance(fn_index, int) and self.is_queued(fn_index) is False:
            return await _error_response(403, "not_queued", "この操作はキューに入れられません。")(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def frame_ancestors(origins: Iterable[str]) -> str:
    """The CSP ``frame-ancestors`` source list for /embed: our own origin plus ``origins``.

    Only well-formed ``https://host[:port]`` / ``http://host[:port]`` origins are used (a
    value with spaces, quotes or ``;`` could otherwise inject other directives).
    """
    out = ["'self'"]
    for o in origins:
        o = (o or "").strip().rstrip("/")
        if o == "*":
            return "*"  # explicitly configured: any site may frame /embed
        scheme, sep, host = o.partition("://")
        if sep and scheme in ("http", "https") and host and all(
                c.isalnum() or c in ".-:[]*" for c in host) and "/" not in host:
            out.append(o)
    return " ".join(out)


class SecurityHeaders:
    """ASGI middleware: ``X-Content-Type-Options``, ``Referrer-Policy`` and a CSP on every
    response; ``/embed`` may be framed by ``frame_origins`` (and ourselves), every other
    page (the admin tab lives at ``/``) by nobody.

    The CSP only restricts what Gradio's page does not need (plugins, ``<base>``, form
    targets, framing) — a ``script-src`` would break Gradio's own inline bootstrap.
    """

    def __init__(self, app, *, frame_origins: Sequence[str] = (), embed_path: str = "/embed"):
        self.app, self.embed_path = app, embed_path.rstrip("/")
        self.embed_ancestors = frame_ancestors(frame_origins)

    def headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        embed = path == self.embed_path or path.startswith(self.embed_path + "/")
        ancestors = self.embed_ancestors if embed else "'none'"
        csp = f"frame-ancestors {ancestors}; object-src 'none'; base-uri 'self'; form-action 'self'"
        h = [(b"x-content-type-options", b"nosniff"),
             (b"referrer-policy", b"strict-origin-when-cross-origin"),
             (b"content-security-policy", csp.encode("ascii"))]
        if not embed:
            h.append((b"x-frame-options", b"DENY"))
        return h

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = self.headers_for(scope.get("path", ""))
        names = {k for k, _ in extra}

        async def send_with_headers(msg):
            if msg["type"] == "http.response.start":
                headers = [(k, v) for k, v in msg.get("headers", []) if k.lower() not in names]
                msg = dict(msg, headers=headers + extra)
            await send(msg)

        await self.app(scope, receive, send_with_headers)


def strict_json_loads(raw: bytes) -> Any:
    """``json.loads`` that raises ``ValueError`` for every malformed input.

    Why: besides ``JSONDecodeError``, the standard parser raises ``RecursionError`` on
    deeply nested arrays and ``ValueError`` on integers over Python's digit limit; NaN and
    Infinity (not JSON) are refused too. All of them are the client's mistake (400).
    """
    def bad_constant(name: str):
        raise ValueError(f"not JSON: {name}")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=bad_constant)
    except RecursionError as e:
        raise ValueError("nested too deeply") from e


def has_lone_surrogate(value: Any, _depth: int = 0) -> bool:
    """Whether any string in a decoded JSON value holds a lone UTF-16 surrogate (``\\ud800``)."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if _depth > 50:
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k, _depth + 1) or has_lone_surrogate(v, _depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v, _depth + 1) for v in value)
    return False


__all__ = ["ADMIN_COOKIE", "AdminSessions", "GradioGuard", "LoginThrottle", "SecurityHeaders",
           "cookie_value", "frame_ancestors", "has_lone_surrogate", "is_inside", "strict_json_loads"]

"""The 管理 tab: what changes when the corpus changes, the admin actions, and the tab's UI.

Why a module of its own: everything behind the admin password (checking it, adding,
editing and removing documents, rebuilding the index, keeping the document list and the
filters current) sits together so it can be reviewed as one security surface. The tab
only exists when an admin password is configured (see :func:`assistant.web.create_app`).
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import gradio as gr

from .messages import (ADMIN_FILE_TYPES, MSG_ADMIN_BAD_PASSWORD, MSG_ADMIN_CONFIRM, MSG_ADMIN_ERROR,
                       MSG_ADMIN_LOCKED, MSG_ADMIN_NO_DOC, MSG_ADMIN_NO_FILES)
from .render import _get, escape_markdown
from .security import AdminSessions, LoginThrottle, is_inside

log = logging.getLogger("assistant.web")  # one logger name for the whole web face


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


def _safe_documents(assistant: Any) -> list[dict]:
    try:
        return [dict(d) for d in assistant.documents()]
    except Exception:
        log.exception("documents() failed; filters disabled")
        return []


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


# extraction warnings (formats/pdf) → what the administrator reads
_WARNINGS_JA = (
    (re.compile(r"^pages without a text layer \(scanned\?\), their content is not indexed: (.*)$"),
     "文字情報のないページ（スキャン画像？）は検索の対象になりません: {}ページ"),
    (re.compile(r"^pages that could not be parsed, their content is not indexed: (.*)$"),
     "読み取れなかったページは検索の対象になりません: {}ページ"),
)


def warning_ja(warning: str) -> str:
    """An extraction warning in Japanese, the pages it names kept (the English kept in brackets)."""
    w = str(warning or "").strip()
    for rx, ja in _WARNINGS_JA:
        m = rx.match(w)
        if m:
            return ja.format(m.group(1)) + f"（{w}）"
    return w


def upload_message(results) -> str:
    """One line per added file (``ingest.AddResult``), with its warnings — a scanned page by its number."""
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
        lines.extend(f"　⚠ {warning_ja(w)}" for w in r.warnings)
    return "\n".join(lines)


@dataclass
class AdminOutcome:
    ok: bool
    message: str          # Japanese, one line per file / action; shown to the admin as-is
    changed: bool = False  # the corpus changed (and the index was refreshed)


class Admin:
    """The admin actions behind the 管理 tab: add/edit/remove documents and rebuild.

    Every action takes the password and checks it first (constant-time compare). A wrong
    password changes nothing and counts against the caller in ``throttle`` (per client and
    for everyone): after a few failures the caller is locked out for a growing time, during
    which even the right password is refused at once. Nothing sleeps, so guessing costs the
    guesser time, never a server thread. The log records that a login failed and from which
    address, never what was typed. After a successful login the tab hands out a one-time
    ticket from ``sessions``, which the page trades for the session cookie Gradio's upload
    route is checked against (see :class:`~assistant.web.security.AdminSessions`).

    Changes and rebuilds run one at a time under ``lock``; questions keep being answered
    meanwhile from the index that is loaded (``Assistant.refresh`` swaps the new one in as one
    reference). After a change ``on_change`` runs (answer cache cleared, document list re-read).
    """

    def __init__(self, assistant: Any, password: str, on_change=None, *, throttle: LoginThrottle | None = None,
                 sessions: AdminSessions | None = None):
        if not password:
            raise ValueError("admin password must not be empty")
        self.assistant = assistant
        self._secret = password.encode("utf-8")
        self.on_change = on_change or (lambda: None)
        self.throttle = throttle or LoginThrottle()
        self.sessions = sessions or AdminSessions()
        self.lock = threading.Lock()
        self.last_seconds: float | None = None

    # --- checks -----------------------------------------------------------------------

    def attempt(self, password: Any, client: str | None = None) -> tuple[bool, float]:
        """(ok, retry_after): the password checked unless ``client`` is locked out."""
        wait = self.throttle.retry_after(client)
        if wait > 0:
            log.warning("admin: login refused, client %s locked for %.0f s", client or "?", wait)
            return False, wait
        given = password.encode("utf-8", "replace") if isinstance(password, str) else b""
        if hmac.compare_digest(given, self._secret):
            self.throttle.success(client)
            return True, 0.0
        wait = self.throttle.failure(client)
        log.warning("admin: wrong password from %s (locked for %.0f s)", client or "?", wait)
        return False, wait

    def check(self, password: Any, client: str | None = None) -> bool:
        return self.attempt(password, client)[0]

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
        if getattr(self.assistant, "stale", None):  # the new index could not be written (disk full …)
            return f"索引を更新できませんでした。以前の索引で回答を続けています: {self.assistant.stale}"
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
               year: Any = "", kind: str = "", url: str = "", client: str | None = None) -> AdminOutcome:
        if not self.check(password, client):
            return self._denied()
        paths = [_file_path(f) for f in (files or []) if f]
        paths = [p for p in paths if p]
        if not paths:
            return AdminOutcome(False, MSG_ADMIN_NO_FILES)

        def go() -> AdminOutcome:
            from ..ingest import add_documents

            names = [os.path.basename(p) for p in paths]
            log.info("admin: adding %s", ", ".join(names))
            results = add_documents(paths, self.assistant.corpus_dir, title=(title or "").strip() or None,
                                    municipality=(municipality or "").strip() or None,
                                    year=str(year).strip() if year not in (None, "") else None,
                                    kind=(kind or "").strip() or None, url=(url or "").strip() or None,
                                    names=names)
            lines = [upload_message(results)]
            accepted = any(r.ok for r in results)
            if accepted:
                lines.append(self._refresh_locked())
            else:
                lines.append("文書は変更していません。")
            return AdminOutcome(accepted, "\n".join(lines), changed=accepted)

        return self._run("upload", go)

    def edit(self, password: Any, doc_id: str, *, title: str = "", municipality: str = "", year: Any = "",
             kind: str = "", url: str = "", client: str | None = None) -> AdminOutcome:
        """Set the catalog fields of ``doc_id``; an empty field is removed from the entry."""
        if not self.check(password, client):
            return self._denied()
        if not doc_id:
            return AdminOutcome(False, MSG_ADMIN_NO_DOC)

        def go() -> AdminOutcome:
            from ..ingest import IngestError, update_entry

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

    def remove(self, password: Any, doc_id: str, client: str | None = None) -> AdminOutcome:
        if not self.check(password, client):
            return self._denied()
        if not doc_id:
            return AdminOutcome(False, MSG_ADMIN_NO_DOC)

        def go() -> AdminOutcome:
            from ..ingest import remove_document

            log.info("admin: removing %s", doc_id)
            r = remove_document(doc_id, self.assistant.corpus_dir)
            if not r.ok:
                why = {"no such document": "その文書はありません",
                       "documents from a .jsonl bulk file cannot be removed one by one":
                           ".jsonl の一括ファイルに含まれる文書は個別に削除できません"}.get(r.reason) or reason_ja(r.reason)
                return AdminOutcome(False, f"文書 {doc_id} を削除できませんでした — {why}")
            return AdminOutcome(True, f"文書 {doc_id} を削除しました。\n" + self._refresh_locked(), changed=True)

        return self._run("remove", go)

    def rebuild(self, password: Any, client: str | None = None) -> AdminOutcome:
        if not self.check(password, client):
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
        from ..corpus import read_catalog

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
        lines += [f"- ⚠ {escape_markdown(str(w))}" for w in h.get("warnings", [])]  # stale index, broken catalog
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


def _client(request: Any) -> str | None:
    """The caller's address from a ``gr.Request`` (None when called directly, e.g. in tests)."""
    try:
        return str(request.client.host) if request is not None and request.client else None
    except Exception:
        return None


def discard_uploads(files: Any, upload_dir: str | None = None) -> int:
    """Delete uploaded temporary files (and their now-empty folders) inside Gradio's upload
    folder; anything outside it is left alone. Returns how many files were removed."""
    from gradio.utils import get_upload_folder

    root = upload_dir or get_upload_folder()
    removed = 0
    for f in files or []:
        p = _file_path(f)
        if not p or not is_inside(p, root) or os.path.realpath(p) == os.path.realpath(root):
            continue
        try:
            os.remove(p)
            removed += 1
            parent = os.path.dirname(os.path.realpath(p))
            if parent != os.path.realpath(root) and not os.listdir(parent):
                os.rmdir(parent)
        except OSError:
            log.warning("could not remove an uploaded temporary file", exc_info=True)
    return removed


# Runs in the browser after a successful login: trade the one-time ticket for the HttpOnly
# session cookie (relative URL, so it also works behind a proxy under a sub-path).
_REDEEM_TICKET_JS = """(ticket) => {
  if (ticket) {
    fetch("admin/session", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({ticket: ticket})});
  }
  return [];
}"""


ADMIN_DOC_HEADERS = ["文書ID", "タイトル", "自治体", "年", "種別", "段落数"]


def _catalog_fields(labels: tuple[str, str, str, str, str]) -> tuple:
    """One row of catalog inputs — title, municipality, year, kind, url — in that order."""
    widths = (200, 120, 100, 120, 200)
    with gr.Row():
        return tuple(gr.Textbox(label=label, min_width=w) for label, w in zip(labels, widths))


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
    ticket = gr.Textbox(value="", visible=False, elem_classes="mq-admin-ticket")
    with gr.Column(visible=False, elem_classes="mq-admin-panel") as panel:
        result = gr.Textbox(label="処理結果", lines=4, max_lines=20, interactive=False,
                            elem_classes="mq-admin-result")
        with gr.Accordion("文書を追加", open=True):
            files = gr.File(label="ファイル（" + " ".join(ADMIN_FILE_TYPES) + "、複数可）", file_count="multiple",
                            file_types=ADMIN_FILE_TYPES, type="filepath", elem_classes="mq-admin-files")
            up_fields = _catalog_fields(("タイトル（任意・1ファイルのとき）", "自治体（任意）", "年（任意・例 2024）",
                                         "種別（任意・例 総合計画）", "URL（任意）"))
            upload_btn = gr.Button("追加して索引を更新", variant="primary", elem_classes="mq-admin-upload")
        with gr.Accordion("登録済みの文書", open=True):
            stats = gr.Markdown("", elem_classes="mq-admin-stats")
            table = gr.Dataframe(headers=ADMIN_DOC_HEADERS, interactive=False, wrap=True,
                                 elem_classes="mq-admin-docs")
            rebuild_btn = gr.Button("索引を更新（変更があった文書だけ作り直します）", elem_classes="mq-admin-rebuild")
        with gr.Accordion("目録情報の編集・削除", open=False):
            target = gr.Dropdown(label="文書", choices=[], value=None, interactive=True,
                                 elem_classes="mq-admin-target")
            ed_fields = _catalog_fields(("タイトル", "自治体", "年", "種別", "URL"))
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

    def denied_message(client: str | None) -> str:
        wait = admin.throttle.retry_after(client)
        return MSG_ADMIN_LOCKED.format(n=math.ceil(wait)) if wait > 0 else MSG_ADMIN_BAD_PASSWORD

    def do_login(password, request: gr.Request = None):
        client = _client(request)
        try:
            ok, _wait = admin.attempt(password, client)
            if not ok:
                return (gr.update(visible=False), denied_message(client), gr.update(), gr.update(), gr.update(), "")
            # a one-time ticket the browser exchanges at POST /admin/session for the session
            # cookie that Gradio's upload route requires (see the .then below)
            return (gr.update(visible=True), "ログインしました。", table_value(), admin.stats_markdown(),
                    gr.update(choices=target_choices(), value=None), admin.sessions.ticket())
        except Exception:
            log.exception("admin login view failed")
            return (gr.update(), MSG_ADMIN_ERROR, gr.update(), gr.update(), gr.update(), "")

    def do_upload(password, paths, title, muni, year, kind, url, m, request: gr.Request = None):
        try:
            out = admin.upload(password, paths, title=title, municipality=muni, year=year, kind=kind, url=url,
                               client=_client(request))
        finally:
            # the corpus keeps its own copy; the uploaded temporaries go now, not at exit
            discard_uploads(paths)
        if out.message == MSG_ADMIN_BAD_PASSWORD:
            out.message = denied_message(_client(request))
        return (*refreshed(out, m), None)

    def do_save(password, doc_id, title, muni, year, kind, url, m, request: gr.Request = None):
        return refreshed(admin.edit(password, doc_id, title=title, municipality=muni, year=year,
                                    kind=kind, url=url, client=_client(request)), m)

    def do_remove(password, doc_id, confirmed, m, request: gr.Request = None):
        if not confirmed:
            return (*refreshed(AdminOutcome(False, MSG_ADMIN_CONFIRM), m), gr.update())
        out = admin.remove(password, doc_id, client=_client(request))
        return (*refreshed(out, m), False if out.changed else gr.update())

    def do_rebuild(password, m, request: gr.Request = None):
        return refreshed(admin.rebuild(password, client=_client(request)), m)

    def do_select(password, doc_id, request: gr.Request = None):
        empty = ("", "", "", "", "")
        if not doc_id:
            return empty
        if not admin.check(password, _client(request)):
            gr.Warning(denied_message(_client(request)))
            return empty
        try:
            e = admin.entry(doc_id)
        except Exception:
            log.exception("admin entry failed")
            return empty
        return (e["title"], e["municipality"], e["year"], e["kind"], e["url"])

    # queue=False: admin events never enter the queue residents' questions wait in, so a
    # flood of wrong logins cannot fill it (a wrong password is refused in microseconds, and
    # a locked-out client without the password being looked at); changes still run one at a
    # time under Admin.lock.
    common = dict(api_visibility="private", queue=False)
    outs = [result, table, stats, target, muni_filter, doc_filter]
    login_outs = [panel, status, table, stats, target, ticket]
    for trigger in (login.click, pw.submit):
        trigger(do_login, inputs=[pw], outputs=login_outs, **common).then(
            None, inputs=[ticket], outputs=None, js=_REDEEM_TICKET_JS, queue=False, api_visibility="private")
    # preprocess=False: gr.File(type="filepath").preprocess leaves an empty, open temporary
    # file in the upload folder per file (Gradio 6.31); the handler takes the file records
    # (already checked by Gradio to lie in the upload folder) and reads their "path".
    upload_btn.click(do_upload, inputs=[pw, files, *up_fields, muni_filter],
                     outputs=[*outs, files], preprocess=False, **common)
    save_btn.click(do_save, inputs=[pw, target, *ed_fields, muni_filter],
                   outputs=outs, **common)
    remove_btn.click(do_remove, inputs=[pw, target, confirm, muni_filter], outputs=[*outs, confirm], **common)
    rebuild_btn.click(do_rebuild, inputs=[pw, muni_filter], outputs=outs, **common)
    target.change(do_select, inputs=[pw, target], outputs=list(ed_fields),
                  **common)

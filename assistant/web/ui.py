"""The Gradio UI: the chat page at ``/`` (with the 管理 tab when enabled) and ``/embed``.

Why a module of its own: the Blocks layout and its event handlers are the largest single
piece of the web face and the one that changes with Gradio versions; keeping it apart
leaves the API and the app wiring readable. It reaches the Assistant only through the
``ask`` callable and ``section_context`` it is given.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gradio as gr

from ..feedback import FeedbackLog
from .admin import Admin, LiveCatalog, admin_tab
from .api import Gate, _clean_text
from ..backends import BackendUnavailable
from .. import crosslingual
from .messages import (DEFAULT_MAX_HISTORY, EMBED_PATH, MAX_TURNS_KEPT, MSG_BACKEND_DOWN, MSG_EMPTY, MSG_ERROR, MSG_FEEDBACK_THANKS,
                       MSG_BUSY, MSG_ENGLISH_UNSUPPORTED, MSG_TOO_LONG, RESIDENT_EXAMPLES, SOURCES_PLACEHOLDER, STAFF_EXAMPLES, TITLE)
from .render import _get, escape_html, escape_markdown, render_answer_markdown, render_sources_html

log = logging.getLogger("assistant.web")  # one logger name for the whole web face

# Gradio's page says lang="en"; Japanese text then risks Chinese glyph variants and English
# screen-reader voices. The sources panel also carries lang="ja" for the web-component case.
# Gradio's own client strings that its Japanese locale does not cover (the queue-full message is
# hard-coded English in the client) → Japanese, by a MutationObserver on the page.
GRADIO_STRINGS_JA = {
    "This application is currently busy. Please try again.": MSG_BUSY,
    "Connection errored out.": "接続が切れました。ページを再読み込みしてもう一度お試しください。",
    "Drop File Here": "ここにファイルをドロップ",
    "Click to Upload": "クリックしてアップロード",
    "- or -": "または",
    "Error": "エラー",
    "Close": "閉じる",
    "Loading": "読み込み中",
    "Clear": "会話をクリア",
    "chatbot conversation": "会話",
    "Like": "役に立った",
    "Dislike": "役に立たなかった",
    "Copy": "コピー",
    "Copied": "コピーしました",
    "Retry": "再試行",
    "Undo": "元に戻す",
}

HEAD_SCRIPT = r"""
(function () {
  document.documentElement.lang = "ja";
  // Gradio picks its UI language from the browser; residents read Japanese whatever it says.
  try {
    Object.defineProperty(navigator, "language", {get: function () { return "ja"; }});
    Object.defineProperty(navigator, "languages", {get: function () { return ["ja", "en"]; }});
  } catch (e) {}
  var JA = __STRINGS__;
  var ATTRS = ["aria-label", "title", "placeholder"];
  function ja(v) {
    var k = (v || "").trim();
    if (Object.prototype.hasOwnProperty.call(JA, k)) return JA[k];
    // the chat's labels for screen readers: the bot's one would read our markup aloud
    if (k.indexOf("user's message: ") === 0) return "質問: " + k.slice(16);
    if (k.indexOf("bot's message: ") === 0) return "回答";
    return null;
  }
  function fixAttrs(el) {
    for (var i = 0; i < ATTRS.length; i++) {
      var v = el.getAttribute(ATTRS[i]);
      if (v) { var j = ja(v); if (j !== null && j !== v) el.setAttribute(ATTRS[i], j); }
    }
  }
  function fix(node) {
    if (!node) return;
    if (node.nodeType === 3) { var j0 = ja(node.nodeValue); if (j0 !== null) node.nodeValue = j0; return; }
    if (node.nodeType !== 1) return;
    fixAttrs(node);
    var els = node.querySelectorAll("[aria-label],[title],[placeholder]");
    for (var i = 0; i < els.length; i++) fixAttrs(els[i]);
    var w = document.createTreeWalker(node, NodeFilter.SHOW_TEXT), t;
    while ((t = w.nextNode())) { var j = ja(t.nodeValue); if (j !== null) t.nodeValue = j; }
  }
  new MutationObserver(function (ms) {
    ms.forEach(function (m) {
      if (m.type === "attributes") fixAttrs(m.target);
      else if (m.type === "characterData") fix(m.target);
      else m.addedNodes.forEach(fix);
    });
  }).observe(document.documentElement, {childList: true, subtree: true, characterData: true,
                                        attributes: true, attributeFilter: ATTRS});
  // ふりがな: the answers carry <ruby>; the readings show while the box is ticked.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.type === "checkbox" && t.closest && t.closest(".mq-furigana")) {
      document.documentElement.classList.toggle("mq-ruby-on", !!t.checked);
    }
  }, true);
  // [n] in an answer opens its passage: the card in the side panel when it is on screen and
  // belongs to the same answer (desktop), else the fold under the answer (phone).
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a.mq-cite") : null;
    if (!a) return;
    e.preventDefault();
    e.stopPropagation();
    // the chat's sanitizer keeps only class and href on links: "#mq-c-<turn>-<n>"
    var id = (a.getAttribute("href") || "").slice(1), parts = id.split("-");
    var turn = parts[2], n = parts[3];
    if (!/^[0-9]+$/.test(turn || "") || !/^[0-9]+$/.test(n || "")) return;
    var panel = document.querySelector(".mq-sources-panel .mq-sources[data-turn='" + turn + "']");
    var card = panel ? panel.querySelector("#mq-src-" + n) : null;
    var target;
    if (card && card.offsetParent !== null) {
      target = card;
      var d = card.querySelector("details"); if (d) d.open = true;
    } else {
      target = document.getElementById(id);
      if (target) target.open = true;
    }
    if (!target) return;
    target.scrollIntoView({block: "nearest", behavior: "smooth"});
    target.classList.remove("mq-flash"); void target.offsetWidth; target.classList.add("mq-flash");
    var s = target.querySelector("summary") || target;
    if (s.focus) s.focus({preventScroll: true});
  }, true);
})();
"""

HEAD = (
    "<script>" + HEAD_SCRIPT.replace("__STRINGS__", json.dumps(GRADIO_STRINGS_JA, ensure_ascii=False)) + "</script>"
    # Unscoped page CSS: Gradio scopes `css=` to the content area (".contain"), but the page
    # padding and the navbar live outside it.
    "<style>"
    # gr.Navbar(visible=False) is not honoured by the 6.31 frontend; /embed must not show a menu.
    ".nav-holder { display: none !important; }"
    "@media (max-width: 480px) { .gradio-container .main { padding-left: 8px !important;"
    " padding-right: 8px !important; padding-top: 4px !important; } }"
    # ふりがな on: the class is on <html>, outside the area Gradio scopes `css=` to.
    "html.mq-ruby-on .mq-chatbot rt { display: ruby-text !important; font-size: 0.6em; }"
    "html.mq-ruby-on .mq-chatbot [data-testid='bot'] { line-height: 2.1; }"
    "</style>"
)

CSS = """
.mq-sources { font-size: 0.95rem; line-height: 1.6; }
.mq-sources.mq-empty { color: #4b5563; padding: 0.5rem 0; }
.dark .mq-sources.mq-empty { color: #d1d5db; }
.mq-sources-head { font-weight: 600; margin: 0.25rem 0 0.5rem; }
.mq-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6rem 0.75rem; margin-bottom: 0.6rem; background: var(--background-fill-secondary);
  overflow-wrap: anywhere; }
.mq-num { font-weight: 700; color: var(--color-accent); }
.mq-muni { font-size: 0.85em; padding: 0 0.4em; border-radius: 4px; white-space: nowrap; display: inline-block;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary); }
.mq-path { font-size: 0.85em; color: #4b5563; margin-top: 0.15rem; }
.mq-meta { font-size: 0.8em; color: #4b5563; }
.dark .mq-path, .dark .mq-meta { color: #d1d5db; }
.mq-passage, .mq-fulltext { white-space: pre-wrap; margin-top: 0.4rem; }
.mq-passage { border-left: 3px solid var(--color-accent); padding-left: 0.6rem; }
.mq-fulltext { max-height: 24rem; overflow-y: auto; padding: 0.5rem;
  background: var(--background-fill-primary); border-radius: 6px; }
.mq-section summary { cursor: pointer; color: var(--link-text-color, var(--color-accent));
  margin-top: 0.4rem; font-weight: 600; }
.mq-sources mark { background: #ffe58a; color: inherit; padding: 0 1px; border-radius: 2px; }
#mq-title h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
.mq-sources-title h2 { font-size: 1.15rem; margin: 0; }
.mq-sr-only { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; margin: -1px; padding: 0; border: 0; }
@media (max-width: 480px) {
  #mq-title h1 { font-size: 1.2rem; }
}
.mq-embed .mq-sources { font-size: 0.9rem; }
/* Side by side (desktop), the sources scroll next to the chat instead of pushing the
   examples a screen down. */
@media (min-width: 768px) {
  .mq-sources-panel:not(.mq-embed) { max-height: 680px; overflow-y: auto; }
}
/* Citations in an answer: [n] links, and one fold per citation under the answer. */
.mq-chatbot a.mq-cite { font-weight: 700; text-decoration: underline; padding: 0 2px;
  color: var(--link-text-color, #1d4ed8); }
.mq-folds { margin-top: 0.4rem; }
.mq-folds-head { font-size: 0.85em; font-weight: 600; color: var(--body-text-color-subdued); }
.mq-fold { border: 1px solid var(--border-color-primary); border-radius: 6px; margin: 0.3rem 0;
  padding: 0.3rem 0.5rem; background: var(--background-fill-primary); overflow-wrap: anywhere; }
.mq-fold summary { cursor: pointer; font-size: 0.9em; min-height: 24px; }
.mq-fold .mq-passage { white-space: pre-wrap; font-size: 0.92em; }
.mq-fold-path { color: var(--body-text-color-subdued); }
.mq-page { margin-top: 0.4rem; }
.mq-page-link { display: inline-block; max-width: 100%; }
/* Gradio shrinks images in chat messages to thumbnails; the cited page should fill the fold */
.mq-page-img, .mq-chatbot .mq-page-img { display: block; width: 100%; max-width: 420px !important; height: auto !important;
  max-height: none !important; border: 1px solid var(--border-color-primary); border-radius: 0; background: #fff; }
.mq-page-cap { display: block; font-size: 0.85em; }
.mq-chatbot mark, .mq-sources mark { background: #ffe58a; color: #111; padding: 0 1px; border-radius: 2px; }
.mq-flash { animation: mq-flash 1.6s ease-out; }
@keyframes mq-flash { from { box-shadow: 0 0 0 4px #f59e0b; } to { box-shadow: 0 0 0 0 transparent; } }
/* Contrast (axe color-contrast, WCAG AA 4.5:1): Gradio's orange primary button is 2.8:1 with
   white text; orange-700 is 5.2:1. */
button.mq-send, button.mq-send:hover { background: #c2410c !important; border-color: #c2410c !important;
  color: #fff !important; }
button.mq-send:hover { background: #9a3412 !important; }
.mq-chatbot a.mq-cite { color: #1e40af !important; }
.mq-folds-head, .mq-fold-path, .mq-fold .mq-meta { color: #374151 !important; opacity: 1 !important; }
.mq-num { color: #9a3412 !important; }
.dark .mq-num { color: #fdba74 !important; }
.dark .mq-chatbot a.mq-cite { color: #93c5fd !important; }
.dark .mq-folds-head, .dark .mq-fold-path, .dark .mq-fold .mq-meta { color: #d1d5db !important; }
/* A refused request (queue full): Gradio's toast says why, in Japanese (HEAD script); its
   「エラー」 overlays would hide the question the resident typed, which stays in the box. */
.mq-question > .wrap:has(.error), .mq-chatbot > .wrap:has(.error) { display: none !important; }
/* ふりがな: readings hidden until the box is ticked (then the lines open up for them). */
.mq-chatbot rt { display: none; }  /* shown by the unscoped rule in HEAD when ticked */
/* Example questions as buttons right under the question box. */
.mq-examples-row { gap: 6px !important; flex-wrap: wrap !important; }
.mq-examples-row button.mq-example-btn { flex: 1 1 45% !important; min-width: 150px !important;
  white-space: normal !important; text-align: left !important; justify-content: flex-start !important;
  font-weight: 400 !important; font-size: 0.9rem !important; padding: 6px 10px !important;
  min-height: 44px; line-height: 1.35; }
.mq-hint { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 0 !important; }
.mq-hint p { margin: 0 !important; }
/* Phone: the question box and the examples on the first screen. The empty chat is a short
   strip; once answers are there it takes most of the screen, right above the box. The side
   panel gives way to the folds under each answer. */
@media (max-width: 767px) {
  .mq-side { display: none !important; }
  #mq-title .mq-lead { display: none; }
  .mq-chatbot { height: auto !important; max-height: 62vh !important; min-height: 0 !important; }
  .mq-chatbot:not(:has([data-testid='bot'])) { height: 88px !important; }
  .mq-chatbot:not(:has([data-testid='bot'])) .placeholder-content,
  .mq-chatbot:not(:has([data-testid='bot'])) .placeholder { font-size: 0.9rem; }
}
"""


def is_english(question: str) -> bool:
    """Mostly Latin letters and no Japanese: a question asked in English (or another Latin-script
    language)."""
    letters = [c for c in question if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c.isascii())
    return latin / len(letters) >= 0.9 and latin >= 8


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

    def respond(question, chat, turns, muni, doc_id, keep_box=False):
        # ``chat`` is the server-side copy of what the chat shows (a gr.State, never sent by
        # the browser): the Chatbot is an output only, so no event takes a message — or a
        # file payload disguised as one — from the client (issue 9).
        chat = list(chat or [])
        turns = list(turns or [])
        q = _clean_text(question or "")
        if not q:
            gr.Warning(MSG_EMPTY)
            return gr.update(), chat, chat, turns, gr.update()
        if len(q) > max_question_chars:
            gr.Warning(MSG_TOO_LONG.format(n=max_question_chars))
            return gr.update(), chat, chat, turns, gr.update()
        history: list[dict] = []
        for t in turns:
            history += [{"role": "user", "content": t["question"]},
                        {"role": "assistant", "content": t["answer"], "sources": list(t.get("cited_ids") or [])}]
        history = history[-max_history:] if max_history else []
        chat.append({"role": "user", "content": escape_markdown(q)})
        try:
            answer = ask(q, history, muni or None, doc_id or None)
        except Exception as e:
            log.exception("ask failed in UI")
            down = isinstance(e, BackendUnavailable)
            chat.append({"role": "assistant", "content": escape_markdown(MSG_BACKEND_DOWN if down else MSG_ERROR)})
            # the question stays in the box, to be sent again as it is
            return gr.update(), chat, chat, turns, gr.update()
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
        turn_no = len(chat)  # the answer's index in the chat: unique on the page, for [n] anchors
        urls = {str(d.get("doc_id")): str(d.get("url") or "") for d in live.docs}
        pdfs = {str(d.get("doc_id")) for d in live.docs if d.get("pdf")}
        content = render_answer_markdown(answer, turn_no, urls, furigana=True, pdf_docs=pdfs)
        if bool(_get(answer, "refused", False)) and is_english(q):
            content = f'<p lang="en">{escape_html(MSG_ENGLISH_UNSUPPORTED)}</p>\n\n' + content
        elif str(_get(answer, "text", "")).startswith(crosslingual.LEAD):
            # an English question pointed to Japanese passages: its English lead is marked as English
            # (the page is Japanese), so screen readers read it in English
            content = f'<p lang="en">{escape_html(crosslingual.LEAD)}</p>\n\n' + content.partition("\n")[2]
        chat.append({"role": "assistant", "content": content})
        del turns[: max(0, len(turns) - MAX_TURNS_KEPT + 1)]  # bound per-session memory; older turns can no longer be rated
        turns.append({
            "question": q,
            "answer": str(_get(answer, "text", "")),
            "cited_ids": [str(_get(_get(c, "hit", c), "id", "")) for c in shown],
            "refused": bool(_get(answer, "refused", False)),
            "msg_index": len(chat) - 1,
        })
        return (gr.update() if keep_box else ""), chat, chat, turns, render_sources_html(answer, q, contexts, turn=turn_no, urls=urls, pdf_docs=pdfs)

    def on_like(turns, data: gr.LikeData):
        idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = next((t for t in (turns or []) if t.get("msg_index") == idx), None)
        if turn is None or data.liked in (None, ""):
            return  # a user message, an error message, or a like being cleared
        feedback.record(question=turn["question"], answer=turn["answer"],
                        cited_ids=turn["cited_ids"], rating=data.liked, refused=turn["refused"])
        gr.Info(MSG_FEEDBACK_THANKS)

    def clear():
        return "", [], [], [], SOURCES_PLACEHOLDER

    def header():
        gr.Markdown(
            f"# {title}\n"
            "市の計画書の内容について質問できます。回答の [1] などの番号を押すと、根拠の箇所を開きます。"
            '<span class="mq-lead">右側の「出典」では節の全文も読めます。</span>',
            elem_id="mq-title",
        )

    def page(compact: bool, *, with_header: bool = True):
        gr.Navbar(visible=False)  # the /embed page exists but is not a menu item
        turns = gr.State([])
        chat_state = gr.State([])  # the chat as displayed, kept on the server (see respond)
        if not compact and with_header:
            header()
        elif compact:  # the page's name for screen readers; the frame shows no header
            gr.HTML(f'<h1 class="mq-sr-only">{escape_html(title)}</h1>', js_on_load=None, padding=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300, elem_classes="mq-main"):
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
                    placeholder="計画書について質問してください。",
                    elem_classes="mq-chatbot",
                )
                with gr.Row(elem_classes="mq-ask-row"):
                    question = gr.Textbox(
                        label="質問",
                        show_label=False,
                        placeholder="質問を入力してください",
                        max_length=max_question_chars,
                        lines=1,
                        max_lines=4,
                        scale=5,
                        min_width=160,
                        elem_classes="mq-question",
                    )
                    send = gr.Button("送信", variant="primary", scale=1, min_width=64,
                                     elem_classes="mq-send")
                gr.Markdown(f"Enterで送信（{max_question_chars}文字まで）。質問例を押すとすぐに答えます。",
                            elem_classes="mq-hint")
                examples = RESIDENT_EXAMPLES[:3] if compact else RESIDENT_EXAMPLES
                with gr.Row(elem_classes="mq-examples-row"):
                    example_btns = [gr.Button(q, size="sm", variant="secondary", elem_classes="mq-example-btn")
                                    for q in examples]
                # readings are shown by the page's own script (HEAD): no server round trip
                gr.Checkbox(label="回答にふりがなを表示", value=False, container=False,
                            elem_classes="mq-furigana")
                staff_btns = []
                if not compact:
                    with gr.Accordion("職員向けの質問例", open=False, elem_classes="mq-staff-examples"):
                        with gr.Row(elem_classes="mq-examples-row"):
                            staff_btns = [gr.Button(q, size="sm", variant="secondary",
                                                    elem_classes="mq-example-btn") for q in STAFF_EXAMPLES]
                with gr.Accordion("絞り込み（自治体・文書）", open=False, elem_classes="mq-filters"):
                    with gr.Row():
                        muni = gr.Dropdown(choices=muni_choices(), value="", label="自治体",
                                           min_width=160, interactive=True, elem_classes="mq-muni-filter")
                        doc = gr.Dropdown(choices=doc_choices(None), value="", label="文書",
                                          min_width=200, interactive=True, elem_classes="mq-doc-filter")
                clear_btn = gr.Button("会話をクリア", size="sm", variant="secondary",
                                      elem_classes="mq-clear")
            with gr.Column(scale=2, min_width=300, elem_classes="mq-side"):
                if compact:
                    with gr.Accordion("出典", open=True):
                        sources = gr.HTML(SOURCES_PLACEHOLDER, js_on_load=None,
                                          elem_classes=["mq-sources-panel", "mq-embed"])
                else:
                    gr.Markdown("## 出典", elem_classes="mq-sources-title")
                    sources = gr.HTML(SOURCES_PLACEHOLDER, js_on_load=None,
                                      elem_classes="mq-sources-panel")

        muni.change(lambda m: gr.update(choices=doc_choices(m), value=""), inputs=[muni],
                    outputs=[doc], queue=False, api_visibility="private")
        ev = dict(fn=respond, inputs=[question, chat_state, turns, muni, doc],
                  outputs=[question, chatbot, chat_state, turns, sources], api_visibility="private",
                  concurrency_limit=gate.concurrency, concurrency_id="ask")
        question.submit(**ev)
        send.click(**ev)
        for btn, q in [(b, q) for b, q in zip(example_btns, examples)] + list(zip(staff_btns, STAFF_EXAMPLES)):
            # an example is asked at once; the typed question (if any) stays in the box
            btn.click(fn=lambda chat, turns, m, d, q=q: respond(q, chat, turns, m, d, keep_box=True),
                      inputs=[chat_state, turns, muni, doc],
                      outputs=[question, chatbot, chat_state, turns, sources], api_visibility="private",
                      concurrency_limit=gate.concurrency, concurrency_id="ask")
        clear_btn.click(clear, outputs=[question, chatbot, chat_state, turns, sources], queue=False,
                        api_visibility="private")
        chatbot.clear(clear, outputs=[question, chatbot, chat_state, turns, sources], queue=False,
                      api_visibility="private")
        chatbot.like(on_like, inputs=[turns], outputs=None, api_visibility="private")
        return muni, doc

    def refresh_filters(m):
        # a page opened after an admin change starts from the current document list
        return gr.update(choices=muni_choices()), gr.update(choices=doc_choices(m))

    # delete_cache: Gradio removes files uploaded through this app (only the admin can) an
    # hour after upload, checking every 10 minutes; the admin handler removes its own at once.
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
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

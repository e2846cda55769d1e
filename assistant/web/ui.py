"""The Gradio UI: the chat page at ``/`` (with the 管理 tab when enabled) and ``/embed``.

Why a module of its own: the Blocks layout and its event handlers are the largest single
piece of the web face and the one that changes with Gradio versions; keeping it apart
leaves the API and the app wiring readable. It reaches the Assistant only through the
``ask`` callable and ``section_context`` it is given.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from ..feedback import FeedbackLog
from .admin import Admin, LiveCatalog, admin_tab
from .api import Gate, _clean_text
from .messages import (DEFAULT_MAX_HISTORY, EMBED_PATH, MAX_TURNS_KEPT, MSG_EMPTY, MSG_ERROR, MSG_FEEDBACK_THANKS,
                       MSG_TOO_LONG, RESIDENT_EXAMPLES, SOURCES_PLACEHOLDER, STAFF_EXAMPLES, TITLE)
from .render import _get, escape_markdown, render_answer_markdown, render_sources_html

log = logging.getLogger("assistant.web")  # one logger name for the whole web face

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
            return "", chat, chat, turns, gr.update()
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
        return "", chat, chat, turns, render_sources_html(answer, q, contexts)

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
            "市の計画書（総合計画・協働推進プランなど）の内容について質問できます。"
            "回答には根拠となった箇所の番号 [1] が付き、右側（スマートフォンでは下）の"
            "「出典」で原文を確認できます。",
            elem_id="mq-title",
        )

    def page(compact: bool, *, with_header: bool = True):
        gr.Navbar(visible=False)  # the /embed page exists but is not a menu item
        turns = gr.State([])
        chat_state = gr.State([])  # the chat as displayed, kept on the server (see respond)
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
        ev = dict(fn=respond, inputs=[question, chat_state, turns, muni, doc],
                  outputs=[question, chatbot, chat_state, turns, sources], api_visibility="private",
                  concurrency_limit=gate.concurrency, concurrency_id="ask")
        question.submit(**ev)
        send.click(**ev)
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

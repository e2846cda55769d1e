"""Escaping and rendering: pure functions from an ``Answer`` to chat Markdown and sources HTML.

Why a module of its own: this is the safety boundary of the web face (everything from a
user or a document is data, see :mod:`assistant.web`), and it is unit-testable without a
server, Gradio or FastAPI.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, Iterable, Sequence

from .messages import MAX_SECTION_CHARS, SOURCES_PLACEHOLDER


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
        from .. import japanese

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


def page_text(page: Any, label: Any = None) -> str:
    """「p.13」, or 「p.13（印刷ページ 9）」 when the page shows another number than its position."""
    if page is None or page == "":
        return ""
    return f"p.{page}" + (f"（印刷ページ {label}）" if label not in (None, "", str(page)) else "")


def _location(lines: Any, page: Any, label: Any = None) -> str:
    parts = []
    if page is not None and page != "":
        parts.append(page_text(page, label))
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
            page = page_text(_get(c, "page", None), _get(c, "page_label", None))
            lines.append(
                f"\\[{int(_get(c, 'number', 0))}\\] " + escape_markdown(
                    label + (" › " + path if path else "") + (f"（{page}）" if page else ""))
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
    loc = _location(_get(hit, "lines", None), _get(hit, "page", None), _get(hit, "page_label", None))
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

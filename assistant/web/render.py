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


_CITE_RE = re.compile(r"\\\[(\d{1,3})\\\]")  # an [n] marker after escape_markdown: \[n\]


def cite_anchor(turn: int | str, number: int) -> str:
    """The id of citation ``number``'s fold under answer ``turn`` (unique on the page)."""
    return f"mq-c-{turn}-{int(number)}"


def _link_citations(escaped: str, turn: int | str, numbers: set[int]) -> str:
    """Turn the escaped ``\\[n\\]`` markers of cited numbers into links to their folds.

    Only numbers that are real citations become links; the link is our own markup around a
    digit string, so no document or question text can reach an attribute.
    """
    def sub(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in numbers:
            return m.group(0)
        return f'<a class="mq-cite" href="#{cite_anchor(turn, n)}">[{n}]</a>'
    return _CITE_RE.sub(sub, escaped)


def original_link(url: Any, page: Any) -> str:
    """A link to the original document when the catalog has an http(s) url (``#page=N`` for PDFs)."""
    url = str(url or "").strip()
    if not re.match(r"^https?://[^\s\"'<>]+$", url):
        return ""
    if page not in (None, "") and url.lower().split("#")[0].endswith(".pdf") and "#" not in url:
        url += f"#page={int(page)}"
    return (f'<a class="mq-orig" href="{escape_html(url)}" target="_blank" rel="noopener noreferrer">'
            "原文を開く（市のサイト）</a>")


PAGE_IMAGE_PATH = "/api/page-image"


def page_image_base() -> str:
    """``ASSISTANT_PUBLIC_URL`` (the app's own public address, e.g. ``https://qa.city.example.jp``)
    without its trailing slash, or "" when unset. Page-image URLs start with it, so that inside the
    ``<gradio-app>`` web component — whose HTML lives in the city's page — they still point at the
    app instead of the city's own site. Anything but an http(s) origin (with an optional path) is
    ignored: an answer never carries a URL the operator did not mean."""
    import os
    from urllib.parse import urlsplit

    raw = os.environ.get("ASSISTANT_PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return ""
    return raw


def quoted_sentence_numbers(passage: str, quote: Sequence[str]) -> list[int]:
    """Which of the passage's sentences (``japanese.split_sentences``, as the page-image route
    counts them) the answer quoted: those containing a quote or contained in one."""
    from ..japanese import compact, split_sentences

    qs = [compact(q) for q in quote if compact(q)]
    out = []
    for i, s in enumerate(split_sentences(passage)):
        c = compact(s)
        if c and any(q in c or c in q for q in qs):
            out.append(i)
    return out


def page_image_html(hit: Any, page: Any, quote: Sequence[str] = (), label: str = "") -> str:
    """The cited page as a lazy-loaded image, linked to the full-size PNG (PDF documents only).

    The URL names the document, page and passage — the server looks them up in its index,
    never a path — and the quoted sentences' numbers, which the server highlights."""
    from urllib.parse import urlencode

    if page in (None, ""):
        return ""
    try:
        page = int(page)
    except (TypeError, ValueError):
        return ""
    params = {"doc": str(_get(hit, "doc_id", "") or ""), "page": str(page), "chunk": str(_get(hit, "id", "") or "")}
    numbers = quoted_sentence_numbers(str(_get(hit, "text", "") or ""), quote) if quote else []
    if numbers:
        params["s"] = ",".join(str(n) for n in numbers[:16])
    path = page_image_base() + PAGE_IMAGE_PATH
    url = escape_html(path + "?" + urlencode(params))
    if numbers:  # the lines around the quote, readable on a phone; the link opens the whole page
        src = escape_html(path + "?" + urlencode(params | {"view": "excerpt"}))
        alt = escape_html(f"{label} の {page}ページ目のうち、引用した文の周り。引用した文を黄色で示しています。")
    else:
        src = url
        alt = escape_html(f"{label} の {page}ページ目の画像。引用した文を黄色で示しています。")
    return (f'<div class="mq-page"><a class="mq-page-link" href="{url}" target="_blank" rel="noopener">'
            f'<img class="mq-page-img" src="{src}" loading="lazy" alt="{alt}">'
            f'<span class="mq-page-cap">{page}ページ目の全体を画像で見る（引用箇所は黄色）</span></a></div>')


_MD_ENTITY = {c: f"&#{ord(c)};" for c in "\\`*_[]()#+-.!|~:<>"}


def inert_in_markdown(html_text: str) -> str:
    """Our HTML (already escaped) made safe to sit inside a chat bubble's Markdown.

    The folds are raw HTML in Markdown. A blank line would end the HTML block and let the
    rest be parsed as Markdown, so newlines become ``<br>``; and Markdown punctuation in the
    text becomes numeric entities, which Markdown decodes to characters but never reads as
    syntax. Only text between tags is touched, never our own tags.
    """
    out = []
    for part in re.split(r"(<[^>]*>|&#?[0-9A-Za-z]+;)", html_text):
        if (part.startswith("<") and part.endswith(">")) or (part.startswith("&") and part.endswith(";")):
            out.append(part)
        else:
            part = "".join(_MD_ENTITY.get(ch, ch) for ch in part)
            out.append(part.replace("\r\n", "\n").replace("\n", "<br>"))
    return "".join(out)


def _quote_terms(quote: Sequence[str]) -> list[str]:
    return [str(q).strip() for q in quote if str(q).strip() and len(str(q).strip()) >= 2]


def render_answer_markdown(answer: Any, turn: int | str = 0, urls: dict[str, str] | None = None,
                           furigana: bool = False, pdf_docs: set[str] | frozenset[str] = frozenset()) -> str:
    """The assistant's chat bubble: the answer text with its [n] markers as links, then one
    fold per citation (tap to open: title, section path, page, the passage with the cited
    sentences highlighted, a link to the original when the catalog has a url, and for a
    document in ``pdf_docs`` the cited page as an image).

    Everything from the answer or a document is escaped; the markup is our own. A refusal's
    text already names the closest sections, so they are not repeated here (the sources
    panel shows them as cards).
    """
    citations = _get(answer, "citations", []) or []
    numbers = {int(_get(c, "number", 0)) for c in citations}
    raw = _get(answer, "text", "") or ""
    if furigana:  # <ruby> over kanji; the page shows the readings only when ふりがな is on
        from ..furigana import ruby

        escaped = ruby(raw, escape_markdown)
    else:
        escaped = escape_markdown(raw)
    text = _link_citations(escaped, turn, numbers)
    parts = [text]
    notes = [n for n in (_get(answer, "notes", []) or []) if str(n).strip()]
    if citations:
        folds = []
        for c in citations:
            n = int(_get(c, "number", 0))
            hit = _get(c, "hit", c)
            label = f"{_get(c, 'title', '')}（{_get(c, 'municipality', '')}）"
            path = _section_path(_get(c, "section", []))
            page = _get(c, "page", None)
            loc = _location(_get(hit, "lines", None), page, _get(c, "page_label", None))
            quote = _quote_terms(_get(c, "quote", []) or [])
            passage = _get(hit, "text", "") or ""
            body = highlight_html(passage, quote) if quote else escape_html(passage)
            doc_id = str(_get(hit, "doc_id", "") or "")
            link = original_link((urls or {}).get(doc_id), page)
            image = page_image_html(hit, page, quote, str(_get(c, "title", ""))) if doc_id in pdf_docs else ""
            folds.append(
                f'<details class="mq-fold" id="{cite_anchor(turn, n)}" data-n="{n}">'
                f'<summary><span class="mq-num">[{n}]</span> {escape_html(label)}'
                + (f' <span class="mq-fold-path">› {escape_html(path)}</span>' if path else "")
                + "</summary>"
                + (f'<div class="mq-meta">{escape_html(loc)}</div>' if loc else "")
                + f'<div class="mq-passage">{body}</div>'
                + image
                + (f'<div class="mq-links">{link}</div>' if link else "")
                + "</details>"
            )
        parts.append(inert_in_markdown('<div class="mq-folds"><div class="mq-folds-head">出典（タップで開く）</div>'
                                       + "".join(folds) + "</div>"))
    if notes:
        parts.append("\n".join("※ " + escape_markdown(str(n)) for n in notes))
    return "\n\n".join(p for p in parts if p)


def _source_card(hit: Any, *, number: int | None, terms: Sequence[str], context: dict | None,
                 quote: Sequence[str] = (), url: str = "", pdf: bool = False) -> str:
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
    if pdf:
        out.append(page_image_html(hit, _get(hit, "page", None), quote, title))
    link = original_link(url, _get(hit, "page", None))
    if link:
        out.append(f'<div class="mq-links">{link}</div>')
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
            f'<div class="mq-fulltext" tabindex="0" role="region" aria-label="節の全文">'
            f'{highlight_html(full, list(terms) + _quote_terms(quote))}'
            + ("<p class=\"mq-meta\">（長いため途中までを表示しています）</p>" if cut else "")
            + "</div></details>"
        )
    out.append("</article>")
    return "".join(out)


def render_sources_html(answer: Any, question: str, contexts: dict[str, dict] | None = None,
                        turn: int | str = "", urls: dict[str, str] | None = None,
                        pdf_docs: set[str] | frozenset[str] = frozenset()) -> str:
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
            doc_id = str(_get(hit, "doc_id", "") or "")
            cards.append(_source_card(hit, number=int(_get(c, "number", 0)), terms=terms,
                                      context=contexts.get(str(_get(hit, "id", ""))),
                                      quote=_get(c, "quote", []) or [], url=(urls or {}).get(doc_id, ""),
                                      pdf=doc_id in pdf_docs))
    else:
        related = _get(answer, "related", []) or []
        if not related:
            return SOURCES_PLACEHOLDER
        heading = "資料に直接の記述は見つかりませんでした。近い箇所:"
        for h in related[:5]:
            cards.append(_source_card(h, number=None, terms=terms,
                                      context=contexts.get(str(_get(h, "id", "")))))
    return (f'<div class="mq-sources" lang="ja" data-turn="{escape_html(turn)}"><div class="mq-sources-head">{escape_html(heading)}</div>'
            + "".join(cards) + "</div>")

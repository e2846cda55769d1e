"""Web pages (.html): charset detection, the main content without navigation, headings, tables."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from .common import Extracted, FormatError, _cached, _join_cjk_aware


_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-.]+)""", re.I)
# Windows code pages are supersets of what Japanese pages label as Shift_JIS/EUC-JP
# (①, ㈱, NEC/IBM extensions) — the WHATWG encoding standard maps them the same way.
_CHARSET_ALIASES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932", "x-ms-cp932": "cp932",
    "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "eucjp": "euc_jp",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
}

# Supersets tried when a page does not decode strictly with its declared charset.
_WIDER = {"cp932": ("shift_jis_2004",), "euc_jp": ("euc_jis_2004", "euc_jisx0213"), "shift_jis": ("cp932", "shift_jis_2004")}

# Elements that never carry page content.
_DROP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg", "canvas", "object",
              "embed", "button", "select", "input", "textarea", "map", "head", "link", "meta"}
# Navigation-ish elements, dropped wherever they are.
_NAV_TAGS = {"nav", "aside", "menu"}
_NAV_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
# id/class tokens used for site furniture, including the words Japanese municipal CMSs use
# (pankuzu / topicpath = breadcrumbs, gnavi = global menu).
_BOILERPLATE_TOKEN_RE = re.compile(
    r"(?:^|[-_])(?:nav|navi|navigation|gnav|gnavi|lnav|lnavi|snav|localnav|globalnav|menu|"
    r"breadcrumbs?|pankuzu|topicpath|topic-path|footer|header|sidebar|side|sns|share|"
    r"pagetop|skip|banner|tool|tools|utility)(?:[-_]|\d*$)",
    re.I,
)
_MAIN_TOKEN_RE = re.compile(r"^(?:main|main[-_]?content|contents?|content[-_]?main|honbun|article|entry[-_]?content|page[-_]?body)$", re.I)
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "form", "hr", "li", "main", "ol",
    "p", "pre", "section", "summary", "ul", "tr", "table", "tbody", "thead", "tfoot", "html",
    "header", "footer",
}
_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}


def _normalize_charset(name: str) -> str | None:
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode HTML bytes: BOM, then ``<meta charset>`` / XML declaration, then detection.

    Returns ``(text, encoding)``. Shift_JIS is decoded as cp932 (what browsers do), otherwise
    characters such as ① or 髙 on municipal pages break decoding.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace").lstrip("\ufeff"), enc
    head = data[:8192]
    declared = None
    m = _META_CHARSET_RE.search(head) or _XML_DECL_RE.search(head)
    if m:
        declared = _normalize_charset(m.group(1).decode("ascii", "ignore"))
    if declared:
        # the declared charset, then the wider variants of the same family
        for enc in (declared, *_WIDER.get(declared, ())):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError:
                continue  # mislabelled page: fall through to detection
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            enc = _normalize_charset(best.encoding) or best.encoding
            try:
                return data.decode(enc), enc
            except (UnicodeDecodeError, LookupError):
                return str(best), best.encoding
    except ImportError:  # pragma: no cover
        pass
    enc = declared or "cp932"
    return data.decode(enc, errors="replace"), enc


def _attr_tokens(el) -> list[str]:
    toks = []
    cls = el.get("class")
    if cls:
        toks.extend(cls if isinstance(cls, list) else str(cls).split())
    if el.get("id"):
        toks.append(str(el.get("id")))
    return toks


def _is_hidden(el) -> bool:
    if el.has_attr("hidden") or str(el.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(el.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _inside(el, names: set[str]) -> bool:
    return any(p.name in names for p in el.parents)


def _html_main(soup):
    """The element holding the page's main content: ``<main>``/``role=main``, else the
    largest ``<article>``, else the largest element with a content-like id/class, else body."""
    def text_len(el) -> int:
        return len(el.get_text(strip=True))

    for sel in (lambda: soup.find_all("main"), lambda: soup.find_all(attrs={"role": "main"})):
        found = [e for e in sel() if text_len(e) > 0]
        if found:
            return max(found, key=text_len)
    articles = [e for e in soup.find_all("article") if text_len(e) > 0]
    if articles:
        best = max(articles, key=text_len)
        # several articles of similar size = a listing page; keep their common container
        if sum(text_len(a) for a in articles) <= 1.5 * text_len(best):
            return best
    cands = [e for e in soup.find_all(True) if any(_MAIN_TOKEN_RE.match(t) for t in _attr_tokens(e))]
    cands = [e for e in cands if text_len(e) > 0]
    if cands:
        return max(cands, key=text_len)
    return soup.body or soup


def _strip_boilerplate(root, in_main: bool) -> None:
    """Drop navigation and site furniture below ``root``. ``in_main``: ``root`` is a real
    main-content container, where a class like ``main-header`` wraps the page's own heading
    (kept when it holds ``h1``/``h2``); on ``<body>`` such blocks are the site banner."""
    for el in list(root.find_all(True)):
        if getattr(el, "decomposed", False) or el.parent is None:
            continue
        name = el.name
        if name in _DROP_TAGS or name in _NAV_TAGS:
            el.decompose()
            continue
        role = str(el.get("role", "")).lower()
        if role in _NAV_ROLES or _is_hidden(el):
            el.decompose()
            continue
        # <header>/<footer> are site banners only outside article/main/section (HTML spec)
        if name in ("header", "footer") and not _inside(el, {"article", "main", "section"}):
            el.decompose()
            continue
        if name not in ("body", "html", "main", "article") and any(
            _BOILERPLATE_TOKEN_RE.search(t) for t in _attr_tokens(el)
        ):
            if in_main and el.find(["h1", "h2"]) is not None:
                continue
            el.decompose()


class _HtmlText:
    """Walks the content tree, emitting one line per block and recording headings."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.headings: list[tuple[int, int, str]] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        text = _join_cjk_aware("".join(self.buf))
        self.buf = []
        if text:
            self.lines.append(text)

    def walk(self, el) -> None:
        from bs4 import NavigableString, Tag
        from bs4.element import Comment, Doctype, ProcessingInstruction

        for child in el.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.buf.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name == "br":
                self.flush()
            elif name in _HEADING_TAGS:
                self.flush()
                text = _join_cjk_aware(child.get_text(" "))
                if text:
                    self.headings.append((len(self.lines), _HEADING_TAGS[name], text))
                    self.lines.append(text)
            elif name == "table":
                self.flush()
                self.lines.extend(self.table(child))
            elif name == "pre":
                self.flush()
                self.lines.extend(s.strip() for s in child.get_text().splitlines() if s.strip())
            elif name == "img":
                alt = (child.get("alt") or "").strip()
                if alt and len(alt) > 1:
                    self.buf.append(alt)
            elif name in _BLOCK_TAGS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)

    def table(self, table) -> list[str]:
        rows: list[tuple[list[str], bool]] = []
        for tr in table.find_all("tr"):
            if tr.find_parent("table") is not table:
                continue  # nested table rows belong to the nested table's cell text
            cells = tr.find_all(["th", "td"], recursive=False)
            if not cells:
                continue
            values = []
            for c in cells:
                v = _join_cjk_aware(c.get_text(" "))
                span = str(c.get("colspan", "1")).strip()
                values.extend([v] * (min(int(span), 50) if span.isdigit() and int(span) > 0 else 1))
            rows.append((values, all(c.name == "th" for c in cells) or tr.find_parent("thead") is not None))
        cap = table.find("caption")
        out = [_join_cjk_aware(cap.get_text(" "))] if cap and cap.get_text(strip=True) else []
        if not rows:
            return out
        if rows[0][1] and len(rows) > 1:
            out += _labelled_rows_colspan([r for r, _ in rows[1:]], rows[0][0])
        else:
            out += _labelled_rows_colspan([r for r, _ in rows], [])
        return out


def _labelled_rows_colspan(body: list[list[str]], header: list[str]) -> list[str]:
    """Header-labelled rows (「列名: 値 / 列名: 値」) where colspans were expanded: a value
    spanning several columns is emitted once, labelled with the first header it spans.
    A row whose first cell is a ``<th>`` row header simply leads the line."""
    out = []
    for row in body:
        parts, last = [], None
        for j, value in enumerate(row):
            if not value or value == last:
                last = value
                continue
            last = value
            label = header[j] if j < len(header) else ""
            parts.append(f"{label}: {value}" if label and label != value else value)
        if parts:
            out.append(" / ".join(parts))
    return out


@_cached
def extract_html(path: Path) -> Extracted:
    """Main content of a (municipal) web page.

    Charset from BOM / ``<meta charset>`` with detection as fallback (Shift_JIS pages are
    common). Navigation, menus, breadcrumbs, site header/footer, sidebars, scripts and styles
    are dropped by element semantics (``nav``, ``aside``, ARIA roles, site-level
    ``header``/``footer``) and by the id/class names CMSs use for them; the main content is
    ``<main>``/``role=main``/``<article>`` or the largest content-named container. Headings
    ``h1``–``h6`` are kept as headings; tables become header-labelled rows.
    """
    path = Path(path)
    try:
        from bs4 import BeautifulSoup
    except ImportError as e:  # pragma: no cover
        raise FormatError(path, f"HTML support is not installed ({e.name}); pip install beautifulsoup4 lxml") from e
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(path, f"cannot read file ({e.strerror or e})") from e
    if not data.strip():
        raise FormatError(path, "empty file")
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FormatError(path, "binary data, not an HTML page")
    text, _enc = decode_html(data)
    try:
        soup = BeautifulSoup(text, "lxml")
    except Exception:
        soup = BeautifulSoup(text, "html.parser")

    page_title = None
    if soup.title and soup.title.get_text(strip=True):
        page_title = _join_cjk_aware(soup.title.get_text(" "))
    for el in soup.find_all(list(_DROP_TAGS - {"head"})):
        el.decompose()
    main = _html_main(soup)
    _strip_boilerplate(main, in_main=main is not soup.body and main is not soup)
    walker = _HtmlText()
    walker.walk(main)
    walker.flush()
    if not walker.lines:
        raise FormatError(path, "no main text content found in the HTML page")
    h1 = next((t for _, lvl, t in walker.headings if lvl == 1), None)
    return Extracted(lines=walker.lines, pages=None, headings=walker.headings, title=h1 or page_title)

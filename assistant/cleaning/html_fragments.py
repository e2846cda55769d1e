"""HTML fragments inside text files (「<p>」「<ul><li>」「<table>」) → plain lines, via the stdlib parser.

Angle-bracket labels such as 「< 計画の目指すもの >」 and 「<改訂版>」 are not tags and survive."""

from __future__ import annotations

from html.parser import HTMLParser
import re


_HTML_TAGS = (
    "p|br|div|span|ul|ol|li|table|thead|tbody|tr|td|th|b|i|u|em|strong|del|ins|sup|sub|"
    "h[1-6]|a|font|small|big|s|strike|mark|code|pre|blockquote|dl|dt|dd|img|hr|caption"
)
_HTML_TAG_RE = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>", re.I)
_BLOCK_TAGS = {
    "p", "div", "ul", "ol", "li", "table", "thead", "tbody", "tr", "h1", "h2", "h3", "h4",
    "h5", "h6", "br", "dl", "dt", "dd", "blockquote", "pre", "hr", "caption",
}
_CELL_TAGS = {"td", "th"}


class _FragmentParser(HTMLParser):
    """Collects the text of an HTML fragment; block tags become breaks, cells become tabs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in _CELL_TAGS:
            self.parts.append("\t")

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(fragment: str) -> list[str]:
    """Plain-text lines of an HTML fragment (content kept, markup dropped)."""
    p = _FragmentParser()
    p.feed(fragment)
    p.close()
    text = "".join(p.parts)
    out = []
    for line in text.split("\n"):
        line = re.sub(r"[ \u00a0]+", " ", line).strip(" ")
        if line.strip():
            out.append(line)
    return out


def _clean_html_line(line: str) -> list[str]:
    """A source line with HTML tags → one or more plain lines.

    In a tab-separated row the cells are kept apart (tabs) and blocks inside a cell are joined
    with a space, so the row stays one table row; elsewhere each block becomes its own line.
    """
    if not _HTML_TAG_RE.search(line):
        return [line]
    if "\t" in line.strip("\t"):
        cells = [" ".join(html_to_text(c)) for c in line.split("\t")]
        return ["\t".join(cells)]
    return html_to_text(line) or [""]

"""The cleaning pipeline: per-line fixes, then each artifact rule in order (see the package docstring)."""

from __future__ import annotations

import html
import re

from .captions import _remove_captions
from .html_fragments import _clean_html_line
from .lines import _TABLE_RULE_RE, _Line
from .repeats import collapse_repeats
from .side_tabs import _remove_side_tabs
from .tables import _convert_tables
from .toc import _remove_toc
from .wrapped_lines import _join_wrapped


_CONTINUED_RE = re.compile(r"^[(（]?\s*(?:次|前)(?:ページ|頁|項)(?:へ|に|から)?(?:続く|つづく|続きます)\s*[)）]?$")


def _strip_markup(text: str) -> str:
    """Markdown emphasis and LaTeX-ish arrows from PDF→markdown converters."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"^\*\*|\*\*$", "", text.strip()) if "**" in text else text
    text = re.sub(r"\$\\(?:rightarrow|to)\$", "→", text)
    text = re.sub(r"\$\\Rightarrow\$", "⇒", text)
    text = re.sub(r"\$\\(?:leftarrow)\$", "←", text)
    return text


def clean_lines(raw_lines: list[str], pages: list[int | None] | None = None, stats: dict | None = None) -> list[_Line]:
    """The whole cleaning pipeline over raw extracted lines (see the module docstring)."""
    stats = {} if stats is None else stats
    lines: list[_Line] = []
    for i, raw in enumerate(raw_lines):
        page = pages[i] if pages else None
        for part in _clean_html_line(raw):
            if part != raw:
                stats["html"] = stats.get("html", 0) + 1
            part = html.unescape(part) if "&" in part else part
            part = _strip_markup(part)
            fixed = collapse_repeats(part)
            if fixed != part:
                stats["repeats"] = stats.get("repeats", 0) + 1
            fixed = re.sub(r"[ \u3000\u00a0]{2,}", " ", fixed.replace("\u3000", " ")).rstrip()
            if "\t" in fixed and fixed.strip():
                fixed = fixed.rstrip("\t ")  # leading tabs are empty cells of a table row
            else:
                fixed = fixed.strip()
            fixed = re.sub(r"^- (?=[・●○◆◇■□▪※①-⑳])", "", fixed)  # 「- ・項目」: doubled list marker
            if _CONTINUED_RE.match(fixed.strip()):
                stats["page_marker"] = stats.get("page_marker", 0) + 1
                fixed = ""
            if fixed and _TABLE_RULE_RE.match(fixed) and ("-" in fixed or "|" in fixed):
                stats["rule"] = stats.get("rule", 0) + 1
                fixed = ""
            lines.append(_Line(fixed, i + 1, i + 1, page))
    lines = _remove_toc(lines, stats)
    lines = _remove_side_tabs(lines, stats)
    lines = _remove_captions(lines, stats)
    lines = _convert_tables(lines, stats)
    lines = _join_wrapped(lines, stats)
    return [l for l in lines if l.text.strip()]


"""Word (.docx): paragraphs with heading styles/outline levels, tables as labelled rows."""

from __future__ import annotations

import re
from pathlib import Path

from .common import _JUNK_TITLE_RE, Extracted, FormatError, _cached, _dedupe_consecutive, _join_cjk_aware, _labelled_rows


_HEADING_STYLE_RE = re.compile(r"^(?:heading|見出し)\s*([1-9])$", re.I)
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _outline_level(ppr) -> int | None:
    if ppr is None:
        return None
    el = ppr.find(f"{{{_W_NS}}}outlineLvl")
    if el is None:
        return None
    try:
        lvl = int(el.get(f"{{{_W_NS}}}val"))
    except (TypeError, ValueError):
        return None
    return lvl + 1 if 0 <= lvl < 9 else None  # 9 = body text


def _heading_level(paragraph) -> int | None:
    """Heading level of a Word paragraph, from its style (見出し 1 / Heading 1, also inherited
    through custom styles based on them) or an explicit outline level. Localized Word writes
    the built-in names differently; python-docx reports the canonical English name, and the
    Japanese UI name is matched too for documents whose styles were renamed."""
    lvl = _outline_level(paragraph._p.pPr)
    if lvl is not None:
        return lvl
    style, depth = paragraph.style, 0
    while style is not None and depth < 10:
        m = _HEADING_STYLE_RE.match((style.name or "").strip())
        if m:
            return int(m.group(1))
        lvl = _outline_level(style.element.pPr)
        if lvl is not None:
            return lvl
        style, depth = style.base_style, depth + 1
    return None


def _is_title_style(paragraph) -> bool:
    name = (paragraph.style.name or "").strip().lower() if paragraph.style is not None else ""
    return name in ("title", "表題")


def _docx_table_lines(table) -> list[str]:
    rows: list[list[str]] = []
    for row in table.rows:
        # horizontally merged cells come back once per grid column: keep one
        cells = _dedupe_consecutive(list(row.cells), key=lambda c: id(c._tc))
        rows.append([_join_cjk_aware(c.text) for c in cells])
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) == 1:
        return _labelled_rows(rows, None)
    header, body = rows[0], rows[1:]
    return _labelled_rows(body, header)


@_cached
def extract_docx(path: Path) -> Extracted:
    """Paragraphs and tables of a Word file in document order.

    Heading styles become ``headings`` (the section path of chunks); tables become
    header-labelled rows. Page headers/footers of the Word file live outside the body and are
    not read. Word has no stable page numbers (they depend on the renderer), so ``pages`` is
    ``None``.
    """
    path = Path(path)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as e:  # pragma: no cover
        raise FormatError(path, f"Word support is not installed ({e.name}); pip install python-docx") from e
    try:
        document = docx.Document(str(path))
    except Exception as e:  # zipfile.BadZipFile, KeyError, lxml errors, PackageNotFoundError …
        raise FormatError(path, f"not a readable .docx file ({type(e).__name__}: {e})") from e

    lines: list[str] = []
    headings: list[tuple[int, int, str]] = []
    title: str | None = None
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                raw = block.text
                if not raw.strip():
                    continue
                level = _heading_level(block)
                if level is not None or _is_title_style(block):
                    text = _join_cjk_aware(raw)
                    if _is_title_style(block):
                        title = title or text
                        level = level or 1
                    headings.append((len(lines), level, text))
                    lines.append(text)
                    continue
                # soft line breaks inside a paragraph are layout, the paragraph is the unit
                for part in raw.split("\n"):
                    part = part.strip()
                    if part:
                        lines.append(part)
            elif isinstance(block, Table):
                lines.extend(_docx_table_lines(block))
        core_title = (document.core_properties.title or "").strip()
    except Exception as e:
        raise FormatError(path, f".docx content could not be read ({type(e).__name__}: {e})") from e
    if core_title and not _JUNK_TITLE_RE.search(core_title):
        title = core_title
    if not lines:
        raise FormatError(path, "the Word document contains no text")
    return Extracted(lines=lines, pages=None, headings=headings, title=title)


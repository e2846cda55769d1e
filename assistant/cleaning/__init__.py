"""Cleaning: undoing what PDF/web extractors did to the text, one artifact kind per module.

Plan documents reach us as text that other tools extracted from PDFs and web pages, so before
anything is searched or cited we undo the extractor's damage *with general rules* (none of
them knows a particular city or file). Where to find a rule:

* ``html_fragments`` — HTML fragments (``<p>``, ``<ul><li>``, ``<table>``) → plain text.
* ``repeats`` — runs printed 2–4 times by the extractor (「第４章第４章第４章第４章」).
* ``toc`` — tables of contents (dot leaders, page-number cells, the 目次 title).
* ``side_tabs`` — page-edge navigation tabs extracted one glyph per line.
* ``captions`` — lone photo captions after an image gap.
* ``tables`` — tab-separated rows → one labelled line per row (「指標: … / 基準値: …」).
* ``wrapped_lines`` — paragraph lines broken at the page width re-joined.
* ``pipeline`` — :func:`clean_lines`, which runs them in order.
* ``lines`` — the cleaned line type and the line classes the rules share.

Every cleaned line remembers the 1-based source line it came from, so citations point back
into the original file.
"""

from .html_fragments import _clean_html_line, html_to_text
from .lines import _Line
from .pipeline import clean_lines
from .repeats import collapse_repeats

__all__ = ["clean_lines", "collapse_repeats", "html_to_text", "_Line", "_clean_html_line"]

"""The cleaned line and the line classes (list items, predicates, punctuation) every rule reads.

A cleaning rule takes and returns a list of :class:`_Line`; each line remembers the 1-based
source lines it came from and its page, so citations survive every rule."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class _Line:
    text: str
    start: int  # 1-based source line
    end: int
    page: int | None = None
    tag: str = ""  # "" | "table" | "heading-ish" markers used between passes


_LIST_START_RE = re.compile(
    r"^\s*(?:[-・●○◆◇■□▪▶►※＊*◎△×☆★]|[①-⑳㉑-㉟]|[(（]\s*[0-9０-９一二三四五六七八九十ア-ンa-zA-Z]{1,3}\s*[)）]|"
    r"[0-9０-９]{1,2}[.)．、]|[0-9０-９]{1,2}\s|[ア-ン][.．、]|第[0-9０-９一二三四五六七八九十]+[章編節部条]|"
    r"[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ]|[IVX]{1,4}\s|#|【|〈|《|<|＜|≪|\[)"
)
_WORDISH_RE = re.compile(r"[\w\u3040-\u30ff\u4e00-\u9fff]")
_PUNCT_RE = re.compile(r"[。、，,．.！？!?：:；;]")
# Predicate endings that finish a sentence even without 「。」 (headings such as 「…を育てます」).
_COMPLETE_END_RE = re.compile(r"(?:ます|です|ました|でした|ません|ください|しよう|ましょう)$")
_TABLE_RULE_RE = re.compile(r"^[\s|:\-–—=+]*$")

"""Cutting cleaned documents into passages along their own structure: ``Document`` → ``Chunk``.

Why structure-aware: a plan document answers "what does the city do about X" in a numbered
section (「(2) 市民活動の活性化」 → 「基本方針」 / 「現状と課題」 / 「施策展開」). A passage that knows
its heading path can be cited as 「第2章 › (2) 市民活動の活性化」 and never mixes two policies.

How:
1. Every line is classified as a heading (with a level) or body. Levels, coarse to fine:
   0 「第N編/部」, 1 「第N章」, 1.5 「第N節」, 2 「5 市民が主役の地域づくり」/ Ⅰ Ⅱ / 「1. はじめに」,
   3 「(1)」「（１）」「推進施策 (N)」「基本施策N」, 4 structural labels (基本方針, 現状と課題, 施策展開 …),
   5 「①」「個別施策 (N)」, 6 「ア.」「㋐」 (and 「●現状」 inside 現状と課題), 7 「(ア)」,
   8 ●/◆/■ lines, 【…】, 〈…〉, < … >, 《…》, unnumbered markdown.
   A heading pops every open heading of the same or a finer level → the section path.
2. Body lines are split into sentences (``japanese.split_sentences``); a table row (one line
   produced by the corpus cleaner) is one unit and is never split.
3. Units are packed into chunks of ``min_chars``–``max_chars`` characters. A heading of level
   ≤ ``hard_level`` always starts a new chunk (so a chunk never crosses a numbered section,
   let alone a top-level one); a finer heading starts one once the chunk has ``min_chars``.
   When a chunk is closed for size, the next one repeats its last sentence (overlap) so an
   answer spanning the cut is still found whole in one passage. A table whose next row does not
   fit moves to the next chunk whole so far, with its caption line (``_table_start``), so a
   table is cut from neither its caption nor its first rows.
4. A chunk's section path is the deepest path shared by all its body units; its text begins
   with the heading lines it contains, so readers see where it comes from.

Ids are a hash of doc id, section, text and ordinal: the same input gives the same ids, and
``CHUNKER_VERSION`` changes whenever the output for the same input changes (the index manifest
records it, so a new chunker triggers a rebuild).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

from . import japanese
from .types import Chunk, Document

CHUNKER_VERSION = "6"


@dataclass(frozen=True)
class ChunkSettings:
    min_chars: int = 150
    max_chars: int = 500
    overlap_sentences: int = 1
    hard_level: int = 3  # headings at this level or coarser always start a new chunk

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------
# Headings
# --------------------------------------------------------------------------------------

_NUM = r"[0-9]+|[一二三四五六七八九十百]+"
_ROMAN = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ"
_STRUCT_LABELS = (
    "基本方針|基本理念|基本目標|現状と課題|現状|課題|施策展開|施策の展開|施策体系|施策の体系|施策の方向|"
    "目標指標|成果指標|数値目標|主な取組|主な取り組み|主要施策|具体的取組|具体的な取組|取組内容|"
    "計画の目指すもの|はじめに|おわりに|目的|背景|概要|まとめ|用語解説"
)
# 「第4章施策の展開」: the title glued to the number (a PDF whose space glyph is narrower than a gap
# that counts as a space); not 「第3章では、…」「第2章の…」, a sentence that names a chapter
_TITLE_GLUED = r"(?=[^\sでにのをはがとへもや、。）)])"
# Kanji an OCR reads for the katakana of an item marker: 「(工) 女性団体」 is 「(エ)」, 「力.」 「カ.」 (工 エ, 力 カ,
# 口 ロ, 夕 タ, 卜 ト; not 二 ニ or 八 ハ: 「(二)」 is a number)
_KANA_LOOKALIKES = "工力口夕卜"
_HEADING_PATTERNS: list[tuple[float, re.Pattern]] = [
    (0, re.compile(rf"^第\s*(?:{_NUM})\s*[編部](?:\s|$|[:：、]|{_TITLE_GLUED})")),
    (1, re.compile(rf"^第\s*(?:{_NUM})\s*章(?:\s|$|[:：、]|{_TITLE_GLUED})")),
    # 「第N節」 sits between a chapter and its numbered items (Word-made plans: 第1章 › 第1節 › 1)
    (1.5, re.compile(rf"^第\s*(?:{_NUM})\s*節(?:\s|$|[:：、]|{_TITLE_GLUED})")),
    (5, re.compile(rf"^(?:個別施策|具体的施策|主な事業|事業)\s*[(（]\s*(?:{_NUM})\s*[)）]")),
    (3, re.compile(rf"^(?:推進施策|施策|基本施策|重点施策|基本方針)\s*[(（]\s*(?:{_NUM})\s*[)）]")),
    (3, re.compile(r"^(?:基本施策|推進施策|重点施策)\s*[0-9]+(?:\s|$)")),
    (2, re.compile(rf"^(?:[{_ROMAN}]+|(?:I|II|III|IV|V|VI|VII|VIII|IX|X)(?=\s))\s*\S")),
    (2, re.compile(r"^(?:基本方針|基本目標|推進方針|施策)\s*(?:[" + _ROMAN + r"]+|[0-9]+|I{1,3}|IV|V)(?:\s|$)")),
    (2, re.compile(r"^[0-9]{1,2}(?:\s+|[.．](?:\s*))(?=[^\s0-9.．%])\S")),
    (3, re.compile(rf"^[(（]\s*(?:{_NUM})\s*[)）]\s*\S")),
    (3, re.compile(r"^[0-9]{1,2}\)\s*\S")),
    (5, re.compile(r"^[①-⑳㉑-㉟]\s*\S")),
    (6, re.compile(r"^[ア-ン][.．、\s]\s*\S")),
    (6, re.compile(rf"^[{_KANA_LOOKALIKES}][.．]\s*\S")),
    (6, re.compile(r"^[㋐-㋾]\s*\S")),
    (7, re.compile(rf"^[(（]\s*[ア-ン{_KANA_LOOKALIKES}]\s*[)）]\s*\S")),
    (8, re.compile(r"^[●◆■◇□◎]\s*\S")),
    (8, re.compile(r"^(?:【[^】]+】|〈[^〉]+〉|<[^<>]+>|＜[^＜＞]+＞|《[^》]+》|≪[^≫]+≫)$")),
]
_STRUCT_RE = re.compile(rf"^[●◆■◇□◎]?\s*(?:{_STRUCT_LABELS})$")
# 「●現状」「●課題」 sit *inside* 「現状と課題」: one level finer than the other labels.
_STRUCT_SUB_RE = re.compile(r"^[●◆■◇□◎]?\s*(?:現状|課題|目的|背景)$")


def _fold_width(text: str) -> str:
    """Full-width ASCII → half-width, ideographic space → space. Not NFKC: that would turn ① into 1 and Ⅰ into I."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else (" " if c == "\u3000" else c) for c in text)
_MD_RE = re.compile(r"^(#{1,6})\s+(.*)$")
# Two percentages in one line: a chart or table row (「20 年以上 63.5% 24.2% …」), never a heading.
_DATA_ROW_RE = re.compile(r"[0-9](?:\.[0-9]+)?\s*[%％].*[0-9](?:\.[0-9]+)?\s*[%％]")
_BULLET_RE = re.compile(r"^(?:[-*+・]\s|・)")


# Markdown depth → level, for unnumbered headings in files whose markdown marks are real
# structure (.md, and docx/html headings marked by assistant.formats) rather than OCR guesses.
_MD_DEPTH_LEVEL = {1: 1, 2: 2, 3: 3, 4: 5, 5: 6, 6: 8}


def heading_level(line: str, max_len: int = 60, md_depth: bool = False) -> float | None:
    """Heading level of a cleaned display line, or None for body text (see module docstring).

    Numbering decides the level (「(1)」 is always finer than 「5 …」); an unnumbered markdown
    heading is level 7, or follows its ``#`` depth when ``md_depth`` says the marks are reliable.
    """
    raw = line.strip()
    md = _MD_RE.match(raw)
    text = md.group(2).strip() if md else raw
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text)
    t = _fold_width(text).strip()
    if not t or len(t) > max_len:
        return None
    if _BULLET_RE.match(t) or " / " in t or _DATA_ROW_RE.search(t):
        return None
    if t.endswith(("。", "。)", "。」")) or ("。" in t and not md):
        return None
    if _STRUCT_SUB_RE.match(t):
        return 6
    if _STRUCT_RE.match(t):
        return 4
    for level, pat in _HEADING_PATTERNS:
        if pat.match(t):
            return level
    if md:
        return _MD_DEPTH_LEVEL[len(md.group(1))] if md_depth else 8
    return None


def heading_text(line: str) -> str:
    """The heading as shown in a section path: markdown markers and emphasis removed, spaces folded."""
    t = line.strip()
    m = _MD_RE.match(t)
    if m:
        t = m.group(2)
    t = re.sub(r"\*\*(.*?)\*\*", r"\1", t)
    return re.sub(r"\s+", " ", t).strip()


_TRUSTED_MD_FORMATS = {"md", "markdown", "docx", "html", "htm"}


# Numbered headings whose numbers are checked against the sequence in layout formats (PDF):
# 「1 …」「(1) …」「① …」. A chart label 「41 令和4年度」, a numbered line of a resident's comment or
# two columns read as one line (「6 市民と…まち 5 環瀬戸内…」) are not the next heading.
_SEQ_KINDS = (
    ("num", re.compile(r"^([0-9]{1,2})(?:\s+|[.．]\s*)(?=[^\s0-9.．%])")),
    ("paren", re.compile(r"^[(（]\s*([0-9]{1,2})\s*[)）]")),
    ("circled", re.compile(r"^([①-⑳㉑-㉟㊱-㊿])")),
    ("circled-kana", re.compile(r"^([㋐-㋾])")),
)
# 「4 調査期間 令和５年1月15日～1月31日」: a numbered label with its value on the same line is
# content (the answer to "when?"), not a heading; it still counts in the numbering.
_LABEL_VALUE_RE = re.compile(r"^[0-9]{1,2}\s+\S+\s+\S*[0-9０-９、。]")
_TWO_ITEMS_RE = re.compile(r"\S\s+[0-9]{1,2}\s+[^\s0-9.%]")
_LAYOUT_FORMATS = {"pdf"}


def _circled_number(ch: str) -> int:
    o = ord(ch)
    if o >= 0x32B1:
        return o - 0x32B1 + 36  # ㊱-㊿
    if o >= 0x3251:
        return o - 0x3251 + 21  # ㉑-㉟
    return o - ord("①") + 1


class _Numbering:
    """The last number seen per kind of numbered heading; deeper kinds restart under a new one."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def accept(self, text: str, level: int) -> bool:
        t = _fold_width(text).strip()
        for k, (kind, pat) in enumerate(_SEQ_KINDS):
            m = pat.match(t)
            if not m:
                continue
            g = m.group(1)
            n = _circled_number(g) if kind == "circled" else ord(g) - 0x32D0 + 1 if kind == "circled-kana" else int(g)
            if kind == "num" and _TWO_ITEMS_RE.search(t):
                return False  # two numbered items side by side: columns, not a heading
            last = self.last.get(kind)
            if not (n == 1 or (last is not None and n in (last, last + 1)) or (last is None and n <= 3)):
                return False
            self.last[kind] = n
            for deeper, _ in _SEQ_KINDS[k + 1 :]:
                self.last.pop(deeper, None)
            return True
        if level <= 2:
            self.last.clear()  # a chapter (第N章, Ⅱ) restarts the numbering below it; 【…】《…》 do not
        return True


def _merge_label_lines(doc: Document) -> list[tuple[str, int, int | None]]:
    """(line, index, level) with a bare 「第N章」 line joined to the title line that follows it."""
    out: list[tuple[str, int, int | None]] = []
    lines = doc.lines
    md_depth = str(doc.meta.get("format", "")).lower() in _TRUSTED_MD_FORMATS
    numbering = _Numbering() if str(doc.meta.get("format", "")).lower() in _LAYOUT_FORMATS else None
    i = 0
    while i < len(lines):
        line = lines[i]
        lvl = heading_level(line, md_depth=md_depth)
        if lvl is not None and numbering is not None and lvl >= 2:
            if not numbering.accept(heading_text(line), lvl) or _LABEL_VALUE_RE.match(_fold_width(heading_text(line))):
                lvl = None
        t = _fold_width(heading_text(line))
        if lvl in (0, 1, 1.5) and re.fullmatch(rf"第\s*(?:{_NUM})\s*[編部章節]", t) and i + 1 < len(lines):
            nxt = heading_text(lines[i + 1])
            if heading_level(lines[i + 1]) is None and len(nxt) <= 40 and "。" not in nxt and " / " not in nxt:
                out.append((heading_text(line) + " " + nxt, i, lvl))
                out.append(("", i + 1, None))  # absorbed
                i += 2
                continue
        out.append((line, i, lvl))
        i += 1
    return out


# --------------------------------------------------------------------------------------
# Packing
# --------------------------------------------------------------------------------------


@dataclass
class _Unit:
    text: str
    line: int  # index into doc.lines
    path: tuple[str, ...]
    heading: bool = False
    new_line: bool = True  # starts a new display line in the chunk text
    table: bool = False  # a whole table row (never split, never repeated as overlap)
    hard: int = 0  # number of the hard section (see ChunkSettings.hard_level) it belongs to
    carried: bool = False  # repeated from the previous chunk as overlap


def _units(doc: Document) -> Iterator[_Unit]:
    stack: list[tuple[int, str]] = []
    table_lines = set(doc.meta.get("table_lines", ()))
    prev_heading = None
    # In a layout format (PDF) the only markdown-marked lines are chart captions (formats/pdf:
    # 「令和4年度 施策に対する満足度の高い順」 over its ranking rows): such a heading holds for
    # the rest of its page, never beyond — the next page's text is not part of that chart.
    layout = str(doc.meta.get("format", "")).lower() in _LAYOUT_FORMATS and doc.pages is not None
    page_scoped: int | None = None  # stack depth of the caption heading, while one is open
    scoped_page = None
    for line, idx, lvl in _merge_label_lines(doc):
        if not line.strip():
            continue
        if page_scoped is not None and doc.pages[idx] != scoped_page:
            del stack[page_scoped:]
            page_scoped = None
        if lvl is not None and idx not in table_lines:
            if heading_text(line) == prev_heading:
                continue  # 「第1章 / はじめに」 label page followed by the same heading
            prev_heading = heading_text(line)
            while stack and stack[-1][0] >= lvl:
                stack.pop()
            if page_scoped is not None and len(stack) < page_scoped:
                page_scoped = None
            if layout and page_scoped is None and _MD_RE.match(line.strip()):
                page_scoped, scoped_page = len(stack), doc.pages[idx]
            stack.append((lvl, heading_text(line)))
            yield _Unit(heading_text(line), idx, tuple(h for _, h in stack), heading=True)
            continue
        prev_heading = None
        path = tuple(h for _, h in stack)
        if idx in table_lines:
            yield _Unit(line.strip(), idx, path, table=True)
            continue
        for k, s in enumerate(japanese.split_sentences(line)):
            yield _Unit(s, idx, path, new_line=(k == 0))


def _common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    if not paths:
        return ()
    out = []
    for parts in zip(*paths):
        if all(p == parts[0] for p in parts):
            out.append(parts[0])
        else:
            break
    return tuple(out)


def _merge_small_tails(groups: list[list[_Unit]], s: ChunkSettings) -> list[list[_Unit]]:
    """Fold a chunk shorter than ``min_chars`` into the previous one when both lie in the same
    hard section and the result stays near ``max_chars`` (a 2-line 「<主な取組>」 list alone is
    a poor passage). Overlap sentences carried into the small chunk are dropped on merging."""
    out: list[list[_Unit]] = []
    limit = int(s.max_chars * 1.15)
    for g in groups:
        own = [u for u in g if not u.carried]
        g_size = sum(len(u.text) for u in own)
        if out and g_size < s.min_chars:
            prev = out[-1]
            if {u.hard for u in own} == {prev[-1].hard} and sum(len(u.text) for u in prev) + g_size <= limit:
                out[-1] = prev + own
                continue
        out.append(g)
    return out


def _table_start(cur: list[_Unit], room: int, min_stay: int) -> list[_Unit]:
    """The table ``cur`` ends in, with its caption: what moves to the next passage when the table's next row
    does not fit, so that a table is not cut from its caption. A caption is the short line just above the
    rows that is not a sentence (「活動分野別市内NPO法人数(平成29年1月末現在)」) or the heading just above them
    (「●目標指標」); a passage ending in 「caption / first row」 with the other rows in the next one finds
    neither the rows by the caption's words nor the caption by theirs. A table right after running text
    stays where it is: that text announces it (「協働の形態は、次のものを考えています。」) and the two belong
    together. Nothing, too, when what moves would not fit in ``room`` or when less than ``min_stay``
    characters of ``cur``'s own text would stay (a heading and one sentence are a poor passage)."""
    k = len(cur)
    while k > 0 and cur[k - 1].table and not cur[k - 1].carried:
        k -= 1
    if k == len(cur) or k == 0 or cur[k - 1].carried:
        return []
    above = cur[k - 1]
    if not above.heading and not above.table:
        cap = above.text.strip()
        if len(cap) > 60 or cap.endswith("。"):
            return []
        k -= 1
    while k > 0 and cur[k - 1].heading:
        k -= 1
    moved, stays = cur[k:], cur[:k]
    if sum(len(u.text) for u in moved) > room or sum(len(u.text) for u in stays if not u.heading and not u.carried) < min_stay:
        return []
    return moved


def _render(units: list[_Unit]) -> str:
    buf: list[str] = []
    prev_line = None
    for u in units:
        if buf and (u.new_line or u.line != prev_line):
            buf.append("\n")
        buf.append(u.text)
        prev_line = u.line
    return "".join(buf).strip()


def chunk_document(doc: Document, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Passages of one document, in reading order (see the module docstring for the rules)."""
    s = settings or ChunkSettings()
    levels = {idx: lvl for _, idx, lvl in _merge_label_lines(doc) if lvl is not None}
    groups: list[list[_Unit]] = []
    cur: list[_Unit] = []

    def size(units: list[_Unit]) -> int:
        return sum(len(u.text) for u in units)

    def has_body(units: list[_Unit]) -> bool:
        return any(not u.heading and not u.carried for u in units)

    def close(overlap: bool) -> None:
        nonlocal cur
        trailing: list[_Unit] = []
        while cur and cur[-1].heading:  # a heading belongs with the text after it
            trailing.insert(0, cur.pop())
        if has_body(cur):
            groups.append(cur)
        carry: list[_Unit] = []
        if overlap and s.overlap_sentences > 0 and not trailing:
            body = [u for u in cur if not u.heading]
            carry = body[-s.overlap_sentences :]
            if any(u.table for u in carry) or size(carry) > s.max_chars // 2:
                carry = []
        cur = [_Unit(u.text, u.line, u.path, False, True, False, u.hard, True) for u in carry] + trailing

    hard = 0
    cur_page = None
    for u in _units(doc):
        # A passage of a paged document (PDF) stays on one page, so that its citation names the
        # page its text is printed on; a page break is a hard boundary (no overlap, no merging).
        page = doc.pages[u.line] if doc.pages and u.line < len(doc.pages) else None
        if page is not None:
            if cur_page is not None and page != cur_page:
                hard += 1
                if has_body(cur):
                    close(overlap=False)
            cur_page = page
        if u.heading:
            lvl = levels.get(u.line, 99)
            top_changed = bool(cur) and u.path[:1] != cur[-1].path[:1]
            if lvl <= s.hard_level or top_changed:
                hard += 1
            u.hard = hard
            if has_body(cur) and (lvl <= s.hard_level or top_changed or size(cur) >= s.min_chars):
                close(overlap=False)
            cur.append(u)
            continue
        u.hard = hard
        if has_body(cur) and size(cur) + len(u.text) > s.max_chars:
            moved = _table_start(cur, s.max_chars - len(u.text), s.min_chars // 2) if u.table else []
            if moved:
                cur = cur[: len(cur) - len(moved)]
                close(overlap=False)
                cur = moved
            else:
                close(overlap=True)
            if size(cur) + len(u.text) > s.max_chars:  # the overlap must not push a long unit over
                cur = [x for x in cur if not x.carried]
        cur.append(u)
    close(overlap=False)
    groups = _merge_small_tails(groups, s)

    chunks: list[Chunk] = []
    line_ends = doc.meta.get("line_ends") or doc.line_numbers
    title = passage_title(doc)
    for ordinal, units in enumerate(groups):
        body = [u for u in units if not u.heading]
        section = list(_common_prefix([u.path for u in body]))
        text = _render(units)
        first = min(u.line for u in units)
        last = max(u.line for u in units)
        lines = (doc.line_numbers[first], line_ends[last] if last < len(line_ends) else doc.line_numbers[last])
        # the page where the passage's own text starts (overlap carried from the previous
        # passage may stand on the page before)
        own = [u for u in units if not u.carried and not u.heading] or units
        page = doc.pages[min(u.line for u in own)] if doc.pages else None
        cid = chunk_id(doc.doc_id, section, text, ordinal)
        chunks.append(
            Chunk(
                id=cid,
                doc_id=doc.doc_id,
                title=title,
                municipality=doc.municipality,
                section=section,
                text=text,
                search_text=japanese.normalize(text),
                lines=lines,
                page=page,
                ordinal=ordinal,
                page_label=(doc.meta.get("page_labels") or {}).get(str(page)) if page is not None else None,
            )
        )
    return chunks


def passage_title(doc: Document) -> str:
    """The title every passage of ``doc`` carries: the document's title, with the validity note
    the document prints on every page (``meta["as_of"]``, 「（平成３０年６月２８日現在）」) when
    there is one — it qualifies every passage, and 「いつ現在？」 is asked of any of them."""
    as_of = str(doc.meta.get("as_of") or "").strip()
    if not as_of or japanese.compact(as_of) in japanese.compact(doc.title):
        return doc.title
    return f"{doc.title}{as_of}" if as_of[:1] in "(（［[" else f"{doc.title}（{as_of}）"


def chunk_id(doc_id: str, section: list[str], text: str, ordinal: int) -> str:
    """Stable id: same document, section, text and position → same id (16 hex chars)."""
    h = hashlib.sha1()
    for part in (doc_id, "\x1f".join(section), text, str(ordinal), CHUNKER_VERSION):
        h.update(part.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def chunk_corpus(docs: Iterable[Document], settings: ChunkSettings | None = None) -> list[Chunk]:
    """Passages of all documents, in document order."""
    out: list[Chunk] = []
    for d in docs:
        out.extend(chunk_document(d, settings))
    return out


def chunk_records(chunks: Iterable[Chunk]) -> Iterator[dict]:
    """JSON-lines records for ``python -m assistant chunks``: ``{"doc_id","section","text","lines"}``."""
    for c in chunks:
        yield {"doc_id": c.doc_id, "section": list(c.section), "text": c.text, "lines": list(c.lines)}

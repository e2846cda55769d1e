"""Finding, reading and cleaning the plan documents: corpus files → ``Document``.

Plan documents reach us as text that other tools extracted from PDFs and web pages, so
before anything is searched or cited we undo the extractor's damage *with general rules*
(none of them knows a particular city or file):

* **Decoding** — strict UTF-8 (with or without BOM) first; then the Japanese legacy encodings
  (CP932/Shift_JIS, EUC-JP) are tried strictly and scored, because charset detectors alone
  misjudge short Japanese texts; charset-normalizer is the last resort.
* **HTML fragments** (``<p>``, ``<ul><li>``, ``<table>``, ``<b>``) → plain text via the stdlib
  ``html.parser`` (never regex soup); angle-bracket labels such as 「< 計画の目指すもの >」 and
  「<改訂版>」 are not tags and survive.
* **Repetition artifacts** — some PDF extractors emit every text run 2–4 times
  (「第４章第４章第４章第４章」). A whitespace-separated piece is collapsed only when it can be
  read *entirely* as runs each repeated exactly k times (k = 2…4) and the result is long
  enough to be text, so genuine repetition (「すもももももももものうち」, 「もっともっと」) is kept.
* **Side-tab labels** — page-edge navigation tabs extracted one character per line
  (「序\\n論」, 「基\\n本\\n計\\n画」) and the running labels that repeat with them.
* **Photo captions** — a lone short phrase standing after an image gap (3+ blank lines).
* **Tables of contents** — lines with dot leaders / page numbers, and the entries between them.
* **Tables** — tab-separated rows become one self-explanatory line per row, each value
  labelled with its (possibly two-row) column header: 「指標: … / 基準値 数値: 11団体 / …」.
* **Wrapped lines** — a paragraph broken at the page width is re-joined so sentences are whole.

Every cleaned line remembers the 1-based source line it came from (``Document.line_numbers``;
``meta["line_ends"]`` holds the last source line of a re-joined line), so citations point
back into the original file.

Extension point: ``EXTRACTORS`` maps a file suffix to ``extract(path) -> (lines, pages|None)``.
``lines`` are the raw text lines of the file (line i ↔ source line i+1); ``pages[i]`` is the
1-based page of line i (or ``None`` when the format has no pages). A module
``assistant/formats.py`` may define its own ``EXTRACTORS`` dict (e.g. ``.pdf``, ``.docx``,
``.html``); it is merged in on first use, and ``register_extractor`` adds one at run time.
Extracted lines go through the same cleaning as ``.txt`` files.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

from .types import Document

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.toml"
UNKNOWN_MUNICIPALITY = "不明"

Extractor = Callable[[Path], "tuple[list[str], list[int | None] | None]"]


# --------------------------------------------------------------------------------------
# Reading bytes
# --------------------------------------------------------------------------------------


class SkipFile(Exception):
    """Raised for a file that cannot be a document (empty, binary, undecodable); the message says why."""


def content_hash(data: bytes) -> str:
    """SHA-256 of the raw bytes: the document's fingerprint for index staleness checks."""
    return hashlib.sha256(data).hexdigest()


_JA_RE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]")
_HALFWIDTH_KANA_RE = re.compile(r"[\uff61-\uff9f]")
_RARE_RE = re.compile(r"[\ue000-\uf8ff\u2400-\u24ff\u2500-\u257f\u0080-\u009f]")


def _japanese_score(text: str) -> float:
    """How much ``text`` looks like Japanese prose.

    Mis-decoding EUC-JP as CP932 yields half-width katakana and private-use/box characters,
    mis-decoding CP932 as EUC-JP yields rare kanji soup or fails; real text is mostly kana,
    common kanji, ASCII and Japanese punctuation. Hiragana is weighted up because every
    real Japanese sentence has it and wrong decodings rarely produce runs of it.
    """
    if not text:
        return 0.0
    n = len(text)
    ja = len(_JA_RE.findall(text))
    hira = len(re.findall(r"[\u3041-\u309f]", text))
    ascii_ok = sum(1 for c in text if " " <= c <= "~" or c in "\r\n\t")
    bad = len(_HALFWIDTH_KANA_RE.findall(text)) + 3 * len(_RARE_RE.findall(text))
    return (ja + 0.5 * hira + 0.5 * ascii_ok - bad) / n


def decode_bytes(data: bytes, name: str = "") -> tuple[str, str]:
    """Decode document bytes → (text, encoding name). Raises ``SkipFile`` with the reason.

    Order: UTF-8 BOM → strict UTF-8 → strict CP932 / EUC-JP, the more Japanese-looking wins
    → charset-normalizer. NUL bytes (without a UTF-16 BOM) mean binary.
    """
    if not data.strip():
        raise SkipFile("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as e:
            raise SkipFile(f"undecodable UTF-16: {e}") from None
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise SkipFile(f"undecodable (UTF-8 BOM but invalid UTF-8: {e})") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mostly = decode_mostly_utf8(data)
    if mostly is not None:
        text, bad = mostly
        log.warning("%s: invalid UTF-8 bytes replaced by U+FFFD at %s", name or "document",
                    ", ".join(f"line {n}" for n in bad[:10]) + (" …" if len(bad) > 10 else ""))
        return text, "utf-8 (invalid bytes replaced)"
    candidates = []
    for enc in ("cp932", "euc_jp"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        candidates.append((_japanese_score(text), enc, text))
    if candidates:
        score, enc, text = max(candidates)
        # one strict decoding that looks like text is enough; with two, the better one wins
        if score > 0.3 or (len(candidates) == 1 and score > 0):
            return text, enc
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # pragma: no cover - detector failure is treated as undecodable
        best = None
    if best is not None and best.encoding:
        text = str(best)
        if _control_ratio(text) < 0.05:
            return text, best.encoding
    raise SkipFile("undecodable or binary (no UTF-8 / CP932 / EUC-JP / detected text encoding fits)")


# A UTF-8 file is decoded despite a few invalid byte sequences when at most this share of its
# non-ASCII bytes is invalid: CP932 / EUC-JP text read as UTF-8 fails on nearly every character.
MAX_INVALID_UTF8_SHARE = 0.01
_MAX_INVALID_UTF8 = 1000


def decode_mostly_utf8(data: bytes) -> tuple[str, list[int]] | None:
    """(text, 1-based lines holding invalid bytes) when ``data`` is UTF-8 apart from a few invalid
    byte sequences (each replaced by U+FFFD); None when it does not look like UTF-8 at all."""
    non_ascii = sum(1 for b in data if b >= 0x80)
    limit = min(_MAX_INVALID_UTF8, int(non_ascii * MAX_INVALID_UTF8_SHARE))
    parts: list[str] = []
    bad_at: list[int] = []
    pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            break
        except UnicodeDecodeError as e:
            if len(bad_at) >= limit:
                return None
            parts.append(data[pos : pos + e.start].decode("utf-8"))
            parts.append("\ufffd")
            bad_at.append(pos + e.start)
            pos += e.end
    valid_multibyte = non_ascii - len(bad_at)
    if not bad_at or valid_multibyte < 20:
        return None
    lines = sorted({data.count(b"\n", 0, b) + 1 for b in bad_at})
    return "".join(parts), lines


def _control_ratio(text: str) -> float:
    if not text:
        return 1.0
    ctrl = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\r\n\t\f")
    return ctrl / len(text)


def read_text_file(path: Path) -> tuple[str, str, bytes]:
    """(text, encoding, raw bytes) of a text file; ``SkipFile`` if it is not one."""
    data = Path(path).read_bytes()
    text, enc = decode_bytes(data, str(path))
    if _control_ratio(text) > 0.01:
        raise SkipFile("binary file (control characters in decoded text)")
    return text, enc, data


def extract_plain(path: Path) -> tuple[list[str], None]:
    """Extractor for .txt/.md: the file's lines as they are (cleaning happens later)."""
    text, _, _ = read_text_file(path)
    return _split_lines(text), None


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# Suffix → extractor. Another module (assistant/formats.py) adds .pdf/.docx/.html here.
EXTRACTORS: dict[str, Extractor] = {".txt": extract_plain, ".md": extract_plain}
_formats_loaded = False


def register_extractor(suffix: str, fn: Extractor) -> None:
    """Add or replace the extractor for a file suffix (e.g. ``".pdf"``)."""
    EXTRACTORS[suffix.lower()] = fn


def extractors() -> dict[str, Extractor]:
    """The extractor table, including those of ``assistant.formats`` if that module exists."""
    global _formats_loaded
    if not _formats_loaded:
        _formats_loaded = True
        try:
            from . import formats  # type: ignore[attr-defined]
        except ImportError:
            pass
        else:
            for suffix, fn in getattr(formats, "EXTRACTORS", {}).items():
                EXTRACTORS.setdefault(suffix.lower(), fn)
    return EXTRACTORS


# --------------------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------------------


class CatalogError(ValueError):
    """``catalog.toml`` cannot be parsed; the message names the file, the line and the problem."""


def parse_catalog(data: bytes, where: str = CATALOG_FILE) -> dict[str, dict]:
    """Catalog bytes → {doc_id: entry}; ``CatalogError`` if they are not valid TOML."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CatalogError(f"{where}: 目録が UTF-8 ではありません / not UTF-8 (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{where}: 目録の書式エラー / syntax error: {e}") from None
    return {str(k): dict(v) for k, v in doc.items() if isinstance(v, dict)}


def read_catalog_strict(corpus_dir: str | Path) -> dict[str, dict]:
    """Like ``read_catalog`` but a malformed or unreadable file raises ``CatalogError``."""
    path = Path(corpus_dir) / CATALOG_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CatalogError(f"{path}: 目録を読めません / cannot read: {e.strerror or e}") from None
    return parse_catalog(data, str(path))


def catalog_problem(corpus_dir: str | Path) -> str | None:
    """Why the corpus's ``catalog.toml`` cannot be used (one line), or None when it is fine."""
    try:
        read_catalog_strict(corpus_dir)
    except CatalogError as e:
        return str(e)
    return None


def read_catalog(corpus_dir: str | Path) -> dict[str, dict]:
    """``corpus/catalog.toml`` as {doc_id: {title, municipality, publisher, year, date, kind, url…}}.

    Missing file → {}. A malformed file is reported and ignored here; the indexer does not use
    this lenient reader but ``passage_cache.read_catalog_keeping_last_good``, which keeps the
    last catalog that parsed so one typo cannot strip every document of its metadata.
    """
    try:
        return read_catalog_strict(corpus_dir)
    except CatalogError as e:
        log.warning("catalog ignored: %s", e)
        return {}


# --------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    start: int  # 1-based source line
    end: int
    page: int | None = None
    tag: str = ""  # "" | "table" | "heading-ish" markers used between passes


# ---- HTML -----------------------------------------------------------------------------

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


# ---- repetition artifacts ----------------------------------------------------------------


def _parse_repeats(s: str, k: int) -> str | None:
    """If ``s`` is entirely a sequence of units each repeated exactly ``k`` times, the collapsed text."""
    n = len(s)
    memo: dict[int, list[str] | None] = {}

    def go(i: int) -> list[str] | None:
        if i == n:
            return []
        if i in memo:
            return memo[i]
        res = None
        max_len = (n - i) // k
        for length in range(max_len, 0, -1):
            unit = s[i : i + length]
            if s.startswith(unit * k, i) and not s.startswith(unit * (k + 1), i) or (
                s.startswith(unit * k, i) and length * k == n - i
            ):
                rest = go(i + length * k)
                if rest is not None:
                    res = [unit] + rest
                    break
        memo[i] = res
        return res

    parts = go(0)
    return "".join(parts) if parts is not None else None


_WORDISH_RE = re.compile(r"[\w\u3040-\u30ff\u4e00-\u9fff]")
_LONG_REPEAT_RE = re.compile(r"(.{4,200}?)\1{2,}")  # bounded unit: linear enough on long lines
# k → shortest collapsed piece we trust. Four identical copies of anything are an artifact;
# two copies must leave a longer text, or 「もっともっと」「ひとりひとり」 would be damaged.
_REPEAT_MIN_LEN = {4: 1, 3: 2, 2: 6}
_MAX_PARSE_LEN = 4000


def collapse_repeats(text: str) -> str:
    """Undo extractor repetition (each run printed k = 2–4 times) without touching genuine repetition.

    Works per whitespace-separated piece: the piece must be explained *completely* by
    k-fold runs and its collapsed form must contain letters and be long enough for that k
    (``_REPEAT_MIN_LEN``); k is tried from 4 down to 2. Then any remaining run of ≥ 4 characters repeated ≥ 3 times in
    a row (which natural Japanese essentially never has) is reduced to one copy.
    """
    pieces = re.split(r"(\s+)", text)
    out = []
    for piece in pieces:
        if not piece or piece.isspace() or len(piece) < 4 or re.fullmatch(r"[0-9.,]+", piece):
            # (plain ASCII numbers such as 「1111」 are data, never collapsed)
            out.append(piece)
            continue
        best = piece
        for k, min_len in _REPEAT_MIN_LEN.items():
            if k <= len(piece) <= _MAX_PARSE_LEN:
                try:
                    collapsed = _parse_repeats(piece, k)
                except RecursionError:  # thousands of distinct runs: not this artifact
                    collapsed = None
                if collapsed and len(collapsed) >= min_len and _WORDISH_RE.search(collapsed) and collapsed != piece:
                    best = collapsed
                    break
        out.append(best)
    result = "".join(out)
    return _LONG_REPEAT_RE.sub(lambda m: m.group(1) if _WORDISH_RE.search(m.group(1)) else m.group(0), result)


# ---- line classes ----------------------------------------------------------------------

_LIST_START_RE = re.compile(
    r"^\s*(?:[-・●○◆◇■□▪▶►※＊*◎△×☆★]|[①-⑳㉑-㉟]|[(（]\s*[0-9０-９一二三四五六七八九十ア-ンa-zA-Z]{1,3}\s*[)）]|"
    r"[0-9０-９]{1,2}[.)．、]|[0-9０-９]{1,2}\s|[ア-ン][.．、]|第[0-9０-９一二三四五六七八九十]+[章編節部条]|"
    r"[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ]|[IVX]{1,4}\s|#|【|〈|《|<|＜|≪|\[)"
)
# Dot leaders: ・・・ …… ---- .... ‥‥ followed by an optional page number.
_LEADER_RE = re.compile(r"(?:[・･]{3,}|[…‥]{2,}|-{3,}|－{3,}|\.{4,}|…{1,}\s*\d+\s*$|ー{4,}|―{3,}|─{3,})\s*\d{0,4}\s*$")
_TOC_TITLE_RE = re.compile(r"^[#\s【\[《〈<]*目\s*次[】\]》〉>\s]*$")
_PAGE_CELL_RE = re.compile(r"^\s*[0-9０-９]{1,3}\s*$")
_TABLE_RULE_RE = re.compile(r"^[\s|:\-–—=+]*$")


def _is_toc_entry(line: str) -> bool:
    s = line.rstrip()
    if _LEADER_RE.search(s) and len(_WORDISH_RE.findall(s)) >= 2:
        return True
    cells = [c.strip() for c in s.split("\t") if c.strip()]
    if len(cells) == 2 and _PAGE_CELL_RE.match(cells[1]) and _LIST_START_RE.match(cells[0]) and "。" not in cells[0]:
        return True
    return False


def _remove_toc(lines: list[_Line], stats: dict) -> list[_Line]:
    """Drop tables of contents: leader/page-number entries, a 目次 title, and short entries between them."""
    n = len(lines)
    toc = [_is_toc_entry(l.text) for l in lines]
    nonblank = [i for i in range(n) if lines[i].text.strip()]
    # A short entry without a page number sandwiched between TOC entries is part of the TOC.
    for j, i in enumerate(nonblank):
        if toc[i]:
            continue
        t = lines[i].text.strip()
        if len(t) > 60 or "。" in t:
            continue
        before = [nonblank[x] for x in range(max(0, j - 3), j)]
        after = [nonblank[x] for x in range(j + 1, min(len(nonblank), j + 4))]
        if any(toc[b] for b in before[-1:]) and any(toc[a] for a in after):
            toc[i] = True
        elif i + 1 < n and toc[i + 1] and "\t" in lines[i].text:
            # a tab-separated entry glued to the entries below it (「5\t市民が主役の地域づくり」)
            toc[i] = True
        elif _TOC_TITLE_RE.match(t) and any(toc[a] for a in after):
            toc[i] = True  # the 目次 title of the entries that follow
    out = []
    for i, l in enumerate(lines):
        if toc[i]:
            stats["toc"] = stats.get("toc", 0) + 1
            continue
        out.append(l)
    return out


# ---- side tabs, running labels, captions -------------------------------------------------

_PUNCT_RE = re.compile(r"[。、，,．.！？!?：:；;]")


def _paragraphs(lines: list[_Line]) -> list[tuple[int, int]]:
    """(start, end) index ranges of blank-separated paragraphs."""
    out, i, n = [], 0, len(lines)
    while i < n:
        if not lines[i].text.strip():
            i += 1
            continue
        j = i
        while j < n and lines[j].text.strip():
            j += 1
        out.append((i, j))
        i = j
    return out


def _is_fragment_para(lines: list[_Line], a: int, b: int) -> bool:
    """Two or more lines of at most 2 characters each: text set vertically, one glyph per line."""
    if b - a < 2:
        return False
    for l in lines[a:b]:
        t = l.text.strip()
        if len(t) > 2 or _PUNCT_RE.search(t) or "\t" in l.text:
            return False
    return True


def _remove_side_tabs(lines: list[_Line], stats: dict) -> list[_Line]:
    """Remove page-edge navigation tabs and the short labels that repeat with them.

    A tab label is a paragraph of 1–2-character lines (vertical text) or a single short line
    whose text equals such a vertical label somewhere in the document. A run of two or more
    consecutive tab paragraphs is a side tab; so is a short unpunctuated line right after a
    side tab when that same line also follows another side tab or recurs ≥ 3 times.
    """
    paras = _paragraphs(lines)
    label_of = {}
    vertical_labels = set()
    for a, b in paras:
        if _is_fragment_para(lines, a, b):
            lab = "".join(l.text.strip() for l in lines[a:b])
            vertical_labels.add(lab)
            label_of[(a, b)] = ("v", lab)
    line_counts: dict[str, int] = {}
    for a, b in paras:
        if b - a == 1:
            t = lines[a].text.strip()
            line_counts[t] = line_counts.get(t, 0) + 1
    for a, b in paras:
        if (a, b) in label_of or b - a != 1:
            continue
        t = lines[a].text.strip()
        if t in vertical_labels and len(t) <= 12 and not _PUNCT_RE.search(t):
            label_of[(a, b)] = ("h", t)
    drop = set()
    # runs of consecutive label paragraphs
    run: list[int] = []
    after_tab_text: dict[str, int] = {}
    runs: list[list[int]] = []
    for idx, pr in enumerate(paras):
        if pr in label_of:
            run.append(idx)
        else:
            if len(run) >= 2 or (len(run) == 1 and label_of[paras[run[0]]][0] == "v"):
                runs.append(run)
            run = []
    if len(run) >= 2 or (len(run) == 1 and label_of[paras[run[0]]][0] == "v"):
        runs.append(run)
    followers = []
    for r in runs:
        for idx in r:
            a, b = paras[idx]
            drop.update(range(a, b))
        nxt = r[-1] + 1
        if nxt < len(paras):
            a, b = paras[nxt]
            t = lines[a].text.strip()
            if (
                b - a == 1 and len(t) <= 30 and not _PUNCT_RE.search(t)
                and "\t" not in lines[a].text and not _LIST_START_RE.match(t)
            ):
                followers.append((a, t))
                after_tab_text[t] = after_tab_text.get(t, 0) + 1
    for a, t in followers:
        if after_tab_text[t] >= 2 or line_counts.get(t, 0) >= 3:
            drop.add(a)
    if drop:
        stats["side_tab"] = stats.get("side_tab", 0) + len(drop)
    return [l for i, l in enumerate(lines) if i not in drop]


def _is_caption(lines: list[_Line], i: int) -> bool:
    """A short lone phrase after an image gap (≥ 3 blank lines) that is not a sentence, heading or item.

    Photo captions are noun phrases standing between blocks; a line of the same shape that is
    numbered, ends in a predicate (「…を実現します」) or introduces a paragraph is a heading.
    """
    t = lines[i].text.strip()
    if not t or len(t) > 30 or "\t" in lines[i].text:
        return False
    if i < 3 or any(lines[k].text.strip() for k in range(i - 3, i)):
        return False
    if i + 1 < len(lines) and lines[i + 1].text.strip():
        return False
    if _PUNCT_RE.search(t) or re.search(r"[0-9０-９]", t) or _LIST_START_RE.match(t):
        return False
    if re.search(r"[「」『』()（）!！?？ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ]", t) or re.search(r"\b(?:I{1,3}|IV|VI{0,3}|IX|X)\b", t):
        return False  # numbered like a heading
    if _COMPLETE_END_RE.search(t) or re.search(r"(?:する|します|しよう|ること)$", t):
        return False  # a predicate: a heading or slogan, a photo caption is a noun phrase
    nxt = next((l.text.strip() for l in lines[i + 1 :] if l.text.strip()), "")
    if len(nxt) >= 20 and nxt.endswith("。"):
        return False  # a short line introducing a paragraph is its heading (「おわりに」)
    return True


def _remove_captions(lines: list[_Line], stats: dict) -> list[_Line]:
    out = []
    for i, l in enumerate(lines):
        if _is_caption(lines, i):
            stats["caption"] = stats.get("caption", 0) + 1
            continue
        out.append(l)
    return out


# ---- tables ----------------------------------------------------------------------------

_NUMERIC_CELL_RE = re.compile(r"^[\d.,%\s()（）▲△+\-~～]+$")
_DECOR_RE = re.compile(r"^[\s▶►▷▸]+|[\s▶►▷▸]+$")
# An item id such as 「I - (1) - ①」 or 「①」 is a value, never a column header.
_ITEM_ID_RE = re.compile(r"[①-⑳㉑-㉟]|[(（]\s*\d+\s*[)）]\s*-")
_NUMBERED_RE = re.compile(r"^\s*(?:[①-⑳㉑-㉟]|[(（]\s*[0-9０-９]{1,2}\s*[)）]|[0-9０-９]{1,2}[.)．]|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ])")
# Characters no Japanese plan document uses: OCR noise such as 「ጥር። ባንጌ」「ż」「Ш」.
_ALIEN_RE = re.compile(r"[\u0100-\u024f\u0250-\u02af\u0370-\u03ff\u0400-\u04ff\u0590-\u08ff\u0e00-\u0eff\u1200-\u139f\u1400-\u18af\u2c00-\u2dff\ua000-\ua4cf]")
_JA_CHAR = r"[\u3041-\u30ff\u4e00-\u9fff々ー]"


def _is_noise(cell: str) -> bool:
    """A short cell/line made of OCR debris (alien scripts, stray symbols) rather than text."""
    c = cell.strip()
    if not c:
        return False
    if _ALIEN_RE.search(c) and len(c) <= 12:
        return True
    return False


def _cells(line: str) -> list[str]:
    out = []
    for c in line.split("\t"):
        c = _DECOR_RE.sub("", re.sub(r"\s+", " ", c)).strip()
        out.append("" if _is_noise(c) else c)
    return out


def _row_like(line: str) -> bool:
    """A tab-separated row: a tab between two non-empty cells, or leading tabs before a cell."""
    if "\t" not in line:
        return False
    cells = [c for c in line.split("\t")]
    nonempty = [c for c in cells if c.strip()]
    return len(nonempty) >= 2 or (len(nonempty) == 1 and not cells[0].strip())


def _looks_header_cell(c: str) -> bool:
    return len(c) <= 20 and "。" not in c and not _ITEM_ID_RE.search(c) and not _NUMERIC_CELL_RE.match(c)


def _smart_join(cells: list[str]) -> str:
    """Join cells of one row; fragments of one wrapped Japanese text are glued back together.

    PDF/OCR extraction often splits one wide cell into several columns
    (「地域活動や市民活\t動の活発化のため、」); two neighbours are glued when the left one is long
    enough to have been wrapped and both meet at Japanese letters, else they get 「 / 」.
    """
    out = ""
    prev = ""
    for c in cells:
        if not c:
            continue
        if out and len(prev) >= 7 and len(c) >= 3 and re.search(r"(?:" + _JA_CHAR + r"|、)$", prev) and re.match(_JA_CHAR, c):
            out += c
        else:
            out = f"{out} / {c}" if out else c
        prev = c
    return out


def _format_row(headers: list[str] | None, cells: list[str]) -> str:
    if headers:
        parts = []
        last_h = None
        for j, c in enumerate(cells):
            if not c:
                continue
            h = headers[j] if j < len(headers) else ""
            if h and h == last_h and parts:
                parts[-1] = parts[-1] + " " + c
                continue
            parts.append(f"{h}: {c}" if h else c)
            last_h = h
        return " / ".join(parts)
    ne = [c for c in cells if c]
    if len(ne) >= 2 and cells[0] and len(cells[0]) <= 10 and not re.search(r"[0-9０-９。]", cells[0]) and not _NUMBERED_RE.match(cells[0]):
        # a key–value row (「目的\t…」): the first cell names the rest
        return f"{_compact_header(cells[0])}: {_smart_join(cells[1:])}"
    return _smart_join(cells)


def _compact_header(h: str) -> str:
    # 「指 標」「数 値」: letter-spaced labels in layout tables.
    if re.fullmatch(r"(?:[\u3040-\u30ff\u4e00-\u9fff] )+[\u3040-\u30ff\u4e00-\u9fff]", h):
        return h.replace(" ", "")
    return h


def _convert_tables(lines: list[_Line], stats: dict) -> list[_Line]:
    """Tab-separated row blocks → one labelled line per row (see module docstring)."""
    out: list[_Line] = []
    i, n = 0, len(lines)
    while i < n:
        if not _row_like(lines[i].text):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < n and _row_like(lines[j].text):
            j += 1
        block = lines[i:j]
        out.extend(_table_block(block))
        stats["table_rows"] = stats.get("table_rows", 0) + len(block)
        i = j
    return out


def _detect_header_rows(rows: list[list[str]]) -> int:
    """How many leading rows are column headers (0 if the block has none).

    Row 0 is a header when it has ≥ 2 cells and all are short labels (no sentence, number or
    item id). Following rows continue the header when they are sub-headers under a spanning
    cell (first cell empty, short labels) or parenthesised qualifiers such as 「(H18年度)」.
    """
    if len(rows) < 2:
        return 0
    first = [c for c in rows[0] if c]
    if len(first) < 2 or not all(_looks_header_cell(c) for c in first):
        return 0
    n = 1
    for r in rows[1:]:
        ne = [c for c in r if c]
        if not ne:
            break
        sub = (not r[0]) and all(len(c) <= 12 and not re.search(r"\d", c) for c in ne)
        paren = all(re.fullmatch(r"[(（].*[)）]", c) or (len(c) <= 6 and not re.search(r"\d", c)) for c in ne)
        if sub or paren:
            n += 1
        else:
            break
    return 0 if n == len(rows) else n


def _table_block(block: list[_Line]) -> list[_Line]:
    rows = [_cells(l.text) for l in block]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header_rows = _detect_header_rows(rows)
    headers = None
    if header_rows:
        headers = []
        carry = ""
        for j in range(width):
            top = _compact_header(rows[0][j])
            if top:
                carry = top
            elif any(rows[h][j] for h in range(1, header_rows)):
                top = carry  # spanning header over sub-columns
            parts = [top] + [_compact_header(rows[h][j]) for h in range(1, header_rows)]
            headers.append(" ".join(p for p in parts if p))
        # columns with no header of their own inherit the spanning header on their left
        for j in range(1, width):
            if not headers[j] and any(r[j] for r in rows[header_rows:]):
                headers[j] = headers[j - 1]
    out: list[_Line] = []
    if header_rows:
        # the header itself stays as a readable line (it names what the rows measure)
        out.append(_Line(" / ".join(h for h in headers if h), block[0].start, block[header_rows - 1].end, block[0].page, "table"))
    data = list(zip(rows[header_rows:], block[header_rows:]))
    firsts = [r[0] for r, _ in data if r[0]]
    numbered_first = bool(firsts) and sum(1 for c in firsts if _NUMBERED_RE.match(c)) * 2 > len(firsts)
    records: list[tuple[list[str], int, int, int | None]] = []
    for r, l in data:
        ne = [c for c in r if c]
        if not ne:
            continue
        if records and _is_continuation(r, records[-1][0], numbered_first):
            prev = records[-1][0]
            for j in range(width):
                if r[j]:
                    glue = " " if (not prev[j] or _LIST_START_RE.match(r[j])) else ""
                    prev[j] = (prev[j] + glue + r[j]).strip()
            records[-1] = (prev, records[-1][1], l.end, records[-1][3])
            continue
        records.append((list(r), l.start, l.end, l.page))
    if not header_rows and len(records) == 1 and sum(1 for c in records[0][0] if len(c) > 20) >= 2:
        # one wide row of long cells: a layout box, not a data table — one line per cell
        cells, s, e, p = records[0]
        return out + [_Line(c, s, e, p, "") for c in cells if c]
    for cells, s, e, p in records:
        text = _format_row(headers, cells)
        if text:
            out.append(_Line(text, s, e, p, "table"))
    return out


def _is_continuation(row: list[str], prev: list[str], numbered_first: bool) -> bool:
    """Is this row the wrapped rest of the previous record (a PDF table cell spilling over lines)?

    Yes when it has no numeric data cell and does not start a new numbered item, and either
    its first cell is empty, or the table numbers its records (①, (1) …) in the first column
    and this first cell carries no number.
    """
    ne = [c for c in row if c]
    if any(_NUMERIC_CELL_RE.match(c) for c in ne):
        return False
    first_ne = ne[0]
    if _NUMBERED_RE.match(first_ne):
        return False
    if row[0]:
        return numbered_first
    return True


# ---- wrapped lines --------------------------------------------------------------------------

_NO_JOIN_END = set("。．！？!?」』）)】:：")


def _join_wrapped(lines: list[_Line], stats: dict) -> list[_Line]:
    """Re-join paragraph lines broken at the page width.

    A line is continued by the next text line when it does not end a sentence, neither line
    is a heading, list item, table row or markdown line, and the break is clearly a wrap:
    the line stops mid-phrase (on a particle/okurigana hiragana or 「、」, ≥ 10 chars), or
    it is long (≥ 25 chars) and the next line follows after blank lines — the layout of
    extractors that put every printed line in its own paragraph. Consecutive lines without
    a blank between them that end in a noun are kept apart: that is how lists are written.
    """
    out: list[_Line] = []
    for l in lines:
        t = l.text.strip()
        if not t:
            out.append(l)
            continue
        if out:
            k = len(out) - 1
            while k >= 0 and not out[k].text.strip():
                k -= 1
            gap = len(out) - 1 - k  # blank lines between the two
            if k >= 0 and gap <= 2:
                prev = out[k]
                pt = prev.text.strip()
                mid_phrase = bool(re.search(r"[\u3041-\u3093、，]$", pt)) and len(pt) >= 10
                wrapped = gap >= 1 and len(pt) >= 25 and pt[-1] not in _NO_JOIN_END
                if _COMPLETE_END_RE.search(pt):
                    mid_phrase = wrapped = False
                if (
                    (mid_phrase or wrapped)
                    and pt[-1] not in _NO_JOIN_END
                    and not prev.tag
                    and not l.tag
                    and not _LIST_START_RE.match(pt)
                    and not _LIST_START_RE.match(t)
                ):
                    del out[k + 1 :]
                    out[k] = _Line(pt + t, prev.start, l.end, prev.page, prev.tag)
                    stats["joined"] = stats.get("joined", 0) + 1
                    continue
        out.append(l)
    return out


# Predicate endings that finish a sentence even without 「。」 (headings such as 「…を育てます」).
_COMPLETE_END_RE = re.compile(r"(?:ます|です|ました|でした|ません|ください|しよう|ましょう)$")
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


# --------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------

_MD_HEADING_RE = re.compile(r"^#{1,6}\s+")


def _first_heading(lines: list[str]) -> str:
    for l in lines:
        if _MD_HEADING_RE.match(l):
            return _MD_HEADING_RE.sub("", l).strip()
    for l in lines:
        t = l.strip()
        if t and len(t) <= 60 and "。" not in t:
            return t
    return ""


def make_document(
    doc_id: str,
    raw_lines: list[str],
    pages: list[int | None] | None = None,
    catalog_entry: dict | None = None,
    meta: dict | None = None,
    path: str | None = None,
    title: str | None = None,
) -> Document:
    """Clean raw lines and wrap them in a ``Document`` with catalog metadata."""
    stats: dict[str, int] = {}
    cleaned = clean_lines(raw_lines, pages, stats)
    entry = dict(catalog_entry or {})
    texts = [l.text for l in cleaned]
    doc_title = entry.get("title") or title or _first_heading(texts) or doc_id
    m = dict(meta or {})
    for k, v in entry.items():
        if k not in ("title", "municipality"):
            m.setdefault(k, v)
    m["cleaning"] = stats
    m["line_ends"] = [l.end for l in cleaned]
    # cleaned lines that are table rows (one self-contained record each): chunking keeps them whole
    m["table_lines"] = [i for i, l in enumerate(cleaned) if l.tag == "table"]
    return Document(
        doc_id=doc_id,
        title=str(doc_title),
        municipality=str(entry.get("municipality") or m.get("municipality") or UNKNOWN_MUNICIPALITY),
        lines=texts,
        line_numbers=[l.start for l in cleaned],
        pages=[l.page for l in cleaned] if pages else None,
        meta=m,
        path=path,
    )


# Text formats hold about 1 MB per plan; 20 MB of text is a runaway export, not a plan, and
# would become tens of thousands of passages. PDF / Word files carry images, so their cap is the
# upload limit. ASSISTANT_MAX_FILE_MB overrides both.
MAX_TEXT_BYTES = 20 * 1024 * 1024
MAX_BINARY_BYTES = 200 * 1024 * 1024
_TEXT_SUFFIXES = {".txt", ".md", ".jsonl", ".html", ".htm", ".csv"}


def max_file_bytes(path: Path) -> int:
    env = os.environ.get("ASSISTANT_MAX_FILE_MB", "").strip()
    if env:
        try:
            return int(float(env) * 1024 * 1024)
        except ValueError:
            log.warning("ASSISTANT_MAX_FILE_MB=%r is not a number; using the default limits", env)
    return MAX_TEXT_BYTES if path.suffix.lower() in _TEXT_SUFFIXES else MAX_BINARY_BYTES


def check_file_size(path: Path) -> None:
    """``SkipFile`` when ``path`` is larger than its limit (the reason says how to raise it)."""
    size, limit = path.stat().st_size, max_file_bytes(path)
    if size > limit:
        raise SkipFile(f"file too large ({size / 2**20:.1f} MB > {limit / 2**20:.0f} MB limit; "
                       "split it or set ASSISTANT_MAX_FILE_MB)")


def read_document(path: str | Path, catalog_entry: dict | None = None) -> Document:
    """Read one document file (any registered extractor). Raises ``SkipFile`` when it is not readable."""
    path = Path(path)
    fn = extractors().get(path.suffix.lower())
    if fn is None:
        raise SkipFile(f"unsupported file type {path.suffix!r}")
    check_file_size(path)
    data = path.read_bytes()
    if not data.strip():
        raise SkipFile("empty file")
    meta = {"sha256": content_hash(data), "format": path.suffix.lower().lstrip(".")}
    if fn is extract_plain:
        text, enc = decode_bytes(data, str(path))
        if _control_ratio(text) > 0.01:
            raise SkipFile("binary file (control characters in decoded text)")
        meta["encoding"] = enc
        raw_lines, pages, title = _split_lines(text), None, None
    else:
        try:
            result = fn(path)
        except SkipFile:
            raise
        except Exception as e:  # an extractor failure skips the file, never the corpus
            raise SkipFile(f"extraction failed: {type(e).__name__}: {e}") from None
        raw_lines, pages, title = _unpack_extracted(result)
        for w in getattr(result, "warnings", None) or []:
            log.warning("%s: %s", path.name, w)
    doc = make_document(path.name, raw_lines, pages, catalog_entry, meta, str(path), title=title)
    if not doc.lines:
        raise SkipFile("no text after cleaning")
    return doc


def _unpack_extracted(result) -> tuple[list[str], list[int | None] | None, str | None]:
    """Accept both extractor return styles: ``(lines, pages)`` or an object with ``.lines/.pages/.title``."""
    if isinstance(result, tuple):
        lines, pages = result[0], result[1] if len(result) > 1 else None
        return list(lines), (list(pages) if pages is not None else None), None
    # prefer the lines with headings marked as markdown (「## 計画期間」), which the chunker reads
    lines = result.marked_lines() if hasattr(result, "marked_lines") else result.lines
    pages = getattr(result, "pages", None)
    return list(lines), (list(pages) if pages is not None else None), getattr(result, "title", None)


def read_jsonl(path: str | Path, catalog: dict | None = None, skipped: list | None = None) -> list[Document]:
    """Bulk import: one ``{"id", "title", "text", …}`` object per line → one Document each.

    Other keys (``municipality``, ``url``, ``year`` …) go to the document's metadata; the
    catalog, if it has an entry for the id, wins. Bad lines are warned about and skipped.
    """
    path = Path(path)
    catalog = catalog or {}
    docs = []
    try:
        check_file_size(path)
        data = path.read_bytes()
    except SkipFile as e:
        _skip(path, str(e), skipped)
        return []
    bad_lines: set[int] = set()
    mostly = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        mostly = decode_mostly_utf8(data)  # JSON Lines is UTF-8: drop only the lines that are not
    if mostly is not None:
        text, bad = mostly
        bad_lines = set(bad)
    else:
        try:
            text, _ = decode_bytes(data, str(path))
        except SkipFile as e:
            _skip(path, str(e), skipped)
            return []
    if not text.strip():  # e.g. only a byte-order mark: say so rather than load nothing silently
        _skip(path, "empty file", skipped)
        return []
    for n, line in enumerate(_split_lines(text), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        if n in bad_lines:
            _skip(where, "undecodable line (invalid UTF-8 bytes); the other lines are kept", skipped)
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            _skip(where, f"invalid JSON ({e.msg})", skipped)
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec.get("id"):
            _skip(where, "record needs string fields 'id' and 'text'", skipped)
            continue
        if not rec["text"].strip():
            _skip(where, "empty text", skipped)
            continue
        doc_id = str(rec["id"])
        meta = {k: v for k, v in rec.items() if k not in ("id", "title", "text")}
        meta.update({"sha256": content_hash(line.encode("utf-8")), "format": "jsonl", "source": path.name, "source_line": n})
        entry = catalog.get(doc_id, {})
        doc = make_document(doc_id, _split_lines(rec["text"]), None, entry, meta, str(path), title=rec.get("title"))
        if doc.lines:
            docs.append(doc)
        else:
            _skip(where, "no text after cleaning", skipped)
    return docs


@dataclass
class Skipped:
    """A file (or JSONL line) that was not loaded, and why."""

    path: str
    reason: str


def _skip(path, reason: str, skipped: list | None) -> None:
    log.warning("skipping %s: %s", path, reason)
    if skipped is not None:
        skipped.append(Skipped(str(path), reason))


def iter_corpus_files(corpus_dir: str | Path) -> list[Path]:
    """Candidate document files (registered suffixes + .jsonl), sorted, hidden files and the catalog excluded."""
    root = Path(corpus_dir)
    suffixes = set(extractors()) | {".jsonl"}
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.name != CATALOG_FILE and p.suffix.lower() in suffixes
    )


def read_corpus_file(path: Path, catalog: dict, skipped: list | None = None) -> list[Document]:
    """The documents of one corpus file (one, or many for ``.jsonl``); [] with a warning if unreadable."""
    if path.suffix.lower() == ".jsonl":
        try:
            return read_jsonl(path, catalog, skipped)
        except OSError as e:
            _skip(path, f"unreadable: {e}", skipped)
            return []
    try:
        return [read_document(path, catalog.get(path.name))]
    except SkipFile as e:
        _skip(path, str(e), skipped)
    except OSError as e:
        _skip(path, f"unreadable: {e}", skipped)
    return []


def load_corpus(corpus_dir: str | Path = "corpus", skipped: list | None = None) -> list[Document]:
    """All documents of a corpus directory, sorted by ``doc_id``.

    A file that is empty, binary, undecodable or fails extraction is skipped with a
    ``logging`` warning naming it and the reason, and appended to ``skipped`` (a list of
    ``Skipped``) when given; loading always continues with the other files. Duplicate ids
    keep the first document and skip the rest.
    """
    root = Path(corpus_dir)
    catalog = read_catalog(root)
    docs: dict[str, Document] = {}
    for p in iter_corpus_files(root):
        for d in read_corpus_file(p, catalog, skipped):
            if d.doc_id in docs:
                _skip(p, f"duplicate document id {d.doc_id!r}", skipped)
                continue
            docs[d.doc_id] = d
    return [docs[k] for k in sorted(docs)]

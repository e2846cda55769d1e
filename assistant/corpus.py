"""Finding, reading and cleaning the plan documents: corpus files → ``Document``.

Plan documents reach us as text that other tools extracted from PDFs and web pages, so
before anything is searched or cited we undo the extractor's damage *with general rules*
(none of them knows a particular city or file):

* **Decoding** — strict UTF-8 (with or without BOM) first; then the Japanese legacy encodings
  (CP932/Shift_JIS, EUC-JP) are tried strictly and scored, because charset detectors alone
  misjudge short Japanese texts; charset-normalizer is the last resort.
* **Artifact rules** (HTML fragments, repeated runs, side tabs, captions, tables of contents,
  tables, wrapped lines) — one module per artifact kind in ``assistant/cleaning/``;
  document assembly (cleaned lines → ``Document``) in ``assistant/documents.py``.

Every cleaned line remembers the 1-based source line it came from (``Document.line_numbers``;
``meta["line_ends"]`` holds the last source line of a re-joined line), so citations point
back into the original file.

Extension point: ``EXTRACTORS`` maps a file suffix to ``extract(path) -> (lines, pages|None)``.
``lines`` are the raw text lines of the file (line i ↔ source line i+1); ``pages[i]`` is the
1-based page of line i (or ``None`` when the format has no pages). A module
``assistant/formats`` (one module per format) may define its own ``EXTRACTORS`` dict (e.g. ``.pdf``, ``.docx``,
``.html``); it is merged in on first use, and ``register_extractor`` adds one at run time.
Extracted lines go through the same cleaning as ``.txt`` files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Cleaning rules (assistant/cleaning/, one module per artifact kind) and document assembly
# (assistant/documents.py) live in their own modules; re-exported here for existing callers.
from .cleaning import _Line, clean_lines, collapse_repeats, html_to_text  # noqa: F401
from .documents import UNKNOWN_MUNICIPALITY, _first_heading, make_document  # noqa: F401
from .types import Document

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.toml"

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
        if getattr(result, "page_labels", None):  # printed page numbers (「-9-」 on page 13)
            meta["page_labels"] = {str(k): str(v) for k, v in result.page_labels.items()}
        if getattr(result, "as_of", None):  # a validity note printed on every page
            meta["as_of"] = str(result.as_of)
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

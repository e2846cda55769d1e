"""Adding and removing corpus documents without a developer: files in, catalog entry written.

Why this is its own module: the CLI (``python -m assistant add``) and the app's admin tab
must apply the *same* rules, and those rules protect the corpus:

* a file is **validated before anything changes**: it is read through the very pipeline the
  index uses (``corpus.read_document``: extractor + cleaning); if that fails the file is
  rejected with the reason and neither the corpus directory nor the catalog is touched;
* file names are **sanitized** (no directories, no ``..``, no hidden files, NFKC, safe
  characters) because they come from browsers and users;
* an existing, *different* document is **never overwritten by accident**: a free name is
  chosen instead (``plan-2.pdf``) unless ``replace=True``; an identical file already in the
  corpus is recognised and not copied twice;
* the file and ``catalog.toml`` are written **atomically** (temporary file + ``os.replace``)
  under a lock, so a crash or a concurrent admin never leaves half a file or a truncated
  catalog for the indexer to read.

The catalog format is the one ``corpus.read_catalog`` reads: one TOML table per document,
keyed by its file name (= ``doc_id``)::

    ["keikaku-2024.pdf"]
    title = "あおば市総合計画"
    municipality = "あおば市"
    year = 2024
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import corpus as _corpus
from .hashing import sha256_file

__all__ = [
    "AddResult",
    "RemoveResult",
    "IngestError",
    "add_documents",
    "remove_document",
    "update_entry",
    "sanitize_filename",
    "supported_suffixes",
]

CATALOG_FILE = _corpus.CATALOG_FILE
LOCK_FILE = ".ingest.lock"
# Large enough for any plan PDF, small enough that a mistaken upload cannot fill the disk.
MAX_BYTES = 200 * 1024 * 1024
# Bytes, not characters: file systems limit names to 255 bytes and kanji take 3 in UTF-8.
_MAX_NAME_BYTES = 150
# Catalog fields this module writes, in the order they appear in an entry.
_FIELDS = ("title", "municipality", "year", "kind", "url")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class IngestError(Exception):
    """The corpus cannot be changed safely (e.g. the catalog is malformed); nothing was changed."""


@dataclass
class AddResult:
    """Outcome for one file given to :func:`add_documents`.

    ``ok`` — the document is in the corpus (added, replaced, or already present).
    ``doc_id`` — its file name in the corpus (the catalog key and the index's document id).
    ``reason`` — why it was rejected (``ok=False``), or a note (renamed, already present).
    """

    source: str
    ok: bool
    doc_id: str | None = None
    path: str | None = None
    reason: str = ""
    replaced: bool = False
    unchanged: bool = False
    renamed: bool = False
    title: str | None = None
    lines: int = 0
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.ok:
            return f"✗ {self.source}: 追加できません / rejected: {self.reason}"
        if self.unchanged:
            what = "既に登録済み / already in corpus"
        elif self.replaced:
            what = "置き換え / replaced"
        else:
            what = "追加 / added"
        extra = f", {self.pages} pages" if self.pages else ""
        s = f"✓ {self.source} → {self.doc_id} ({what}; 「{self.title}」, {self.lines} lines{extra})"
        if self.reason:
            s += f" — {self.reason}"
        for w in self.warnings:
            s += f"\n  ! {w}"
        return s


@dataclass
class RemoveResult:
    doc_id: str
    removed_file: bool = False
    removed_entry: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.removed_file or self.removed_entry

    def __str__(self) -> str:
        if not self.ok:
            return f"✗ {self.doc_id}: {self.reason or 'not found'}"
        parts = [p for p, done in (("file", self.removed_file), ("catalog entry", self.removed_entry)) if done]
        return f"✓ {self.doc_id}: removed {' and '.join(parts)}" + (f" — {self.reason}" if self.reason else "")


# --------------------------------------------------------------------------------------
# names


def supported_suffixes() -> list[str]:
    """Suffixes a single added file may have (everything the corpus loader can read as one
    document; ``.jsonl`` bulk files are excluded because their documents are keyed by record
    id, not by file name)."""
    return sorted(s for s in _corpus.extractors() if s != ".jsonl")


def sanitize_filename(name: str) -> str:
    """A safe corpus file name for a user-supplied one.

    Only the last path component is kept (``../../etc/passwd`` → ``passwd``, Windows ``C:\\x\\y``
    → ``y``); NFKC (full-width letters → ASCII, half-width kana → full-width); letters of any
    script, digits, ``-``, ``_``, ``.``, ``(`` ``)`` are kept and everything else becomes ``_``;
    leading dots/dashes/underscores are removed (no hidden files, nothing that looks like an
    option); the suffix is lower-cased; reserved device names and over-long names are fixed.
    Returns "" when nothing usable is left (caller rejects the file).
    """
    name = unicodedata.normalize("NFKC", str(name))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = re.sub(r"[^a-z0-9]", "", suffix.lower())

    def clean(part: str) -> str:
        part = re.sub(r"[^\w\-.()]", "_", part)
        part = re.sub(r"_+", "_", part)
        part = re.sub(r"\.{2,}", ".", part)
        return part.strip("._- ")

    stem = clean(stem)
    if not stem or not suffix:
        return ""
    if stem.lower().split(".")[0] in _WINDOWS_RESERVED:
        stem = f"{stem}_doc"
    while len(stem.encode("utf-8")) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip("._- ") or "document"
    return f"{stem}.{suffix}"


def _numbered(name: str, n: int) -> str:
    stem, _, suffix = name.rpartition(".")
    return f"{stem}-{n}.{suffix}"


# --------------------------------------------------------------------------------------
# catalog


def _read_catalog_strict(corpus_dir: Path) -> tuple[dict[str, Any], str]:
    """The catalog as parsed TOML plus its text. Unlike ``corpus.read_catalog`` (which ignores
    a malformed catalog so the app still starts), a malformed catalog here is an error:
    rewriting it would silently drop every entry."""
    path = corpus_dir / CATALOG_FILE
    if not path.exists():
        return {}, ""
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise IngestError(f"{path} is not valid TOML ({e}); fix or remove it first, nothing was changed") from e


def _dump_toml(data: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(data)


def _catalog_text(old_data: dict[str, Any], old_text: str, new_data: dict[str, Any]) -> str:
    """Serialized catalog. When the only change is appended entries, the old text is kept
    verbatim (hand-written comments and layout survive) and the new tables are appended;
    otherwise the whole catalog is rewritten (deterministically, entry order preserved)."""
    appended = [k for k in new_data if k not in old_data]
    unchanged = all(k in new_data and new_data[k] == v for k, v in old_data.items())
    if old_text.strip() and unchanged and appended:
        text = old_text.rstrip("\n") + "\n\n" + _dump_toml({k: new_data[k] for k in appended})
        try:
            if tomllib.loads(text) == new_data:
                return text
        except tomllib.TOMLDecodeError:
            pass
    return _dump_toml(new_data)


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write via a hidden temporary file in the same directory + ``os.replace`` (atomic on
    POSIX and Windows): readers see the old file or the new one, never a partial one.
    The temporary name starts with a dot, so the corpus loader never picks it up."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the app may run as another user
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_catalog(corpus_dir: Path, old_data: dict, old_text: str, new_data: dict) -> None:
    _atomic_write_bytes(corpus_dir / CATALOG_FILE, _catalog_text(old_data, old_text, new_data).encode("utf-8"))


def _lock(corpus_dir: Path):
    """One writer at a time per corpus (CLI and admin tab may run concurrently)."""
    from filelock import FileLock

    return FileLock(str(corpus_dir / LOCK_FILE), timeout=60)


def _coerce_year(year: Any) -> Any:
    if year is None or year == "":
        return None
    if isinstance(year, int):
        return year
    s = unicodedata.normalize("NFKC", str(year)).strip()
    return int(s) if s.isdigit() else s


def _entry_update(**fields: Any) -> dict[str, Any]:
    out = {}
    for k in _FIELDS:
        v = fields.get(k)
        if k == "year":
            v = _coerce_year(v)
        elif isinstance(v, str):
            v = v.strip()
        if v is not None and v != "":
            out[k] = v
    return out


def _merge_entry(old: dict[str, Any] | None, update: dict[str, Any], **extra: Any) -> dict[str, Any]:
    entry = dict(old or {})
    entry.update(update)
    entry.update({k: v for k, v in extra.items() if v is not None})
    ordered = {k: entry[k] for k in _FIELDS if k in entry}
    ordered.update({k: v for k, v in entry.items() if k not in ordered})
    return ordered


# --------------------------------------------------------------------------------------
# add / remove


def _existing_docs(corpus_dir: Path) -> dict[str, Path]:
    """doc_id (file name) → path of every file the corpus loader would read."""
    out: dict[str, Path] = {}
    for p in _corpus.iter_corpus_files(corpus_dir):
        out.setdefault(p.name, p)
    return out


def _validate(src: Path, doc_id: str, entry: dict) -> tuple[Any, list[str], str | None]:
    """Read the file exactly as the index will (extractor + the corpus cleaning)
    → (Document, warnings, title the file declares). Raises ``_Reject`` with the reason."""
    from . import formats

    fmt = formats.EXTRACTORS.get(src.suffix.lower())
    try:
        if fmt is None:
            return _corpus.read_document(src, entry), [], None
        try:
            ex = fmt(src)
        except formats.FormatError as e:
            raise _Reject(e.reason) from None
        except Exception as e:  # an extractor bug must reject the file, not crash the batch
            raise _Reject(f"extraction failed ({type(e).__name__}: {e})") from None
        meta = {"sha256": sha256_file(src), "format": src.suffix.lower().lstrip(".")}
        lines, pages = ex  # the same tuple the corpus loader gets (headings as markdown)
        doc = _corpus.make_document(doc_id, lines, pages, entry, meta, str(src), title=ex.title)
        if not doc.lines:
            raise _Reject("no text after cleaning")
        return doc, list(ex.warnings), ex.title
    except _corpus.SkipFile as e:
        raise _Reject(str(e)) from None
    except OSError as e:
        raise _Reject(f"cannot read file ({e.strerror or e})") from None


class _Reject(Exception):
    pass


def add_documents(
    paths: Iterable[str | Path],
    corpus_dir: str | Path = "corpus",
    *,
    title: str | None = None,
    municipality: str | None = None,
    year: int | str | None = None,
    kind: str | None = None,
    url: str | None = None,
    replace: bool = False,
    names: Iterable[str | None] | None = None,
) -> list[AddResult]:
    """Copy documents into ``corpus_dir`` and write their catalog entries.

    Each file is validated first by reading it through the corpus pipeline; a file that
    cannot be read is rejected with the reason (``AddResult.ok == False``) and changes
    nothing. Metadata (``municipality``, ``year``, ``kind``, ``url``) applies to every file;
    ``title`` only makes sense for one file and is refused for several. Without a title the
    one the file declares (PDF/Word metadata, HTML ``<h1>``, first heading) is recorded, so
    the admin sees and can edit it.

    ``names`` optionally gives the original file names (an upload's temporary path has a
    meaningless name); they are sanitized like any other name. Existing different documents
    are never overwritten unless ``replace=True``: a numbered free name is used instead.
    Re-adding identical bytes is a no-op that only updates the given metadata. Nothing here
    rebuilds the index — the caller does (incrementally).
    """
    corpus_dir = Path(corpus_dir)
    paths = [Path(p) for p in paths]
    name_list = list(names) if names is not None else [None] * len(paths)
    if len(name_list) != len(paths):
        raise ValueError("names must have one entry per path")
    if title and len(paths) > 1:
        return [
            AddResult(str(p), False, reason="a title applies to one file; add the files one by one to give each its title")
            for p in paths
        ]
    update = _entry_update(title=title, municipality=municipality, year=year, kind=kind, url=url)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    results: list[AddResult] = []
    with _lock(corpus_dir):
        for src, given_name in zip(paths, name_list):
            try:
                data, _ = _read_catalog_strict(corpus_dir)  # re-read: the previous file changed it
            except IngestError as e:
                results.append(AddResult(str(given_name or src), False, reason=str(e)))
                continue
            results.append(_add_one(src, given_name, corpus_dir, data, update, replace))
    return results


def _add_one(src: Path, given_name: str | None, corpus_dir: Path, catalog: dict, update: dict, replace: bool) -> AddResult:
    res = AddResult(source=str(given_name or src), ok=False)
    try:
        if not src.exists():
            raise _Reject("file not found")
        if not src.is_file():
            raise _Reject("not a regular file")
        size = src.stat().st_size
        if size == 0:
            raise _Reject("empty file")
        if size > MAX_BYTES:
            raise _Reject(f"file too large ({size / 1e6:.0f} MB > {MAX_BYTES / 1e6:.0f} MB)")
        name = sanitize_filename(given_name or src.name)
        if not name:
            raise _Reject("no usable file name (needs a name and a suffix)")
        suffix = "." + name.rsplit(".", 1)[1]
        if suffix not in supported_suffixes():
            raise _Reject(f"unsupported file type {suffix}; supported: {', '.join(supported_suffixes())}")
        entry_for_validation = dict(catalog.get(name, {}), **update)
        if src.suffix.lower() != suffix:
            # an upload's temporary file may lack the suffix that picks the extractor:
            # validate a copy under the name it will have in the corpus
            with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
                probe = Path(tmp) / name
                shutil.copyfile(src, probe)
                doc, warnings, declared_title = _validate(probe, name, entry_for_validation)
        else:
            doc, warnings, declared_title = _validate(src, name, entry_for_validation)
        digest = sha256_file(src)
        existing = _existing_docs(corpus_dir)

        # identical bytes already in the corpus: do not index the same plan twice
        same = next((d for d, p in existing.items() if p.stat().st_size == size and sha256_file(p) == digest), None)
        target_name, note = name, ""
        if same is not None and (same == name or not replace or name not in existing):
            target_name = same
            res.unchanged = True
            note = "" if same == name else f"identical to existing document {same}; not copied again"
        elif name in existing or name in catalog:
            if same is not None:
                note = f"note: identical to existing document {same}"
            if replace and name in existing and existing[name].parent == corpus_dir:
                res.replaced = True
            elif replace and name not in existing:
                pass  # stale catalog entry without a file: take the name over
            else:
                n = 2
                while _numbered(name, n) in existing or _numbered(name, n) in catalog:
                    n += 1
                target_name = _numbered(name, n)
                res.renamed = True
                note = f"{name} already holds a different document; saved as {target_name} (use replace to overwrite)"

        target = corpus_dir / target_name
        if not res.unchanged:
            _atomic_write_bytes(target, src.read_bytes())
        else:
            target = existing[target_name]

        extracted_title = update.get("title") or (catalog.get(target_name) or {}).get("title") or declared_title or doc.title
        entry = _merge_entry(
            catalog.get(target_name),
            update,
            title=extracted_title,
            added=None if target_name in catalog and not res.replaced else datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            source_name=None if res.unchanged else (given_name and Path(re.split(r"[/\\]", given_name)[-1]).name) or src.name,
        )
        if res.replaced and "added" in entry:
            entry["updated"] = entry.pop("added")
        new_catalog = dict(catalog)
        new_catalog[target_name] = entry
        if new_catalog != catalog:
            try:
                _write_catalog(corpus_dir, catalog, _catalog_source_text(corpus_dir), new_catalog)
            except BaseException:
                if not res.unchanged and not res.replaced:
                    target.unlink(missing_ok=True)  # keep file and catalog consistent
                raise

        res.ok = True
        res.doc_id = target_name
        res.path = str(target)
        res.reason = note
        res.title = entry.get("title")
        res.lines = len(doc.lines)
        res.pages = max((p for p in (doc.pages or []) if p), default=None)
        res.warnings = warnings
        return res
    except _Reject as e:
        res.reason = str(e)
        return res


def _catalog_source_text(corpus_dir: Path) -> str:
    path = corpus_dir / CATALOG_FILE
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _safe_doc_id(doc_id: str) -> bool:
    return bool(doc_id) and doc_id == Path(doc_id).name and not doc_id.startswith(".") and "\\" not in doc_id and doc_id != CATALOG_FILE


def remove_document(doc_id: str, corpus_dir: str | Path = "corpus") -> RemoveResult:
    """Delete a document's file and its catalog entry (the next index build drops it).

    ``doc_id`` is the file name as shown in the catalog/index; anything that is not a plain
    file name (``../x``, hidden names, the catalog itself) is refused.
    """
    corpus_dir = Path(corpus_dir)
    res = RemoveResult(doc_id)
    if not _safe_doc_id(doc_id):
        res.reason = "not a document id (must be a plain file name in the corpus)"
        return res
    if not corpus_dir.is_dir():
        res.reason = f"corpus directory {corpus_dir} not found"
        return res
    with _lock(corpus_dir):
        data, text = _read_catalog_strict(corpus_dir)
        path = _existing_docs(corpus_dir).get(doc_id)
        if path is not None:
            if path.suffix.lower() == ".jsonl":
                res.reason = "documents from a .jsonl bulk file cannot be removed one by one"
                return res
            path.unlink()
            res.removed_file = True
        if doc_id in data:
            new = {k: v for k, v in data.items() if k != doc_id}
            _write_catalog(corpus_dir, data, text, new)
            res.removed_entry = True
        if not res.ok:
            res.reason = "no such document"
    return res


def update_entry(doc_id: str, corpus_dir: str | Path = "corpus", **fields: Any) -> dict[str, Any]:
    """Edit a document's catalog entry (for the admin tab). Fields given as ``None`` are left
    alone, ``""`` deletes the field. Returns the new entry. The document must exist."""
    corpus_dir = Path(corpus_dir)
    if not _safe_doc_id(doc_id):
        raise KeyError(doc_id)
    with _lock(corpus_dir):
        data, text = _read_catalog_strict(corpus_dir)
        if doc_id not in data and doc_id not in _existing_docs(corpus_dir):
            raise KeyError(doc_id)
        entry = dict(data.get(doc_id, {}))
        for k, v in fields.items():
            if v is None:
                continue
            if v == "":
                entry.pop(k, None)
            else:
                entry[k] = _coerce_year(v) if k == "year" else (v.strip() if isinstance(v, str) else v)
        entry = _merge_entry(None, entry)
        new = dict(data)
        new[doc_id] = entry
        if new != data:
            _write_catalog(corpus_dir, data, text, new)
        return entry

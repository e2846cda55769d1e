"""One SHA-256 of a file's bytes, shared by every layer that checks files (model files, corpus
files, index files), so the check is the same everywhere and reads a file in one streamed pass."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of the file at ``path`` (streamed by ``hashlib.file_digest``: no whole-file read)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

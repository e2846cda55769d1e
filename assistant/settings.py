"""Whole-number settings read from the environment, with one clear error for a bad value.

Operators set sizes and counts (``ASSISTANT_SENTENCE_VECTORS_MAX``, ``ASSISTANT_BUILD_WORKERS`` …)
as environment variables; a typo must stop the build with the variable's name and what it wanted,
not be ignored or crash with a bare ``int()`` traceback."""

from __future__ import annotations

import os


def env_whole_number(name: str, default: int, *, minimum: int, unit: str) -> int:
    """``int(os.environ[name])`` when set (and at least ``minimum``), else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of {unit}, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, not {value}")
    return value

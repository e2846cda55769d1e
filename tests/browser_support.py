"""What the browser tests share: how Chromium is launched here, and when a missing browser is a
skip (a developer's machine) or a failure (CI sets REQUIRE_BROWSER=1 after installing it)."""

from __future__ import annotations

import os
import socket

import pytest

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium as root in a sandbox with no network but loopback
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


def require_browser() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " — REQUIRE_BROWSER=1 is set")
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

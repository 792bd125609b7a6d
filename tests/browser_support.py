"""What the browser tests share: Debian's headless Chromium driven through Playwright (never a browser download),
the reason it cannot run here (if any), and a free local port. Under CI a missing browser fails the tests."""
from __future__ import annotations

import os
import socket
from pathlib import Path

CHROMIUM = os.environ.get("FTLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def missing_browser() -> str | None:
    """Why the browser tests cannot run on this machine, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no `playwright install`)"
    return None


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""What the browser tests share: Debian's headless Chromium driven through Playwright (never a browser download),
the reason it cannot run here (if any), and a free local port. Under CI a missing browser fails the tests."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
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


def wait_until_serving(url: str, server: subprocess.Popen, timeout_s: float, log: Path) -> None:
    """Poll `url` until it answers; AssertionError with the server's log if it exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the server at {url} did not start; log:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)


def stop(server: subprocess.Popen) -> None:
    """Terminate a server process, killing it if it has not exited after 20 s."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()

"""A served gridgov and a headless Chromium for the browser tests (loopback only, bounded waits)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright (pip install playwright)")

# Screenshots go to a temporary folder, so a test run leaves the tree clean; to refresh the ones in the docs run
# the browser tests with GRIDGOV_SCREENSHOTS=docs/img.
IMG = Path(os.environ.get("GRIDGOV_SCREENSHOTS") or Path(tempfile.gettempdir()) / "gridgov-screenshots").resolve()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLI = [sys.executable, "-m", "gridgov.cli"]


def free_port() -> int:
    """Returns a free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def migrated_env(where: Path, name: str, **settings: str) -> dict[str, str]:
    """Returns the environment of a test deployment in `where` (SQLite, its own media) with the schema migrated."""
    env = {
        **os.environ,
        "GRIDGOV_ENV": "test",
        "GRIDGOV_DATABASE_URL": f"sqlite:///{where / f'{name}.db'}",
        "GRIDGOV_MEDIA_DIR": str(where / "media"),
        **settings,
    }
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    return env


@contextmanager
def serve(env: dict[str, str], where: Path) -> Iterator[str]:
    """Runs `gridgov serve` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    log_path = where / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=2).read()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not start: {log_path.read_text()}") from None
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=20)


@contextmanager
def chromium() -> Iterator[object]:
    """Yields Debian's Chromium driven by Playwright (no browser download)."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()

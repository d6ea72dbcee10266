"""A throwaway Mosquitto broker for tests and benchmarks: its own config on a free loopback port, anonymous access.

    with mosquitto_broker(tmp_path) as broker:
        ... broker.url ...   # mqtt://127.0.0.1:<port>

`require_mosquitto()` skips the calling test cleanly when /usr/sbin/mosquitto is absent (CI installs it).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = Path("/usr/sbin/mosquitto")


def find_mosquitto() -> Path | None:
    """Returns the mosquitto executable, or None when it is not installed."""
    if MOSQUITTO.exists():
        return MOSQUITTO
    found = shutil.which("mosquitto")
    return Path(found) if found else None


def require_mosquitto() -> Path:
    """Returns the mosquitto executable, or skips the test (apt-get install mosquitto)."""
    import pytest

    found = find_mosquitto()
    if found is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Broker:
    """A running Mosquitto: its port, URL and process."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Returns what the broker logged (for failing tests)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on port {port} within {timeout} s")


@contextmanager
def mosquitto_broker(
    directory: Path | None = None,
    *,
    max_inflight: int = 1000,
    max_queued: int = 100_000,
    executable: Path | None = None,
) -> Iterator[Broker]:
    """Starts Mosquitto on a free loopback port (in-memory, anonymous) and stops it on exit."""
    executable = executable or find_mosquitto()
    if executable is None:
        raise RuntimeError("mosquitto not installed (apt-get install mosquitto)")
    with tempfile.TemporaryDirectory(prefix="gridgov-mqtt-", dir=directory) as tmp:
        root = Path(tmp)
        port = _free_port()
        config = root / "mosquitto.conf"
        log_path = root / "mosquitto.log"
        config.write_text(
            "\n".join(
                [
                    f"listener {port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence false",
                    f"max_inflight_messages {max_inflight}",
                    f"max_queued_messages {max_queued}",
                    f"log_dest file {log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    # NOTE: started as root it would switch to the `mosquitto` user, who cannot write our log.
                    f"user {getpass.getuser()}" if os.geteuid() == 0 else "",
                    "",
                ]
            )
        )
        process = subprocess.Popen(
            [str(executable), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_listening(port, process, timeout=10)
            yield Broker(port=port, process=process, log_path=log_path)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

"""Durability of intake against a real server process: what the server acknowledged survives SIGKILL, and
retrying every request with its Idempotency-Key after a restart creates no duplicates.

The server is `python -m gridgov.cli serve` on a loopback port, on a fresh database with the world committed.
A few client threads stream reports (bounded: at most MAX_REQUESTS within DEADLINE_S); after ACKED_BEFORE_KILL
201s the server is killed with SIGKILL while requests are in flight, then started again.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR
from tests.domains.cases.world import add_token_user, bearer, load_world, point

CLIENT_THREADS = 4
ACKED_BEFORE_KILL = 60
MAX_REQUESTS = 300
DEADLINE_S = 20.0
TOKEN_ENV = "GRIDGOV_TEST_TOKEN"  # the reporter's API token, carried in the server's env dict for the client
DEVICE_ID = "durability-test-phone"  # the grid worker's bound phone


def reporter(env: dict[str, str]) -> dict[str, str]:
    """Returns the headers of the grid worker's requests: their token and their bound phone."""
    return {**bearer(env[TOKEN_ENV]), "X-Device-Id": DEVICE_ID}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One `gridgov serve` process on a loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gridgov.cli", "serve", "--no-migrate", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail(f"server did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def server_env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "GRIDGOV_ENV": "test",
        "GRIDGOV_DATABASE_URL": fresh_database_url,
        "GRIDGOV_MEDIA_DIR": str(tmp_path / "media"),
    }
    subprocess.run([sys.executable, "-m", "gridgov.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    engine = create_db_engine(fresh_database_url)
    try:
        locate.invalidate()
        with transaction(engine) as db:
            load_world(db)
            # A grid worker of the north-west community, where every report of the stream lies.
            user, token = add_token_user(db, "gridworker", Role.grid_worker, "410105001001-JWH", "410105001001")
            terminals.bind(db=db, actor=SYSTEM_ACTOR, user=user, device_id=DEVICE_ID)
        env[TOKEN_ENV] = token
    finally:
        engine.dispose()
        locate.invalidate()
    return env


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    running = Server(server_env, tmp_path / "server.log")
    running.start()
    try:
        yield running
    finally:
        running.kill()


def body_for(n: int) -> dict[str, Any]:
    """Returns report number n: a different spot of the north-west community each time (few duplicate hints)."""
    lng, lat = point(20 + (n * 37) % 460, 520 + (n * 53) % 460)
    return {"channel": "patrol", "matter_type": "SJ0102", "title": f"暴露垃圾 {n}", "lng": lng, "lat": lat}


def test_acknowledged_reports_survive_sigkill_and_retries_make_no_duplicates(server):
    counter = itertools.count()
    lock = threading.Lock()
    sent: dict[str, dict[str, Any]] = {}  # key → body, for every request that left the client
    acked: dict[str, dict[str, Any]] = {}  # key → the case the server acknowledged with 201
    enough = threading.Event()
    started = time.monotonic()

    def stream() -> None:
        with httpx.Client(base_url=server.url, headers=reporter(server.env), timeout=10) as client:
            while time.monotonic() - started < DEADLINE_S:
                with lock:
                    n = next(counter)
                    if n >= MAX_REQUESTS:
                        return
                    key, body = f"durability-{n:04d}", body_for(n)
                    sent[key] = body
                try:
                    response = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    return  # the server is gone: this request is in flight, its fate unknown to the client
                if response.status_code != 201:
                    return
                with lock:
                    acked[key] = response.json()["case"]
                    if len(acked) >= ACKED_BEFORE_KILL:
                        enough.set()

    threads = [threading.Thread(target=stream) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    assert enough.wait(DEADLINE_S), f"only {len(acked)} reports acknowledged:\n{server.log.read_text()[-3000:]}"
    server.kill()
    for thread in threads:
        thread.join(15)
    assert not any(thread.is_alive() for thread in threads)
    assert len(acked) >= ACKED_BEFORE_KILL and len(sent) <= MAX_REQUESTS
    in_flight = set(sent) - set(acked)
    assert in_flight, "the kill should catch requests in flight"

    server.start()
    with httpx.Client(base_url=server.url, headers=reporter(server.env), timeout=10) as client:
        for key, case in acked.items():
            response = client.get(f"/api/v1/cases/{case['id']}")
            assert response.status_code == 200, f"acknowledged case {key} lost"
            stored = response.json()
            assert (stored["number"], stored["title"]) == (case["number"], case["title"])
            assert [e["action"] for e in stored["timeline"]] == ["report", "register", "dispatch"]
            assert stored["stage"] == "dispatched"

        replayed_ids: dict[str, int] = {}
        for key, body in sent.items():
            response = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
            assert response.status_code == 201, response.text
            replayed_ids[key] = response.json()["case"]["id"]
            if key in acked:
                assert response.headers.get("Idempotent-Replayed") == "true", key
                assert replayed_ids[key] == acked[key]["id"]
        # a second replay of everything changes nothing
        for key, body in sent.items():
            response = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
            assert response.headers.get("Idempotent-Replayed") == "true"
            assert response.json()["case"]["id"] == replayed_ids[key]

        listing = client.get("/api/v1/cases", params={"limit": 500}).json()
    assert listing["total"] == len(sent) == len(set(replayed_ids.values()))
    numbers = [item["number"] for item in listing["items"]]
    assert len(set(numbers)) == len(numbers)

import os
import socket
import subprocess
import sys
import time

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core.db import create_db_engine
from gridgov.migrations import alembic_config

runner = CliRunner()


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_and_downgrade(cli_env):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"database at {ScriptDirectory.from_config(alembic_config(cli_env)).get_current_head()}" in result.output
    assert "area" in _tables(cli_env)

    result = runner.invoke(app, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert "database at base" in result.output
    assert "area" not in _tables(cli_env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_migrates_and_publishes_the_openapi_docs(fresh_database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "GRIDGOV_DATABASE_URL": fresh_database_url, "GRIDGOV_ENV": "test"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gridgov.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60  # a loaded 2-core CI machine can be slow to import and migrate
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not start within 60 s"
                time.sleep(0.2)
        assert response.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert spec["info"]["title"] == "gridgov"
        assert "area" in _tables(fresh_database_url)
    finally:
        server.terminate()
        server.wait(timeout=10)

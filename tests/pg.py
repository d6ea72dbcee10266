"""A throwaway PostgreSQL server for tests: initdb + pg_ctl from the Debian binaries, in a temporary directory."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_pg_bin() -> Path | None:
    """Returns the directory holding initdb and pg_ctl (newest Debian version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for directory in candidates:
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    """A running throwaway cluster; `url` is a SQLAlchemy URL for its `gridgov` database."""

    bin_dir: Path
    root: Path
    port: int
    user: str | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "gridgov") -> str:
        return f"postgresql+psycopg://gridgov@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], user=self.user, check=True, capture_output=True, text=True
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-U", "gridgov", "--auth=trust", "-E", "UTF8", "--no-locale")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "log"), "-o", options, "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "gridgov", "gridgov")

    def create_database(self, name: str) -> str:
        """Creates another database in the cluster and returns its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "gridgov", name)
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            user=self.user,
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_pg() -> PgServer:
    """Starts a throwaway PostgreSQL on a free loopback port; raises RuntimeError if it cannot."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; install the Debian package postgresql")
    user = None
    root = Path(tempfile.mkdtemp(prefix="gridgov-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as an unprivileged user
        user = "postgres" if _user_exists("postgres") else "nobody"
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    server = PgServer(bin_dir=bin_dir, root=root, port=_free_port(), user=user)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        server.stop()
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr or exc}\n{log}") from exc
    time.sleep(0.05)
    return server


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True

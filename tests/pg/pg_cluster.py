"""Find or start a PostgreSQL server for the pg tests.

Order: ``$AGENT_STORAGE_TEST_PG_URL``; a server on 127.0.0.1:5432 (user postgres, trust
auth); else a throwaway cluster from the installed binaries (initdb + pg_ctl in a temp
dir, on a free port, run as a non-root user when the tests run as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

ENV_URL = "AGENT_STORAGE_TEST_PG_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN_CANDIDATES = (
    os.environ.get("AGENT_STORAGE_TEST_PG_BIN", ""),
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/14/bin",
    "/usr/local/pgsql/bin",
)


#: Names made by this run carry this token (a shared database may hold older runs' names).
RUN_TOKEN = secrets.token_hex(3)
_schemas = itertools.count()
_made_schemas: list[str] = []


def new_schema() -> str:
    """A short schema name unique in this run (index names are prefixed with it)."""
    name = f"k{RUN_TOKEN}_{next(_schemas)}"
    _made_schemas.append(name)
    return name


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database (query string dropped)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database, query={}).render_as_string(hide_password=False)


def asyncpg_url(url: str) -> str:
    """A DSN asyncpg accepts (no SQLAlchemy driver suffix, no store options)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)


async def execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_url(url), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def find_bin_dir() -> Path | None:
    for candidate in BIN_CANDIDATES:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _probe(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    await conn.close()


def answers(url: str) -> bool:
    """Whether a server accepts a connection at ``url``."""
    try:
        asyncio.run(_probe(url))
    except Exception:
        return False
    return True


def _unprivileged_user() -> str | None:
    """The user to run the cluster as: None when not root, else postgres (or nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run initdb as")


class Cluster:
    """A throwaway PostgreSQL cluster: ``start()``, ``restart()``, ``stop()``."""

    def __init__(self, bin_dir: Path | None = None, *, ssl: bool = False) -> None:
        self.ssl = ssl
        found = bin_dir or find_bin_dir()
        if found is None:
            raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) found")
        self.bin_dir = found
        self.user = _unprivileged_user()
        self.base = Path(tempfile.mkdtemp(prefix="agent-storage-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = 0
        if self.user is not None:
            info = pwd.getpwnam(self.user)
            os.chown(self.base, info.pw_uid, info.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}\n{log[-2000:]}"
            )

    def start(self) -> Cluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "-N")
        if self.ssl:
            self._make_certificate()
        last: Exception | None = None
        for _ in range(3):  # a free port can be taken between probe and bind: retry
            self.port = free_port()
            options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
            if self.ssl:
                options += " -c ssl=on"
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                          "-t", "60", "-o", options, "start")
                return self
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"could not start a throwaway cluster: {last}")

    def _make_certificate(self) -> None:
        """A self-signed certificate in the data directory (server.crt / server.key)."""
        self._run_plain("openssl", "req", "-new", "-x509", "-days", "2", "-nodes",
                        "-subj", "/CN=localhost", "-keyout", str(self.data / "server.key"),
                        "-out", str(self.data / "server.crt"))
        for name in ("server.key", "server.crt"):
            path = self.data / name
            path.chmod(0o600)
            if self.user is not None:
                info = pwd.getpwnam(self.user)
                os.chown(path, info.pw_uid, info.pw_gid)

    def _run_plain(self, *cmd: str) -> None:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stderr}")

    def restart(self) -> None:
        """Fast restart: every open connection is cut, the port stays the same."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
                  "-t", "60", "restart")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

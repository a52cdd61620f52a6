"""Per-repetition fresh databases/tables for each URL scheme, and the raw target beside ours."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .ours import OursSync
from .phases import Target


@dataclass
class Slot:
    """One repetition's isolated storage: the raw target and the URL ours opens."""

    raw: Target
    ours_url: str
    cleanup: list[Any] = field(default_factory=list)  # async callables
    # further raw baselines measured beside `raw` (SQLite: stdlib sqlite3 in-process)
    extra: list[Target] = field(default_factory=list)


class Backend:
    kind = ""
    #: also measure agent-storage's blocking facade (`--sync-api`) on its own fresh store
    sync_api = False

    async def slot(self, n: int) -> Slot:
        raise NotImplementedError

    async def release(self, slot: Slot) -> None:
        for fn in slot.cleanup:
            await fn()


def make_backend(url: str, pg_write: str = "tx") -> Backend:
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return PgBackend(url, pg_write)
    if scheme == "sqlite":
        return SqliteBackend(url)
    if scheme == "dynamodb":
        return DynamoBackend(url)
    raise SystemExit(f"unsupported URL scheme {scheme!r}")


class PgBackend(Backend):
    kind = "pg"

    def __init__(self, url: str, write_mode: str) -> None:
        parts = urlsplit(url)
        self.parts = parts._replace(scheme="postgresql")
        self.write_mode = write_mode

    def _dsn(self, db: str) -> str:
        return urlunsplit(self.parts._replace(path="/" + db, query=""))

    async def slot(self, n: int) -> Slot:
        import asyncpg

        from .raw.pg import RawPg

        base = f"w1_bench_{os.getpid()}_{n}"
        admin = await asyncpg.connect(self._dsn("postgres"))
        try:
            for db in self._dbs(base):
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
                await admin.execute(f'CREATE DATABASE "{db}"')
        finally:
            await admin.close()

        async def drop() -> None:
            conn = await asyncpg.connect(self._dsn("postgres"))
            try:
                for db in self._dbs(base):
                    await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            finally:
                await conn.close()

        raw = RawPg(self._dsn(base + "_raw"), self.write_mode)
        slot = Slot(raw, urlunsplit(self.parts._replace(path="/" + base + "_ours")), [drop])
        if self.sync_api:
            slot.extra.append(
                OursSync(urlunsplit(self.parts._replace(path="/" + base + "_sync")))
            )
        return slot

    def _dbs(self, base: str) -> tuple[str, ...]:
        return (base + "_raw", base + "_ours") + ((base + "_sync",) if self.sync_api else ())


class SqliteBackend(Backend):
    kind = "sqlite"

    def __init__(self, url: str) -> None:
        path = url.split("://", 1)[1]
        # SQLAlchemy convention: sqlite:///rel.db is relative, sqlite:////abs.db absolute
        path = path[1:] if path.startswith("/") else path
        # fresh files live next to the given path so the same disk is measured
        self.dir = os.path.dirname(os.path.abspath(path)) if path else tempfile.gettempdir()

    async def slot(self, n: int) -> Slot:
        from .raw.sqlite import RawSqlite
        from .raw.stdlib_sqlite import RawStdlibSqlite

        os.makedirs(self.dir, exist_ok=True)
        d = tempfile.mkdtemp(prefix=f"w1_bench_{os.getpid()}_{n}_", dir=self.dir)

        async def rm() -> None:
            shutil.rmtree(d, ignore_errors=True)

        return Slot(
            RawSqlite(os.path.join(d, "raw.db")),
            f"sqlite:///{os.path.join(d, 'ours.db')}",
            [rm],
            extra=[RawStdlibSqlite(os.path.join(d, "sqlite3.db"))]
            + ([OursSync(f"sqlite:///{os.path.join(d, 'sync.db')}")] if self.sync_api else []),
        )


class DynamoBackend(Backend):
    kind = "dynamodb"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.parts = parts
        self.table = (parts.netloc or parts.path.lstrip("/")) or "w1"
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.region = q.get("region", "us-east-1")
        self.endpoint_url = q.get("endpoint_url")

    async def slot(self, n: int) -> Slot:
        from .raw.dynamodb import RawDynamo

        base = f"{self.table}-{os.getpid()}-{n}"
        raw = RawDynamo(base + "-raw", self.region, self.endpoint_url)
        # ours creates its own table (create_table=true); raw.close() deletes the raw one
        q = {k: v[-1] for k, v in parse_qs(self.parts.query).items()}
        q["create_table"] = "true"
        ours = urlunsplit(self.parts._replace(netloc=base + "-ours", path="", query=urlencode(q)))

        async def drop() -> None:
            from aiobotocore.session import get_session

            from .raw.dynamodb import _local_credentials

            async with get_session().create_client(
                "dynamodb",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                **_local_credentials(self.endpoint_url),
            ) as client:
                with contextlib.suppress(Exception):
                    await client.delete_table(TableName=base + "-ours")

        return Slot(raw, ours, [drop])


def start_moto(endpoint_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `moto.server` in a child process (not in ours: it would share our GIL)."""
    port = urlsplit(endpoint_url).port if endpoint_url else None
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.terminate()
        raise SystemExit(f"moto server did not start on port {port}")
    return proc, f"http://127.0.0.1:{port}"

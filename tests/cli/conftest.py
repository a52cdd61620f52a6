"""Helpers for the command-line tests: run ``main(argv)`` in process, or the real command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from agent_storage.backends.memory import MemoryBackend
from agent_storage.cli import main


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Run = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli("threads", url)``: run the command in this process, capture its output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_process(tmp_path: Path) -> Run:
    """``cli_process("demo", url)``: run ``python -m agent_storage.cli`` in a subprocess."""

    def run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "agent_storage.cli", *argv],
            capture_output=True, text=True, cwd=cwd or tmp_path, timeout=300,
            env={**os.environ, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A named in-memory store (shared by every command of this test), dropped afterwards."""
    name = f"cli{uuid.uuid4().hex[:10]}"
    yield f"memory://{name}"
    MemoryBackend.forget(name)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def sqlite_url(sqlite_file: Path) -> str:
    return f"sqlite:///{sqlite_file}"

"""The viewer in a real browser: one server over a SQLite store filled by ``agent-storage
demo`` (plus tests/ui/_data.py), one headless Debian Chromium driven by Playwright.

The browser is the system's /usr/bin/chromium (`apt-get install chromium`; the tox env
`ui` installs it when missing and it runs as root); Playwright never downloads one.
Without it these tests skip locally and fail under CI=true. Screenshots of every page
go to .artifacts/ui/ (or $AGENT_STORAGE_UI_ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from playwright.sync_api import sync_playwright

from . import _data

CHROMIUM = os.environ.get("AGENT_STORAGE_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]


def run_async(coro: Any) -> Any:
    """asyncio.run in its own thread: Playwright's sync API keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: the browser tests never skip)")
    pytest.skip(reason)


def _command() -> list[str]:
    found = shutil.which("agent-storage", path=str(Path(sys.executable).parent))
    code = "import sys; from agent_storage.cli import main; sys.exit(main())"
    return [found] if found else [sys.executable, "-c", code]


@attrs.frozen
class Server:
    base: str  # http://127.0.0.1:PORT/ (with ?token=... off the loopback)
    process: subprocess.Popen[str]

    def url(self, path: str) -> str:
        root = self.base.split("?")[0].rstrip("/")
        return root + path


def start_server(url: str, *extra: str) -> Server:
    """``agent-storage ui URL --port 0 ...``; the address is the first line it prints."""
    process = subprocess.Popen([*_command(), "ui", url, "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.search(r"(http://\S+)", first)
    if not match:
        process.kill()
        raise AssertionError(f"agent-storage ui printed {first!r}{process.stdout.read()}")
    return Server(base=match.group(1), process=process)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file written by ``agent-storage demo``, then the tests' own records."""
    path = tmp_path_factory.mktemp("ui") / "demo.db"
    url = f"sqlite:///{path}"
    done = subprocess.run([*_command(), "demo", url], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    run_async(_data.fill(url))
    return url


@pytest.fixture(scope="session")
def server(store_url: str) -> Iterator[Server]:
    started = start_server(store_url)
    yield started
    stop_server(started)


@pytest.fixture(scope="session")
def demo_ids(store_url: str) -> dict[str, str]:
    """Ids of what the demo wrote (they carry a per-run suffix)."""

    async def read() -> dict[str, str]:
        from agent_storage import open_store

        async with open_store(store_url, disable_init=True) as storage:
            thread = (await storage.memory.list_threads(resource_id="demo-user")).items[0]
            run = (await storage.workflows.list_runs(workflow_name="weather-report")).items[0]
            trace = (await storage.observability.list_traces(name="agent.run")).items[0]
            return {"thread": thread.id, "run": run.run_id, "workflow": run.workflow_name,
                    "trace": trace.trace_id}

    return run_async(read())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium (tox -e ui does it)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@attrs.define
class Tab:
    """A page with the console errors and uncaught exceptions it produced."""

    page: Any
    errors: list[str] = attrs.field(factory=list)

    def visit(self, url: str, status: int = 200) -> Any:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == status, (url, response)
        return response

    def shot(self, name: str) -> None:
        folder = Path(os.environ.get("AGENT_STORAGE_UI_ARTIFACTS", ROOT / ".artifacts" / "ui"))
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    """A fresh context (no cookies) and page; console errors are collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    found = Tab(page=page)
    page.on("console", lambda msg: found.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: found.errors.append(f"uncaught: {exc}"))
    yield found
    context.close()

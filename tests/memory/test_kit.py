"""The conformance kit as a third party uses it: a pytest plugin, run in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AGENT_STORAGE"))}
    return subprocess.run(
        # langsmith's pytest plugin (in some environments) costs seconds at start-up
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:langsmith_plugin",
         "-rs", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    """A throwaway project with its own pytest config (strict asyncio mode, like most)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = strict\n")
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_option_alone_runs_the_kit_and_skips_say_why(tmp_path: Path) -> None:
    project = _project(tmp_path, {})
    result = _pytest(project, "--agent-storage-url=memory://", "-q", "-k",
                     "TestThreadCrud or TestIndexManagement")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert "backend does not declare capability indexes" in result.stdout


def test_pyargs_in_a_strict_mode_project(tmp_path: Path) -> None:
    project = _project(tmp_path, {})
    result = _pytest(project, "--pyargs", "agent_storage.testing.suites",
                     "--agent-storage-url=memory://", "-q", "-k", "TestLastN or TestInit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_importing_classes_and_overriding_storage_factory(tmp_path: Path) -> None:
    project = _project(tmp_path, {
        "conftest.py": """
            import pytest_asyncio
            from agent_storage import open_store

            CALLS = []

            @pytest_asyncio.fixture
            async def storage_factory():
                made = []

                async def factory(**options):
                    options.setdefault("table_prefix", f"mine{len(made)}")
                    store = open_store("memory://", fresh=True, **options)
                    made.append(store)
                    CALLS.append(store)
                    if not options.get("disable_init"):
                        await store.init()
                    return store

                yield factory
                for store in made:
                    await store.close()
        """,
        "test_contract.py": """
            import conftest
            from agent_storage.testing import suite_classes

            globals().update(suite_classes())

            def test_zz_factory_was_used():
                assert conftest.CALLS and all(
                    s.backend.options.table_prefix.startswith("mine") for s in conftest.CALLS)
        """,
    })
    result = _pytest(project, "-q", "-p", "no:randomly", "-k",
                     "TestResources or TestRetention or test_zz_factory_was_used")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_unknown_capability_in_the_marker_is_an_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {
        "test_marker.py": """
            import pytest

            @pytest.mark.agent_storage_requires("teleportation")
            def test_needs_it(storage_factory):
                pass
        """,
    })
    result = _pytest(project, "-q")
    assert result.returncode != 0
    assert "unknown capabilities ['teleportation']" in result.stdout + result.stderr


def test_run_conformance(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys
        from agent_storage.testing import run_conformance
        sys.exit(run_conformance(sys.argv[1], ["-q", "-k", "TestClose",
                                               "-p", "no:langsmith_plugin"]))
    """)
    ok = subprocess.run([sys.executable, "-c", code, "memory://"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "passed" in ok.stdout
    bad = subprocess.run([sys.executable, "-c", code, "nosuchscheme://x"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == pytest.ExitCode.USAGE_ERROR
    assert "no backend for scheme 'nosuchscheme'" in bad.stdout + bad.stderr


def test_a_kit_run_drops_what_it_made_and_warns_nothing(tmp_path: Path) -> None:
    """The kit against a real database (a SQLite file, with the kit's own storage_factory):
    every store it made is dropped through Backend.drop_store (one run once left ~4,100
    tables), and the run raises no pytest warning (-W error::pytest.PytestWarning)."""
    import sqlite3

    db = tmp_path / "kit.db"
    (tmp_path / "project").mkdir()
    project = _project(tmp_path / "project", {})
    result = _pytest(project, f"--agent-storage-url=sqlite:///{db}", "-q",
                     "-o", "asyncio_default_fixture_loop_scope=function",  # the project's own
                     "-W", "error::pytest.PytestWarning", "-k",
                     "TestThreadCrud or TestBadInput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "could not drop" not in result.stdout
    with sqlite3.connect(db) as conn:
        left = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert left == []

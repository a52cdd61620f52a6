"""examples/jsonfiles: a third-party backend written only against ``agent_storage.spi``.

It is built and installed by pip as its own distribution into a temp dir, found through
its entry point by a fresh interpreter, and must pass the whole conformance kit; only
cases of capabilities it does not declare may be skipped. It stays under 300 non-blank
lines of Python and imports nothing of core but the SPI.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "jsonfiles"
MAX_LINES = 300


def python_files() -> list[Path]:
    files = sorted(EXAMPLE.rglob("*.py"))
    assert files
    return files


def test_the_example_is_small() -> None:
    lines = sum(1 for path in python_files()
                for line in path.read_text().splitlines() if line.strip())
    assert lines <= MAX_LINES


def test_the_example_imports_only_the_spi() -> None:
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and
                     not node.level else [])
            for name in names:
                if name.split(".")[0] == "agent_storage":
                    assert name == "agent_storage.spi", f"{path.name} imports {name}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip, as a distribution, into its own directory."""
    source = tmp_path_factory.mktemp("src") / "jsonfiles"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build",
                                                                   "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "--quiet",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(target.glob("agent_storage_jsonfiles-0.1.0.dist-info/entry_points.txt"))
    return target


def run(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("AGENT_STORAGE_URL", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=900)


def test_the_installed_example_passes_the_whole_kit(site: Path, tmp_path: Path) -> None:
    url = f"jsonfiles://{tmp_path / 'stores'}"
    code = (
        "import sys, agent_storage_jsonfiles\n"
        f"assert agent_storage_jsonfiles.__file__.startswith({str(site)!r})\n"
        "from agent_storage.testing import run_conformance\n"
        f"sys.exit(run_conformance({url!r}, ['-q', '-rs']))\n"
    )
    proc = run(site, code, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert re.search(r"\b\d{3,} passed\b", out), out[-2000:]
    skipped = re.findall(r"^SKIPPED \[\d+\] .*?: (.*)$", out, re.M)
    # only capabilities it does not declare, and hooks a project's own test config provides
    assert all(reason.startswith("backend does not declare capability")
               or "agent_storage_unavailable" in reason for reason in skipped), skipped
    assert "failed" not in out.splitlines()[-1]

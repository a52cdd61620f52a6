"""The README is executed and checked against the code, so it cannot drift.

- every ```python block runs, in order, on a SQLite file and on memory://;
- exactly two set-up commands, the second being what .ci/run runs;
- the options table lists every StoreOptions field with the backends that accept it;
- the URL table names every scheme and the distribution to install;
- the CLI table names every command; relative links point at files that exist.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import attrs
import pytest
from agent_storage import StoreOptions
from agent_storage._plugins import KNOWN_DISTRIBUTIONS, registry
from agent_storage.options import COMMON_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table(text: str) -> list[list[str]]:
    """Rows of the first markdown table in ``text`` (header and rule dropped)."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return cells[2:]


def run_blocks(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_STORAGE_URL"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


QUICKSTART_OUTPUT = [
    "['m2', 'm3', 'm4']",
    "Prefers small hotels.",
    "['Trip to Lisbon']",
    "[0.9]",
    "['agent.run', 'llm.call']",
    "4",
    "['r1']",
    "['r1', 'r2', 'r4']",
]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_python_blocks_run(kind: str, tmp_path: Path) -> None:
    code = "\n\n".join(blocks("python"))
    assert code.count('open_store("sqlite:///agent.db")') >= 5
    if kind == "memory":
        code = code.replace("sqlite:///agent.db", "memory://readme")
    proc = run_blocks(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for expected in QUICKSTART_OUTPUT:
        assert expected in lines, (expected, proc.stdout)
    refused = [line for line in lines if line.startswith("refused:")]
    assert len(refused) == 3, proc.stdout
    assert "no-such-thread" in refused[0]
    assert "naive" in refused[1].lower() or "timezone" in refused[1].lower()
    assert "order_by" in refused[2]
    if kind == "sqlite":
        assert (tmp_path / "agent.db").stat().st_size > 0
    else:
        assert not (tmp_path / "agent.db").exists()


# -- the two commands ----------------------------------------------------------------------


def commands() -> list[str]:
    found = [b.strip() for b in blocks("sh", section("Two commands"))]
    assert len(found) == 2, found
    assert all("\n" not in c for c in found), "each set-up command is one line"
    return found


def test_demo_command_installs_what_exists_and_runs_the_demo() -> None:
    demo, _ = commands()
    steps = [shlex.split(step) for step in demo.split("&&")]
    assert steps[0][:3] == ["python3", "-m", "venv"]
    venv = steps[0][3]
    install = steps[1]
    assert install[:2] == [f"{venv}/bin/pip", "install"]
    editable = [install[i + 1] for i, arg in enumerate(install) if arg == "-e"]
    for requirement in editable:
        path = requirement.split("[")[0]
        assert (ROOT / path / "pyproject.toml").exists(), requirement
    assert "plugins/sqlite" in editable
    assert steps[2] == [f"{venv}/bin/agent-storage", "demo"]
    scripts = tomllib.loads((ROOT / "core/pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["agent-storage"] == "agent_storage.cli:main"
    extras = tomllib.loads((ROOT / "core/pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    core_req = next(r for r in editable if r.startswith("core"))
    for extra in re.findall(r"\[(.*)\]", core_req)[0].split(",") if "[" in core_req else []:
        assert extra in extras, extra


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test_command = commands()
    assert test_command == "./scripts/test"
    script = ROOT / test_command
    assert script.exists() and os.access(script, os.X_OK)
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    lines = [line.strip() for line in ci.read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert "set -euo pipefail" in lines
    assert lines[-1] == test_command
    # the script installs its own tox + tox-uv, then runs tox with the repo's tox.ini
    text = script.read_text()
    assert "tox-uv" in text and "-m tox" in text


def test_readme_names_every_tox_env() -> None:
    ini = (ROOT / "tox.ini").read_text()
    env_list = re.search(r"^env_list\s*=\s*(.+)$", ini, re.M)
    assert env_list
    envs = [e.strip() for e in env_list.group(1).split(",")]
    assert envs == ["lint", "type", "core", "sqlite", "pg", "dynamodb", "integrations",
                    "vectors", "bench", "ui"]
    assert f"({', '.join(envs)})" in " ".join(section("Two commands").split())
    for env in envs:
        assert f"[testenv:{env}]" in ini


# -- tables ---------------------------------------------------------------------------------


def test_options_table_matches_store_options() -> None:
    rows = table(section("Options"))
    names = [row[0].strip("`") for row in rows]
    assert len(names) == len(set(names))
    # the common options and every installed backend's own (its typed options class)
    classes = {registry().backend_class(i.schemes[0])[1].options_class
               for i in registry().backends.values()}
    assert set(names) == {a.name for c in (StoreOptions, *classes) for a in attrs.fields(c)}
    backends = {row[0].strip("`"): row[2] for row in rows}
    for name in COMMON_OPTIONS:
        assert backends[name] == "all", name
    # every installed backend accepts exactly the options the table gives it
    for info in {i.name: i for i in registry().backends.values()}.values():
        _, cls = registry().backend_class(info.schemes[0])
        label = {"memory": None}.get(info.name, info.name)
        if label is None:
            continue
        for name, where in backends.items():
            if name in COMMON_OPTIONS or name == "extra":
                continue
            listed = label in [w.strip() for w in where.split(",")]
            assert listed == (name in cls.accepted_options), (info.name, name)


def test_url_table_names_every_scheme_and_distribution() -> None:
    rows = table(section("URLs and backends"))
    text = "\n".join(" | ".join(r) for r in rows)
    for scheme, dist in KNOWN_DISTRIBUTIONS.items():
        row = next((r for r in rows if f"`{scheme}://" in r[0]), None)
        assert row is not None, scheme
        assert f"`pip install {dist}`" == row[2], scheme
    assert "`memory://`" in text
    assert "$AGENT_STORAGE_URL" in section("URLs and backends")
    assert "`sqlite:///agent_storage.db`" in section("URLs and backends")


def test_cli_table_names_every_command() -> None:
    from agent_storage.cli import COMMANDS

    rows = table(section("The command line"))
    documented = [re.match(r"`agent-storage ([a-z-]+)", r[0]).group(1) for r in rows]  # type: ignore[union-attr]
    assert documented == list(COMMANDS)


def test_relative_links_exist() -> None:
    prose = re.sub(r"^```.*?^```$", "", README, flags=re.M | re.S)
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", prose)
    local = [link for link in links if "://" not in link]
    assert local, "the README links to docs/"
    for link in local:
        assert (ROOT / link).exists(), link


def test_third_party_guide_matches_the_plugin_contract() -> None:
    guide = section("Writing a third-party backend")
    toml = blocks("toml", guide)
    assert len(toml) == 1
    data = tomllib.loads(toml[0])
    assert list(data["project"]["entry-points"]) == ["agent_storage"]
    from agent_storage._plugins import ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP == "agent_storage"
    # the primitives the guide lists are exactly the abstract ones of MemoryDomain
    from agent_storage.domains import MemoryDomain

    primitives = {n for n in dir(MemoryDomain)
                  if getattr(getattr(MemoryDomain, n), "__isabstractmethod__", False)}
    assert len(primitives) > 10
    comment = guide[guide.index("# implement:"):guide.index("# ... and likewise")]
    assert set(re.findall(r"\b(_[a-z_]+)\b", comment)) == primitives
    assert "--pyargs agent_storage.testing.suites --agent-storage-url=" in guide
    assert "agent-storage check " in guide
    from agent_storage.backend import CAPABILITIES

    for capability in CAPABILITIES:
        assert f"`{capability}`" in guide, capability

"""The CLI as a package: one module per sub-command, usage errors, ``| head``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_storage.cli import COMMAND_MODULES, COMMANDS, _registry

Run = Callable[..., Any]


def test_a_new_sub_command_is_one_module_and_one_line(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "hello_command.py").write_text(textwrap.dedent('''
        from agent_storage.cli import Command

        def arguments(p):
            p.add_argument("name")

        async def run(args, out):
            out.json({"hello": args.name}) if args.json else out.line(f"hello {args.name}")
            return 0

        COMMAND = Command(name="hello", help="say hello", arguments=arguments, run=run,
                          json=True)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_registry, "COMMAND_MODULES", (*COMMAND_MODULES, "hello_command"))
    assert cli("hello", "ada").out == "hello ada\n"
    assert cli("hello", "ada", "--json").out.replace(" ", "") == '{\n"hello":"ada"\n}\n'
    assert "say hello" in cli("--help").out
    assert "hello" not in COMMANDS  # the real registry is untouched


def test_a_mistyped_option_shows_the_sub_commands_usage_and_a_suggestion(
    cli: Run, memory_url: str,
) -> None:
    result = cli("threads", memory_url, "--limt", "3")
    assert result.code == 2
    assert "usage: agent-storage threads" in result.err
    assert "unrecognized arguments: --limt 3" in result.err
    assert "did you mean '--limit'?" in result.err
    nested = cli("indexes", memory_url, "list", "--tabel", "threads")
    assert "usage: agent-storage indexes URL list" in nested.err
    assert "did you mean '--table'?" in nested.err


@pytest.mark.parametrize(("argv", "hint"), [
    (("stauts", "memory://"), "did you mean 'status'?"),
    (("indexes", "memory://", "lsit"), "did you mean 'list'?"),
    (("threads", "memory://", "--order-by", "creatd_at"), "did you mean 'created_at'?"),
])
def test_a_mistyped_command_or_choice_gets_a_suggestion(
    cli: Run, argv: tuple[str, ...], hint: str,
) -> None:
    result = cli(*argv)
    assert result.code == 2 and hint in result.err


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path) -> None:
    # ``agent-storage demo memory:// | head -0``: the reader is gone before the first line
    proc = subprocess.Popen([sys.executable, "-m", "agent_storage.cli", "demo", "memory://"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""

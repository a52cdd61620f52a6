"""``agent-storage check URL [-- PYTEST_ARGS]``: run the conformance kit against URL."""

from __future__ import annotations

import argparse

from ..errors import AgentStorageError
from ._output import Output
from ._registry import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                   help="extra pytest arguments after --, e.g. -- -x -k threads")


def _run(args: argparse.Namespace, out: Output) -> int:
    # synchronous: pytest runs its own event loops, so it must not run inside ours
    import importlib.util

    from .._plugins import registry
    from ..url import parse_url

    # a bad URL or a missing backend is a clean error, not a failing pytest session
    registry().backend_class(parse_url(args.url).scheme)
    missing = [m for m in ("pytest", "pytest_asyncio") if importlib.util.find_spec(m) is None]
    if missing:
        raise AgentStorageError(
            f"the conformance kit needs {' and '.join(missing)}: "
            "pip install 'agent-storage[testing]'"
        )
    from ..testing import run_conformance

    pytest_args = list(args.pytest_args or ())
    ours = pytest_args[:pytest_args.index("--")] if "--" in pytest_args else pytest_args
    as_json = args.json or "--json" in ours  # `check URL --json`: the flag after the URL
    if "--json" in ours:
        pytest_args.remove("--json")
    if pytest_args and pytest_args[0] == "--":
        pytest_args = pytest_args[1:]
    if not as_json:
        return int(run_conformance(args.url, pytest_args))
    return _run_json(args.url, pytest_args, out)


def _run_json(url: str, pytest_args: list[str], out: Output) -> int:
    """The kit with pytest's report on stderr and a JSON summary on stdout."""
    import contextlib
    import sys
    import tempfile
    from pathlib import Path
    from xml.etree import ElementTree

    from ..testing import run_conformance

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        with contextlib.redirect_stdout(sys.stderr):
            code = int(run_conformance(url, [*pytest_args, f"--junitxml={report}"]))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.exists():
            for suite in ElementTree.parse(report).getroot().iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
    from ..url import parse_url

    out.json({"url": str(parse_url(url)), "passed": code == 0, "exit_code": code, **counts})
    return code


COMMAND = Command(name="check", help="run the conformance kit against URL",
                  arguments=_arguments, run=_run, json=True)

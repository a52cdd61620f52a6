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
    if pytest_args and pytest_args[0] == "--":
        pytest_args = pytest_args[1:]
    return int(run_conformance(args.url, pytest_args))


COMMAND = Command(name="check", help="run the conformance kit against URL",
                  arguments=_arguments, run=_run)

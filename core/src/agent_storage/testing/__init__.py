"""The conformance kit: the whole storage contract as pytest suites, for every backend.

Run it against any URL::

    pytest --agent-storage-url=mybackend://...          # the whole kit
    pytest --pyargs agent_storage.testing.suites --agent-storage-url=mybackend://...
    agent-storage check mybackend://...

or import the suite classes into your own tests and override the ``storage_factory``
fixture (see :mod:`agent_storage.testing.plugin`)::

    # tests/test_conformance.py
    from agent_storage.testing import suite_classes
    globals().update(suite_classes())

A backend declares optional capabilities (``Backend.capabilities``); cases that need one it
does not declare are skipped with the reason. Everything else is required.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Sequence

__all__ = ["SUITES_PACKAGE", "run_conformance", "suite_classes", "suite_modules"]

SUITES_PACKAGE = "agent_storage.testing.suites"


def suite_modules() -> list[str]:
    """Dotted names of every suite module (``agent_storage.testing.suites.test_*``)."""
    from . import suites

    return sorted(
        f"{SUITES_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(suites.__path__)
        if info.name.startswith("test_")
    )


def suite_classes() -> dict[str, type]:
    """Every suite class by name, to import into a test module (``globals().update(...)``)."""
    classes: dict[str, type] = {}
    for name in suite_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if attr.startswith("Test") and isinstance(value, type) and value.__module__ == name:
                if attr in classes:
                    raise RuntimeError(f"two conformance suites define {attr}")
                classes[attr] = value
    return classes


def run_conformance(url: str, extra_args: Sequence[str] = ()) -> int:
    """Run the whole kit against ``url`` with pytest; returns pytest's exit code.

    The project's own pytest configuration is ignored (``-c`` points at an empty file) so
    the result does not depend on the directory the command runs in.
    """
    import pytest

    args = [
        "-c", os.devnull,
        "--rootdir", os.path.join(os.path.dirname(__file__), "suites"),
        "-p", "no:cacheprovider",
        "-o", "asyncio_default_fixture_loop_scope=function",
        # agent_storage is already imported by the caller: its asserts stay plain.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        f"--agent-storage-url={url}",
    ]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "agent_storage.testing.plugin", "-p", "pytest_asyncio.plugin"]
    args += [*extra_args, "--pyargs", SUITES_PACKAGE]
    return int(pytest.main(args))

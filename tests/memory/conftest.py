"""The in-memory backend runs the conformance kit with the kit's own fixtures: the
default ``storage_factory`` opens ``memory://`` (or ``--agent-storage-url``).

Kit cases that need a capability the memory backend does not offer by design (index
management is a pg/sqlite feature, DESIGN section 5; an anonymous ``memory://`` store is not
persistent — ``test_conformance_named.py`` runs those cases on ``memory://conformance``) are
deselected here rather than skipped, and the run says so in its summary. Third-party runs of
the kit keep the kit's skip-with-reason behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest
from agent_storage.backends.memory import MemoryBackend
from agent_storage.testing.plugin import MARKER

#: Capabilities of the store each runner module opens.
_RUNNER_CAPABILITIES = {
    "test_conformance.py": MemoryBackend.capabilities - {"persistent"},  # anonymous memory://
    "test_conformance_named.py": MemoryBackend.capabilities,
}
_deselected: dict[str, int] = {}


@pytest.fixture(scope="session")
def agent_storage_url() -> str:
    return "memory://"


#: Kit classes that do not apply to memory://: it has no database to lock or lose.
_NOT_APPLICABLE = ("TestBackendErrors",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    keep, drop = [], []
    for item in items:
        if item.path.name in _RUNNER_CAPABILITIES and item.cls is not None \
                and item.cls.__name__ in _NOT_APPLICABLE:
            drop.append(item)
            _deselected["a database that can be made unavailable"] = \
                _deselected.get("a database that can be made unavailable", 0) + 1
            continue
        declared = _RUNNER_CAPABILITIES.get(item.path.name)
        marker = item.get_closest_marker(MARKER)
        missing = set(marker.args) - declared if (marker and declared is not None) else set()
        if missing:
            drop.append(item)
            for name in missing:
                _deselected[name] = _deselected.get(name, 0) + 1
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _deselected:
        why = ", ".join(f"{n} need '{cap}'" for cap, n in sorted(_deselected.items()))
        terminalreporter.write_line(
            f"memory backend: deselected kit cases for capabilities it does not offer ({why})"
        )

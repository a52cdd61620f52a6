"""The in-memory backend runs the conformance kit with the kit's own fixtures: the
default ``storage_factory`` opens ``memory://`` (or ``--agent-storage-url``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def agent_storage_url() -> str:
    return "memory://"

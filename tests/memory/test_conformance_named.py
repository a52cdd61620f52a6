"""The whole kit again on a named in-memory store (``memory://NAME``).

Named stores share their data per (NAME, table_prefix) in the process and outlive
``close()``, so they declare ``persistent``: the reopen cases that ``memory://`` skips run
here. Each test's stores get their own table prefix; the data is dropped afterwards.
"""

from collections.abc import Iterator

import pytest
from agent_storage.backends.memory import MemoryBackend
from agent_storage.testing import suite_classes

NAME = "conformance"


@pytest.fixture(scope="session")
def agent_storage_url() -> str:
    return f"memory://{NAME}"


@pytest.fixture(autouse=True)
def _forget_named_data() -> Iterator[None]:
    yield
    MemoryBackend.forget(NAME)


globals().update(suite_classes())

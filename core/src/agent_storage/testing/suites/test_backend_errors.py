"""Backend-level calls raise typed errors, also when the database is locked or gone.

``init()``, ``is_initialized()``, ``status()`` (what ``agent-storage init|status`` and
``open_store(...)`` call) and domain calls never let a driver exception escape: on a
store whose database became unavailable each fails with an
:class:`~agent_storage.AgentStorageError` (``is_initialized()`` may instead answer
False), within a bounded time, and ``close()`` still works.

The backend's test config makes the database unavailable through the
``agent_storage_unavailable`` fixture (see :mod:`agent_storage.testing.plugin`); a
third-party run without it skips the case, saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent_storage import AgentStorageError, Message, Thread

pytestmark = pytest.mark.asyncio(loop_scope="function")

#: Seconds an unavailable store may take to fail one call (retries with backoff included).
DEADLINE = 60.0


def _calls(store: Any) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    return [
        ("init()", store.init),
        ("is_initialized()", store.backend.is_initialized),
        ("status()", store.status),
        ("memory.get_thread()", lambda: store.memory.get_thread("be-t")),
        ("memory.save_thread()", lambda: store.memory.save_thread(
            Thread(id="be-t2", resource_id="be-owner"))),
        ("memory.save_messages()", lambda: store.memory.save_messages(
            [Message(id="be-m", thread_id="be-t", role="user", content="x")])),
        ("memory.list_threads()", lambda: store.memory.list_threads(resource_id="be-owner")),
    ]


class TestBackendErrors:
    async def test_calls_on_an_unavailable_store_raise_typed_errors(
        self, storage: Any,
        agent_storage_unavailable: Callable[[Any], Awaitable[Any]],
    ) -> None:
        await storage.memory.save_thread(Thread(id="be-t", resource_id="be-owner"))
        broken = await agent_storage_unavailable(storage)
        problems = []
        for name, call in _calls(broken):
            try:
                async with asyncio.timeout(DEADLINE):
                    result = await call()
            except AgentStorageError:
                continue
            except TimeoutError:
                problems.append(f"{name}: still waiting after {DEADLINE:.0f} s")
            except Exception as exc:  # what the case is about: a raw driver error
                problems.append(f"{name}: untyped {type(exc).__module__}.{type(exc).__name__}:"
                                f" {exc}")
            else:
                if not (name == "is_initialized()" and result is False):
                    problems.append(f"{name}: no error on an unavailable store ({result!r})")
        try:
            await broken.close()
        except AgentStorageError:
            pass
        except Exception as exc:
            problems.append(f"close(): untyped {type(exc).__name__}: {exc}")
        assert not problems, "\n".join(problems)

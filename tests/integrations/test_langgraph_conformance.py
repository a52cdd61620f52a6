"""LangGraph's own checkpointer conformance suite (``langgraph-checkpoint-conformance``)
passes on every backend: all base capabilities and every extended one
(delete_for_runs, copy_thread, prune), through an async Storage and through a sync store
(the saver a URL gives, whose async methods hop to the store's own loop)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agent_storage import Storage
from agent_storage.integrations.langgraph import AgentStorageSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import EXTENDED_CAPABILITIES

BACKENDS = ("memory", "sqlite", "pg", "dynamodb")


def _check(report: Any) -> None:
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert not failures, failures
    assert report.passed_all_base()
    for cap in EXTENDED_CAPABILITIES:
        result = report.results[cap.value]
        assert result.detected and result.passed, (cap.value, result)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_conformance_async_storage(
    backend: str, storage_for: Callable[[str], Awaitable[Storage]],
) -> None:
    store = await storage_for(backend)

    @checkpointer_test(name=f"agent-storage-{backend}")
    async def saver() -> Any:
        yield AgentStorageSaver(store)

    _check(await validate(saver))


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
async def test_conformance_from_url(
    backend: str, url_factory: Callable[[str], str], close_sync_stores: None,
) -> None:
    url = url_factory(backend)

    @checkpointer_test(name=f"agent-storage-{backend}-url")
    async def saver() -> Any:
        yield AgentStorageSaver.from_url(url)

    _check(await validate(saver))

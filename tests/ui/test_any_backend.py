"""The viewer reads through the public API only: every page works over memory:// too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_storage import open_store
from agent_storage.ui import create_app
from starlette.testclient import TestClient

from . import _data
from .conftest import run_async

URL = "memory://ui-any-backend"


async def _fill() -> None:
    await _data.fill(URL)
    async with open_store(URL) as storage:
        await storage.workflows.persist_snapshot(
            "wf", "run-1", {"status": "failed", "context": {"step": {"ok": False}}})


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    run_async(_fill())
    with TestClient(create_app(URL), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "expected"), [
    ("/threads", "Paging thread 59"),
    (f"/thread?id={_data.BIG_THREAD}&page=2", "message number 129"),
    ("/runs?status=failed", "run-1"),
    ("/run?workflow=wf&id=run-1", "step"),
    ("/scores?scorer=helpfulness", "helpfulness"),
    ("/traces", _data.DEEP_TRACE),
    (f"/trace?id={_data.DEEP_TRACE}", "deep.http"),
    ("/agents", _data.AGENT_ID),
    (f"/agent?id={_data.AGENT_ID}", "large-model"),
    ("/status", "memory"),
])
def test_every_page_over_the_memory_backend(client: TestClient, path: str,
                                            expected: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert expected in response.text
    assert "<script>window" not in response.text

"""A DynamoDB store used from several event loops at once, and a failed ``async with``
(issue 11 items 13 and 15; the checks live in :mod:`agent_storage.testing.event_loops`)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Awaitable, Callable

from agent_storage import Storage, open_store
from agent_storage.testing.event_loops import check_failed_enter_releases, use_from_threads
from dynamo_testlib import dynamodb_url, new_table


async def test_one_store_from_five_threads_each_with_its_own_loop(
    storage_factory: Callable[..., Awaitable[Storage]],
) -> None:
    store = await storage_factory()
    url = store.backend.url
    await store.close()  # this loop's client is closed; the threads open their own
    reopened = open_store(url, fresh=True)
    await asyncio.to_thread(use_from_threads, reopened)


def test_a_failed_async_with_closes_what_init_opened(dynamodb_endpoint: str) -> None:
    url = dynamodb_url(dynamodb_endpoint, new_table())  # no such table, create_table off
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(check_failed_enter_releases(open_store(url, fresh=True)))
        gc.collect()
    unclosed = [w for w in caught if "nclosed" in str(w.message)]
    assert unclosed == [], unclosed

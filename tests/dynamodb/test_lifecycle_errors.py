"""Backend-level calls on DynamoDB: a failed init() closes the client it opened, and
init()/is_initialized()/status() raise typed errors, never botocore's."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest
from agent_storage import AgentStorageError, SchemaNotInitializedError, open_store
from dynamo_testlib import dynamodb_url, new_prefix, new_table


async def test_a_failed_init_closes_the_client(dynamodb_endpoint: str) -> None:
    """The table does not exist (create_table=False): init() fails typed, and the
    aiobotocore client (its aiohttp session) is closed, not left for the GC to warn
    about; a later call opens a new one."""
    url = dynamodb_url(dynamodb_endpoint, new_table())
    store = open_store(url, fresh=True, table_prefix=new_prefix())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SchemaNotInitializedError):
            await store.init()
        assert store.backend.table.client is None
        with pytest.raises(SchemaNotInitializedError):  # reopens, fails again, closes again
            await store.init()
        assert store.backend.table.client is None
        await store.close()
        del store
        gc.collect()
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert unclosed == []


async def test_async_with_a_failing_init_leaks_nothing(dynamodb_endpoint: str) -> None:
    url = dynamodb_url(dynamodb_endpoint, new_table())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SchemaNotInitializedError):
            async with open_store(url, fresh=True, table_prefix=new_prefix()):
                pass  # pragma: no cover
        gc.collect()
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []


async def test_backend_calls_on_a_deleted_table_raise_typed_errors(
    store: Any, sync_client: Any
) -> None:
    sync_client.delete_table(TableName=store.backend.table_name)
    for call in (store.status, store.backend.is_initialized, store.memory.stats):
        try:
            result = await call()
        except AgentStorageError:
            continue
        assert call == store.backend.is_initialized and result is False

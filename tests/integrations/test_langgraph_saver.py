"""The saver's own contract beyond LangGraph's suite: refusals, ids, sync/async stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from agent_storage import ConfigurationError, Retention, Storage, ValidationError
from agent_storage.integrations.langgraph import AgentStorageSaver
from langgraph.checkpoint.base import empty_checkpoint


def _config(thread_id: str = "t", ns: str = "") -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


async def test_store_that_prunes_messages_is_refused(
    storage_for: Callable[..., Awaitable[Storage]],
) -> None:
    store = await storage_for("memory", retention=Retention(max_messages_per_thread=10))
    with pytest.raises(ConfigurationError, match="max_messages_per_thread"):
        AgentStorageSaver(store)


async def test_bad_config_and_strategy_are_refused_before_writing(
    storage_for: Callable[..., Awaitable[Storage]],
) -> None:
    store = await storage_for("sqlite")
    saver = AgentStorageSaver(store)
    stored = await saver.aput(_config(), empty_checkpoint(), {"step": 0}, {})
    with pytest.raises(ValidationError, match="thread_id"):
        await saver.aput({"configurable": {}}, empty_checkpoint(), {}, {})
    with pytest.raises(ValidationError, match="checkpoint_id"):
        await saver.aput_writes(_config(), [("ch", 1)], "task")
    with pytest.raises(ValidationError, match="strategy"):
        await saver.aprune(["t"], strategy="oldest")
    with pytest.raises(ValidationError):  # a JSON-incompatible id is refused, not stored
        await saver.aput(_config("bad\x00id"), empty_checkpoint(), {}, {})
    assert [t.config async for t in saver.alist(None)] == [stored]


async def test_async_storage_has_no_blocking_methods(
    storage_for: Callable[..., Awaitable[Storage]],
) -> None:
    saver = AgentStorageSaver(await storage_for("memory"))
    with pytest.raises(ConfigurationError, match="use the async methods"):
        saver.get_tuple(_config())


def test_sync_methods_with_a_url(tmp_path: object, close_sync_stores: None) -> None:
    saver = AgentStorageSaver.from_url(f"sqlite:///{tmp_path}/sync.db")
    cp = empty_checkpoint()
    cp["channel_values"] = {"topic": "lisbon"}
    cp["channel_versions"] = {"topic": 1}
    stored = saver.put(_config(), cp, {"source": "input", "step": -1}, {"topic": 1})
    saver.put_writes(stored, [("topic", "porto")], "task-1")
    got = saver.get_tuple(_config())
    assert got is not None and got.checkpoint["channel_values"] == {"topic": "lisbon"}
    assert got.pending_writes == [("task-1", "topic", "porto")]
    assert [t.config for t in saver.list(_config(), filter={"source": "input"})] == [stored]
    saver.copy_thread("t", "t2")
    saver.delete_thread("t")
    assert saver.get_tuple(_config()) is None
    assert saver.get_tuple(_config("t2")) is not None

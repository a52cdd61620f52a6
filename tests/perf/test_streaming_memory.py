"""Streaming a whole store holds one page at a time: memory does not grow with the store.

tracemalloc (Python allocations, deterministic) instead of RSS; no timing assertions. The
200,000-message RSS measurement is `python -m benchmarks.stream_rss` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from agent_storage import Message, Thread, open_store

from benchmarks.stream_rss import stream_all

TEXT = "agent memory thread message " * 10  # ~280 characters, like W1


async def _add(memory: Any, first: int, threads: int, per_thread: int) -> None:
    for j in range(first, first + threads):
        tid = f"t{j:05d}"
        await memory.save_thread(Thread(id=tid, resource_id=f"u{j % 7}"))
        for start in range(0, per_thread, 50):
            await memory.save_messages(
                [
                    Message(
                        id=f"{tid}-{k:04d}",
                        thread_id=tid,
                        role="user",
                        content={"format": 2, "parts": [{"type": "text", "text": TEXT}]},
                    )
                    for k in range(start, min(per_thread, start + 50))
                ]
            )


async def _peak_streaming(memory: Any) -> tuple[int, int]:
    await stream_all(memory)  # warm: statement caches, pools
    gc.collect()
    tracemalloc.start()
    try:
        _, messages, _ = await stream_all(memory)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return messages, peak


async def _held(memory: Any) -> int:
    """Python memory of the same messages all held at once (the thing streaming avoids)."""
    gc.collect()
    tracemalloc.start()
    try:
        held = []
        async for thread in memory.threads():
            held.extend((await memory.list_messages(thread.id, per_page=None)).items)
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del held
    return size


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_streaming_memory_is_bounded(kind: str, tmp_path: Path) -> None:
    if kind == "sqlite":
        pytest.importorskip("agent_storage_sqlite")
        url = f"sqlite:///{tmp_path / 's.db'}"
    else:
        url = "memory://"
    async with open_store(url, fresh=True) as store:
        memory = store.memory
        await _add(memory, 0, threads=20, per_thread=120)
        n1, peak1 = await _peak_streaming(memory)
        assert n1 == 2400
        held = await _held(memory)

        await _add(memory, 20, threads=60, per_thread=120)  # 4x the store
        n2, peak2 = await _peak_streaming(memory)
        assert n2 == 9600

    # Streaming 4x the messages needs about the same memory (one page, one thread batch)...
    assert peak2 < peak1 * 1.5 + 256 * 1024, (peak1, peak2)
    # ...and far less than holding the first store's messages at once (memory:// already
    # holds every record, so it only proves the query does not copy the store).
    if kind == "sqlite":
        assert peak1 < held / 4, (peak1, held)

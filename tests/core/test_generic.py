"""The generic record-store layer on a minimal in-test RecordBackend (a dict)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from agent_storage import Message, StoreOptions, Thread, parse_url
from agent_storage.spi import Delete, Item, Put, RecordBackend


class DictBackend(RecordBackend):
    """get/scan/write over a dict and sorted lists: the whole contract."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rows: dict[tuple[str, str], tuple[int, Any, dict[str, str]]] = {}

    async def init(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, collection: str, key: str) -> Item | None:
        row = self.rows.get((collection, key))
        return None if row is None else Item(key=key, value=dict(row[1]), version=row[0])

    async def scan(self, collection: str, order: str, *, start: str, stop: str,
                   reverse: bool = False, limit: int | None = None) -> list[Item]:
        keys = sorted((o[order], k) for (c, k), (_, _, o) in self.rows.items()
                      if c == collection and order in o)
        picked = keys[bisect.bisect_left(keys, (start,)):bisect.bisect_left(keys, (stop,))]
        picked = picked[::-1] if reverse else picked
        return [item for _, k in picked[:limit] if (item := await self.get(collection, k))]

    async def write(self, ops: Sequence[Put | Delete]) -> bool:
        for op in ops:
            row = self.rows.get((op.collection, op.key))
            if op.expect is not None and (row[0] if row else 0) != op.expect:
                return False
        for op in ops:
            self.rows.pop((op.collection, op.key), None)
            if isinstance(op, Put):
                self.rows[(op.collection, op.key)] = (op.version, op.value, dict(op.orders))
        return True


async def test_drop_store_deletes_every_record_in_batches() -> None:
    backend = DictBackend(parse_url("dict://x"), StoreOptions())
    memory: Any = backend.domain("memory")
    await memory.save_thread(Thread(id="t", resource_id="u"))
    await memory.save_messages([Message(id=f"m{i}", thread_id="t", role="user", content=i)
                                for i in range(600)])
    assert (await backend.status()).tables["messages"] == 600
    await backend.drop_store()
    assert backend.rows == {}
    assert await memory.get_thread("t") is None

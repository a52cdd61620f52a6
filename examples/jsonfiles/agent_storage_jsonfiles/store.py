"""The backend: records in memory, sorted order keys per order, every write journaled."""

from __future__ import annotations

import bisect
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from agent_storage.spi import (
    BackendError,
    ConfigurationError,
    Delete,
    ErrorRule,
    Item,
    Put,
    RecordBackend,
    SchemaNotInitializedError,
    StoreOptions,
    StoreURL,
    dumps,
    loads,
)

# One Data per journal file in this process: every Storage on the same store shares it,
# so a second store opened on the same URL sees the first one's writes at once.
_OPEN: dict[Path, Data] = {}
_OPEN_LOCK = threading.Lock()


class Data:
    """A store's records: (collection, key) -> [version, JSON text, order keys], and per
    (collection, order) a sorted list of (order key, key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()  # one store may be used from several event loops
        self.records: dict[tuple[str, str], tuple[int, str, dict[str, str]]] = {}
        self.orders: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    ops = json.loads(line)
                except ValueError:  # a torn last line: that write never committed
                    break
                self.apply(ops)

    def apply(self, ops: list[list[Any]]) -> None:
        for op in ops:
            collection, key = op[1], op[2]
            old = self.records.pop((collection, key), None)
            for name, okey in (old[2] if old else {}).items():
                index = self.orders[(collection, name)]
                del index[bisect.bisect_left(index, (okey, key))]
            if op[0] == "put":
                version, text, orders = op[3], op[4], op[5]
                self.records[(collection, key)] = (version, text, orders)
                for name, okey in orders.items():
                    bisect.insort(self.orders.setdefault((collection, name), []), (okey, key))

    def item(self, collection: str, key: str) -> Item | None:
        found = self.records.get((collection, key))
        if found is None:
            return None
        return Item(key=key, value=loads(found[1]), version=found[0])


class JsonFilesBackend(RecordBackend):
    """Every domain in one journal file per store (directory and table prefix)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"persistent", "ttl"})
    error_rules: ClassVar[Sequence[ErrorRule]] = ((OSError, BackendError),)

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        super().__init__(url, options)
        if not url.path.strip("/"):
            raise ConfigurationError("jsonfiles: the URL names no directory "
                                     "(jsonfiles:///path/to/dir)")
        name = f"{options.table_prefix or 'store'}.jsonl"
        self.path = Path(url.path).expanduser().resolve() / name
        self._data: Data | None = None

    @property
    def data(self) -> Data:
        if self._data is None:
            if not self.path.exists():
                raise SchemaNotInitializedError(f"no store at {self.path}; run init()")
            with _OPEN_LOCK:
                self._data = _OPEN.get(self.path) or _OPEN.setdefault(self.path, Data(self.path))
        return self._data

    async def init(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            os.close(fd)
        except OSError as exc:
            raise BackendError(f"jsonfiles: cannot create {self.path}: {exc}") from exc

    async def is_initialized(self) -> bool:
        return self.path.exists()

    async def close(self) -> None:
        self._data = None

    async def drop_store(self) -> None:
        """Remove this store's journal (the kit's teardown hook)."""
        with _OPEN_LOCK:
            _OPEN.pop(self.path, None)
        self.path.unlink(missing_ok=True)
        self._data = None

    async def get(self, collection: str, key: str) -> Item | None:
        data = self.data
        with data.lock:
            return data.item(collection, key)

    async def scan(self, collection: str, order: str, *, start: str, stop: str,
                   reverse: bool = False, limit: int | None = None) -> list[Item]:
        data = self.data
        with data.lock:
            index = data.orders.get((collection, order), [])
            lo = bisect.bisect_left(index, (start,))
            hi = bisect.bisect_left(index, (stop,))
            picked = index[lo:hi][::-1] if reverse else index[lo:hi]
            items = [data.item(collection, key) for _, key in picked[:limit]]
        return [item for item in items if item is not None]

    async def write(self, ops: Sequence[Put | Delete]) -> bool:
        data = self.data
        with data.lock:
            for op in ops:
                found = data.records.get((op.collection, op.key))
                if op.expect is not None and (found[0] if found else 0) != op.expect:
                    return False
            journal = [["put", op.collection, op.key, op.version, dumps(op.value),
                        dict(op.orders)] if isinstance(op, Put)
                       else ["del", op.collection, op.key] for op in ops]
            with data.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(journal) + "\n")  # one line: committed or torn
            data.apply(journal)
        return True

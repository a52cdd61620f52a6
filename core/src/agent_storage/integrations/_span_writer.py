"""A background thread writing span records in batches through a sync store.

For span sources that call us on the application's own thread (openai-agents calls its
processors inline, on the agent's event loop): ``put`` only enqueues, the thread writes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Awaitable, Callable

from ..errors import AgentStorageError
from ..records import Span
from ..storage import Storage
from . import _Store

__all__ = ["SpanWriter", "store_spans"]

log = logging.getLogger("agent_storage.integrations")

#: Spans per create_spans call: one DynamoDB transaction holds at most 100 items.
BATCH = 100


class SpanWriter:
    """Queue of spans and the daemon thread that stores them (started on first use)."""

    def __init__(self, store: _Store) -> None:
        self._store = store
        self._queue: queue.Queue[list[Span] | None] = queue.Queue()  # None: stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, spans: list[Span]) -> None:
        if not spans:
            return
        self._start()
        self._queue.put(spans)

    def flush(self) -> None:
        """Block until every span put so far has been written (or its write failed)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="agent-storage-spans")
                self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            while items[-1] is not None and sum(map(len, items)) < BATCH:  # type: ignore[arg-type]
                try:  # drain what is already there into one batch
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is None
            self._write([span for spans in items if spans is not None for span in spans])
            for _ in items:
                self._queue.task_done()

    def _write(self, batch: list[Span]) -> None:
        try:
            store_spans(self._store, batch)
        except AgentStorageError:
            log.exception("agent-storage: storing %d spans failed", len(batch))


def store_spans(store: _Store, spans: list[Span]) -> None:
    """create_spans in calls of at most ``BATCH`` spans (each all or nothing), blocking."""
    for i in range(0, len(spans), BATCH):
        store.run(_writer(spans[i:i + BATCH]))


def _writer(chunk: list[Span]) -> Callable[[Storage], Awaitable[list[Span]]]:
    async def write(storage: Storage) -> list[Span]:
        return await storage.observability.create_spans(chunk)

    return write

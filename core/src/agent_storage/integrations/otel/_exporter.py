"""``AgentStorageSpanExporter``: an OpenTelemetry SDK SpanExporter writing to a store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ...errors import AgentStorageError
from ...records import Span
from ...storage import Storage
from .. import StoreArg, _Store
from .._span_writer import store_spans
from ._mapping import to_spans

__all__ = ["AgentStorageSpanExporter"]

log = logging.getLogger("agent_storage.integrations.otel")


class AgentStorageSpanExporter(SpanExporter):  # type: ignore[misc]
    """Writes finished spans into the observability domain (see ``_mapping`` for how).

    Use it with the SDK's ``BatchSpanProcessor``, which calls :meth:`export` from its
    worker thread: ``store`` is a URL or an ``agent_storage.sync`` store, whose calls run
    on the sync facade's own event loop (blocking that worker thread, never the app's
    loop). An async :class:`~agent_storage.Storage` belongs to the caller's loop and is
    refused. Each batch is written in calls of at most 100 spans, each all or nothing;
    a failed call is logged and reported as FAILURE (spans are upserts, so exporting the
    same spans again is safe).
    """

    def __init__(self, store: StoreArg) -> None:
        self._store = _Store(store, blocking=True)
        self._store.require_blocking("AgentStorageSpanExporter (the SDK's worker thread)")
        self._closed = threading.Event()

    @property
    def storage(self) -> Storage:
        return self._store.storage

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed.is_set():
            return SpanExportResult.FAILURE
        records: list[Span] = []
        try:
            for span in spans:
                records.extend(to_spans(span))
            store_spans(self._store, records)
        except AgentStorageError:
            log.exception("agent-storage: exporting %d spans failed", len(spans))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Refuse further exports (the processor flushes before calling this)."""
        self._closed.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here: every export has been written when it returns."""
        return True


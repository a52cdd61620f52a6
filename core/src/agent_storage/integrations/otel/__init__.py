"""OpenTelemetry traces into agent-storage's observability domain.

``pip install "agent-storage[otel]"``::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from agent_storage.integrations.otel import AgentStorageSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(AgentStorageSpanExporter("sqlite:///agent.db")))

Exported traces read back with ``observability.get_trace``/``list_traces`` like native
ones. The mapping (GenAI semantic conventions included) is in ``_mapping``.
"""

from __future__ import annotations

from .. import require_extra

require_extra("opentelemetry.sdk.trace", "agent_storage.integrations.otel",
              "otel", "the OpenTelemetry SDK")

# the extra is installed: the rest may import it
from ._exporter import AgentStorageSpanExporter  # noqa: E402
from ._mapping import to_spans  # noqa: E402

__all__ = ["AgentStorageSpanExporter", "to_spans"]

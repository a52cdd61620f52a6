"""A LangGraph checkpointer stored in agent-storage.

``pip install "agent-storage[langgraph]"``::

    from agent_storage.integrations.langgraph import AgentStorageSaver

    checkpointer = AgentStorageSaver.from_url("sqlite:///agent.db")
    graph = builder.compile(checkpointer=checkpointer)

Checkpoints, channel blobs (one per channel version, shared by the checkpoints that did
not change the channel) and pending writes are messages of the memory domain, so the
saver works on every backend, third-party ones included, with the guarantees of
``save_messages`` (one atomic call per ``put``/``put_writes``). See ``_layout`` for the
mapping and docs/integrations.md for the costs.
"""

from __future__ import annotations

from .. import require_extra

require_extra("langgraph.checkpoint.base", "agent_storage.integrations.langgraph",
              "langgraph", "langgraph-checkpoint")

# the extra is installed: the rest may import it
from ._saver import AgentStorageSaver  # noqa: E402

__all__ = ["AgentStorageSaver"]

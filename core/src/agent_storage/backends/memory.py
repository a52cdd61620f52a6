"""In-memory reference backend (``memory://``): every domain, in plain Python dicts.

It is the reference every other backend is checked against by the conformance kit, so
it favours obvious correctness over speed (but stays O(log n + k) per thread on the
message paths, so the W1 benchmark runs on it).

Data lifetime
    ``memory://`` (no name): the store has its own data, private to the
    :class:`~agent_storage.Storage` that opened it; it lives until that Storage is closed
    (it survives an event-loop change, which rebuilds the backend). Not persistent.

    An anonymous store's instance therefore declares only ``ttl``; the class (and every
    named store) declares ``persistent`` too, so the kit's reopen cases run on
    ``memory://NAME`` and are skipped, with the reason, on ``memory://``.

    ``memory://NAME``: every store opened with the same NAME (and ``table_prefix``) in
    this process shares one data set, which outlives ``close()``; reopening the URL sees
    the data ("persistent" within the process, never on disk). NAME is the URL's host
    part, so it is case-insensitive. ``MemoryBackend.forget(NAME)`` drops it.

    ``table_prefix`` namespaces named data: ``memory://x?table_prefix=a`` and
    ``memory://x?table_prefix=b`` do not see each other.

Initialisation
    ``init()`` marks the data set initialised; with ``disable_init=True`` a data set that
    was never initialised raises SchemaNotInitializedError, like an empty database.
    Configured ``indexes`` are accepted and ignored (there is nothing to index).

Semantics fixed here (the other backends must match)
    - Messages carry a save sequence number, increasing per data set, assigned in list
      order; reads order by (created_at, seq), so a batch saved with equal timestamps
      reads back in list order. Re-saving an existing message id replaces the message
      (content, role, even thread or created_at) but keeps its original seq.
    - ``save_messages`` returns every message it wrote, in input order, even one that the
      per-thread limit pruned in the same call.
    - ``update_step_result`` on a snapshot whose ``context`` is not an object raises
      ValidationError (it is never overwritten).
    - Writes are all or nothing: everything is checked before the first change.
    - ``Retention.max_messages_per_thread`` prunes the oldest (created_at, seq) messages
      inside ``save_messages``. ``Retention.ttl`` hides expired records from every read
      (messages, scores, spans by created_at; threads, resources, workflow runs by
      updated_at); a write treats an expired record as missing.
    - JSON values are deep-copied on the way in and out (tuples become lists, as a JSON
      round trip does), so callers never share mutable state with the store.
    - Agents: ``get_agent``/``list_agents`` return the active version with the agent's
      last update or activation time as ``updated_at``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..backend import Backend
from ..domains import DOMAIN_NAMES
from ..errors import ValidationError
from ..hookspecs import hookimpl
from ..records import StoreStatus
from ..url import StoreURL

if TYPE_CHECKING:
    from ..domains._base import Domain
    from ..options import StoreOptions
    from ._memory._state import State

__all__ = ["MemoryBackend", "register_backends"]


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register("memory", "agent_storage.backends.memory:MemoryBackend", schemes=("memory",))


class MemoryBackend(Backend):
    """Every domain kept in process memory; see the module docstring for data lifetime."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"persistent", "ttl", "vectors"})

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        super().__init__(url, options)
        from ._memory import _state

        self.name = self.store_name(url)
        if self.name is None:
            self._state: State = _state.anonymous_state(options)
            # Its data dies with its Storage: reopening the URL cannot see it.
            self.capabilities = frozenset({"ttl"})  # type: ignore[misc]
        else:
            self._state = _state.named_state(self.name, options.table_prefix)
        self._domains: dict[str, Domain] = {}

    @staticmethod
    def store_name(url: StoreURL) -> str | None:
        """NAME of ``memory://NAME`` (host, else path), or None for an anonymous store."""
        name = url.host or url.path.strip("/")
        return name.lower() if name else None

    @classmethod
    def forget(cls, name: str | None = None) -> None:
        """Drop the data of the named store ``name`` (all table prefixes), or of every
        named store when ``name`` is None (test isolation)."""
        from ._memory._state import forget_named

        forget_named(None if name is None else name.lower())

    def domain(self, name: str) -> Domain:
        found = self._domains.get(name)
        if found is not None:
            return found
        if name not in DOMAIN_NAMES:
            raise ValidationError(f"unknown domain {name!r}; expected one of {list(DOMAIN_NAMES)}")
        from ._memory import agents, memory, observability, scores, workflows

        classes = {
            "memory": memory.MemoryMemory,
            "workflows": workflows.MemoryWorkflows,
            "scores": scores.MemoryScores,
            "observability": observability.MemoryObservability,
            "agents": agents.MemoryAgents,
        }
        found = self._domains[name] = classes[name](self, self._state)
        return found

    async def init(self) -> None:
        self._state.initialized = True

    async def is_initialized(self) -> bool:
        return self._state.initialized

    async def close(self) -> None:
        if self.name is None:
            from ._memory._state import drop_anonymous

            drop_anonymous(self.options)  # nobody can reach an anonymous store after close

    async def drop_store(self) -> None:
        """Forget this store's data: a named store's under its table prefix (a store
        opened on it later starts empty), an anonymous store's (it goes at close anyway)."""
        from ._memory import _state

        if self.name is None:
            _state.drop_anonymous(self.options)
        else:
            _state.drop_named(self.name, self.options.table_prefix)

    async def status(self) -> StoreStatus:
        """Row counts per logical table; the memory backend has no schema versions."""
        st = self._state
        with st.lock:
            tables = {
                "threads": len(st.threads), "messages": len(st.messages),
                "resources": len(st.resources), "workflow_runs": len(st.runs),
                "scores": len(st.scores),
                "spans": sum(len(spans) for spans in st.traces.values()),
                "agents": len(st.agents),
                "agent_versions": sum(len(row.versions) for row in st.agents.values()),
            }
        return StoreStatus(backend=self.backend_name, url=str(self.url), schema_version=0,
                           latest_version=0, tables=tables)

    def abandon(self) -> None:
        """Nothing is bound to an event loop; the data stays for the rebuilt backend."""

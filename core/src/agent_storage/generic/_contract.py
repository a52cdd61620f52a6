"""The record-store contract: three primitives a backend implements to get all five domains.

A record store keeps JSON objects by (collection, key). Core also gives every record its
*order keys* (one text per declared order of its collection) and asks for ranges of them.
Everything is text that sorts by code point; see :mod:`agent_storage.generic._keys`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from attrs import frozen

from ..backend import Backend
from ..naming import DOMAIN_NAMES
from ..records import StoreStatus
from ._keys import TOP

if TYPE_CHECKING:
    from .._translate import ErrorRule
    from ..domains._base import Domain

__all__ = ["COLLECTIONS", "Delete", "Item", "Put", "RecordBackend"]

#: Every collection core uses, and the orders it declares on each (``key`` = the key itself).
COLLECTIONS: Mapping[str, tuple[str, ...]] = {
    "threads": ("key", "created_at", "updated_at", "title",
                "resource.created_at", "resource.updated_at", "resource.title"),
    "messages": ("key", "thread"),
    "resources": ("key",),
    "workflow_runs": ("key", "created", "run"),
    "scores": ("key", "created"),
    "spans": ("key", "roots"),
    "agents": ("key", "created"),
    "agent_versions": ("key",),
}


@frozen(kw_only=True)
class Item:
    """A stored record: its key, its JSON object and the version core gave it."""

    key: str
    value: dict[str, Any]
    version: int


@frozen(kw_only=True)
class Put:
    """Store ``value`` under (``collection``, ``key``) with ``version`` and ``orders``
    (order name -> order key; a record absent from an order has no entry), replacing the
    record and all its order keys. ``expect``: None = unconditional; 0 = the key must be
    absent; n = the stored version must be n."""

    collection: str
    key: str
    value: dict[str, Any]
    version: int
    orders: Mapping[str, str]
    expect: int | None = None


@frozen(kw_only=True)
class Delete:
    """Remove (``collection``, ``key``) and its order keys; ``expect`` as for :class:`Put`
    (a missing record is no failure when ``expect`` is None)."""

    collection: str
    key: str
    expect: int | None = None


class RecordBackend(Backend):
    """A backend made of three record-store primitives; core provides all five domains.

    Implement :meth:`get`, :meth:`scan` and :meth:`write` (plus ``init`` and ``close`` from
    :class:`Backend`). Values and keys are JSON objects and text: store them as given and
    never hand back an object the caller could change the store through. The domains
    keep TTL, metadata filters, merges, agent versions and step-result checks in core,
    on top of optimistic concurrency: read, compute, then :meth:`write` conditioned on the
    versions read, retried on conflict. A subclass may return its own domain objects from
    :meth:`domain` to override single primitives for speed.
    """

    #: Driver exception classes -> AgentStorageError classes, for ``translate_error``.
    error_rules: ClassVar[Sequence[ErrorRule]] = ()

    @abstractmethod
    async def get(self, collection: str, key: str) -> Item | None:
        """The record stored under ``key``, or None."""

    @abstractmethod
    async def scan(
        self, collection: str, order: str, *, start: str, stop: str, reverse: bool = False,
        limit: int | None = None,
    ) -> list[Item]:
        """Records whose ``order`` key k has ``start <= k < stop``, by k ascending (descending
        when ``reverse``), at most ``limit`` (None = all). Records without that order are
        not returned. A consistent view: one committed state."""

    @abstractmethod
    async def write(self, ops: Sequence[Put | Delete]) -> bool:
        """Apply every op atomically (all or nothing). When any op's ``expect`` does not
        hold, write nothing and return False; otherwise True. Ops name distinct records."""

    def domain(self, name: str) -> Domain:
        """The generic domain object for ``name``, built once."""
        cache: dict[str, Domain] = self.__dict__.setdefault("_generic_domains", {})
        found = cache.get(name)
        if found is None:
            from ._domains import DOMAIN_CLASSES

            if name not in DOMAIN_NAMES:
                from ..errors import ValidationError

                raise ValidationError(f"unknown domain {name!r}; expected one of "
                                      f"{list(DOMAIN_NAMES)}")
            found = cache[name] = DOMAIN_CLASSES[name](self)
        return found

    async def drop_store(self) -> None:
        """Delete every record of this store (every collection), in batches; the kit's
        teardown hook calls it. Override it to drop the files or tables themselves."""
        for collection in COLLECTIONS:
            while True:
                items = await self.scan(collection, "key", start="", stop=TOP, limit=256)
                if not items:
                    break
                await self.write([Delete(collection=collection, key=i.key) for i in items])

    async def status(self) -> StoreStatus:
        """Row counts per collection (a scan of each; fine for a generic store)."""
        tables = {}
        for collection in COLLECTIONS:
            tables[collection] = len(await self.scan(collection, "key", start="", stop=TOP))
        return StoreStatus(backend=self.backend_name, url=str(self.url), schema_version=0,
                           latest_version=0, tables=tables)

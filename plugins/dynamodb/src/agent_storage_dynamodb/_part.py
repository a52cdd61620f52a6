"""What the five DynamoDB domain classes share: the table, key rendering, TTL, codecs."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from agent_storage.errors import AgentStorageError, TransientBackendError
from agent_storage.serde import format_datetime, parse_datetime, utcnow

from .client import Table, is_condition_failed, translate
from .expr import AV, Expr, Item, N, S
from .keys import enc, render_keys, seq_text, ts, version_text

if TYPE_CHECKING:
    from .store import DynamoBackend

T = TypeVar("T")

#: Optimistic read-modify-write loops (metadata merges, agent versions) retry this often.
CAS_ATTEMPTS = 60
#: DeleteItem requests in flight at once when deletes must report what they removed.
DELETE_CONCURRENCY = 16


class Conflict(Exception):
    """A conditional write lost a race; the read-modify-write loop tries again."""


class Part:
    """Mixed into each domain class: access to the backend's table and options."""

    backend: DynamoBackend

    def _translate_error(self, exc: BaseException) -> AgentStorageError:
        return translate(exc)

    @property
    def table(self) -> Table:
        return self.backend.table

    @property
    def prefix(self) -> str:
        return self.backend.options.table_prefix

    # -- keys ----------------------------------------------------------------------------

    def values(self, **parts: Any) -> dict[str, Any]:
        """Template values: strings escaped, datetimes fixed-width, ``seq``/``version``
        zero-padded, None kept (the index is then not written), ``P`` = the prefix."""
        out: dict[str, Any] = {"P": self.prefix}
        for name, value in parts.items():
            if isinstance(value, _dt.datetime):
                out[name] = ts(value)
            elif isinstance(value, bool) or value is None:
                out[name] = value
            elif name == "seq":
                out[name] = seq_text(value)
            elif name == "version":
                out[name] = version_text(value)
            else:
                out[name] = enc(value)
        return out

    def keyed(self, entity: str, values: Mapping[str, Any]) -> tuple[Item, list[str]]:
        """Key attributes of an item, and the index attributes it must not have."""
        item: Item = {}
        absent: list[str] = []
        for name, value in render_keys(entity, values).items():
            if value is None:
                absent.append(name)
            else:
                item[name] = S(value)
        return item, absent

    # -- TTL -----------------------------------------------------------------------------

    @property
    def ttl_attr(self) -> str:
        return self.backend.options.ttl_attribute

    def ttl_value(self, entity: str, at: _dt.datetime) -> AV | None:
        """Epoch seconds after which the record is expired (Retention.ttl), or None."""
        life = self.backend.options.retention.ttl.get(entity)
        if life is None:
            return None
        return N(int((at + life).timestamp()))

    @staticmethod
    def set_optional(item: Item, absent: list[str], record: Any, names: tuple[str, ...]) -> None:
        """Copy the record's optional string fields into ``item``; a None one is listed in
        ``absent`` (to be removed from a stored item)."""
        for name in names:
            value = getattr(record, name)
            if value is None:
                absent.append(name)
            else:
                item[name] = S(value)

    def set_ttl(self, item: Item, absent: list[str], entity: str, at: _dt.datetime) -> None:
        value = self.ttl_value(entity, at)
        if value is None:
            absent.append(self.ttl_attr)
        else:
            item[self.ttl_attr] = value

    def alive(self, item: Mapping[str, Any] | None, now: float | None = None) -> bool:
        if item is None:
            return False
        ttl = item.get(self.ttl_attr)
        if ttl is None:
            return True
        return float(ttl["N"]) > (utcnow().timestamp() if now is None else now)

    def ttl_filter(self, e: Expr) -> str:
        """Hide expired items DynamoDB has not deleted yet (its TTL sweep lags)."""
        name = e.n(self.ttl_attr)
        return f"attribute_not_exists({name}) OR {name} > {e.num(int(utcnow().timestamp()))}"

    # -- small codecs --------------------------------------------------------------------

    @staticmethod
    def s(item: Mapping[str, Any], name: str) -> str | None:
        value = item.get(name)
        return None if value is None else value["S"]  # type: ignore[no-any-return]

    @staticmethod
    def dt(item: Mapping[str, Any], name: str) -> _dt.datetime | None:
        value = item.get(name)
        return None if value is None else parse_datetime(value["S"])

    @staticmethod
    def time(item: Mapping[str, Any], name: str) -> _dt.datetime:
        return parse_datetime(item[name]["S"])

    @staticmethod
    def when(value: _dt.datetime) -> AV:
        return S(format_datetime(value))

    # -- writes --------------------------------------------------------------------------

    async def upsert_keep_created(
        self, item: Item, absent: list[str], derived: Callable[[Item], Item]
    ) -> Item:
        """Insert or update ``item`` in one UpdateItem; an existing item keeps created_at.

        Index sort keys that embed created_at are written with ``if_not_exists`` too;
        ``derived(stored)`` recomputes them from the stored item, and in the rare case a
        key appeared only now (e.g. a resource_id given on a later save) a second,
        conditional update fixes it.
        """
        created_keys = set(derived(item))
        e = Expr()
        sets = []
        for name, value in item.items():
            if name in ("pk", "sk"):
                continue
            if name == "created_at" or name in created_keys:
                sets.append(f"{e.n(name)} = if_not_exists({e.n(name)}, {e.v(value)})")
            else:
                sets.append(f"{e.n(name)} = {e.v(value)}")
        expr = "SET " + ", ".join(sets)
        drop = [a for a in dict.fromkeys(absent) if a not in item]
        if drop:
            expr += " REMOVE " + ", ".join(e.n(a) for a in drop)
        expr += f" ADD {e.n('rev')} {e.num(1)}"  # optimistic writers compare rev
        key = {"pk": item["pk"], "sk": item["sk"]}
        resp = await self.table.update(key, UpdateExpression=expr, ReturnValues="ALL_NEW",
                                       **e.params())
        stored: Item = resp["Attributes"]
        fixes = {k: v for k, v in derived(stored).items() if stored.get(k) != v}
        if fixes:
            f = Expr()
            expr = "SET " + ", ".join(f"{f.n(k)} = {f.v(v)}" for k, v in fixes.items())
            await self.table.update(
                key, UpdateExpression=expr,
                ConditionExpression=f"{f.n('created_at')} = {f.v(stored['created_at'])}",
                **f.params(),
            )
            stored.update(fixes)
        return stored

    async def delete_each(self, requests: Sequence[Mapping[str, Any]]) -> list[bool]:
        """One DeleteItem per request (``key`` plus optional condition), DELETE_CONCURRENCY
        at a time, each returning the old item (ALL_OLD): which ones THIS call deleted. An
        item already gone (a concurrent caller deleted it) or whose condition failed is
        False, so racing deleters together count every item once."""
        gate = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def one(request: Mapping[str, Any]) -> bool:
            async with gate:
                try:
                    resp = await self.table.delete(**request, ReturnValues="ALL_OLD")
                except Exception as exc:
                    if is_condition_failed(exc):
                        return False
                    raise
                return bool(resp.get("Attributes"))

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def cas_loop(self, attempt_fn: Callable[[], Awaitable[T]]) -> T:
        """Run an optimistic read-modify-write until its conditional write wins."""
        for attempt in range(CAS_ATTEMPTS):
            try:
                return await attempt_fn()
            except Conflict:
                await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * (2 ** min(attempt, 6)))))
        raise TransientBackendError(
            f"gave up after {CAS_ATTEMPTS} conflicting concurrent updates; retry the call"
        )


def key_of(item: Mapping[str, Any]) -> Item:
    return {"pk": item["pk"], "sk": item["sk"]}

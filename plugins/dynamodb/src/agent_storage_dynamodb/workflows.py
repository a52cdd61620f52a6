"""The workflows domain on DynamoDB.

A run's snapshot is split so its atomic updates are single conditional UpdateItems:
``snapshot["context"]`` (when a dict) is the map attribute ``ctx`` of JSON strings, so
``update_step_result`` is ``SET #ctx.#step = :r`` (names always placeholders) and
concurrent steps never overwrite each other; ``status``/``result``/``error`` are the
attributes ``s_status``/``s_result``/``s_error`` (JSON text), so ``update_state`` is one
compare-and-set; the rest of the snapshot is the JSON text ``snap``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from agent_storage.domains.workflows import RunFilter, WorkflowsDomain
from agent_storage.errors import RunNotFoundError
from agent_storage.records import UNSET, WorkflowRun
from agent_storage.serde import dumps, loads

from ._part import Part, key_of
from .client import _error_code, is_condition_failed
from .expr import Expr, Item, S, and_all, check_item_size
from .keys import index_def, index_pk, ts

if TYPE_CHECKING:
    from .store import DynamoBackend

#: Top-level snapshot keys kept in their own attributes (see the module docstring).
SPLIT = ("status", "result", "error")
_MISSING = object()


class DynamoWorkflows(Part, WorkflowsDomain):
    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    def run_values(self, run: WorkflowRun) -> dict[str, Any]:
        return self.values(workflow_name=run.workflow_name, run_id=run.run_id,
                           resource_id=run.resource_id, status=run.status,
                           created_at=run.created_at)

    def run_key(self, workflow_name: str, run_id: str) -> Item:
        item, _ = self.keyed("run", self.values(workflow_name=workflow_name, run_id=run_id))
        return key_of(item)

    def run_item(self, run: WorkflowRun) -> tuple[Item, list[str]]:
        item, absent = self.keyed("run", self.run_values(run))
        snap = dict(run.snapshot)
        context = snap.pop("context", _MISSING)
        if isinstance(context, dict):
            item["ctx"] = {"M": {k: S(dumps(v)) for k, v in context.items()}}
        else:
            absent.append("ctx")
            if context is not _MISSING:
                snap["context"] = context
        for key in SPLIT:
            if key in snap:
                item[f"s_{key}"] = S(dumps(snap.pop(key)))
            else:
                absent.append(f"s_{key}")
        item.update(et=S("run"), workflow_name=S(run.workflow_name), run_id=S(run.run_id),
                    snap=S(dumps(snap)), created_at=self.when(run.created_at),
                    updated_at=self.when(run.updated_at))
        self.set_optional(item, absent, run, ("resource_id", "status"))
        self.set_ttl(item, absent, "workflow_runs", run.updated_at)
        return item, absent

    def run_from(self, item: Item) -> WorkflowRun:
        snap = loads(item["snap"]["S"])
        for key in SPLIT:
            if f"s_{key}" in item:
                snap[key] = loads(item[f"s_{key}"]["S"])
        if "ctx" in item:
            snap["context"] = {k: loads(v["S"]) for k, v in item["ctx"]["M"].items()}
        return WorkflowRun(
            workflow_name=item["workflow_name"]["S"], run_id=item["run_id"]["S"],
            snapshot=snap, resource_id=self.s(item, "resource_id"),
            status=self.s(item, "status"), created_at=self.time(item, "created_at"),
            updated_at=self.time(item, "updated_at"),
        )

    def _created_keys(self, stored: Item) -> Item:
        item, _ = self.run_item(self.run_from(stored))
        return {k: v for k, v in item.items() if k.startswith("gsi") and k.endswith("sk")}

    async def _persist(self, run: WorkflowRun) -> WorkflowRun:
        item, absent = self.run_item(run)
        check_item_size(item, f"workflow run {run.workflow_name!r}/{run.run_id!r}")
        # ctx is replaced as a whole by a persist: REMOVE is not needed, SET replaces it.
        stored = await self.upsert_keep_created(item, absent, self._created_keys)
        return self.run_from(stored)

    async def _get_run(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        if workflow_name is not None:
            item = await self.table.get(self.run_key(workflow_name, run_id))
            return self.run_from(item) if item is not None and self.alive(item) else None
        e = Expr()
        partition = index_pk("run", "gsi1", self.values(run_id=run_id))
        params = {"IndexName": "gsi1",
                  "KeyConditionExpression": f"{e.n('gsi1pk')} = {e.s(partition)}",
                  "FilterExpression": self.ttl_filter(e), "ScanIndexForward": False,
                  **e.params()}
        items = await self.table.query(params, limit=1)
        return self.run_from(items[0]) if items else None

    def _run_query(self, flt: RunFilter) -> tuple[dict[str, Any], bool]:
        if flt.workflow_name is not None:
            index = "gsi2"
        elif flt.resource_id is not None:
            index = "gsi3"
        elif flt.status is not None:
            index = "gsi4"
        else:
            index = "gsi5"
        idx = index_def(index)
        e = Expr()
        partition = index_pk("run", index, self.values(
            workflow_name=flt.workflow_name, resource_id=flt.resource_id, status=flt.status))
        cond = f"{e.n(idx.pk)} = {e.s(partition)}"
        cond += _time_range(e, idx.sk, flt.start, flt.end)
        filters = [self.ttl_filter(e)]
        for attr, value, used in (("workflow_name", flt.workflow_name, index == "gsi2"),
                                  ("resource_id", flt.resource_id, index == "gsi3"),
                                  ("status", flt.status, index == "gsi4")):
            if value is not None and not used:
                filters.append(f"{e.n(attr)} = {e.s(value)}")
        params = {"IndexName": index, "KeyConditionExpression": cond,
                  "FilterExpression": and_all(filters), "ScanIndexForward": False, **e.params()}
        return params, len(filters) > 1

    async def _select_runs(self, flt: RunFilter, *, offset: int,
                           limit: int | None) -> list[WorkflowRun]:
        params, selective = self._run_query(flt)
        items = await self.table.query(params, offset=offset, limit=limit, selective=selective)
        return [self.run_from(i) for i in items]

    async def _count_runs(self, flt: RunFilter) -> int:
        params, _ = self._run_query(flt)
        return await self.table.count(params)

    def _touch(self, e: Expr, now: _dt.datetime) -> list[str]:
        sets = [f"{e.n('updated_at')} = {e.v(self.when(now))}"]
        ttl = self.ttl_value("workflow_runs", now)
        if ttl is not None:
            sets.append(f"{e.n(self.ttl_attr)} = {e.v(ttl)}")
        return sets

    async def _update_step_result(
        self, workflow_name: str, run_id: str, step_id: str, result: Any, *, now: _dt.datetime
    ) -> WorkflowRun | None:
        key = self.run_key(workflow_name, run_id)
        value = S(dumps(result))
        for _ in range(10):
            e = Expr()
            sets = [f"{e.n('ctx')}.{e.n(step_id)} = {e.v(value)}", *self._touch(e, now)]
            try:
                resp = await self.table.update(
                    key, UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=f"attribute_exists({e.n('pk')})",
                    ReturnValues="ALL_NEW", **e.params())
                return self.run_from(resp["Attributes"])
            except Exception as exc:
                if is_condition_failed(exc):
                    return None
                if _error_code(exc) != "ValidationException":
                    raise
            # No context map yet (the snapshot had none, or a non-dict one): create it,
            # unless a concurrent call just did (then the path update above succeeds).
            e = Expr()
            sets = [f"{e.n('ctx')} = {e.v({'M': {step_id: value}})}", *self._touch(e, now)]
            try:
                resp = await self.table.update(
                    key, UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=(f"attribute_exists({e.n('pk')}) AND "
                                         f"attribute_not_exists({e.n('ctx')})"),
                    ReturnValues="ALL_NEW", **e.params())
                return self.run_from(resp["Attributes"])
            except Exception as exc:
                if not is_condition_failed(exc):
                    raise
                if await self.table.get(key) is None:
                    return None
        raise RunNotFoundError(f"workflow run {workflow_name!r}/{run_id!r}: context update failed")

    async def _update_state(
        self, workflow_name: str, run_id: str, *, status: str, result: Any, error: Any,
        expected_status: str | None, now: _dt.datetime,
    ) -> WorkflowRun | type[RunNotFoundError] | None:
        key = self.run_key(workflow_name, run_id)
        e = Expr()
        status_pk = index_pk("run", "gsi4", self.values(status=status))
        sets = [
            f"{e.n('status')} = {e.s(status)}",
            f"{e.n('s_status')} = {e.s(dumps(status))}",
            f"{e.n('gsi4pk')} = {e.s(status_pk)}",
            # every run index shares one sort key, so gsi1sk is the by-status sort key too
            f"{e.n('gsi4sk')} = if_not_exists({e.n('gsi4sk')}, {e.n('gsi1sk')})",
            *self._touch(e, now),
        ]
        if result is not UNSET:
            sets.append(f"{e.n('s_result')} = {e.s(dumps(result))}")
        if error is not UNSET:
            sets.append(f"{e.n('s_error')} = {e.s(dumps(error))}")
        cond = f"attribute_exists({e.n('pk')})"
        if expected_status is not None:
            cond += f" AND {e.n('status')} = {e.s(expected_status)}"
        try:
            resp = await self.table.update(key, UpdateExpression="SET " + ", ".join(sets),
                                           ConditionExpression=cond, ReturnValues="ALL_NEW",
                                           **e.params())
        except Exception as exc:
            if not is_condition_failed(exc):
                raise
            current = await self.table.get(key)
            return RunNotFoundError if current is None or not self.alive(current) else None
        return self.run_from(resp["Attributes"])

    async def _delete_run(self, workflow_name: str, run_id: str) -> None:
        await self.table.delete(self.run_key(workflow_name, run_id))


def _time_range(e: Expr, sort_attr: str, start: _dt.datetime | None,
                end: _dt.datetime | None) -> str:
    """A key condition on a ``{time}#...`` sort key, both bounds inclusive."""
    lo = None if start is None else ts(start) + "#"
    hi = None if end is None else ts(end) + "$"  # '$' sorts after '#': all of that instant
    if lo is not None and hi is not None:
        if lo > hi:
            hi = lo  # an empty range: BETWEEN needs lo <= hi; "x#" matches no real key
        return f" AND {e.n(sort_attr)} BETWEEN {e.s(lo)} AND {e.s(hi)}"
    if lo is not None:
        return f" AND {e.n(sort_attr)} >= {e.s(lo)}"
    if hi is not None:
        return f" AND {e.n(sort_attr)} <= {e.s(hi)}"
    return ""
